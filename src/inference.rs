//! What a pre-registered comparison of training conditions reports beyond a
//! p-value: confidence intervals (of a mean, and of a difference by
//! Welch), equivalence tests (TOST) for claims that a condition is "no
//! worse", Holm's correction across a family of tests, and the power of a
//! two-sample t-test, which fixes how many seeds a condition needs. Every
//! function matches scipy / statsmodels (`tests/stats_scipy.rs`).
//!
//! t quantiles come from inverting the t distribution's survival function
//! (the regularized incomplete beta function, as in [`crate::stats`]) by
//! bisection to full precision; the power integrates the noncentral t
//! distribution over the chi distribution of the pooled standard deviation.

use crate::stats::{mean, variance};
use serde::Serialize;
use statrs::function::beta::checked_beta_reg;
use statrs::function::erf::erfc;
use statrs::function::gamma::ln_gamma;

/// P(T > t) for Student's t with `df` degrees of freedom.
pub fn t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let x = df / (df + t * t);
    let tail = 0.5 * checked_beta_reg(df / 2.0, 0.5, x).unwrap_or(f64::NAN);
    if t >= 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// The `q` quantile of Student's t with `df` degrees of freedom (q in (0, 1)).
pub fn t_quantile(q: f64, df: f64) -> f64 {
    if !(q > 0.0 && q < 1.0) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if q < 0.5 {
        return -t_quantile(1.0 - q, df);
    }
    // sf is decreasing in t: bracket, then bisect to the last bit.
    let target = 1.0 - q;
    let mut hi = 1.0;
    while t_sf(hi, df) > target {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid == lo || mid == hi {
            break;
        }
        if t_sf(mid, df) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// An estimate with its two-sided confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
    /// Degrees of freedom of the t distribution behind it.
    pub df: f64,
}

/// The mean of `x` with its `level` (e.g. 0.95) t interval:
/// `scipy.stats.t.interval(level, n − 1, loc=mean, scale=sem)`.
pub fn mean_interval(x: &[f64], level: f64) -> Interval {
    let n = x.len() as f64;
    let m = mean(x);
    let half = t_quantile(0.5 + level / 2.0, n - 1.0) * (variance(x, 1) / n).sqrt();
    Interval {
        estimate: m,
        low: m - half,
        high: m + half,
        df: n - 1.0,
    }
}

/// Welch's standard error and Welch–Satterthwaite degrees of freedom of
/// `mean(a) − mean(b)`.
fn welch_se_df(a: &[f64], b: &[f64]) -> (f64, f64) {
    let (va, vb) = (
        variance(a, 1) / a.len() as f64,
        variance(b, 1) / b.len() as f64,
    );
    let df =
        (va + vb).powi(2) / (va * va / (a.len() as f64 - 1.0) + vb * vb / (b.len() as f64 - 1.0));
    ((va + vb).sqrt(), df)
}

/// `mean(a) − mean(b)` with its Welch `level` interval:
/// `scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)`.
pub fn welch_interval(a: &[f64], b: &[f64], level: f64) -> Interval {
    let (se, df) = welch_se_df(a, b);
    let d = mean(a) - mean(b);
    let half = t_quantile(0.5 + level / 2.0, df) * se;
    Interval {
        estimate: d,
        low: d - half,
        high: d + half,
        df,
    }
}

/// Two one-sided Welch tests that `mean(a) − mean(b)` lies within
/// `(low, high)` (e.g. ±1 point): equivalence is shown when `p` (the larger
/// of the two one-sided p-values) is below α. statsmodels'
/// `ttost_ind(a, b, low, high, usevar='unequal')`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tost {
    pub p: f64,
    /// t and p of H0: difference ≤ low.
    pub t_low: f64,
    pub p_low: f64,
    /// t and p of H0: difference ≥ high.
    pub t_high: f64,
    pub p_high: f64,
    pub df: f64,
}

pub fn tost_welch(a: &[f64], b: &[f64], low: f64, high: f64) -> Tost {
    let (se, df) = welch_se_df(a, b);
    let d = mean(a) - mean(b);
    let (t_low, t_high) = ((d - low) / se, (d - high) / se);
    let (p_low, p_high) = (t_sf(t_low, df), 1.0 - t_sf(t_high, df));
    Tost {
        p: p_low.max(p_high),
        t_low,
        p_low,
        t_high,
        p_high,
        df,
    }
}

/// Holm's step-down adjusted p-values, in the input's order:
/// statsmodels' `multipletests(p, method='holm')[1]`.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Φ(x), the standard normal distribution function (from erfc, accurate in
/// both tails).
fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Adaptive Simpson on [a, b] to absolute tolerance `tol`.
fn simpson(f: &dyn Fn(f64) -> f64, a: f64, b: f64, tol: f64) -> f64 {
    fn step(
        f: &dyn Fn(f64) -> f64,
        (a, fa): (f64, f64),
        (b, fb): (f64, f64),
        (m, fm): (f64, f64),
        whole: f64,
        tol: f64,
        depth: u32,
    ) -> f64 {
        let (lm, rm) = (0.5 * (a + m), 0.5 * (m + b));
        let (flm, frm) = (f(lm), f(rm));
        let left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
        let right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
        if depth == 0 || (left + right - whole).abs() <= 15.0 * tol {
            return left + right + (left + right - whole) / 15.0;
        }
        step(f, (a, fa), (m, fm), (lm, flm), left, tol / 2.0, depth - 1)
            + step(f, (m, fm), (b, fb), (rm, frm), right, tol / 2.0, depth - 1)
    }
    let m = 0.5 * (a + b);
    let (fa, fb, fm) = (f(a), f(b), f(m));
    let whole = (b - a) / 6.0 * (fa + 4.0 * fm + fb);
    step(f, (a, fa), (b, fb), (m, fm), whole, tol, 50)
}

/// E[f(S)] for S = sqrt(χ²_df / df), the ratio of an estimated to the
/// true standard deviation: every power below conditions on S, since a
/// t statistic is (Z + ncp) / S with Z standard normal.
fn over_sd_ratio(df: f64, f: impl Fn(f64) -> f64) -> f64 {
    // log density of S at s: ln(2) + (df/2) ln(df/2) − lnΓ(df/2) + (df − 1) ln s − df s²/2.
    let log_norm = std::f64::consts::LN_2 + (df / 2.0) * (df / 2.0).ln() - ln_gamma(df / 2.0);
    let integrand = |s: f64| {
        if s <= 0.0 {
            return 0.0;
        }
        (log_norm + (df - 1.0) * s.ln() - df * s * s / 2.0).exp() * f(s)
    };
    // S concentrates around 1 with standard deviation ≈ 1/√(2·df); beyond
    // 14 of those its density is below e^-90 for every df ≥ 2. The range is
    // cut into pieces so that adaptive Simpson never starts from three
    // points that all lie in the negligible tails.
    let spread = 14.0 / (2.0 * df).sqrt();
    let (low, high) = ((1.0 - spread).max(0.0), 1.0 + spread);
    let pieces = 64;
    let width = (high - low) / pieces as f64;
    (0..pieces)
        .map(|i| {
            let a = low + i as f64 * width;
            simpson(&integrand, a, a + width, 1e-16)
        })
        .sum()
}

/// Power of the two-sided two-sample t-test (equal variances, `n` per
/// group) to detect a standardised effect `d` (difference / sd) at level
/// `alpha`: statsmodels' `TTestIndPower().power(d, n, alpha)`.
pub fn two_sample_power(d: f64, n: f64, alpha: f64) -> f64 {
    let df = 2.0 * n - 2.0;
    let crit = t_quantile(1.0 - alpha / 2.0, df);
    let ncp = d * (n / 2.0).sqrt();
    // P(T > crit) + P(T < −crit) for T = (Z + ncp) / S.
    over_sd_ratio(df, |s| {
        normal_cdf(ncp - crit * s) + normal_cdf(-crit * s - ncp)
    })
}

/// Power of the equivalence test (TOST, two one-sided pooled t-tests at
/// level `alpha`, `n` per group) to conclude equivalence within ±`margin`
/// (in units of the runs' standard deviation) when the conditions are
/// truly equal. Both tests share one estimated standard deviation, so the
/// power is exactly E_S[max(0, 2Φ(ncp − c·S) − 1)], ncp = margin·√(n/2),
/// c the one-sided critical t — the integral form of Owen's Q.
pub fn tost_power(margin: f64, n: f64, alpha: f64) -> f64 {
    let df = 2.0 * n - 2.0;
    let crit = t_quantile(1.0 - alpha, df);
    let ncp = margin * (n / 2.0).sqrt();
    over_sd_ratio(df, |s| (2.0 * normal_cdf(ncp - crit * s) - 1.0).max(0.0))
}

/// The fewest seeds per condition (at least 2) for `power` to detect a
/// difference `delta` between two conditions whose runs vary with standard
/// deviation `sd`, by a two-sided test at level `alpha`.
pub fn seeds_for_power(delta: f64, sd: f64, alpha: f64, power: f64) -> usize {
    let d = delta / sd;
    (2..10_000)
        .find(|&n| two_sample_power(d, n as f64, alpha) >= power)
        .unwrap_or(10_000)
}

/// The fewest seeds per condition (at least 2) for the equivalence test
/// within ±`margin` to reach `power` when two conditions are truly equal.
pub fn seeds_for_equivalence(margin: f64, sd: f64, alpha: f64, power: f64) -> usize {
    (2..10_000)
        .find(|&n| tost_power(margin / sd, n as f64, alpha) >= power)
        .unwrap_or(10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_by_hand() {
        // p sorted: 0.01, 0.02, 0.04 with m = 3 → 0.03, max(0.03, 0.04) = 0.04,
        // max(0.04, 0.04) = 0.04; a p above 1/m·… is capped at 1.
        assert_eq!(holm(&[0.04, 0.01, 0.02]), vec![0.04, 0.03, 0.04]);
        assert_eq!(holm(&[0.6, 0.5]), vec![1.0, 1.0]);
    }

    #[test]
    fn t_quantile_inverts_the_survival_function() {
        for df in [1.0, 2.5, 7.0, 40.0] {
            for q in [0.6, 0.9, 0.975, 0.999] {
                let t = t_quantile(q, df);
                assert!((t_sf(t, df) - (1.0 - q)).abs() < 1e-14, "df {df} q {q}");
                assert!((t_quantile(1.0 - q, df) + t).abs() < 1e-12);
            }
        }
        // With df → ∞ the t quantile approaches the normal's 1.959964.
        assert!((t_quantile(0.975, 1e7) - 1.959_963_984_540_054).abs() < 1e-6);
    }
}
