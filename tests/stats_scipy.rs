//! negstudy's statistics against scipy 1.17.1 (values pasted from the
//! scipy calls quoted above each row). Inputs are integer-formula sequences
//! built identically here and in Python, so both sides see the same floats.
//! Agreement: 1e-10 relative on statistics, df and p ≥ 1e-300.

use negstudy::stats::{kolmogorov_sf, ks_2samp, student_t_test, welch_t_test, KsMethod};

/// `x_i = ((i·a + b) mod m)/d + off`, the same expression as the Python side:
/// `[((i*a + b) % m) / d + off for i in range(n)]`.
fn seq(n: usize, a: u64, b: u64, m: u64, d: f64, off: f64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| ((i * a + b) % m) as f64 / d + off)
        .collect()
}

fn close(ours: f64, scipy: f64, what: &str) {
    let rel = if scipy == 0.0 {
        ours.abs()
    } else {
        ((ours - scipy) / scipy).abs()
    };
    assert!(
        rel <= 1e-10,
        "{what}: ours {ours:e} vs scipy {scipy:e} (rel {rel:e})"
    );
}

#[test]
fn t_tests_match_scipy() {
    let small_a = vec![1.0, 2.0, 3.0, 4.0, 5.0];
    let small_b = vec![2.0, 4.0, 6.0, 8.0, 10.0, 12.0];
    let inputs: Vec<(Vec<f64>, Vec<f64>)> = vec![
        (small_a, small_b),
        (
            seq(50, 37, 3, 101, 100.0, 0.0),
            seq(50, 53, 7, 97, 100.0, 0.7),
        ),
        (
            seq(2000, 37, 3, 101, 100.0, 0.0),
            seq(2000, 53, 7, 97, 100.0, 0.3),
        ),
        (seq(30, 11, 5, 23, 10.0, 0.0), seq(400, 13, 1, 41, 7.0, 0.3)),
    ];
    // (name, student t, df, p, welch t, df, p)
    let expected: [(&str, f64, f64, f64, f64, f64, f64); 4] = [
        // small: scipy.stats.ttest_ind(a, b) and ttest_ind(a, b, equal_var=False), a=[1,2,3,4,5], b=[2,4,6,8,10,12]
        (
            "small",
            -2.215646837627989,
            9.0,
            0.05394592050940712,
            -2.3763541031440183,
            6.972255729794934,
            0.04928433820673053,
        ),
        // p_1e-19: scipy.stats.ttest_ind(a, b) and ttest_ind(a, b, equal_var=False), a=seq(50,(37, 3, 101, 100.0, 0.0)), b=seq(50,(53, 7, 97, 100.0, 0.7))
        (
            "p_1e-19",
            -11.23891286799607,
            98.0,
            2.5398548575417927e-19,
            -11.23891286799607,
            97.71855941850907,
            2.638631431793459e-19,
        ),
        // p_1e-188: scipy.stats.ttest_ind(a, b) and ttest_ind(a, b, equal_var=False), a=seq(2000,(37, 3, 101, 100.0, 0.0)), b=seq(2000,(53, 7, 97, 100.0, 0.3))
        (
            "p_1e-188",
            -30.887968784344544,
            3998.0,
            4.6100796078096965e-188,
            -30.887968784344544,
            3991.4015680244884,
            4.9478107973084776e-188,
        ),
        // unequal: scipy.stats.ttest_ind(a, b) and ttest_ind(a, b, equal_var=False), a=seq(30,(11, 5, 23, 10.0, 0.0)), b=seq(400,(13, 1, 41, 7.0, 0.3))
        (
            "unequal",
            -6.803690448678141,
            428.0,
            3.4504412650677296e-11,
            -14.31353042702991,
            63.047627579097274,
            1.7734059778976337e-21,
        ),
    ];
    for ((a, b), (name, st, sdf, sp, wt, wdf, wp)) in inputs.iter().zip(expected) {
        let s = student_t_test(a, b);
        close(s.t, st, &format!("{name} student t"));
        close(s.df, sdf, &format!("{name} student df"));
        close(s.p, sp, &format!("{name} student p"));
        let w = welch_t_test(a, b);
        close(w.t, wt, &format!("{name} welch t"));
        close(w.df, wdf, &format!("{name} welch df"));
        close(w.p, wp, &format!("{name} welch p"));
    }
}

#[test]
fn ks_2samp_matches_scipy() {
    type Spec = (usize, u64, u64, u64, f64, f64);
    // (name, a spec, b spec, D, p); spec = (n, a, b, m, d, off) for seq().
    let cases: [(&str, Spec, Spec, f64, f64); 11] = [
        // scipy.stats.ks_2samp(seq(5,(3, 1, 7, 7.0, 0.0)), seq(5,(5, 2, 11, 11.0, 0.2)))
        (
            "5_5",
            (5, 3, 1, 7, 7.0, 0.0),
            (5, 5, 2, 11, 11.0, 0.2),
            0.4,
            0.873015873015873,
        ),
        // scipy.stats.ks_2samp(seq(8,(3, 1, 17, 17.0, 0.0)), seq(13,(5, 2, 19, 19.0, 0.25)))
        (
            "8_13",
            (8, 3, 1, 17, 17.0, 0.0),
            (13, 5, 2, 19, 19.0, 0.25),
            0.4230769230769231,
            0.24658705587498161,
        ),
        // scipy.stats.ks_2samp(seq(2000,(37, 3, 1009, 1009.0, 0.0)), seq(2000,(53, 7, 997, 997.0, 0.03)))
        (
            "2000_2000",
            (2000, 37, 3, 1009, 1009.0, 0.0),
            (2000, 53, 7, 997, 997.0, 0.03),
            0.032,
            0.2574754523872385,
        ),
        // scipy.stats.ks_2samp(seq(2000,(37, 3, 1009, 1009.0, 0.0)), seq(2000,(53, 7, 997, 997.0, 0.2)))
        (
            "2000_2000_far",
            (2000, 37, 3, 1009, 1009.0, 0.0),
            (2000, 53, 7, 997, 997.0, 0.2),
            0.203,
            1.847152621912529e-36,
        ),
        // scipy.stats.ks_2samp(seq(300,(37, 3, 211, 211.0, 0.0)), seq(700,(53, 7, 307, 307.0, 0.05)))
        (
            "300_700",
            (300, 37, 3, 211, 211.0, 0.0),
            (700, 53, 7, 307, 307.0, 0.05),
            0.05857142857142857,
            0.4512289300525857,
        ),
        // scipy.stats.ks_2samp(seq(300,(37, 3, 211, 211.0, 0.0)), seq(700,(53, 7, 307, 307.0, 0.2)))
        (
            "300_700_far",
            (300, 37, 3, 211, 211.0, 0.0),
            (700, 53, 7, 307, 307.0, 0.2),
            0.20904761904761904,
            1.6566106973674684e-08,
        ),
        // scipy.stats.ks_2samp(seq(100,(3, 1, 5, 1.0, 0.0)), seq(120,(7, 2, 6, 1.0, 0.0)))
        (
            "ties",
            (100, 3, 1, 5, 1.0, 0.0),
            (120, 7, 2, 6, 1.0, 0.0),
            0.16666666666666666,
            0.08585578137703824,
        ),
        // scipy.stats.ks_2samp(seq(12000,(37, 3, 10007, 10007.0, 0.0)), seq(15000,(53, 7, 10009, 10009.0, 0.01)))
        (
            "12000_15000",
            (12000, 37, 3, 10007, 10007.0, 0.0),
            (15000, 53, 7, 10009, 10009.0, 0.01),
            0.012750000000000039,
            0.2266317607389816,
        ),
        // scipy.stats.ks_2samp(seq(20000,(37, 3, 10007, 10007.0, 0.0)), seq(50,(53, 7, 97, 97.0, 0.2)))
        (
            "20000_50",
            (20000, 37, 3, 10007, 10007.0, 0.0),
            (50, 53, 7, 97, 97.0, 0.2),
            0.21920000000000006,
            0.01369883677146222,
        ),
        // scipy.stats.ks_2samp(seq(11000,(37, 3, 10007, 10007.0, 0.0)), seq(11000,(53, 7, 10009, 10009.0, 0.05)))
        (
            "11000_11000_far",
            (11000, 37, 3, 10007, 10007.0, 0.0),
            (11000, 53, 7, 10009, 10009.0, 0.05),
            0.05409090909090919,
            1.9927151995304383e-14,
        ),
        // scipy.stats.ks_2samp(seq(30000,(37, 3, 10007, 10007.0, 0.0)), seq(20000,(53, 7, 10009, 10009.0, 0.004)))
        (
            "30000_20000_close",
            (30000, 37, 3, 10007, 10007.0, 0.0),
            (20000, 53, 7, 10009, 10009.0, 0.004),
            0.004100000000000001,
            0.9872087192801786,
        ),
    ];
    for (name, a, b, d, p) in cases {
        let xa = seq(a.0, a.1, a.2, a.3, a.4, a.5);
        let xb = seq(b.0, b.1, b.2, b.3, b.4, b.5);
        let r = ks_2samp(&xa, &xb);
        close(r.statistic, d, &format!("{name} D"));
        close(r.p, p, &format!("{name} p"));
        let expect_exact = a.0.max(b.0) <= 10_000;
        assert_eq!(
            r.method == KsMethod::Exact,
            expect_exact,
            "{name}: method {:?}",
            r.method
        );
    }
}

#[test]
fn kstwo_sf_matches_scipy() {
    let cases: [(u64, f64, f64); 11] = [
        // scipy.stats.kstwo.sf(0.05, 100)
        (100, 0.05, 0.9532159710635725),
        // scipy.stats.kstwo.sf(0.2, 100)
        (100, 0.2, 0.0005551927327988775),
        // scipy.stats.kstwo.sf(0.03, 500)
        (500, 0.03, 0.7473166700457021),
        // scipy.stats.kstwo.sf(0.07, 500)
        (500, 0.07, 0.01416832020019071),
        // scipy.stats.kstwo.sf(0.02, 5000)
        (5000, 0.02, 0.03613941395325637),
        // scipy.stats.kstwo.sf(0.002, 200000)
        (200000, 0.002, 0.39995085369038097),
        // scipy.stats.kstwo.sf(0.3, 20)
        (20, 0.3, 0.04306706665851623),
        // scipy.stats.kstwo.sf(0.1, 20)
        (20, 0.1, 0.976255094592155),
        // scipy.stats.kstwo.sf(0.12, 60)
        (60, 0.12, 0.32682301183616835),
        // scipy.stats.kstwo.sf(0.5, 3000)
        (3000, 0.5, 0.0),
        // scipy.stats.kstwo.sf(0.005, 150)
        (150, 0.005, 1.0),
    ];
    for (n, x, p) in cases {
        close(kolmogorov_sf(n, x), p, &format!("kstwo.sf({x}, {n})"));
    }
}

#[test]
fn degenerate_inputs_give_nan_not_panic() {
    let t = student_t_test(&[1.0, 1.0], &[1.0, 1.0]);
    assert!(t.t.is_nan() && t.p.is_nan());
    let k = ks_2samp(&[], &[1.0]);
    assert!(k.p.is_nan());
}
