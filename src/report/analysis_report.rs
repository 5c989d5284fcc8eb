//! The bundle `negstudy analyze` writes: each analysis's tables (CSV),
//! figure (PNG) and section of `index.md` (from its `Finding`), the summary,
//! and the manifest.

use super::Bundle;
use crate::analysis::pass::Totals;
use crate::analysis::plugin::Finding;
use crate::analysis::Params;
use anyhow::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The analyses that ran, in registry order, and what the reader should
/// know (e.g. an analysis skipped and why).
#[derive(Default)]
pub struct Findings {
    /// (name, result).
    pub list: Vec<(&'static str, Box<dyn Finding>)>,
    pub notes: Vec<String>,
}

/// `summary.json`: each analysis's headline numbers under its name
/// (`same-class` → `same_class`). Typed results: [`Findings::get`].
pub type AnalysisSummary = BTreeMap<String, Value>;

impl Findings {
    /// The result of type `T`, if that analysis ran.
    pub fn get<T: Finding>(&self) -> Option<&T> {
        self.list
            .iter()
            .find_map(|(_, f)| f.as_any().downcast_ref::<T>())
    }

    /// Over all tables: cells that differ from `other`'s (beyond `rel`,
    /// see `Table::differing_cells`) and cells compared.
    pub fn differing_cells(&self, other: &Findings, rel: f64) -> (usize, usize) {
        let mut sum = (0, 0);
        for ((_, a), (_, b)) in self.list.iter().zip(&other.list) {
            for (x, y) in a.tables().iter().zip(&b.tables()) {
                let (d, t) = x.differing_cells(y, rel);
                sum = (sum.0 + d, sum.1 + t);
            }
        }
        sum
    }

    /// The summary of what ran.
    pub fn summary(&self) -> Result<AnalysisSummary> {
        self.list
            .iter()
            .map(|(name, f)| Ok((name.replace('-', "_"), f.summary()?)))
            .collect()
    }
}

impl From<Totals<'_>> for Findings {
    fn from(totals: Totals) -> Findings {
        Findings {
            list: totals.finish(),
            notes: Vec::new(),
        }
    }
}

/// What the run was, for the index and the manifest.
pub struct RunInfo {
    pub title: String,
    pub n_queries: usize,
    pub n_negatives: usize,
    pub manifest: Value,
}

/// Writes the whole bundle to `out` (atomically) and returns its path;
/// `summary` is `r.summary()`.
pub fn write(
    out: &Path,
    r: &Findings,
    summary: &AnalysisSummary,
    info: &RunInfo,
    params: &Params,
) -> Result<PathBuf> {
    let b = Bundle::create(out)?;
    let hp = params.hard_percent;
    let mut idx = String::new();
    writeln!(idx, "# {}\n", info.title)?;
    writeln!(
        idx,
        "{} queries × {} negatives; difficulty = q·n of L2-normalised embeddings, ranked per query \
         (ties: lower negative index is easier); hard = the hardest {hp} % of each query's negatives. \
         Inputs, parameters and seed: `manifest.json`; headline numbers: `summary.json`.\n",
        info.n_queries, info.n_negatives
    )?;
    for n in &r.notes {
        writeln!(idx, "> {n}\n")?;
    }
    for (_, finding) in &r.list {
        let tables = finding.tables();
        for t in &tables {
            b.csv(t)?;
        }
        finding.figure(b.dir(), params)?;
        idx.push_str(&finding.index(params, &tables)?);
    }
    b.json("summary.json", summary)?;
    b.json("manifest.json", &info.manifest)?;
    b.index(&idx)?;
    b.finish()
}
