//! Figure 4b: WordNet similarity (LCA depth of the query's and the
//! negative's classes) by difficulty.

use super::binned::{compare, fold_bins, merge_bins, rows_table, Totals};
use super::plugin::{Analysis, Finding, Setup, Unavailable};
use super::ranking::RankedQuery;
use super::{AnalysisInput, BinRow, HardVsEasy, Params};
use crate::table::Table;
use anyhow::Result;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]); its totals are `binned`'s, like the
/// same-class analysis's, with LCA depth for the same-class indicator.
pub struct WordNetAnalysis;

#[derive(Clone, Debug)]
pub struct WordNet {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
}

impl Analysis for WordNetAnalysis {
    type Acc = Totals;
    type Output = WordNet;

    fn name(&self) -> &'static str {
        "wordnet"
    }
    fn about(&self) -> &'static str {
        "Fig. 4b: WordNet LCA depth, hard vs easy, by difficulty"
    }
    fn unavailable(&self, input: &AnalysisInput) -> Option<Unavailable> {
        input.lca.is_none().then(|| Unavailable {
            error: "'analyze wordnet' needs one wnid per class: the dump's metadata has none; pass --wnids FILE".into(),
            note: "No wnids for these classes (dump metadata or --wnids): the WordNet analysis and LCA columns are omitted.".into(),
        })
    }
    fn start(&self, s: Setup) -> Totals {
        Totals::new(s.params.bins)
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, _: Setup) {
        fold_bins(acc, query, |p| p.lca);
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        merge_bins(acc, later)
    }
    fn finish(&self, acc: Totals, _: Setup) -> WordNet {
        WordNet {
            by_bin: acc.rows(),
            hard_vs_easy: compare(&acc.per_query),
        }
    }
}

impl WordNet {
    pub fn table(&self) -> Table {
        rows_table("wordnet_by_bin", "mean_lca_depth", &self.by_bin)
    }
}

impl Finding for WordNet {
    fn tables(&self) -> Vec<Table> {
        vec![self.table()]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(&self.hard_vs_easy)?)
    }
    fn figure(&self, dir: &Path, params: &Params) -> Result<()> {
        self.hard_vs_easy.figure(
            &dir.join("wordnet.png"),
            "WordNet similarity",
            "LCA depth of query and negative classes",
            params.hard_percent,
            &self.by_bin,
        )
    }
    fn index(&self, params: &Params, _: &[Table]) -> Result<String> {
        let mut idx = String::new();
        writeln!(idx, "## WordNet similarity (paper Fig. 4b)\n")?;
        writeln!(
            idx,
            "![WordNet LCA depth, hard vs easy and by difficulty](wordnet.png)\n"
        )?;
        writeln!(
            idx,
            "Are hard negatives semantically closer? Similarity = max_depth of the classes' lowest common hypernym \
             (deeper = more similar). {}\n",
            self.hard_vs_easy.sentence("mean LCA depth", params.hard_percent)
        )?;
        writeln!(
            idx,
            "- `wordnet_by_bin.csv` — mean LCA depth per difficulty bin.\n"
        )?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
