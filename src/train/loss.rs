//! The contrastive losses over a step's logits `[q·k⁺, q·queue] / T`
//! (unused negatives at −∞): MoCo's InfoNCE, and the two estimators that
//! replace its sum over negatives, DCL's debiased one (Chuang et al. 2020)
//! and HCL's hardness-weighted one (Robinson et al. 2021), with the
//! formulas of their official code (`chingyaoc/DCL` main.py, `joshr17/HCL`
//! image/main.py) on the MoCo queue instead of the other views of a batch.
//!
//! N, the negatives' count in both estimators, is per query the number of
//! queue entries it uses: K without a filter, what a filter keeps
//! otherwise (K again with refill). DCL and HCL are evaluated in log space
//! with one shift per query, so no exponent overflows however small T is.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

/// A loss with its parameters, as the trainer applies it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Cross-entropy with the positive as the target (official MoCo).
    InfoNce,
    /// Debiased: the negatives' sum corrected for the share `tau_plus` of
    /// them assumed to be of the query's class,
    /// Ng = max((−τ⁺·N·pos + Σ_j neg_j)/(1−τ⁺), N·e^{−1/T}).
    Dcl { tau_plus: f64 },
    /// Hard: as DCL, with the sum replaced by the importance-weighted
    /// Σ_j imp_j·neg_j / mean_j imp_j, imp_j = e^{β·s_j/T} (β = 0 is DCL).
    Hcl { tau_plus: f64, beta: f64 },
}

/// What stands in for −∞ among the negatives in the log-space estimators:
/// far below any real logit (|s/T| ≤ 1/T) yet finite, so a query that uses
/// no negative gives finite terms and a zero gradient, never NaN.
const ABSENT: f32 = -1e30;

/// The step's loss, averaged over the batch; `used` [N, K + E] says which
/// queue entries each query uses (the −∞ entries of `logits`).
pub fn loss(
    objective: Objective,
    logits: Tensor<2>,
    used: Tensor<2, Bool>,
    temperature: f64,
) -> Tensor<1> {
    match objective {
        Objective::InfoNce => {
            let n = logits.dims()[0];
            log_softmax(logits, 1).slice([0..n, 0..1]).mean().neg()
        }
        Objective::Dcl { tau_plus } => debiased(logits, used, temperature, tau_plus, None),
        Objective::Hcl { tau_plus, beta } => {
            debiased(logits, used, temperature, tau_plus, Some(beta))
        }
    }
}

/// Row-wise log Σ e^x (a [N, 1] column); the shift is detached, as it does
/// not change the value.
fn log_sum_exp(x: Tensor<2>) -> Tensor<2> {
    let shift = x.clone().max_dim(1).detach();
    (x - shift.clone()).exp().sum_dim(1).log() + shift
}

/// DCL (`beta` None) or HCL (`beta` Some) on masked logits:
/// L = −log(pos / (pos + Ng)) = log(pos + Ng) − s⁺/T, with pos, the sum
/// and the floor N·e^{−1/T} all divided by e^m, m the largest of their logs.
fn debiased(
    logits: Tensor<2>,
    used: Tensor<2, Bool>,
    temperature: f64,
    tau_plus: f64,
    beta: Option<f64>,
) -> Tensor<1> {
    let [n, cols] = logits.dims();
    let unused = used.clone().bool_not();
    let positive = logits.clone().slice([0..n, 0..1]);
    // s_j / T with unused entries at ABSENT, times `scale` (a 0 scale
    // keeps them absent rather than making 0·(−∞) = NaN).
    let negatives = logits.slice([0..n, 1..cols]);
    let tilted = |scale: f64| {
        negatives
            .clone()
            .mask_fill(unused.clone(), 0.0)
            .mul_scalar(scale)
            .mask_fill(unused.clone(), ABSENT)
    };
    let count = used.int().sum_dim(1).float();
    // log Σ_j neg_j (DCL), or log(Σ_j imp_j·neg_j / mean_j imp_j)
    // = log N + log Σ e^{(1+β)s_j/T} − log Σ e^{β·s_j/T} (HCL).
    let log_sum = match beta {
        None => log_sum_exp(tilted(1.0)),
        Some(beta) => {
            // Without negatives the two sums cancel to 0: keep it absent.
            (count.clone().clamp_min(1.0).log() + log_sum_exp(tilted(1.0 + beta))
                - log_sum_exp(tilted(beta)))
            .mask_fill(count.clone().equal_elem(0.0), ABSENT)
        }
    };
    let inv_t = 1.0 / temperature;
    let log_floor = count.clone().clamp_min(1.0).log().sub_scalar(inv_t);
    let shift = positive
        .clone()
        .max_pair(log_sum.clone())
        .max_pair(log_floor)
        .detach();
    let pos = (positive.clone() - shift.clone()).exp();
    let sum = (log_sum - shift.clone()).exp();
    let floor = count.clone() * shift.clone().neg().sub_scalar(inv_t).exp();
    let estimate = (sum - pos.clone() * count.mul_scalar(tau_plus))
        .div_scalar(1.0 - tau_plus)
        .max_pair(floor);
    ((pos + estimate).log() + shift - positive).mean()
}
