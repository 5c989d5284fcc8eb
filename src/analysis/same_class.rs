//! Figure 4a: how often a query's negatives share its class, by difficulty.

use super::pass::{BinAcc, PassResult};
use super::{finite, BinRow, HardVsEasy, Params};
use crate::difficulty::Band;
use crate::table::Table;

/// Per-bin rates and the hard-vs-easy comparison.
#[derive(Clone, Debug)]
pub struct SameClass {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
}

/// Rows `bin, lo, hi, value, pairs` for percentile bins; `value` from each bin's totals.
pub(crate) fn bin_rows(bins: &[BinAcc], value: impl Fn(&BinAcc) -> f64) -> Vec<BinRow> {
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

pub fn analyze(pass: &PassResult, _params: &Params) -> SameClass {
    let by_bin = bin_rows(&pass.coarse, |a| a.same_class as f64 / a.pairs as f64);
    let hard = finite(pass.per_query.iter().map(|q| q.hard_same_rate));
    let easy = finite(pass.per_query.iter().map(|q| q.easy_same_rate));
    SameClass {
        by_bin,
        hard_vs_easy: HardVsEasy::new(&hard, &easy),
    }
}

impl SameClass {
    pub fn table(&self) -> Table {
        rows_table("same_class_by_bin", "same_class_rate", &self.by_bin)
    }
}

/// `bin,lo,hi,<value>,pairs` as a tidy table.
pub(crate) fn rows_table(name: &str, value: &str, rows: &[BinRow]) -> Table {
    Table::new(name)
        .int("bin", rows.iter().map(|r| r.bin as i64).collect())
        .float("lo", rows.iter().map(|r| r.lo).collect())
        .float("hi", rows.iter().map(|r| r.hi).collect())
        .float(value, rows.iter().map(|r| r.value).collect())
        .int("pairs", rows.iter().map(|r| r.pairs as i64).collect())
}
