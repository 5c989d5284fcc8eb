//! One comparison of a claim at one scale, decided as the pre-registration
//! says (reports/study/PREREGISTRATION.md, "Tests"): Welch's test and 95 %
//! interval for a difference, TOST within ±margin for "no worse", Holm's
//! correction over the family's tests on both metrics together.

use crate::inference::{holm, tost_welch, welch_interval, Interval};
use crate::stats::welch_t_test;

/// What a claim says about its condition against its reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claimed {
    /// The condition's accuracy is lower.
    Worse,
    /// The condition's accuracy is higher.
    Better,
    /// The two are equivalent within ±margin (TOST).
    Equivalent,
}

/// The two primary metrics, in the order every family lists them.
pub const METRICS: [&str; 2] = ["linear top-1", "kNN top-1"];

/// One metric of one comparison: the samples (in %) on both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    pub condition: Vec<f64>,
    pub reference: Vec<f64>,
}

/// A comparison's statistics on one metric, before the family's correction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    /// Condition − reference, with Welch's 95 % interval.
    pub delta: Interval,
    /// The test's raw p: Welch two-sided for a difference, TOST's for equivalence.
    pub p: f64,
}

pub fn measure(claimed: Claimed, s: &Samples, margin: f64) -> Measured {
    let delta = welch_interval(&s.condition, &s.reference, 0.95);
    let p = match claimed {
        Claimed::Equivalent => tost_welch(&s.condition, &s.reference, -margin, margin).p,
        Claimed::Worse | Claimed::Better => welch_t_test(&s.condition, &s.reference).p,
    };
    Measured { delta, p }
}

/// Holm-adjusted p-values of a family's measured tests, in order.
pub fn adjust(family: &[Measured]) -> Vec<f64> {
    holm(&family.iter().map(|m| m.p).collect::<Vec<_>>())
}

/// What one metric says about a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Holds,
    DoesNotHold,
    Undecided,
}

/// One metric's outcome. A difference holds when Holm's p is below `alpha`
/// in the claimed direction; it does not hold when the interval rules out
/// an effect of `effect` points in that direction (or shows the opposite).
/// Equivalence holds when TOST rejects after Holm; it does not hold when
/// the whole interval lies beyond the margin.
pub fn outcome(
    claimed: Claimed,
    m: &Measured,
    p_holm: f64,
    alpha: f64,
    effect: f64,
    margin: f64,
) -> Outcome {
    let (lo, hi, d) = (m.delta.low, m.delta.high, m.delta.estimate);
    let significant = p_holm < alpha;
    match claimed {
        Claimed::Worse if significant && d < 0.0 => Outcome::Holds,
        Claimed::Worse if lo > -effect => Outcome::DoesNotHold,
        Claimed::Better if significant && d > 0.0 => Outcome::Holds,
        Claimed::Better if hi < effect => Outcome::DoesNotHold,
        Claimed::Equivalent if significant => Outcome::Holds,
        Claimed::Equivalent if lo > margin || hi < -margin => Outcome::DoesNotHold,
        _ => Outcome::Undecided,
    }
}

/// The verdict from both metrics' outcomes, in the pre-registration's words.
pub fn verdict(outcomes: [Outcome; 2]) -> String {
    use Outcome::*;
    match outcomes {
        [Holds, Holds] => "holds".into(),
        [Holds, _] => format!("holds on {} only", METRICS[0]),
        [_, Holds] => format!("holds on {} only", METRICS[1]),
        [DoesNotHold, DoesNotHold] => "does not hold".into(),
        _ => "undecided".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(estimate: f64, low: f64, high: f64, p: f64) -> Measured {
        Measured {
            delta: Interval {
                estimate,
                low,
                high,
                df: 10.0,
            },
            p,
        }
    }

    /// Each branch of the rule, with the direction mattering: a significant
    /// gain does not make "worse" hold, an interval inside ±effect makes it
    /// fail, and equivalence needs the TOST to reject.
    #[test]
    fn outcomes_follow_the_preregistered_rule() {
        use Outcome::*;
        let o = |c, x: Measured, p| outcome(c, &x, p, 0.05, 2.0, 2.0);
        assert_eq!(o(Claimed::Worse, m(-3.0, -4.0, -2.0, 0.001), 0.004), Holds);
        assert_eq!(
            o(Claimed::Worse, m(3.0, 2.0, 4.0, 0.001), 0.004),
            DoesNotHold
        );
        assert_eq!(o(Claimed::Worse, m(-0.5, -1.5, 0.5, 0.3), 0.9), DoesNotHold);
        assert_eq!(o(Claimed::Worse, m(-1.0, -2.5, 0.5, 0.2), 0.8), Undecided);
        assert_eq!(o(Claimed::Worse, m(-1.0, -2.5, 0.5, 0.01), 0.06), Undecided);
        assert_eq!(o(Claimed::Better, m(1.0, 0.5, 1.5, 0.001), 0.008), Holds);
        assert_eq!(o(Claimed::Better, m(0.5, -0.5, 1.5, 0.3), 1.0), DoesNotHold);
        assert_eq!(
            o(Claimed::Equivalent, m(0.1, -0.8, 1.0, 0.001), 0.008),
            Holds
        );
        assert_eq!(
            o(Claimed::Equivalent, m(0.1, -2.5, 2.7, 0.3), 0.6),
            Undecided
        );
        assert_eq!(
            o(Claimed::Equivalent, m(-3.0, -3.5, -2.5, 0.99), 1.0),
            DoesNotHold
        );
        assert_eq!(verdict([Holds, Undecided]), "holds on linear top-1 only");
        assert_eq!(verdict([DoesNotHold, Holds]), "holds on kNN top-1 only");
        assert_eq!(verdict([DoesNotHold, Undecided]), "undecided");
    }

    /// The measured p is the test the claim names: Welch for a difference
    /// (scipy 1.17: `ttest_ind([1,2,3], [2,3,4], equal_var=False).pvalue` =
    /// 0.28786413472669053), TOST for equivalence (statsmodels 0.15:
    /// `ttost_ind([1,2,3], [2,3,4], -2, 2, usevar='unequal')[0]` =
    /// 0.14393206736334527).
    #[test]
    fn the_claim_picks_its_test() {
        let s = Samples {
            condition: vec![1.0, 2.0, 3.0],
            reference: vec![2.0, 3.0, 4.0],
        };
        let worse = measure(Claimed::Worse, &s, 2.0);
        assert!((worse.p - 0.28786413472669053).abs() < 1e-12, "{}", worse.p);
        assert!((worse.delta.estimate + 1.0).abs() < 1e-12);
        let eq = measure(Claimed::Equivalent, &s, 2.0);
        assert!((eq.p - 0.14393206736334527).abs() < 1e-12, "{}", eq.p);
    }
}
