//! Properties of the one definition of difficulty (DESIGN §2), checked
//! against brute force: sort everything, read ranks, apply the formula.

use negstudy::difficulty::{easier, rank_key, ranks, Band, BandThresholds, NegativeSet, Selector};
use proptest::prelude::*;

/// Scores drawn from a small grid so that ties are common.
fn scores(max_len: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec((-8i32..=8).prop_map(|v| v as f32 / 8.0), 1..max_len)
}

/// Percent edges with up to 3 decimals, as users write them.
fn edge() -> impl Strategy<Value = u64> {
    (0u64..=100_000).prop_map(|v| v * 1000) // millionths of a percent
}

fn band() -> impl Strategy<Value = Band> {
    (edge(), edge())
        .prop_filter("lo < hi", |(a, b)| a != b)
        .prop_map(|(a, b)| Band::from_micro(a.min(b), a.max(b)).unwrap())
}

fn expr() -> impl Strategy<Value = NegativeSet> {
    let leaf = prop_oneof![
        band().prop_map(NegativeSet::Band),
        Just(NegativeSet::SameClass),
        Just(NegativeSet::All),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| NegativeSet::Not(Box::new(e))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| NegativeSet::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| NegativeSet::Or(Box::new(a), Box::new(b))),
        ]
    })
}

/// Brute force membership: full ranks, `floor(lo·M/100) ≤ k < floor(hi·M/100)`
/// written out with exact integer arithmetic on the decimal edges.
fn brute(e: &NegativeSet, k: usize, m: usize, same: bool) -> bool {
    match e {
        NegativeSet::All => true,
        NegativeSet::SameClass => same,
        NegativeSet::Band(b) => {
            let lo = (b.lo() * 1e6).round() as u128;
            let hi = (b.hi() * 1e6).round() as u128;
            let f = |x: u128| (x * m as u128 / 100_000_000) as usize;
            f(lo) <= k && k < f(hi)
        }
        NegativeSet::Not(a) => !brute(a, k, m, same),
        NegativeSet::And(a, b) => brute(a, k, m, same) && brute(b, k, m, same),
        NegativeSet::Or(a, b) => brute(a, k, m, same) || brute(b, k, m, same),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

    #[test]
    fn adjacent_bands_partition_the_negatives(m in 1usize..3000, mut cuts in prop::collection::vec(edge(), 0..6)) {
        cuts.push(0);
        cuts.push(100_000_000);
        cuts.sort_unstable();
        cuts.dedup();
        let mut next = 0;
        for w in cuts.windows(2) {
            let r = Band::from_micro(w[0], w[1]).unwrap().rank_range(m);
            prop_assert_eq!(r.start, next, "bands are contiguous");
            next = r.end;
        }
        prop_assert_eq!(next, m, "and cover every rank");
    }

    #[test]
    fn ranks_follow_score_then_index(s in scores(200)) {
        let r = ranks(&s);
        let mut seen = vec![false; s.len()];
        for (j, &k) in r.iter().enumerate() {
            seen[k as usize] = true;
            for (i, &ki) in r.iter().enumerate() {
                let i_easier = s[i] < s[j] || (s[i] == s[j] && i < j);
                prop_assert_eq!(ki < k, i_easier, "negatives {} and {}", i, j);
            }
        }
        prop_assert!(seen.iter().all(|&x| x), "ranks are a permutation");
    }

    #[test]
    fn packed_rank_keys_order_like_easier(
        a in prop_oneof![any::<f32>().prop_filter("not NaN", |v| !v.is_nan()), Just(0.0f32), Just(-0.0f32), Just(f32::MIN_POSITIVE)],
        b in prop_oneof![any::<f32>().prop_filter("not NaN", |v| !v.is_nan()), Just(0.0f32), Just(-0.0f32), Just(-f32::MIN_POSITIVE)],
        i in 0usize..70_000,
        j in 0usize..70_000,
    ) {
        // The selection compares packed integers; they must order exactly
        // like (score, index) does, −0 and +0 being the same score.
        prop_assert_eq!(rank_key(a, i).cmp(&rank_key(b, j)), easier(a, i, b, j), "{} #{} vs {} #{}", a, i, b, j);
        prop_assert_eq!(rank_key(-0.0, i), rank_key(0.0, i));
    }

    #[test]
    fn thresholds_select_exactly_the_rank_range(s in scores(300), b in band()) {
        let r = ranks(&s);
        let range = b.rank_range(s.len());
        let t = BandThresholds::find(b, &s, &mut Vec::new());
        for (j, &k) in r.iter().enumerate() {
            prop_assert_eq!(t.contains(s[j], j), range.contains(&(k as usize)));
        }
    }

    #[test]
    fn expressions_match_brute_force(
        s in scores(300),
        e in expr(),
        seed in 0u64..1000,
        q in 0i64..4,
    ) {
        let labels: Vec<i64> = (0..s.len() as u64).map(|j| ((j * 7 + seed) % 4) as i64).collect();
        let got = Selector::new(e.clone()).select(&s, Some(&labels), Some(q), &mut Vec::new()).unwrap();
        let r = ranks(&s);
        for j in 0..s.len() {
            prop_assert_eq!(got[j], brute(&e, r[j] as usize, s.len(), labels[j] == q), "negative {} in {}", j, e);
        }
    }

    #[test]
    fn display_reparses_to_the_same_expression(e in expr()) {
        prop_assert_eq!(NegativeSet::parse(&e.to_string()).unwrap(), e);
    }
}

#[test]
fn hardest_five_percent_of_65536() {
    let b = Band::new(95.0, 100.0).unwrap();
    assert_eq!(b.rank_range(65536).len(), 3277);
    // And by selection on real scores: exactly 3277 selected.
    let s: Vec<f32> = (0..65536u32)
        .map(|i| ((i.wrapping_mul(2654435761)) % 10007) as f32 / 10007.0)
        .collect();
    let sel = Selector::new(NegativeSet::parse("band(95,100)").unwrap());
    let kept = sel.select(&s, None, None, &mut Vec::new()).unwrap();
    assert_eq!(kept.iter().filter(|&&k| k).count(), 3277);
}

#[test]
fn paper_filters_parse() {
    for text in [
        "band(95,100)",
        "band(0,95)",
        "same_class",
        "band(99.9,100) & same_class",
        "band(99.9,100) & !same_class",
        "band(0,99.9) & same_class",
        "!(band(85,90) | band(95, 100))",
    ] {
        NegativeSet::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn same_class_without_labels_is_an_error() {
    let sel = Selector::new(NegativeSet::parse("same_class").unwrap());
    let e = sel
        .select(&[0.1, 0.2], None, None, &mut Vec::new())
        .unwrap_err();
    assert!(e.contains("needs labels"), "{e}");
}
