//! What the two Figure 4 analyses (same class, WordNet) share: totals per
//! coarse difficulty bin and each query's mean over its hard and over its
//! easy negatives of one per-pair value, compared by t-tests.

use super::ranking::{Pair, RankedQuery};
use super::{finite, BinRow, HardVsEasy};
use crate::difficulty::Band;
use crate::table::Table;

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

impl Totals {
    /// Totals of no queries over `bins` coarse bins.
    pub fn new(bins: usize) -> Totals {
        Totals {
            by_bin: vec![ValueBin::default(); bins],
            per_query: Vec::new(),
        }
    }

    /// Per-bin mean of the value, as rows.
    pub fn rows(&self) -> Vec<BinRow> {
        bin_rows(&self.by_bin, |b| b.sum / b.pairs as f64)
    }
}

/// One query's rate (or mean) over its hard and over its easy negatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardEasy {
    pub hard: f64,
    pub easy: f64,
}

/// Folds one query into coarse-bin totals and returns its hard and easy
/// means of `value` (the same-class indicator, or the LCA depth).
pub fn fold_bins(acc: &mut Totals, query: &RankedQuery, value: impl Fn(&Pair) -> f64) {
    // The hard pairs are the last `hard_count` (the pairs run from easiest
    // segment to hardest), so each side is one contiguous run.
    // Consecutive pairs mostly share a bin (they come segment by segment),
    // so a run is summed locally and added to its bin once. The values are
    // integers (0/1, LCA depths), whose f64 sums are exact in any order.
    let split = query.pairs.len() - query.hard_count;
    let mut mean = |pairs: &[Pair]| {
        let mut sum = 0.0f64;
        for run in pairs.chunk_by(|a, b| a.coarse_bin == b.coarse_bin) {
            let run_sum: f64 = run.iter().map(&value).sum();
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

/// Merges coarse-bin totals and per-query values.
pub fn merge_bins(acc: &mut Totals, later: Totals) {
    for (a, b) in acc.by_bin.iter_mut().zip(&later.by_bin) {
        a.pairs += b.pairs;
        a.sum += b.sum;
    }
    acc.per_query.extend(later.per_query);
}

/// The hard-vs-easy comparison of per-query values (NaN left out).
pub fn compare(per_query: &[HardEasy]) -> HardVsEasy {
    let hard = finite(per_query.iter().map(|q| q.hard));
    let easy = finite(per_query.iter().map(|q| q.easy));
    HardVsEasy::new(&hard, &easy)
}

/// Rows `bin, lo, hi, value, pairs` for percentile bins; `value` from each bin's totals.
fn bin_rows(bins: &[ValueBin], value: impl Fn(&ValueBin) -> f64) -> Vec<BinRow> {
    bins.iter()
        .enumerate()
        .map(|(b, acc)| {
            // Bin edges come from the shared band definition (cannot fail for b < len).
            let band = Band::bin(b, bins.len()).unwrap_or_else(|e| unreachable!("{e}"));
            BinRow {
                bin: b,
                lo: band.lo(),
                hi: band.hi(),
                value: value(acc),
                pairs: acc.pairs,
            }
        })
        .collect()
}

/// `bin,lo,hi,<value>,pairs` as a tidy table.
pub fn rows_table(name: &str, value: &str, rows: &[BinRow]) -> Table {
    Table::new(name)
        .int("bin", rows.iter().map(|r| r.bin as i64).collect())
        .float("lo", rows.iter().map(|r| r.lo).collect())
        .float("hi", rows.iter().map(|r| r.hi).collect())
        .float(value, rows.iter().map(|r| r.value).collect())
        .int("pairs", rows.iter().map(|r| r.pairs as i64).collect())
}
