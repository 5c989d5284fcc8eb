//! One image file of an image folder through `embed`'s preprocessing
//! (decode, RGB or luma, resize, centre crop): either an image of the
//! promised size or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use negstudy::data::image_folder::Preprocess;

fuzz_target!(|data: &[u8]| {
    let channels = if data.first().is_some_and(|b| b & 1 == 1) { 1 } else { 3 };
    for pre in [
        Preprocess::imagenet(channels),
        Preprocess { channels, resize: Some(40), crop: Some(32) },
        Preprocess { channels, resize: None, crop: None },
    ] {
        if let Ok((h, w, px)) = pre.apply(data, "img") {
            assert_eq!(px.len(), h * w * channels);
            if let Some(c) = pre.crop {
                assert_eq!((h, w), (c, c));
            }
        }
    }
});
