//! One query's negatives, ranked by difficulty and cut into the segments the
//! analyses read: what the similarity pass hands every analysis.
//!
//! The cuts come from `difficulty::Band`, the shared definition: percentile
//! bin edges (coarse and fine) and the start of the hard band. A query's
//! candidates are partitioned at those cuts, not sorted (see [`multiselect`]).

use super::Params;
use crate::difficulty::{easier, Band};
use anyhow::Result;

/// Rank cut positions for M negatives and what each segment between two
/// cuts belongs to. Built from `difficulty::Band`, the shared definition.
#[derive(Clone, Debug)]
pub struct Cuts {
    /// Sorted, unique, starting at 0 and ending at M.
    pub positions: Vec<usize>,
    pub coarse_bin: Vec<usize>,
    pub fine_bin: Vec<usize>,
    pub hard: Vec<bool>,
    pub hard_start: usize,
}

impl Cuts {
    pub(crate) fn new(m: usize, p: &Params) -> Result<Cuts> {
        let hard = p.hard_band().map_err(anyhow::Error::msg)?.rank_range(m);
        let starts = |bins: usize| -> Result<Vec<usize>> {
            (0..bins)
                .map(|b| {
                    Ok(Band::bin(b, bins)
                        .map_err(anyhow::Error::msg)?
                        .rank_range(m)
                        .start)
                })
                .collect()
        };
        let coarse = starts(p.bins)?;
        let fine = starts(p.fine_bins)?;
        let mut positions: Vec<usize> = coarse
            .iter()
            .chain(&fine)
            .copied()
            .chain([hard.start, m])
            .collect();
        positions.sort_unstable();
        positions.dedup();
        let bin_of =
            |starts: &[usize], pos: usize| starts.iter().rposition(|&s| s <= pos).unwrap_or(0);
        let segs = &positions[..positions.len() - 1];
        Ok(Cuts {
            coarse_bin: segs.iter().map(|&s| bin_of(&coarse, s)).collect(),
            fine_bin: segs.iter().map(|&s| bin_of(&fine, s)).collect(),
            hard: segs.iter().map(|&s| s >= hard.start).collect(),
            positions,
            hard_start: hard.start,
        })
    }
}

/// Reorders `v` so that every element before each cut ranks below every
/// element from that cut on (recursive quickselect at the middle cut).
pub(crate) fn multiselect(v: &mut [u32], cuts: &[usize], scores: &[f32]) {
    if cuts.is_empty() || v.len() <= 1 {
        return;
    }
    let mid = cuts.len() / 2;
    let c = cuts[mid];
    if c >= v.len() {
        return multiselect(v, &cuts[..mid], scores);
    }
    v.select_nth_unstable_by(c, |&a, &b| {
        easier(
            scores[a as usize],
            a as usize,
            scores[b as usize],
            b as usize,
        )
    });
    let (left, right) = v.split_at_mut(c);
    multiselect(left, &cuts[..mid], scores);
    let right_cuts: Vec<usize> = cuts[mid + 1..].iter().map(|&x| x - c).collect();
    multiselect(right, &right_cuts, scores);
}

/// Totals of the pairs in one bin or group.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BinAcc {
    pub pairs: u64,
    pub same_class: u64,
    /// Sum of LCA depths (0 without a hierarchy).
    pub lca_sum: f64,
    pub dot_sum: f64,
}

impl BinAcc {
    /// Counts one pair.
    pub fn add_pair(&mut self, p: &Pair) {
        self.pairs += 1;
        self.same_class += u64::from(p.same_class);
        self.lca_sum += p.lca;
        self.dot_sum += p.dot as f64;
    }

    /// Adds the totals of `o`.
    pub fn add(&mut self, o: &BinAcc) {
        self.pairs += o.pairs;
        self.same_class += o.same_class;
        self.lca_sum += o.lca_sum;
        self.dot_sum += o.dot_sum;
    }
}

/// Adds `later` element-wise into `acc` (accumulators of equal length).
pub fn add_into<T: Copy + std::ops::AddAssign>(acc: &mut [T], later: &[T]) {
    acc.iter_mut().zip(later).for_each(|(x, &y)| *x += y);
}

/// One (query, negative) pair as the analyses see it. Indices are `u32`
/// (the pass bounds negatives, classes and bins well below that) to keep a
/// query's pairs compact: every analysis reads them all.
#[derive(Clone, Copy, Debug)]
pub struct Pair {
    /// LCA depth of the query's and the negative's classes (0 without a hierarchy).
    pub lca: f64,
    /// q·n.
    pub dot: f32,
    /// Row of the negative in the negatives input.
    pub negative: u32,
    /// The negative's class.
    pub class: u32,
    /// Coarse (`--bins`) and fine (`--fine-bins`) percentile bin.
    pub coarse_bin: u32,
    pub fine_bin: u32,
    pub same_class: bool,
    /// In the hardest `hard_percent` %.
    pub hard: bool,
}

/// One query's candidates, ranked: every (query, negative) pair with its
/// difficulty segment, built once per query and read by every analysis.
pub struct RankedQuery<'a> {
    /// Index of the query in the queries input.
    pub query: usize,
    /// Row of the query in the dump it came from (keys its random streams).
    pub query_row: usize,
    pub class: usize,
    /// Segment by segment from easiest to hardest (within a segment in no
    /// particular but fixed order).
    pub pairs: &'a [Pair],
    /// How many of `pairs` are hard (they are the last ones).
    pub hard_count: usize,
    /// A negative this query is not compared with (its own row).
    pub excluded: Option<u32>,
}

/// Fills `out` with the pairs of one query whose candidates `order` are
/// partitioned at `cuts`.
pub(crate) fn ranked_pairs(
    out: &mut Vec<Pair>,
    class: usize,
    scores: &[f32],
    order: &[u32],
    cuts: &Cuts,
    negative_class: &[i64],
    lca: Option<&[f64]>,
) {
    out.clear();
    for (s, w) in cuts.positions.windows(2).enumerate() {
        let (coarse_bin, fine_bin) = (cuts.coarse_bin[s] as u32, cuts.fine_bin[s] as u32);
        let hard = cuts.hard[s];
        out.extend(order[w[0]..w[1]].iter().map(|&j| {
            let nc = negative_class[j as usize] as usize;
            Pair {
                lca: lca.map_or(0.0, |r| r[nc]),
                dot: scores[j as usize],
                negative: j,
                class: nc as u32,
                coarse_bin,
                fine_bin,
                same_class: nc == class,
                hard,
            }
        }));
    }
}
