//! The single similarity pass every analysis reads.
//!
//! Queries are processed in blocks whose score matrix fits the memory
//! budget; each block is one GEMM (matrixmultiply), then each query's row is
//! partitioned at every rank cut the analyses need (bin edges and the hard
//! edge) by recursive selection — O(M log cuts) instead of a full sort — and
//! handed to every analysis of the pass (`plugin::Analysis::fold`). Chunks of
//! queries run in parallel and are merged in a fixed order, so results do
//! not depend on thread count.

use super::plugin::{Analysis, AnyAcc, DynAnalysis, Finding, Setup};
use super::ranking::{multiselect, ranked_pairs, Cuts, Pair, RankedQuery};
use super::{AnalysisInput, Params};
use crate::gemm::{gemm, View};
use anyhow::{bail, Result};
use rayon::prelude::*;

/// Shared, read-only context of one pass.
pub(crate) struct Context<'a> {
    pub input: &'a AnalysisInput,
    pub params: &'a Params,
    pub analyses: &'a [&'a dyn DynAnalysis],
    pub cuts_full: Cuts,
    /// Cuts for queries that exclude their own row (M − 1 candidates).
    pub cuts_minus_one: Option<Cuts>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        input: &'a AnalysisInput,
        params: &'a Params,
        analyses: &'a [&'a dyn DynAnalysis],
    ) -> Result<Context<'a>> {
        let (q, n) = (&input.queries, &input.negatives);
        if q.z.cols() != n.z.cols() {
            bail!(
                "queries have d = {} but negatives have d = {}: embeddings of different models?",
                q.z.cols(),
                n.z.cols()
            );
        }
        if q.z.rows() == 0 || n.z.rows() == 0 {
            bail!(
                "nothing to analyse: {} queries and {} negatives",
                q.z.rows(),
                n.z.rows()
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
        let m = n.z.rows();
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
            analyses,
            cuts_full,
            cuts_minus_one,
        })
    }

    /// Candidate negatives of query `qi` in index order.
    pub(crate) fn candidates(&self, qi: usize) -> impl Iterator<Item = u32> + '_ {
        let skip = self.input.self_negative[qi];
        (0..self.input.negatives.z.rows() as u32).filter(move |&j| Some(j) != skip)
    }

    pub(crate) fn cuts_for(&self, qi: usize) -> &Cuts {
        match (self.input.self_negative[qi], &self.cuts_minus_one) {
            (Some(_), Some(c)) => c,
            _ => &self.cuts_full,
        }
    }

    pub(crate) fn setup(&self) -> Setup<'a> {
        Setup {
            input: self.input,
            params: self.params,
        }
    }

    /// Fresh accumulators, one per analysis of the pass.
    pub(crate) fn start(&self) -> Vec<AnyAcc> {
        self.analyses
            .iter()
            .map(|a| a.start(self.setup()))
            .collect()
    }

    /// Hands query `qi` to every analysis. `scores` holds its dot product
    /// with every negative; `order` its candidates, already partitioned at
    /// its cuts (and emptied here for the next query); `pairs` is scratch.
    pub(crate) fn fold(
        &self,
        qi: usize,
        scores: &[f32],
        order: &mut Vec<u32>,
        pairs: &mut Vec<Pair>,
        accs: &mut [AnyAcc],
    ) {
        let input = self.input;
        let class = input.queries.label[qi] as usize;
        let lca: Option<Vec<f64>> = input
            .lca
            .as_ref()
            .map(|t| (0..t.classes()).map(|c| t.depth(class, c)).collect());
        let cuts = self.cuts_for(qi);
        let labels = &input.negatives.label;
        ranked_pairs(pairs, class, scores, order, cuts, labels, lca.as_deref());
        let query = RankedQuery {
            query: qi,
            query_row: input.queries.rows[qi],
            class,
            pairs,
            hard_count: order.len() - cuts.hard_start,
            excluded: input.self_negative[qi],
        };
        for (a, acc) in self.analyses.iter().zip(accs.iter_mut()) {
            a.fold(acc, &query, self.setup());
        }
        order.clear();
    }

    /// Adds `later` (covering later queries) into `accs`.
    pub(crate) fn merge(&self, accs: &mut [AnyAcc], later: Vec<AnyAcc>) {
        for ((a, acc), l) in self.analyses.iter().zip(accs.iter_mut()).zip(later) {
            a.merge(acc, l);
        }
    }

    pub(crate) fn totals(self, accs: Vec<AnyAcc>) -> Totals<'a> {
        Totals {
            input: self.input,
            params: self.params,
            analyses: self.analyses.to_vec(),
            accs,
        }
    }
}

/// Every analysis's totals after the pass.
pub struct Totals<'a> {
    input: &'a AnalysisInput,
    params: &'a Params,
    analyses: Vec<&'a dyn DynAnalysis>,
    accs: Vec<AnyAcc>,
}

impl Totals<'_> {
    /// Each analysis's result, in the order the pass was given them.
    pub fn finish(self) -> Vec<(&'static str, Box<dyn Finding>)> {
        let setup = Setup {
            input: self.input,
            params: self.params,
        };
        self.analyses
            .iter()
            .zip(self.accs)
            .map(|(a, acc)| (a.name(), a.finish(acc, setup)))
            .collect()
    }

    /// The first analysis whose totals differ from `other`'s, with both
    /// totals' `Debug` text; `None` when all are equal.
    pub fn first_difference(&self, other: &Totals) -> Option<String> {
        if self.accs.len() != other.accs.len() {
            return Some(format!(
                "{} vs {} analyses",
                self.accs.len(),
                other.accs.len()
            ));
        }
        self.analyses
            .iter()
            .zip(self.accs.iter().zip(&other.accs))
            .find(|(a, (x, y))| !a.same(x, y))
            .map(|(a, (x, y))| format!("{}: {} vs {}", a.name(), a.debug(x), a.debug(y)))
    }
}

/// Most classes an analysis takes: the class-pair table (Table A3) has one
/// 16-byte accumulator per ordered pair, 1 GiB at this size.
pub const MAX_CLASSES: usize = 8192;

/// Queries per parallel task; fixed so the reduction order is too.
const CHUNK: usize = 32;

/// Runs the pass for `analyses`. `progress` is told how many queries are done.
pub fn run<'a>(
    input: &'a AnalysisInput,
    params: &'a Params,
    analyses: &'a [&'a dyn DynAnalysis],
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Totals<'a>> {
    let ctx = Context::new(input, params, analyses)?;
    let (q, n) = (&input.queries.z, &input.negatives.z);
    let (m, d) = (n.rows(), n.cols());
    let block = (params.memory_budget / (m * 4)).clamp(1, q.rows());
    let mut total = ctx.start();
    let mut scores = vec![0f32; block * m];
    for start in (0..q.rows()).step_by(block) {
        let rows = block.min(q.rows() - start);
        let s = &mut scores[..rows * m];
        // S = Q[start..start+rows] · Nᵀ (row-major, d-dimensional dot products).
        gemm(
            1.0,
            View::row_major(&q.data()[start * d..(start + rows) * d], rows, d),
            View::transpose_of(n.data(), m, d),
            0.0,
            s,
        );
        let parts: Vec<Vec<AnyAcc>> = s
            .par_chunks(CHUNK * m)
            .enumerate()
            .map(|(ci, chunk)| {
                let mut acc = ctx.start();
                let mut order = Vec::with_capacity(m);
                let mut pairs = Vec::with_capacity(m);
                for (r, row) in chunk.chunks(m).enumerate() {
                    let qi = start + ci * CHUNK + r;
                    order.extend(ctx.candidates(qi));
                    let cuts = ctx.cuts_for(qi);
                    multiselect(
                        &mut order,
                        &cuts.positions[1..cuts.positions.len() - 1],
                        row,
                    );
                    ctx.fold(qi, row, &mut order, &mut pairs, &mut acc);
                }
                progress(chunk.len() / m);
                acc
            })
            .collect();
        for part in parts {
            ctx.merge(&mut total, part);
        }
    }
    Ok(ctx.totals(total))
}

/// Runs the pass for one analysis and returns its result, typed (for
/// library users, tests and benchmarks).
pub fn run_one<A: Analysis>(
    input: &AnalysisInput,
    params: &Params,
    analysis: &A,
) -> Result<A::Output> {
    let list: [&dyn DynAnalysis; 1] = [analysis];
    let finding: Box<dyn std::any::Any> = run(input, params, &list, &|_| {})?
        .finish()
        .pop()
        .map(|(_, f)| f)
        .unwrap_or_else(|| unreachable!("one analysis, one finding"));
    Ok(*finding
        .downcast::<A::Output>()
        .unwrap_or_else(|_| unreachable!("an analysis's finding has its Output type")))
}
