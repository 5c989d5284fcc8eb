//! Figure 4a: how often a query's negatives share its class, by difficulty.

use super::binned::{compare, fold_bins, merge_bins, rows_table, Totals};
use super::plugin::{Analysis, Finding, Setup};
use super::ranking::RankedQuery;
use super::{BinRow, HardVsEasy, Params};
use crate::table::Table;
use anyhow::Result;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct SameClassAnalysis;

/// Per-bin rates and the hard-vs-easy comparison.
#[derive(Clone, Debug)]
pub struct SameClass {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
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
        Totals::new(s.params.bins)
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, _: Setup) {
        fold_bins(acc, query, |p| f64::from(u8::from(p.same_class)));
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        merge_bins(acc, later)
    }
    fn finish(&self, acc: Totals, _: Setup) -> SameClass {
        SameClass {
            by_bin: acc.rows(),
            hard_vs_easy: compare(&acc.per_query),
        }
    }
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
