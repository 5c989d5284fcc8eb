//! Summaries and the hypothesis tests the paper uses, ported from scipy's
//! definitions so that numbers match `scipy.stats` (see the tests).
//!
//! Why our own: the crates that offer these tests compute two-sided p as
//! `2·(1 − cdf)`, which underflows to 0 where scipy reports 1e-17, or use the
//! wrong KS effective n. Here p-values come from survival functions directly:
//! the t-test's from the regularized incomplete beta function (statrs), the
//! KS test's from scipy's exact lattice-path counts or its `kstwo` survival
//! function.

use serde::Serialize;
use statrs::function::beta::checked_beta_reg;
use statrs::function::gamma::ln_gamma;

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Variance with `ddof` delta degrees of freedom (numpy's convention).
pub fn variance(x: &[f64], ddof: usize) -> f64 {
    if x.len() <= ddof {
        return f64::NAN;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - ddof) as f64
}

/// Standard deviation with `ddof` (0 = population, 1 = sample).
pub fn std(x: &[f64], ddof: usize) -> f64 {
    variance(x, ddof).sqrt()
}

/// Standard error of the mean, `std(ddof=1)/sqrt(n)` like `scipy.stats.sem`.
pub fn sem(x: &[f64]) -> f64 {
    std(x, 1) / (x.len() as f64).sqrt()
}

/// Result of a two-sided t-test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TTest {
    pub t: f64,
    pub df: f64,
    pub p: f64,
}

/// Two-sided p-value of Student's t with `df` degrees of freedom:
/// `2·sf(|t|) = I_{df/(df+t²)}(df/2, 1/2)`, which keeps full relative
/// precision deep into the tail.
pub fn t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    checked_beta_reg(df / 2.0, 0.5, x)
        .unwrap_or(f64::NAN)
        .clamp(0.0, 1.0)
}

/// Student's unpaired two-sided t-test (equal variances), like
/// `scipy.stats.ttest_ind(a, b)`.
pub fn student_t_test(a: &[f64], b: &[f64]) -> TTest {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let df = n1 + n2 - 2.0;
    let pooled = ((n1 - 1.0) * variance(a, 1) + (n2 - 1.0) * variance(b, 1)) / df;
    let t = (mean(a) - mean(b)) / (pooled * (1.0 / n1 + 1.0 / n2)).sqrt();
    TTest {
        t,
        df,
        p: t_two_sided_p(t, df),
    }
}

/// Welch's unpaired two-sided t-test, like
/// `scipy.stats.ttest_ind(a, b, equal_var=False)`.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> TTest {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (v1, v2) = (variance(a, 1) / n1, variance(b, 1) / n2);
    let df = (v1 + v2).powi(2) / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
    let t = (mean(a) - mean(b)) / (v1 + v2).sqrt();
    TTest {
        t,
        df,
        p: t_two_sided_p(t, df),
    }
}

/// How a KS p-value was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KsMethod {
    /// Exact distribution of the two-sample statistic (lattice paths).
    Exact,
    /// `kstwo.sf(D, round(n1·n2/(n1+n2)))`.
    Asymptotic,
}

/// Result of a two-sample, two-sided Kolmogorov–Smirnov test.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KsTest {
    pub statistic: f64,
    pub p: f64,
    pub method: KsMethod,
}

/// scipy's `ks_2samp(..., method='auto')` tries the exact p-value up to this
/// sample size and uses the asymptotic one above it.
const KS_MAX_EXACT_N: usize = 10_000;

/// Two-sample, two-sided KS test, like `scipy.stats.ks_2samp(a, b)`
/// (method `auto`: exact when both samples have at most 10 000 values and
/// the exact computation succeeds, asymptotic otherwise). NaN values are not
/// allowed (they have no place in a CDF); empty samples give NaN.
pub fn ks_2samp(a: &[f64], b: &[f64]) -> KsTest {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return KsTest {
            statistic: f64::NAN,
            p: f64::NAN,
            method: KsMethod::Exact,
        };
    }
    let d = ks_statistic(a, b);
    if n1.max(n2) <= KS_MAX_EXACT_N {
        if let Some((d_exact, p)) = ks_exact_p(n1, n2, d) {
            return KsTest {
                statistic: d_exact,
                p,
                method: KsMethod::Exact,
            };
        }
    }
    let (m, n) = (n1.max(n2) as f64, n1.min(n2) as f64);
    let en = (m * n / (m + n)).round() as u64;
    KsTest {
        statistic: d,
        p: kolmogorov_sf(en, d).clamp(0.0, 1.0),
        method: KsMethod::Asymptotic,
    }
}

/// `max |F_a(x) − F_b(x)|` over the pooled sample, ties handled like scipy
/// (both ECDFs evaluated right-continuously at every observed value).
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut d: f64 = 0.0;
    while i < a.len() || j < b.len() {
        // The next distinct value in the pooled sample; step past it in both.
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n1 - j as f64 / n2).abs());
    }
    d
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// scipy's `_attempt_exact_2kssamp` (two-sided): rounds D onto the lattice
/// `h/lcm(n1, n2)` and counts paths. `None` when the computation is not
/// numerically trustworthy (scipy then falls back to the asymptotic method).
fn ks_exact_p(n1: usize, n2: usize, d: f64) -> Option<(f64, f64)> {
    let g = gcd(n1, n2);
    let lcm = (n1 / g) as f64 * n2 as f64;
    let h = (d * lcm).round() as usize;
    let d = h as f64 / lcm;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside_method(n1, n2, g, h)
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some((d, p))
}

/// `P(D_{n,n} ≥ h/n)` by the alternating binomial sum, evaluated in
/// Horner form to avoid cancellation (scipy `_compute_prob_outside_square`).
fn prob_outside_square(n: usize, h: usize) -> f64 {
    let (n, h) = (n as f64, h as i64);
    let mut p = 0.0;
    let mut k = (n / h as f64).floor() as i64;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            let (kh, j) = ((k * h) as f64, j as f64);
            p1 = (n - kh - j) * p1 / (n + kh + j + 1.0);
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// `1 − P(all lattice paths stay strictly inside |x/m − y/n| < h/lcm)`,
/// computed directly with Viehmann's recursion for the complement
/// (scipy `_compute_outer_prob_inside_method`).
fn outer_prob_inside_method(m: usize, n: usize, g: usize, h: usize) -> f64 {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (mg, ng) = ((m / g) as i64, (n / g) as i64);
    let (n_i, h_i) = (n as i64, h as i64);
    let ceil_div = |a: i64, b: i64| -> i64 { (a as f64 / b as f64).ceil() as i64 };
    let floor_div = |a: i64, b: i64| -> i64 { (a as f64 / b as f64).floor() as i64 };
    let mut minj: i64 = 0;
    let mut maxj: i64 = ceil_div(h_i, mg).min(n_i + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n_i + 1) as usize;
    let mut a = vec![1.0f64; len_a];
    for v in a.iter_mut().take(maxj as usize).skip(minj as usize) {
        *v = 0.0;
    }
    for i in 1..=m as i64 {
        let (lastminj, lastlen) = (minj, curlen);
        minj = (floor_div(ng * i - h_i, mg) + 1).max(0).min(n_i);
        maxj = ceil_div(ng * i + h_i, mg).min(n_i + 1);
        if maxj <= minj {
            return 1.0;
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = (jj + minj) as f64;
            let prev = a[(jj + minj - lastminj) as usize];
            val = (prev * i as f64 + val * j) / (i as f64 + j);
            a[jj as usize] = val;
        }
        curlen = maxj - minj;
        if lastlen > curlen {
            for v in a
                .iter_mut()
                .skip(curlen as usize)
                .take((lastlen - curlen) as usize)
            {
                *v = 1.0;
            }
        }
    }
    a[(maxj - minj - 1) as usize]
}

/// Survival function of the two-sided one-sample KS statistic `D_n`,
/// `P(D_n > x)`: scipy's `kstwo.sf(x, n)` (Simard & L'Ecuyer's choice of
/// algorithm by regime, as in scipy's `_kolmogn`).
pub fn kolmogorov_sf(n: u64, x: f64) -> f64 {
    if n == 0 || x.is_nan() {
        return f64::NAN;
    }
    let nf = n as f64;
    if x >= 1.0 {
        return 0.0;
    }
    if x <= 0.0 {
        return 1.0;
    }
    let t = nf * x;
    if t <= 1.0 {
        // Ruben–Gambino: 1/(2n) ≤ x ≤ 1/n.
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |acc, i| acc * (i as f64 / nf) * (2.0 * t - 1.0))
        } else {
            (log_nfactorial_div_n_pow_n(nf) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if t >= nf - 1.0 {
        return (2.0 * (1.0 - x).powf(nf)).clamp(0.0, 1.0);
    }
    if x >= 0.5 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let nxsquared = t * x;
    if n <= 140 {
        let cdf = if nxsquared <= 0.754693 {
            kolmogorov_cdf_durbin(n, x)
        } else if nxsquared <= 4.0 {
            kolmogorov_cdf_pomeranz(n, x)
        } else {
            return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
        };
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    if nxsquared >= 370.0 {
        return 0.0;
    }
    if nxsquared >= 2.2 {
        return (2.0 * smirnov(n, x)).clamp(0.0, 1.0);
    }
    let cdf = if n <= 100_000 && nf * x.powf(1.5) <= 1.4 {
        kolmogorov_cdf_durbin(n, x)
    } else {
        kolmogorov_cdf_pelz_good(nf, x)
    };
    (1.0 - cdf).clamp(0.0, 1.0)
}

const E128: i32 = 128;

/// `log(n!/n^n)` by Stirling's series with `n·log n` removed up front.
fn log_nfactorial_div_n_pow_n(n: f64) -> f64 {
    // B_{2j} / (2j (2j−1)) for j = 8..1, highest order first (Horner).
    const STIRLING: [f64; 8] = [
        -3617.0 / 122400.0,
        1.0 / 156.0,
        -691.0 / 360360.0,
        1.0 / 1188.0,
        -1.0 / 1680.0,
        1.0 / 1260.0,
        -1.0 / 360.0,
        1.0 / 12.0,
    ];
    let rn = 1.0 / n;
    let x = rn / n;
    let poly = STIRLING.iter().fold(0.0, |acc, &c| acc * x + c);
    n.ln() / 2.0 - n + (2.0 * std::f64::consts::PI).ln() / 2.0 + rn * poly
}

/// One-sided exact Smirnov survival function `P(D_n^+ ≥ e)` by Birnbaum and
/// Tingey's sum (cephes `smirnov`).
fn smirnov(n: u64, e: f64) -> f64 {
    if !(0.0..=1.0).contains(&e) {
        return f64::NAN;
    }
    if e == 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let nn = (nf * (1.0 - e)).floor() as u64;
    let mut p = 0.0;
    if n < 1013 {
        let mut c = 1.0;
        for v in 0..=nn {
            let vf = v as f64;
            let evn = e + vf / nf;
            p += c * evn.powf(vf - 1.0) * (1.0 - evn).powf(nf - vf);
            c *= (nf - vf) / (vf + 1.0);
        }
    } else {
        let lgamnp1 = ln_gamma(nf + 1.0);
        for v in 0..=nn {
            let vf = v as f64;
            let evn = e + vf / nf;
            let omevn = 1.0 - evn;
            if omevn.abs() > 0.0 {
                let t = lgamnp1 - ln_gamma(vf + 1.0) - ln_gamma(nf - vf + 1.0)
                    + (vf - 1.0) * evn.ln()
                    + (nf - vf) * omevn.ln();
                if t > -709.78 {
                    p += t.exp();
                }
            }
        }
    }
    p * e
}

/// `P(D_n ≤ d)` by Marsaglia–Tsang–Wang's form of Durbin's matrix method.
fn kolmogorov_cdf_durbin(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    if d >= 1.0 {
        return 1.0;
    }
    let nd = nf * d;
    if nd <= 0.5 {
        return 0.0;
    }
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut hm = vec![0.0f64; m * m];
    let mut v = vec![0.0f64; m];
    let mut w = vec![0.0f64; m];
    let mut fac = 1.0;
    for j in 1..=m {
        w[j - 1] = fac;
        fac /= j as f64;
        v[j - 1] = (1.0 - h.powi(j as i32)) * fac;
    }
    let tt = (2.0 * h - 1.0).max(0.0).powi(m as i32) - 2.0 * h.powi(m as i32);
    v[m - 1] = (1.0 + tt) * fac;
    for i in 1..m {
        for r in (i - 1)..m {
            hm[r * m + i] = w[r - (i - 1)];
        }
    }
    for r in 0..m {
        hm[r * m] = v[r];
    }
    for c in 0..m {
        hm[(m - 1) * m + c] = v[m - 1 - c];
    }
    let matmul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        let mut out = vec![0.0; m * m];
        for i in 0..m {
            for l in 0..m {
                let ail = a[i * m + l];
                if ail != 0.0 {
                    for j in 0..m {
                        out[i * m + j] += ail * b[l * m + j];
                    }
                }
            }
        }
        out
    };
    let mut pwr = vec![0.0; m * m];
    for i in 0..m {
        pwr[i * m + i] = 1.0;
    }
    let scale = 2f64.powi(E128);
    let mut nn = n;
    let mut expnt: i32 = 0;
    let mut h_expnt: i32 = 0;
    while nn > 0 {
        if nn % 2 == 1 {
            pwr = matmul(&pwr, &hm);
            expnt += h_expnt;
        }
        hm = matmul(&hm, &hm);
        h_expnt *= 2;
        if hm[(k - 1) * m + (k - 1)].abs() > scale {
            for x in hm.iter_mut() {
                *x /= scale;
            }
            h_expnt += E128;
        }
        nn /= 2;
    }
    let mut p = pwr[(k - 1) * m + (k - 1)];
    for i in 1..=n {
        p = i as f64 * p / nf;
        if p.abs() < 1.0 / scale {
            p *= scale;
            expnt -= E128;
        }
    }
    if expnt != 0 {
        p *= 2f64.powi(expnt);
    }
    p.clamp(0.0, 1.0)
}

/// Row bounds for Pomeranz's recursion (scipy `_pomeranz_compute_j1j2`).
fn pomeranz_j1j2(i: i64, n: i64, ll: i64, ceilf: i64, roundf: i64) -> (i64, i64) {
    let (j1, j2) = if i == 0 {
        (-ll - ceilf - 1, ll + ceilf - 1)
    } else {
        let (ip1div2, ip1mod2) = ((i + 1) / 2, (i + 1) % 2);
        if ip1mod2 == 0 {
            if ip1div2 == n + 1 {
                (n - ll - ceilf - 1, n + ll + ceilf - 1)
            } else {
                (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
            }
        } else {
            (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
        }
    };
    ((j1 + 2).max(0), j2.min(n))
}

/// `P(D_n ≤ x)` by Pomeranz's recursion (small n, moderate `n·x²`).
fn kolmogorov_cdf_pomeranz(n: u64, x: f64) -> f64 {
    let nf = n as f64;
    let n_i = n as i64;
    let t = nf * x;
    let ll = t.floor() as i64;
    let f = t - ll as f64;
    let g = f.min(1.0 - f);
    let ceilf = i64::from(f > 0.0);
    let roundf = i64::from(f > 0.5);
    let npwrs = (2 * (ll + 1)) as usize;
    let mut gpower = vec![1.0; npwrs];
    let mut twogpower = vec![1.0; npwrs];
    let mut onem2gpower = vec![1.0; npwrs];
    for m in 1..npwrs {
        gpower[m] = gpower[m - 1] * (g / nf) / m as f64;
        twogpower[m] = twogpower[m - 1] * (2.0 * g / nf) / m as f64;
        onem2gpower[m] = onem2gpower[m - 1] * ((1.0 - 2.0 * g) / nf) / m as f64;
    }
    let scale = 2f64.powi(E128);
    let mut expnt: i32 = 0;
    let mut v0 = vec![0.0; npwrs];
    let mut v1 = vec![0.0; npwrs];
    v1[0] = 1.0;
    let (mut v0s, mut v1s) = (0i64, 0i64);
    let (mut j1, _) = pomeranz_j1j2(0, n_i, ll, ceilf, roundf);
    for i in 1..(2 * n_i + 2) {
        let k1 = j1;
        std::mem::swap(&mut v0, &mut v1);
        std::mem::swap(&mut v0s, &mut v1s);
        v1.iter_mut().for_each(|v| *v = 0.0);
        let (nj1, j2) = pomeranz_j1j2(i, n_i, ll, ceilf, roundf);
        j1 = nj1;
        let pwrs = if i == 1 || i == 2 * n_i + 1 {
            &gpower
        } else if i % 2 == 1 {
            &twogpower
        } else {
            &onem2gpower
        };
        let ln2 = j2 - k1 + 1;
        if ln2 > 0 {
            let ln2 = ln2 as usize;
            let src = &v0[(k1 - v0s) as usize..(k1 - v0s) as usize + ln2];
            // Full convolution of src with pwrs[..ln2], then the slice we need.
            let mut conv = vec![0.0; 2 * ln2 - 1];
            for (a, &sa) in src.iter().enumerate() {
                for (b, &pb) in pwrs[..ln2].iter().enumerate() {
                    conv[a + b] += sa * pb;
                }
            }
            let conv_start = (j1 - k1) as usize;
            let conv_len = (j2 - j1 + 1) as usize;
            v1[..conv_len].copy_from_slice(&conv[conv_start..conv_start + conv_len]);
            let vmax = v1.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if vmax > 0.0 && vmax < 1.0 / scale {
                v1.iter_mut().for_each(|v| *v *= scale);
                expnt -= E128;
            }
            v1s = v0s + j1 - k1;
        }
    }
    let mut ans = v1[(n_i - v1s) as usize];
    for m in 1..=n {
        if ans.abs() > scale {
            ans /= scale;
            expnt += E128;
        }
        ans *= m as f64;
    }
    if expnt != 0 {
        ans *= 2f64.powi(expnt);
    }
    ans.clamp(0.0, 1.0)
}

/// Pelz–Good asymptotic approximation of `P(D_n ≤ x)` for large n.
fn kolmogorov_cdf_pelz_good(n: f64, x: f64) -> f64 {
    use std::f64::consts::PI;
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let (pi2, pi4, pi6) = (PI * PI, PI.powi(4), PI.powi(6));
    let sqrt2pi = (2.0 * PI).sqrt();
    let z = n.sqrt() * x;
    let (z2, z3, z4, z6) = (z * z, z.powi(3), z.powi(4), z.powi(6));
    let qlog = -pi2 / 8.0 / z2;
    if qlog < -708.0 {
        return 0.0;
    }
    let q = qlog.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z.powi(8);
    let mut k = [0.0f64; 4];
    let maxk = (16.0 * z / PI).ceil() as i64;
    for kk in (1..=maxk).rev() {
        let m = (2 * kk - 1) as f64;
        let (m2, m4, m6) = (m * m, m.powi(4), m.powi(6));
        let qpower = q.powf(8.0 * kk as f64);
        let coeffs = [
            1.0,
            k1a + k1b * m2,
            k2a + k2b * m2 + k2c * m4,
            k3a + k3b * m2 + k3c * m4 + k3d * m6,
        ];
        for (kv, c) in k.iter_mut().zip(coeffs) {
            *kv = *kv * qpower + c;
        }
    }
    let denoms = [z, 6.0 * z4, 72.0 * z.powi(7), 6480.0 * z.powi(10)];
    for (kv, dnm) in k.iter_mut().zip(denoms) {
        *kv = *kv * q * sqrt2pi / dnm;
    }
    let q2 = (-pi2 / 2.0 / z2).exp();
    let sqrt3z = 3f64.sqrt() * z;
    let (mut k2extra, mut k3extra) = (0.0, 0.0);
    for kk in (1..=maxk).rev() {
        let ks = kk as f64;
        let ks2 = ks * ks;
        let qp = q2.powf(ks2);
        k2extra += ks2 * qp;
        let kspi = PI * ks;
        k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp;
    }
    k[2] += k2extra * pi2 * sqrt2pi / (-36.0 * z3);
    k[3] += k3extra * pi2 * sqrt2pi / (216.0 * z6);
    k.iter()
        .enumerate()
        .map(|(i, kv)| kv / n.powf(i as f64 / 2.0))
        .sum()
}

/// A mean with its sample standard deviation (NaN from a single value).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    /// Mean and sample std (ddof = 1) of `v`; std is NaN for fewer than two values.
    pub fn of(v: &[f64]) -> MeanStd {
        MeanStd {
            mean: mean(v),
            std: if v.len() > 1 { std(v, 1) } else { f64::NAN },
        }
    }
}

/// "p = 0.012", "p = 3.1e-17" or "p < 1e-300" (below the smallest double).
pub fn p_clause(p: f64) -> String {
    if p == 0.0 {
        "p < 1e-300".into()
    } else {
        format!("p = {}", fmt_p(p))
    }
}

/// Formats a p-value the way papers print it.
pub fn fmt_p(p: f64) -> String {
    if p.is_nan() {
        "n/a".into()
    } else if p == 0.0 {
        // Below the smallest f64 (~1e-308): report the bound, not a fake zero.
        "< 1e-300".into()
    } else if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_match_hand_values() {
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&x), 5.0);
        assert_eq!(std(&x, 0), 2.0); // the textbook population-std example
        assert!((variance(&x, 1) - 32.0 / 7.0).abs() < 1e-15);
        assert!((sem(&x) - (32.0f64 / 7.0).sqrt() / 8f64.sqrt()).abs() < 1e-15);
        assert!(mean(&[]).is_nan());
    }

    #[test]
    fn ks_statistic_handles_ties() {
        // a = [1,2,2,3], b = [2,3,3,4]: at x=2 F_a=3/4, F_b=1/4 → D = 1/2.
        assert_eq!(
            ks_statistic(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 3.0, 4.0]),
            0.5
        );
    }

    #[test]
    fn square_probability_small_case() {
        // n=2, h=1: of the C(4,2)=6 paths, only the 2 that alternate stay on
        // the diagonal band |x−y| < 1 … every path touches |x−y| = 1, so P = 1.
        assert!((prob_outside_square(2, 1) - 1.0).abs() < 1e-15);
        // n=2, h=2: only the paths (xx yy) and (yy xx) reach |x−y| = 2: 2/6.
        assert!((prob_outside_square(2, 2) - 1.0 / 3.0).abs() < 1e-15);
    }
}
