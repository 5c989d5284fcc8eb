//! The single similarity pass every analysis reads.
//!
//! Queries are processed in blocks whose score matrix fits the memory
//! budget; each block is one GEMM (matrixmultiply), then each query's row is
//! partitioned at every rank cut the analyses need (bin edges and the hard
//! edge) by recursive selection — O(M log cuts) instead of a full sort — and
//! folded into additive accumulators. Chunks of queries run in parallel and
//! are reduced in a fixed order, so results do not depend on thread count.

use super::{AnalysisInput, Params};
use crate::difficulty::{easier, Band};
use crate::rng::{self, Purpose};
use anyhow::{bail, Result};
use rayon::prelude::*;

/// Totals of one percentile bin.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BinAcc {
    pub pairs: u64,
    pub same_class: u64,
    /// Sum of LCA depths (0 without a hierarchy).
    pub lca_sum: f64,
    pub dot_sum: f64,
}

impl BinAcc {
    fn add(&mut self, o: &BinAcc) {
        self.pairs += o.pairs;
        self.same_class += o.same_class;
        self.lca_sum += o.lca_sum;
        self.dot_sum += o.dot_sum;
    }
}

/// Per-query hard/easy values (Figure 4's samples).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct QueryStats {
    pub hard_same_rate: f64,
    pub easy_same_rate: f64,
    /// NaN without a hierarchy.
    pub hard_lca: f64,
    pub easy_lca: f64,
}

/// Everything the analyses need, accumulated over all (query, negative) pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct PassResult {
    pub coarse: Vec<BinAcc>,
    pub fine: Vec<BinAcc>,
    pub per_query: Vec<QueryStats>,
    /// For each negative: queries for which it is hard.
    pub hard_count: Vec<u32>,
    /// The same under the shuffled baseline (ranks permuted per query).
    pub shuffled_hard_count: Vec<u32>,
    /// For each negative: queries it was compared with.
    pub candidate_count: Vec<u32>,
    /// Dot products over [-1, 1] in `dot_bins` equal bins.
    pub dot_hist: Vec<u64>,
    /// Row-major [query class][negative class] sums and counts of dot products.
    pub class_pair_sum: Vec<f64>,
    pub class_pair_count: Vec<u64>,
    /// Anti-correlated pairs (dot below the threshold) and the rest.
    pub anti: BinAcc,
    pub rest: BinAcc,
    pub classes: usize,
    pub has_lca: bool,
}

impl PassResult {
    fn empty(p: &Params, negatives: usize, classes: usize, has_lca: bool) -> PassResult {
        PassResult {
            coarse: vec![BinAcc::default(); p.bins],
            fine: vec![BinAcc::default(); p.fine_bins],
            per_query: Vec::new(),
            hard_count: vec![0; negatives],
            shuffled_hard_count: vec![0; negatives],
            candidate_count: vec![0; negatives],
            dot_hist: vec![0; p.dot_bins],
            class_pair_sum: vec![0.0; classes * classes],
            class_pair_count: vec![0; classes * classes],
            anti: BinAcc::default(),
            rest: BinAcc::default(),
            classes,
            has_lca,
        }
    }

    /// Adds `o` (which covers later queries) into `self`.
    fn merge(&mut self, o: PassResult) {
        let add_bins =
            |a: &mut [BinAcc], b: &[BinAcc]| a.iter_mut().zip(b).for_each(|(x, y)| x.add(y));
        add_bins(&mut self.coarse, &o.coarse);
        add_bins(&mut self.fine, &o.fine);
        self.per_query.extend(o.per_query);
        let add = |a: &mut [u32], b: &[u32]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.hard_count, &o.hard_count);
        add(&mut self.shuffled_hard_count, &o.shuffled_hard_count);
        add(&mut self.candidate_count, &o.candidate_count);
        self.dot_hist
            .iter_mut()
            .zip(&o.dot_hist)
            .for_each(|(x, y)| *x += y);
        self.class_pair_sum
            .iter_mut()
            .zip(&o.class_pair_sum)
            .for_each(|(x, y)| *x += y);
        self.class_pair_count
            .iter_mut()
            .zip(&o.class_pair_count)
            .for_each(|(x, y)| *x += y);
        self.anti.add(&o.anti);
        self.rest.add(&o.rest);
    }
}

/// Rank cut positions for M negatives and what each segment between two
/// cuts belongs to. Built from `difficulty::Band`, the shared definition.
#[derive(Clone, Debug)]
pub(crate) struct Cuts {
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

/// Shared, read-only context of one pass.
pub(crate) struct Context<'a> {
    pub input: &'a AnalysisInput,
    pub params: &'a Params,
    pub cuts_full: Cuts,
    /// Cuts for queries that exclude their own row (M − 1 candidates).
    pub cuts_minus_one: Option<Cuts>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(input: &'a AnalysisInput, params: &'a Params) -> Result<Context<'a>> {
        let (q, n) = (&input.queries, &input.negatives);
        if q.z.cols != n.z.cols {
            bail!(
                "queries have d = {} but negatives have d = {}: embeddings of different models?",
                q.z.cols,
                n.z.cols
            );
        }
        if q.z.rows == 0 || n.z.rows == 0 {
            bail!(
                "nothing to analyse: {} queries and {} negatives",
                q.z.rows,
                n.z.rows
            );
        }
        if params.bins == 0
            || params.fine_bins == 0
            || params.dot_bins == 0
            || params.consistency_bins == 0
        {
            bail!("bin counts must be positive");
        }
        if !(params.hard_percent > 0.0 && params.hard_percent < 100.0) {
            bail!(
                "--hard-percent must lie in (0, 100), got {}",
                params.hard_percent
            );
        }
        // Bins beyond these are unreadable in a plot and only cost memory.
        for (flag, v) in [
            ("--bins", params.bins),
            ("--fine-bins", params.fine_bins),
            ("dot bins", params.dot_bins),
            ("consistency bins", params.consistency_bins),
        ] {
            if v > 100_000 {
                bail!("{flag} = {v} is too many: at most 100000");
            }
        }
        // The pass accumulates a class × class table (Table A3).
        let classes = input.classes.len();
        if classes > MAX_CLASSES {
            bail!(
                "{classes} classes: the class-pair table would hold {classes}² accumulators; an analysis takes at most {MAX_CLASSES} classes"
            );
        }
        let m = n.z.rows;
        let excludes = input.self_negative.iter().any(Option::is_some);
        let smallest = if excludes { m - 1 } else { m };
        let cuts_full = Cuts::new(m, params)?;
        let cuts_minus_one = if excludes {
            Some(Cuts::new(m - 1, params)?)
        } else {
            None
        };
        let small = cuts_minus_one.as_ref().unwrap_or(&cuts_full);
        if small.hard_start >= smallest || small.hard_start == 0 {
            bail!(
                "{smallest} negatives per query leave the hardest {} % or the rest empty; use more negatives or another --hard-percent",
                params.hard_percent
            );
        }
        Ok(Context {
            input,
            params,
            cuts_full,
            cuts_minus_one,
        })
    }

    fn lca_row(&self, class: usize) -> Option<Vec<f64>> {
        self.input
            .lca
            .as_ref()
            .map(|t| (0..t.classes()).map(|c| t.depth(class, c)).collect())
    }

    /// Folds one query's ranked row into `acc`. `order` holds the candidate
    /// negatives already partitioned at `cuts`.
    pub(crate) fn fold_query(
        &self,
        qi: usize,
        scores: &[f32],
        order: &mut Vec<u32>,
        shuffled: &mut Vec<u32>,
        acc: &mut PassResult,
    ) {
        let input = self.input;
        let p = self.params;
        let qc = input.queries.label[qi] as usize;
        let neg_labels = &input.negatives.label;
        let lca_row = self.lca_row(qc);
        let cuts = self.cuts_for(qi);
        let (mut hard_n, mut hard_same, mut hard_lca) = (0u64, 0u64, 0.0f64);
        let (mut easy_n, mut easy_same, mut easy_lca) = (0u64, 0u64, 0.0f64);
        let c = acc.classes;
        for (s, w) in cuts.positions.windows(2).enumerate() {
            let (cb, fb, hard) = (cuts.coarse_bin[s], cuts.fine_bin[s], cuts.hard[s]);
            for &j in &order[w[0]..w[1]] {
                let j = j as usize;
                let dot = scores[j];
                let nc = neg_labels[j] as usize;
                let same = u64::from(nc == qc);
                let lca = lca_row.as_ref().map_or(0.0, |r| r[nc]);
                let pair = BinAcc {
                    pairs: 1,
                    same_class: same,
                    lca_sum: lca,
                    dot_sum: dot as f64,
                };
                acc.coarse[cb].add(&pair);
                acc.fine[fb].add(&pair);
                if hard {
                    hard_n += 1;
                    hard_same += same;
                    hard_lca += lca;
                    acc.hard_count[j] += 1;
                } else {
                    easy_n += 1;
                    easy_same += same;
                    easy_lca += lca;
                }
                acc.candidate_count[j] += 1;
                let h = ((dot.clamp(-1.0, 1.0) + 1.0) / 2.0 * p.dot_bins as f32) as usize;
                acc.dot_hist[h.min(p.dot_bins - 1)] += 1;
                acc.class_pair_sum[qc * c + nc] += dot as f64;
                acc.class_pair_count[qc * c + nc] += 1;
                if (dot as f64) < p.anticorrelated_below {
                    acc.anti.add(&pair);
                } else {
                    acc.rest.add(&pair);
                }
            }
        }
        let has_lca = lca_row.is_some();
        acc.per_query.push(QueryStats {
            hard_same_rate: hard_same as f64 / hard_n as f64,
            easy_same_rate: easy_same as f64 / easy_n as f64,
            hard_lca: if has_lca {
                hard_lca / hard_n as f64
            } else {
                f64::NAN
            },
            easy_lca: if has_lca {
                easy_lca / easy_n as f64
            } else {
                f64::NAN
            },
        });
        // Shuffled baseline: a uniformly random permutation of this query's
        // ranks makes its hard set a uniformly random subset of the same size.
        let n_hard = hard_n as usize;
        shuffled.clear();
        shuffled.extend(self.candidates(qi));
        let mut rng = rng::stream(
            p.seed,
            Purpose::ShuffledBaseline,
            input.queries.rows[qi] as u64,
        );
        for pick in rand::seq::index::sample(&mut rng, shuffled.len(), n_hard) {
            acc.shuffled_hard_count[shuffled[pick] as usize] += 1;
        }
        order.clear();
    }

    /// Candidate negatives of query `qi` in index order.
    pub(crate) fn candidates(&self, qi: usize) -> impl Iterator<Item = u32> + '_ {
        let skip = self.input.self_negative[qi];
        (0..self.input.negatives.z.rows as u32).filter(move |&j| Some(j) != skip)
    }

    pub(crate) fn cuts_for(&self, qi: usize) -> &Cuts {
        match (self.input.self_negative[qi], &self.cuts_minus_one) {
            (Some(_), Some(c)) => c,
            _ => &self.cuts_full,
        }
    }

    pub(crate) fn empty_result(&self) -> PassResult {
        PassResult::empty(
            self.params,
            self.input.negatives.z.rows,
            self.input.classes.len(),
            self.input.lca.is_some(),
        )
    }
}

/// Most classes an analysis takes: the class-pair table (Table A3) has one
/// 16-byte accumulator per ordered pair, 1 GiB at this size.
pub const MAX_CLASSES: usize = 8192;

/// Queries per parallel task; fixed so the reduction order is too.
const CHUNK: usize = 32;

/// Runs the pass. `progress` is told how many queries are done.
pub fn run(
    input: &AnalysisInput,
    params: &Params,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<PassResult> {
    let ctx = Context::new(input, params)?;
    let (q, n) = (&input.queries.z, &input.negatives.z);
    let (m, d) = (n.rows, n.cols);
    let block = (params.memory_budget / (m * 4)).clamp(1, q.rows);
    let mut total = ctx.empty_result();
    let mut scores = vec![0f32; block * m];
    for start in (0..q.rows).step_by(block) {
        let rows = block.min(q.rows - start);
        let s = &mut scores[..rows * m];
        // S = Q[start..start+rows] · Nᵀ (row-major, d-dimensional dot products).
        // Checked, not assumed: `Matrix` fields are public, and sgemm reads
        // through raw pointers.
        assert!(
            q.cols == d && q.data.len() >= (start + rows) * d && n.data.len() >= m * d,
            "similarity pass: matrices smaller than their shapes"
        );
        unsafe {
            // SAFETY: the strides describe exactly the slices passed: A is
            // rows×d row-major, B = Nᵀ is d×m read from N (m×d row-major),
            // C is rows×m row-major; their lengths are asserted just above
            // and `s` was sliced to rows×m.
            matrixmultiply::sgemm(
                rows,
                d,
                m,
                1.0,
                q.data[start * d..].as_ptr(),
                d as isize,
                1,
                n.data.as_ptr(),
                1,
                d as isize,
                0.0,
                s.as_mut_ptr(),
                m as isize,
                1,
            );
        }
        let parts: Vec<PassResult> = s
            .par_chunks(CHUNK * m)
            .enumerate()
            .map(|(ci, chunk)| {
                let mut acc = ctx.empty_result();
                let mut order = Vec::with_capacity(m);
                let mut shuffled = Vec::with_capacity(m);
                for (r, row) in chunk.chunks(m).enumerate() {
                    let qi = start + ci * CHUNK + r;
                    order.extend(ctx.candidates(qi));
                    let cuts = ctx.cuts_for(qi);
                    multiselect(
                        &mut order,
                        &cuts.positions[1..cuts.positions.len() - 1],
                        row,
                    );
                    ctx.fold_query(qi, row, &mut order, &mut shuffled, &mut acc);
                }
                progress(chunk.len() / m);
                acc
            })
            .collect();
        for part in parts {
            total.merge(part);
        }
    }
    Ok(total)
}
