//! Per-query negative selection on the device, by the definition in
//! `difficulty.rs`: ranks by score ascending with ties to the lower index,
//! bands `floor(lo·M/100) ≤ k < floor(hi·M/100)`.
//!
//! No sort and no `topk` (burn's `topk` falls back to a slow path on GPUs):
//! the value at rank k of every row is found by bisection on the value with
//! compare-and-count reductions, then ties at that value are resolved by
//! index with a cumulative sum. Cost: O(iterations · N · M) elementwise work,
//! fully parallel, with one host sync per 24 iterations to confirm that each
//! row's bracket isolates a single value.

use crate::difficulty::{NegativeSet, Selector};
use anyhow::{bail, Result};
use burn::prelude::*;

/// Bisection steps between exactness checks.
const STEPS: usize = 24;
/// Give up after this many steps (f32 brackets collapse far sooner).
const MAX_STEPS: usize = 24 * 12;

/// The rank-`k` key of each row: rank(j) ≥ k ⇔ s_j > value ∨ (s_j = value ∧
/// tie_index_j ≥ quota), tie_index_j = #{i < j : s_i = value}.
struct RankKey {
    value: Tensor<2>,
    quota: Tensor<2, Int>,
}

/// Finds the value at rank `k` (0 ≤ k < M) of every row of `s` [N, M].
fn rank_key(s: &Tensor<2>, k: usize) -> Result<RankKey> {
    let [n, m] = s.dims();
    let kf = k as f32;
    // Invariant per row: count(s ≤ lo) ≤ k < count(s ≤ hi).
    let mut lo = s.clone().min_dim(1).sub_scalar(1.0);
    let mut hi = s.clone().max_dim(1);
    let mut steps = 0;
    loop {
        for _ in 0..STEPS {
            let mid = (lo.clone() + hi.clone()).mul_scalar(0.5);
            let count = s
                .clone()
                .lower_equal(mid.clone().expand([n, m]))
                .float()
                .sum_dim(1);
            let right = count.lower_equal_elem(kf);
            lo = lo.mask_where(right.clone(), mid.clone());
            hi = mid.mask_where(right, hi);
        }
        steps += STEPS;
        // The bracket (lo, hi] isolates the answer once it holds one distinct value.
        let above = s.clone().greater(lo.clone().expand([n, m]));
        let inside = above
            .clone()
            .bool_and(s.clone().lower_equal(hi.clone().expand([n, m])));
        let smallest = s
            .clone()
            .mask_fill(above.bool_not(), f32::INFINITY)
            .min_dim(1);
        let largest = s
            .clone()
            .mask_fill(inside.bool_not(), f32::NEG_INFINITY)
            .max_dim(1);
        let done = smallest.clone().equal(largest).all().into_scalar::<bool>();
        if done {
            let less = s
                .clone()
                .lower(smallest.clone().expand([n, m]))
                .int()
                .sum_dim(1);
            let quota = less.neg().add_scalar(k as i64);
            return Ok(RankKey {
                value: smallest,
                quota,
            });
        }
        if steps >= MAX_STEPS {
            bail!("rank selection did not converge after {steps} bisection steps (non-finite scores?)");
        }
    }
}

/// Whether each element of `s` has rank ≥ `k` in its row.
fn rank_at_least(s: &Tensor<2>, k: usize) -> Result<Tensor<2, Bool>> {
    let [n, m] = s.dims();
    if k == 0 {
        return Ok(Tensor::<2>::zeros([n, m], &s.device()).equal_elem(0.0));
    }
    if k >= m {
        return Ok(Tensor::<2>::zeros([n, m], &s.device()).equal_elem(1.0));
    }
    let key = rank_key(s, k)?;
    let value = key.value.expand([n, m]);
    let tie = s.clone().equal(value.clone());
    let tie_int = tie.clone().int();
    let tie_index = tie_int.clone().cumsum(1) - tie_int;
    let late_tie = tie.bool_and(tie_index.greater_equal(key.quota.expand([n, m])));
    Ok(s.clone().greater(value).bool_or(late_tie))
}

/// Membership of every negative in `expr`, per query row of `scores`
/// [N, M]. `same_class` [N, M] is required when the expression uses it.
pub fn select(
    expr: &NegativeSet,
    scores: &Tensor<2>,
    same_class: Option<&Tensor<2, Bool>>,
) -> Result<Tensor<2, Bool>> {
    let m = scores.dims()[1];
    Ok(match expr {
        NegativeSet::All => Tensor::<2>::zeros(scores.dims(), &scores.device()).equal_elem(0.0),
        NegativeSet::Band(b) => {
            let r = b.rank_range(m);
            rank_at_least(scores, r.start)?.bool_and(rank_at_least(scores, r.end)?.bool_not())
        }
        NegativeSet::SameClass => match same_class {
            Some(t) => t.clone(),
            None => bail!("'{expr}' needs labels for the queries and the queue"),
        },
        NegativeSet::Not(e) => select(e, scores, same_class)?.bool_not(),
        NegativeSet::And(a, b) => {
            select(a, scores, same_class)?.bool_and(select(b, scores, same_class)?)
        }
        NegativeSet::Or(a, b) => {
            select(a, scores, same_class)?.bool_or(select(b, scores, same_class)?)
        }
    })
}

/// The per-row score at rank `k` (for telemetry percentiles).
pub fn value_at_rank(scores: &Tensor<2>, k: usize) -> Result<Tensor<2>> {
    Ok(rank_key(scores, k.min(scores.dims()[1] - 1))?.value)
}

/// The same selection on the host through `difficulty::Selector`, row by
/// row — the reference the device path is tested against.
pub fn select_host(
    expr: &NegativeSet,
    scores: &[f32],
    m: usize,
    labels: Option<(&[i64], &[i64])>,
) -> Result<Vec<bool>> {
    let sel = Selector::new(expr.clone());
    let mut out = Vec::with_capacity(scores.len());
    let mut scratch = Vec::new();
    for (r, row) in scores.chunks(m).enumerate() {
        let (l, q) = match labels {
            Some((neg, query)) => (Some(neg), Some(query[r])),
            None => (None, None),
        };
        out.extend(
            sel.select(row, l, q, &mut scratch)
                .map_err(anyhow::Error::msg)?,
        );
    }
    Ok(out)
}
