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

/// The pre-registered study's statistics (`negstudy::inference`) against
/// scipy 1.17.1 and statsmodels 0.15.0, on a = seq(8, 37, 3, 101, 10, 80),
/// b = seq(10, 53, 7, 97, 10, 79) (the expression above). Python:
/// `st.t.interval(0.95, 7, loc=mean(a), scale=st.sem(a))`;
/// `st.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)`;
/// `ttost_ind(a, b, -1, 1, usevar='unequal')`;
/// `multipletests([0.01, 0.04, 0.03, 0.2, 0.001], method='holm')[1]`;
/// `TTestIndPower().power(d, n, 0.05)` and `.solve_power(d, alpha=0.05, power=0.8)`.
#[test]
fn study_statistics_match_scipy_and_statsmodels() {
    use negstudy::inference::*;
    let a = seq(8, 37, 3, 101, 10.0, 80.0);
    let b = seq(10, 53, 7, 97, 10.0, 79.0);
    let m = mean_interval(&a, 0.95);
    close(m.estimate, 84.4125, "mean");
    close(m.low, 81.8986961620671, "mean interval low");
    close(m.high, 86.92630383793289, "mean interval high");
    let w = welch_interval(&a, &b, 0.95);
    close(w.estimate, 0.26249999999998863, "difference");
    close(w.low, -2.813331428922017, "Welch interval low");
    close(w.high, 3.338331428921994, "Welch interval high");
    close(w.df, 15.337122781426876, "Welch df");
    let t = tost_welch(&a, &b, -1.0, 1.0);
    close(t.p, 0.30862634966554636, "TOST p");
    close(t.t_low, 0.8731988472622396, "TOST t (lower)");
    close(t.p_low, 0.19801040865788824, "TOST p (lower)");
    close(t.t_high, -0.5100864553314197, "TOST t (upper)");
    close(t.p_high, 0.30862634966554636, "TOST p (upper)");
    let h = holm(&[0.01, 0.04, 0.03, 0.2, 0.001]);
    for (ours, theirs) in h.iter().zip([0.04, 0.09, 0.09, 0.2, 0.005]) {
        close(*ours, theirs, "Holm");
    }
    close(
        t_quantile(0.975, 7.0),
        2.364624251592784,
        "t quantile, df 7",
    );
    close(
        t_quantile(0.975, 13.37),
        2.154306952430865,
        "t quantile, df 13.37",
    );
    // Power: the integral over the chi distribution agrees with
    // statsmodels' noncentral t to 1e-8 (the quadrature's tolerance).
    for (d, n, power) in [
        (0.5, 10.0, 0.18509565629116606),
        (1.0 / 0.735, 10.0, 0.8203419547060042),
        (1.0 / 0.861, 13.0, 0.8108042784587224),
        (2.0, 3.0, 0.46264081189130635),
        (0.3, 50.0, 0.31780220491946193),
    ] {
        let ours = two_sample_power(d, n, 0.05);
        assert!(
            ((ours - power) / power).abs() < 1e-8,
            "power d {d} n {n}: ours {ours} vs {power}"
        );
    }
    // Seeds per condition: statsmodels' solve_power rounded up (9.54 → 10,
    // 12.67 → 13, 3.41 → 4) — the 1-point effects at the pooled
    // quick-sweep stds of top-1 (0.735) and kNN (0.861).
    assert_eq!(seeds_for_power(1.0, 0.735, 0.05, 0.8), 10);
    assert_eq!(seeds_for_power(1.0, 0.861, 0.05, 0.8), 13);
    assert_eq!(seeds_for_power(2.0, 0.735, 0.05, 0.8), 4);
}

/// TOST power against an independent computation: a Monte Carlo of the
/// test itself (numpy, 2 000 000 pairs of normal samples per case, seed
/// 20261207; pooled sd, one-sided critical t from scipy, both one-sided
/// tests rejecting). Its standard error is ≤ 0.00035, so 0.0015 is > 4 SE.
#[test]
fn tost_power_matches_a_simulation_of_the_test() {
    use negstudy::inference::{seeds_for_equivalence, tost_power};
    for (margin, n, simulated) in [
        (1.0 / 0.735, 10.0, 0.7999555),
        (1.0, 10.0, 0.3913115),
        (1.5, 6.0, 0.5625195),
        (1.0 / 0.861, 13.0, 0.7813845),
    ] {
        let ours = tost_power(margin, n, 0.05);
        assert!(
            (ours - simulated).abs() < 0.0015,
            "margin {margin} n {n}: ours {ours} vs simulated {simulated}"
        );
    }
    // Power grows with n: the simulated 0.7999 at n = 10 means 11 seeds for
    // 0.8 unless the exact value is just above it.
    let n = seeds_for_equivalence(1.0, 0.735, 0.05, 0.8);
    assert!(n == 10 || n == 11, "{n}");
    assert!(tost_power(1.0 / 0.735, n as f64, 0.05) >= 0.8);
    assert!(tost_power(1.0 / 0.735, n as f64 - 1.0, 0.05) < 0.8);
}

/// `negstudy study power` pools the seed variance of the committed quick
/// sweeps as an independent Python computation does (csv.DictReader,
/// statistics.variance per cell of condition/keep/drop/refill/temperature/
/// epochs, Σ(n−1)s² / Σ(n−1)): 29 cells, 87 runs, df 58, sd 0.735159690213591
/// (top-1) and 0.8611172907947829 (kNN) — and turns them into seeds.
#[test]
fn study_power_pools_the_committed_sweeps_seed_variance() {
    use negstudy::sweep::seed_variance::{pooled_sd, read_runs};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
    let mut runs = Vec::new();
    for f in [
        "fig2-sufficiency-11conditions",
        "fig3-temperature",
        "table1-same-class",
    ] {
        runs.extend(read_runs(&root.join(f).join("results.csv")).unwrap());
    }
    let top1 = pooled_sd(&runs, |r| r.top1).unwrap();
    let knn = pooled_sd(&runs, |r| r.knn_top1).unwrap();
    assert_eq!((top1.cells, top1.runs, top1.df), (29, 87, 58));
    close(top1.sd, 0.735159690213591, "pooled top-1 sd");
    close(knn.sd, 0.8611172907947829, "pooled kNN sd");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_negstudy"))
        .args(["study", "power", "--effect", "1", "--margin", "1"])
        .args(
            [
                "fig2-sufficiency-11conditions",
                "fig3-temperature",
                "table1-same-class",
            ]
            .map(|f| root.join(f).join("results.csv")),
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Seeds as statsmodels' solve_power gives them (10 and 13, see above).
    assert!(
        text.contains("| linear top-1 | 29 | 87 | 58 | 0.735 | 10 |"),
        "{text}"
    );
    assert!(
        text.contains("| kNN top-1 | 29 | 87 | 58 | 0.861 | 13 |"),
        "{text}"
    );
}
