//! One image file of an image-folder dataset (PNG, JPEG).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((w, h, c, px)) = negstudy::data::dataset::decode_image(data, "img") {
        assert_eq!(px.len(), w * h * c);
    }
});
