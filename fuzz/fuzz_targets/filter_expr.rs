//! A negative-filter expression: parse, print and re-parse to the same tree,
//! select on a small score row, and the static emptiness checks.
#![no_main]
use libfuzzer_sys::fuzz_target;
use negstudy::difficulty::{NegativeSet, Selector};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e) = NegativeSet::parse(text) else {
        return;
    };
    let again = NegativeSet::parse(&e.to_string()).expect("printed expressions re-parse");
    assert_eq!(again, e, "print/parse round trip");
    let scores: Vec<f32> = (0..37).map(|i| ((i * 7) % 11) as f32 / 11.0).collect();
    let labels: Vec<i64> = (0..37).map(|i| i % 3).collect();
    let mut scratch = Vec::new();
    let _ = Selector::new(e.clone()).select(&scores, Some(&labels), Some(1), &mut scratch);
    let _ = e.always_empty(37);
    let _ = e.always_everything(37);
});
