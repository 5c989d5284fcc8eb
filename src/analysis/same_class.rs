//! Figure 4a: how often a query's negatives share its class, by difficulty.

use super::plugin::{Analysis, Finding, Setup};
use super::ranking::{BinAcc, RankedQuery};
use super::{finite, BinRow, HardVsEasy, Params};
use crate::difficulty::Band;
use crate::table::Table;
use anyhow::Result;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct SameClassAnalysis;

/// Totals: pairs per coarse bin, and each query's hard and easy same-class rates.
#[derive(Debug, Default, PartialEq)]
pub struct Totals {
    pub by_bin: Vec<BinAcc>,
    pub per_query: Vec<HardEasy>,
}

/// One query's rate (or mean) over its hard and over its easy negatives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HardEasy {
    pub hard: f64,
    pub easy: f64,
}

/// Per-bin rates and the hard-vs-easy comparison.
#[derive(Clone, Debug)]
pub struct SameClass {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
}

/// Folds one query into coarse-bin totals and returns its hard and easy
/// means of `value` (shared with the WordNet analysis, which differs only
/// in the value).
pub(crate) fn fold_bins(
    by_bin: &mut [BinAcc],
    query: &RankedQuery,
    value: impl Fn(&super::ranking::Pair) -> f64,
) -> HardEasy {
    let (mut hard, mut easy) = ((0u64, 0.0f64), (0u64, 0.0f64));
    for p in query.pairs {
        by_bin[p.coarse_bin].add_pair(p);
        let side = if p.hard { &mut hard } else { &mut easy };
        side.0 += 1;
        side.1 += value(p);
    }
    HardEasy {
        hard: hard.1 / hard.0 as f64,
        easy: easy.1 / easy.0 as f64,
    }
}

/// Merges coarse-bin totals and per-query values (shared with WordNet).
pub(crate) fn merge_bins(acc: &mut Totals, later: Totals) {
    for (a, b) in acc.by_bin.iter_mut().zip(&later.by_bin) {
        a.add(b);
    }
    acc.per_query.extend(later.per_query);
}

/// The hard-vs-easy comparison of per-query values (NaN left out).
pub(crate) fn compare(per_query: &[HardEasy]) -> HardVsEasy {
    let hard = finite(per_query.iter().map(|q| q.hard));
    let easy = finite(per_query.iter().map(|q| q.easy));
    HardVsEasy::new(&hard, &easy)
}

impl Analysis for SameClassAnalysis {
    type Acc = Totals;
    type Output = SameClass;

    fn name(&self) -> &'static str {
        "same-class"
    }
    fn about(&self) -> &'static str {
        "Fig. 4a: same-class rate, hard vs easy, by difficulty"
    }
    fn start(&self, s: Setup) -> Totals {
        Totals {
            by_bin: vec![BinAcc::default(); s.params.bins],
            per_query: Vec::new(),
        }
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, _: Setup) {
        let q = fold_bins(&mut acc.by_bin, query, |p| {
            f64::from(u8::from(p.same_class))
        });
        acc.per_query.push(q);
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        merge_bins(acc, later)
    }
    fn finish(&self, acc: Totals, _: Setup) -> SameClass {
        SameClass {
            by_bin: bin_rows(&acc.by_bin, |a| a.same_class as f64 / a.pairs as f64),
            hard_vs_easy: compare(&acc.per_query),
        }
    }
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

impl SameClass {
    pub fn table(&self) -> Table {
        rows_table("same_class_by_bin", "same_class_rate", &self.by_bin)
    }
}

impl Finding for SameClass {
    fn tables(&self) -> Vec<Table> {
        vec![self.table()]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(&self.hard_vs_easy)?)
    }
    fn figure(&self, dir: &Path, params: &Params) -> Result<()> {
        self.hard_vs_easy.figure(
            &dir.join("same_class.png"),
            "Same-class rate",
            "fraction of negatives in the query's class",
            params.hard_percent,
            &self.by_bin,
        )
    }
    fn index(&self, params: &Params, _: &[Table]) -> Result<String> {
        let mut idx = String::new();
        writeln!(idx, "## Same class (paper Fig. 4a)\n")?;
        writeln!(
            idx,
            "![same-class rate, hard vs easy and by difficulty](same_class.png)\n"
        )?;
        writeln!(
            idx,
            "Are hard negatives more often of the query's class? {}\n",
            self.hard_vs_easy
                .sentence("same-class rate", params.hard_percent)
        )?;
        writeln!(idx, "- `same_class_by_bin.csv` — same-class rate per {}-quantile difficulty bin, over all pairs.\n", self.by_bin.len())?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
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
