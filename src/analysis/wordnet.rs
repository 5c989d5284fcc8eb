//! Figure 4b: WordNet similarity (LCA depth of the query's and the
//! negative's classes) by difficulty.

use super::pass::PassResult;
use super::same_class::{bin_rows, rows_table};
use super::{finite, BinRow, HardVsEasy, Params};
use crate::table::Table;
use anyhow::{bail, Result};

#[derive(Clone, Debug)]
pub struct WordNet {
    pub by_bin: Vec<BinRow>,
    pub hard_vs_easy: HardVsEasy,
}

pub fn analyze(pass: &PassResult, _params: &Params) -> Result<WordNet> {
    if !pass.has_lca {
        bail!(
            "the WordNet analysis needs one wnid per class: the dump's metadata has none; \
             pass --wnids FILE (one wnid per class index)"
        );
    }
    let by_bin = bin_rows(&pass.coarse, |a| a.lca_sum / a.pairs as f64);
    let hard = finite(pass.per_query.iter().map(|q| q.hard_lca));
    let easy = finite(pass.per_query.iter().map(|q| q.easy_lca));
    Ok(WordNet {
        by_bin,
        hard_vs_easy: HardVsEasy::new(&hard, &easy),
    })
}

impl WordNet {
    pub fn table(&self) -> Table {
        rows_table("wordnet_by_bin", "mean_lca_depth", &self.by_bin)
    }
}
