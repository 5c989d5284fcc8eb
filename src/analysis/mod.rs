//! The paper's Section 4 analyses over embeddings (docs/DESIGN.md §5).
//!
//! One similarity pass ([`pass::run`]) computes every query's scores and
//! difficulty ranks once and hands each query's ranked negatives
//! ([`ranking::RankedQuery`]) to every requested analysis. An analysis is one
//! file: what it accumulates per query and how partial totals merge
//! ([`plugin::Analysis`]), and what it makes of the totals — tables, summary,
//! figure, its section of `index.md` ([`plugin::Finding`]); the
//! [`registry`] lists them. Bundle files are written by `crate::report`.

pub mod anticorrelated;
pub mod binned;
pub mod class_pairs;
pub mod consistency;
pub mod dynamics;
pub mod health;
pub mod input;
pub mod pass;
pub mod plugin;
pub mod ranking;
pub mod reference;
pub mod registry;
pub mod same_class;
pub mod wordnet;

use crate::difficulty::Band;
use crate::hierarchy::ClassLcaTable;
use crate::store::Matrix;
use serde::Serialize;

/// Embeddings on one side of the comparison (queries or negatives).
#[derive(Clone, Debug)]
pub struct Side {
    pub z: Matrix,
    pub label: Vec<i64>,
    /// Row of each entry in the dump it came from (for reports).
    pub rows: Vec<usize>,
}

/// Everything an analysis pass reads.
#[derive(Clone, Debug)]
pub struct AnalysisInput {
    pub queries: Side,
    pub negatives: Side,
    /// For each query, a negative it must not be compared with: its own row
    /// when queries and negatives come from the same file.
    pub self_negative: Vec<Option<u32>>,
    pub classes: Vec<String>,
    /// Class-level LCA depths; `None` when the classes have no wnids.
    pub lca: Option<ClassLcaTable>,
}

/// Analysis parameters (all recorded in the manifest).
#[derive(Clone, Debug, Serialize)]
pub struct Params {
    /// Percentile bins for same-class and WordNet curves (`--bins`).
    pub bins: usize,
    /// Percentile bins for the anti-correlation curves (`--fine-bins`).
    pub fine_bins: usize,
    /// "Hard" = the hardest `hard_percent` % of each query's negatives.
    pub hard_percent: f64,
    /// Seeds sampling and the shuffled consistency baseline.
    pub seed: u64,
    /// Bytes of similarity matrix held at once (`--memory-budget`).
    pub memory_budget: usize,
    /// Bins of the dot-product histogram over [-1, 1].
    pub dot_bins: usize,
    /// Dot products below this count as anti-correlated (paper: strongly negative).
    pub anticorrelated_below: f64,
    /// Bins of the consistency pdf.
    pub consistency_bins: usize,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            bins: 20,
            fine_bins: 100,
            hard_percent: 5.0,
            seed: 0,
            memory_budget: 1 << 30,
            dot_bins: 100,
            anticorrelated_below: -0.3,
            consistency_bins: 50,
        }
    }
}

impl Params {
    /// The hard band `[100 − hard_percent, 100)`; everything below is easy.
    pub fn hard_band(&self) -> Result<Band, String> {
        Band::new(100.0 - self.hard_percent, 100.0)
    }
}

/// One row of a per-bin table: the percentile band and its totals.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BinRow {
    pub bin: usize,
    pub lo: f64,
    pub hi: f64,
    pub value: f64,
    pub pairs: u64,
}

/// Mean over a slice, skipping NaN (queries without hard or easy negatives
/// of a kind never produce NaN, but a query-less class could).
pub(crate) fn finite(values: impl Iterator<Item = f64>) -> Vec<f64> {
    values.filter(|v| v.is_finite()).collect()
}

/// Hard-vs-easy comparison of a per-query quantity (Figure 4).
#[derive(Clone, Debug, Serialize)]
pub struct HardVsEasy {
    pub hard_mean: f64,
    pub easy_mean: f64,
    pub hard_sem: f64,
    pub easy_sem: f64,
    pub queries: usize,
    pub student: crate::stats::TTest,
    pub welch: crate::stats::TTest,
}

impl HardVsEasy {
    /// The sentence `index.md` gives it: means ± SEM and both t-tests.
    pub fn sentence(&self, what: &str, hard_percent: f64) -> String {
        use crate::stats::p_clause;
        let h = self;
        format!(
            "Hardest {hard_percent} %: {what} {:.4} ± {:.4} (SEM); easier negatives: {:.4} ± {:.4}; over {} queries. \
             Student's t = {:.3} (df {}), {}; Welch's t = {:.3} (df {:.1}), {}.",
            h.hard_mean,
            h.hard_sem,
            h.easy_mean,
            h.easy_sem,
            h.queries,
            h.student.t,
            h.student.df,
            p_clause(h.student.p),
            h.welch.t,
            h.welch.df,
            p_clause(h.welch.p)
        )
    }

    /// Figure 4's panel pair: hard vs easy bars beside the curve over `rows`.
    pub fn figure(
        &self,
        path: &std::path::Path,
        title: &str,
        ylabel: &str,
        hard_percent: f64,
        rows: &[BinRow],
    ) -> anyhow::Result<()> {
        use crate::plot::{hard_vs_easy, Bar};
        let bar = |mean, sem| Bar { mean, sem };
        let curve: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| ((r.lo + r.hi) / 2.0, r.value))
            .collect();
        hard_vs_easy(
            path,
            title,
            ylabel,
            [
                bar(self.hard_mean, self.hard_sem),
                bar(self.easy_mean, self.easy_sem),
            ],
            self.student.p,
            &format!("hardest {hard_percent} %"),
            &curve,
        )
    }

    /// Compares per-query hard values with per-query easy values.
    pub fn new(hard: &[f64], easy: &[f64]) -> HardVsEasy {
        use crate::stats::{mean, sem, student_t_test, welch_t_test};
        HardVsEasy {
            hard_mean: mean(hard),
            easy_mean: mean(easy),
            hard_sem: sem(hard),
            easy_sem: sem(easy),
            queries: hard.len(),
            student: student_t_test(hard, easy),
            welch: welch_t_test(hard, easy),
        }
    }
}
