//! Per-query negative selection, by the definition in `difficulty.rs`:
//! ranks by score ascending with ties to the lower index, bands
//! `floor(lo·M/100) ≤ k < floor(hi·M/100)`.
//!
//! Two implementations, chosen by where the tensors live:
//!
//! - **GPU** (`select_bisection`): no sort and no `topk` (burn's `topk`
//!   falls back to a slow path on GPUs): the value at rank k of every row is
//!   found by bisection on the value with compare-and-count reductions, then
//!   ties at that value are resolved by index with a cumulative sum. Cost:
//!   O(iterations · N · M) elementwise work, fully parallel, with one host
//!   sync per 24 iterations to confirm that each row's bracket isolates a
//!   single value.
//! - **CPU** (`select_rows`): the scores are already in host memory, so
//!   each row goes through `difficulty::Selector` (one `select_nth` per band
//!   edge, O(M)), rows in parallel — about 30 passes over the scores fewer
//!   than bisection.
//!
//! Both give exactly `difficulty.rs`'s sets (tested against each other and
//! against `Selector` on tied random scores).

use crate::difficulty::{NegativeSet, Selector};
use anyhow::{bail, Result};
use burn::prelude::*;
use rayon::prelude::*;

/// Whether `device`'s tensors live in host memory (burn's CPU backends),
/// where row-wise selection beats bisection.
pub fn on_host(device: &Device) -> bool {
    let plain = device.clone().inner();
    #[cfg(feature = "ndarray")]
    if plain == Device::ndarray() {
        return true;
    }
    plain == Device::flex()
}

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

/// Class labels of the queries [N] and of the negatives [M], for `same_class`.
pub type Labels<'a> = (&'a Tensor<1, Int>, &'a Tensor<1, Int>);

/// Membership of every negative in `expr`, per query row of `scores`
/// [N, M]. `labels` are required when the expression uses `same_class`.
/// Row-wise on CPU devices, bisection elsewhere.
pub fn select(
    expr: &NegativeSet,
    scores: &Tensor<2>,
    labels: Option<Labels>,
) -> Result<Tensor<2, Bool>> {
    if on_host(&scores.device()) {
        select_rows(expr, scores, labels)
    } else {
        select_bisection(expr, scores, labels)
    }
}

fn missing_labels(expr: &NegativeSet) -> anyhow::Error {
    anyhow::anyhow!("'{expr}' needs labels for the queries and the queue")
}

/// [`select`] by bisection on the device (any backend).
pub fn select_bisection(
    expr: &NegativeSet,
    scores: &Tensor<2>,
    labels: Option<Labels>,
) -> Result<Tensor<2, Bool>> {
    let same = match (expr.uses_labels(), labels) {
        (false, _) => None,
        (true, Some((q, n))) => Some(same_class(q, n)),
        (true, None) => return Err(missing_labels(expr)),
    };
    select_bisection_with(expr, scores, same.as_ref())
}

fn select_bisection_with(
    expr: &NegativeSet,
    scores: &Tensor<2>,
    same_class: Option<&Tensor<2, Bool>>,
) -> Result<Tensor<2, Bool>> {
    let m = scores.dims()[1];
    let recurse = |e: &NegativeSet| select_bisection_with(e, scores, same_class);
    Ok(match expr {
        NegativeSet::All => Tensor::<2>::zeros(scores.dims(), &scores.device()).equal_elem(0.0),
        NegativeSet::Band(b) => {
            let r = b.rank_range(m);
            rank_at_least(scores, r.start)?.bool_and(rank_at_least(scores, r.end)?.bool_not())
        }
        NegativeSet::SameClass => same_class.cloned().ok_or_else(|| missing_labels(expr))?,
        NegativeSet::Not(e) => recurse(e)?.bool_not(),
        NegativeSet::And(a, b) => recurse(a)?.bool_and(recurse(b)?),
        NegativeSet::Or(a, b) => recurse(a)?.bool_or(recurse(b)?),
    })
}

/// [`select`] row by row on the host through `difficulty::Selector`, rows
/// in parallel (any backend; fast where the data is already on the host).
pub fn select_rows(
    expr: &NegativeSet,
    scores: &Tensor<2>,
    labels: Option<Labels>,
) -> Result<Tensor<2, Bool>> {
    let [n, m] = scores.dims();
    let labels = match (expr.uses_labels(), labels) {
        (false, _) => None,
        (true, Some((q, neg))) => Some((host_ints(q)?, host_ints(neg)?)),
        (true, None) => return Err(missing_labels(expr)),
    };
    let selector = Selector::new(expr.clone());
    let mut out = vec![false; n * m];
    with_host_floats(scores, |s| {
        out.par_chunks_mut(m.max(1))
            .enumerate()
            .try_for_each_init(Vec::new, |scratch, (r, dst)| {
                let (neg, query) = match &labels {
                    Some((q, neg)) => (Some(neg.as_slice()), Some(q[r])),
                    None => (None, None),
                };
                selector
                    .select_into(&s[r * m..(r + 1) * m], neg, query, scratch, dst)
                    .map_err(anyhow::Error::msg)
            })
    })?;
    Ok(Tensor::from_data(
        TensorData::new(out, [n, m]),
        &scores.device(),
    ))
}

fn host_ints(t: &Tensor<1, Int>) -> Result<Vec<i64>> {
    t.to_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| anyhow::anyhow!("reading labels to the host: {e:?}"))
}

/// Runs `f` on the tensor's values in host memory. Borrowing the buffer
/// (rather than converting it into a fresh `Vec`) saves one copy of a
/// [256, 65 536] score matrix per step, most of the row-wise path's cost.
fn with_host_floats<T>(t: &Tensor<2>, f: impl FnOnce(&[f32]) -> Result<T>) -> Result<T> {
    let data = t.clone().into_data();
    match data.as_slice::<f32>() {
        Ok(values) => f(values),
        Err(_) => f(&data
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading scores to the host: {e:?}"))?),
    }
}

/// The per-row score at rank `k`, [N, 1] (for telemetry percentiles).
pub fn value_at_rank(scores: &Tensor<2>, k: usize) -> Result<Tensor<2>> {
    let [n, m] = scores.dims();
    let k = k.min(m - 1);
    if !on_host(&scores.device()) {
        return Ok(rank_key(scores, k)?.value);
    }
    let values: Vec<f32> = with_host_floats(scores, |s| {
        Ok(s.par_chunks(m)
            .map(|row| {
                let mut v = row.to_vec();
                *v.select_nth_unstable_by(k, f32::total_cmp).1
            })
            .collect())
    })?;
    Ok(Tensor::from_data(
        TensorData::new(values, [n, 1]),
        &scores.device(),
    ))
}

/// [`value_at_rank`] by bisection on the device.
pub fn value_at_rank_bisection(scores: &Tensor<2>, k: usize) -> Result<Tensor<2>> {
    Ok(rank_key(scores, k.min(scores.dims()[1] - 1))?.value)
}

/// `same_class[i, j]` = query i's label equals queue entry j's label.
pub fn same_class(query_labels: &Tensor<1, Int>, queue_labels: &Tensor<1, Int>) -> Tensor<2, Bool> {
    let (n, m) = (query_labels.dims()[0], queue_labels.dims()[0]);
    let q = query_labels.clone().reshape([n, 1]).expand([n, m]);
    let k = queue_labels.clone().reshape([1, m]).expand([n, m]);
    q.equal(k)
}
