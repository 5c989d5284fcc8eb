//! CIFAR binary records (first byte picks 1 or 2 label bytes, CIFAR-10 / -100).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let label_bytes = 1 + (which & 1) as usize;
    if negstudy::data::dataset::cifar_records(rest, label_bytes, "x.bin", &mut pixels, &mut labels)
        .is_ok()
    {
        assert_eq!(pixels.len(), labels.len() * 3072);
    }
});
