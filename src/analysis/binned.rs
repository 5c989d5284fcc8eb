//! The shape of the two Figure 4 analyses (same class, WordNet): one
//! per-pair value, totalled per coarse difficulty bin, and each query's mean
//! over its hard and over its easy negatives, compared by t-tests. A
//! [`Kind`] says which value and how its outputs are named; `same_class.rs`
//! and `wordnet.rs` are one `Kind` each.

use super::plugin::{Analysis, Finding, Setup, Unavailable};
use super::ranking::{Pair, RankedQuery};
use super::{finite, AnalysisInput, BinRow, HardVsEasy, Params};
use crate::difficulty::Band;
use crate::table::Table;
use anyhow::Result;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::marker::PhantomData;
use std::path::Path;

/// One binned analysis: its value per pair, its names and captions.
pub trait Kind: Send + Sync + 'static {
    /// `analyze <NAME>`.
    const NAME: &'static str;
    /// Its `--help` line.
    const ABOUT: &'static str;
    /// The per-bin table and its value column (`<TABLE>.csv`).
    const TABLE: &'static str;
    const COLUMN: &'static str;
    /// Figure file, title and y label.
    const FIGURE: &'static str;
    const TITLE: &'static str;
    const Y_LABEL: &'static str;
    /// `index.md`: heading, figure alt text, the question the section
    /// answers, what the hard-vs-easy sentence measures, the table's line.
    const HEADING: &'static str;
    const ALT: &'static str;
    const QUESTION: &'static str;
    const MEASURE: &'static str;
    fn table_line(bins: usize) -> String;
    /// The value of one pair. Its f64 sums must not depend on the order of
    /// addition (the pass sums runs of pairs): integers (0/1, depths) do.
    fn value(p: &Pair) -> f64;
    /// `Some` when the input lacks what the value needs.
    fn unavailable(_input: &AnalysisInput) -> Option<Unavailable> {
        None
    }
}

/// The analysis of kind `K` (see [`Analysis`]).
pub struct BinnedAnalysis<K>(PhantomData<K>);

impl<K> BinnedAnalysis<K> {
    pub const fn new() -> Self {
        BinnedAnalysis(PhantomData)
    }
}

impl<K> Default for BinnedAnalysis<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Totals: pairs and the sum of the value per coarse bin, and each query's
/// hard and easy means.
#[derive(Debug, Default, PartialEq)]
pub struct Totals {
    pub by_bin: Vec<ValueBin>,
    pub per_query: Vec<HardEasy>,
}

/// Pairs in a bin and the sum of their values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ValueBin {
    pub pairs: u64,
    pub sum: f64,
}

/// One query's mean over its hard and over its easy negatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardEasy {
    pub hard: f64,
    pub easy: f64,
}

/// Per-bin means and the hard-vs-easy comparison.
#[derive(Clone, Debug)]
pub struct Binned<K> {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
    kind: PhantomData<K>,
}

impl<K: Kind> Analysis for BinnedAnalysis<K> {
    type Acc = Totals;
    type Output = Binned<K>;

    fn name(&self) -> &'static str {
        K::NAME
    }
    fn about(&self) -> &'static str {
        K::ABOUT
    }
    fn unavailable(&self, input: &AnalysisInput) -> Option<Unavailable> {
        K::unavailable(input)
    }
    fn start(&self, s: Setup) -> Totals {
        Totals {
            by_bin: vec![ValueBin::default(); s.params.bins],
            per_query: Vec::new(),
        }
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, _: Setup) {
        // The hard pairs are the last `hard_count` (the pairs run from the
        // easiest segment to the hardest), so each side is one contiguous
        // run; within it, consecutive pairs mostly share a bin, so a run of
        // one bin is summed locally and added to the bin once.
        let split = query.pairs.len() - query.hard_count;
        let mut mean = |pairs: &[Pair]| {
            let mut sum = 0.0f64;
            for run in pairs.chunk_by(|a, b| a.coarse_bin == b.coarse_bin) {
                let run_sum: f64 = run.iter().map(K::value).sum();
                let bin = &mut acc.by_bin[run[0].coarse_bin as usize];
                bin.pairs += run.len() as u64;
                bin.sum += run_sum;
                sum += run_sum;
            }
            sum / pairs.len() as f64
        };
        let easy = mean(&query.pairs[..split]);
        let hard = mean(&query.pairs[split..]);
        acc.per_query.push(HardEasy { hard, easy });
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        for (a, b) in acc.by_bin.iter_mut().zip(&later.by_bin) {
            a.pairs += b.pairs;
            a.sum += b.sum;
        }
        acc.per_query.extend(later.per_query);
    }
    fn finish(&self, acc: Totals, _: Setup) -> Binned<K> {
        let hard = finite(acc.per_query.iter().map(|q| q.hard));
        let easy = finite(acc.per_query.iter().map(|q| q.easy));
        Binned {
            by_bin: bin_rows(&acc.by_bin),
            hard_vs_easy: HardVsEasy::new(&hard, &easy),
            kind: PhantomData,
        }
    }
}

/// Rows `bin, lo, hi, mean, pairs` for the coarse percentile bins.
fn bin_rows(bins: &[ValueBin]) -> Vec<BinRow> {
    bins.iter()
        .enumerate()
        .map(|(b, acc)| {
            // Bin edges come from the shared band definition (cannot fail for b < len).
            let band = Band::bin(b, bins.len()).unwrap_or_else(|e| unreachable!("{e}"));
            BinRow {
                bin: b,
                lo: band.lo(),
                hi: band.hi(),
                value: acc.sum / acc.pairs as f64,
                pairs: acc.pairs,
            }
        })
        .collect()
}

impl<K: Kind> Binned<K> {
    /// `bin,lo,hi,<value>,pairs` as a tidy table.
    pub fn table(&self) -> Table {
        let rows = &self.by_bin;
        Table::new(K::TABLE)
            .int("bin", rows.iter().map(|r| r.bin as i64).collect())
            .float("lo", rows.iter().map(|r| r.lo).collect())
            .float("hi", rows.iter().map(|r| r.hi).collect())
            .float(K::COLUMN, rows.iter().map(|r| r.value).collect())
            .int("pairs", rows.iter().map(|r| r.pairs as i64).collect())
    }
}

impl<K: Kind> Finding for Binned<K> {
    fn tables(&self) -> Vec<Table> {
        vec![self.table()]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(&self.hard_vs_easy)?)
    }
    fn figure(&self, dir: &Path, params: &Params) -> Result<()> {
        self.hard_vs_easy.figure(
            &dir.join(K::FIGURE),
            K::TITLE,
            K::Y_LABEL,
            params.hard_percent,
            &self.by_bin,
        )
    }
    fn index(&self, params: &Params, _: &[Table]) -> Result<String> {
        let mut idx = String::new();
        writeln!(idx, "## {}\n", K::HEADING)?;
        writeln!(idx, "![{}]({})\n", K::ALT, K::FIGURE)?;
        writeln!(
            idx,
            "{} {}\n",
            K::QUESTION,
            self.hard_vs_easy.sentence(K::MEASURE, params.hard_percent)
        )?;
        writeln!(idx, "{}\n", K::table_line(self.by_bin.len()))?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
