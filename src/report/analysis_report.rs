//! The bundle `negstudy analyze` writes: which tables and figures, the
//! summary, and an index a person can read without running anything.

use super::plot;
use super::Bundle;
use crate::analysis::anticorrelated::{self, Anticorrelated};
use crate::analysis::class_pairs::ClassPairs;
use crate::analysis::consistency::{self, Consistency};
use crate::analysis::same_class::SameClass;
use crate::analysis::wordnet::WordNet;
use crate::analysis::{HardVsEasy, Params};
use crate::stats::p_clause;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// The analyses that ran (those not requested are `None`).
#[derive(Default)]
pub struct AnalysisResults {
    pub same_class: Option<SameClass>,
    pub wordnet: Option<WordNet>,
    pub anticorrelated: Option<Anticorrelated>,
    pub class_pairs: Option<ClassPairs>,
    pub consistency: Option<Consistency>,
    /// Things the reader should know (e.g. an analysis skipped and why).
    pub notes: Vec<String>,
}

/// What the run was, for the index and the manifest.
pub struct RunInfo {
    pub title: String,
    pub n_queries: usize,
    pub n_negatives: usize,
    pub manifest: Value,
}

/// `summary.json`: the headline numbers of the analyses that ran.
#[derive(Clone, Debug, Serialize)]
pub struct AnalysisSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_class: Option<HardVsEasy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wordnet: Option<HardVsEasy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anticorrelated: Option<anticorrelated::Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency: Option<consistency::Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_pairs: Option<ClassPairsSummary>,
}

/// The class-pair table in brief: its size and its two ends.
#[derive(Clone, Debug, Serialize)]
pub struct ClassPairsSummary {
    pub pairs: usize,
    pub most_anticorrelated: Option<NamedPair>,
    pub most_correlated: Option<NamedPair>,
}

/// A class pair by name, with its mean dot product.
#[derive(Clone, Debug, Serialize)]
pub struct NamedPair {
    pub query_class: String,
    pub negative_class: String,
    pub mean_dot: f64,
}

/// The summary of what ran.
pub fn summary(r: &AnalysisResults) -> AnalysisSummary {
    AnalysisSummary {
        same_class: r.same_class.as_ref().map(|s| s.hard_vs_easy.clone()),
        wordnet: r.wordnet.as_ref().map(|w| w.hard_vs_easy.clone()),
        anticorrelated: r.anticorrelated.as_ref().map(|a| a.summary.clone()),
        consistency: r.consistency.as_ref().map(|c| c.summary.clone()),
        class_pairs: r.class_pairs.as_ref().map(|cp| {
            let named = |p: &crate::analysis::class_pairs::ClassPair| NamedPair {
                query_class: cp.names[p.query_class].clone(),
                negative_class: cp.names[p.negative_class].clone(),
                mean_dot: p.mean_dot,
            };
            ClassPairsSummary {
                pairs: cp.pairs.len(),
                most_anticorrelated: cp.pairs.first().map(named),
                most_correlated: cp.pairs.last().map(named),
            }
        }),
    }
}

fn hve_line(h: &HardVsEasy, what: &str, hard_percent: f64) -> String {
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

/// Writes the whole bundle to `out` (atomically) and returns its path.
/// What one analysis adds to a bundle: its tables (CSV), its figure (PNG)
/// and its section of `index.md`, in that order.
trait BundleSection {
    fn write(&self, b: &Bundle, idx: &mut String, params: &Params) -> Result<()>;
}

pub fn write(out: &Path, r: &AnalysisResults, info: &RunInfo, params: &Params) -> Result<PathBuf> {
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
    let sections: [Option<&dyn BundleSection>; 5] = [
        r.same_class.as_ref().map(|x| x as _),
        r.wordnet.as_ref().map(|x| x as _),
        r.anticorrelated.as_ref().map(|x| x as _),
        r.class_pairs.as_ref().map(|x| x as _),
        r.consistency.as_ref().map(|x| x as _),
    ];
    for section in sections.into_iter().flatten() {
        section.write(&b, &mut idx, params)?;
    }
    b.json("summary.json", &summary(r))?;
    b.json("manifest.json", &info.manifest)?;
    b.text("index.md", &idx)?;
    b.finish()
}

impl BundleSection for SameClass {
    fn write(&self, b: &Bundle, idx: &mut String, params: &Params) -> Result<()> {
        let s = self;
        let hp = params.hard_percent;
        let hard_label = format!("hardest {hp} %");
        let t = s.table();
        b.csv(&t)?;
        plot::hard_vs_easy(
            &b.path("same_class.png"),
            "Same-class rate",
            "fraction of negatives in the query's class",
            &s.hard_vs_easy,
            &hard_label,
            &s.by_bin,
        )?;
        writeln!(idx, "## Same class (paper Fig. 4a)\n")?;
        writeln!(
            idx,
            "![same-class rate, hard vs easy and by difficulty](same_class.png)\n"
        )?;
        writeln!(
            idx,
            "Are hard negatives more often of the query's class? {}\n",
            hve_line(&s.hard_vs_easy, "same-class rate", hp)
        )?;
        writeln!(idx, "- `same_class_by_bin.csv` — same-class rate per {}-quantile difficulty bin, over all pairs.\n", s.by_bin.len())?;
        Ok(())
    }
}

impl BundleSection for WordNet {
    fn write(&self, b: &Bundle, idx: &mut String, params: &Params) -> Result<()> {
        let w = self;
        let hp = params.hard_percent;
        let hard_label = format!("hardest {hp} %");
        b.csv(&w.table())?;
        plot::hard_vs_easy(
            &b.path("wordnet.png"),
            "WordNet similarity",
            "LCA depth of query and negative classes",
            &w.hard_vs_easy,
            &hard_label,
            &w.by_bin,
        )?;
        writeln!(idx, "## WordNet similarity (paper Fig. 4b)\n")?;
        writeln!(
            idx,
            "![WordNet LCA depth, hard vs easy and by difficulty](wordnet.png)\n"
        )?;
        writeln!(
        idx,
        "Are hard negatives semantically closer? Similarity = max_depth of the classes' lowest common hypernym \
         (deeper = more similar). {}\n",
        hve_line(&w.hard_vs_easy, "mean LCA depth", hp)
    )?;
        writeln!(
            idx,
            "- `wordnet_by_bin.csv` — mean LCA depth per difficulty bin.\n"
        )?;
        Ok(())
    }
}

impl BundleSection for Anticorrelated {
    fn write(&self, b: &Bundle, idx: &mut String, _params: &Params) -> Result<()> {
        let a = self;
        for t in a.tables() {
            b.csv(&t)?;
        }
        plot::anticorrelated(&b.path("anticorrelated.png"), a)?;
        let s = &a.summary;
        writeln!(idx, "## Anti-correlated negatives (paper Fig. 5)\n")?;
        writeln!(idx, "![dot-product histogram and same-class rate and LCA depth over fine difficulty bins](anticorrelated.png)\n")?;
        writeln!(
        idx,
        "{:.2} % of pairs have q·n < {}: same-class rate {:.4} (rest {:.4}), mean LCA depth {} (rest {}).\n",
        100.0 * s.fraction,
        s.threshold,
        s.anticorrelated.same_class_rate,
        s.rest.same_class_rate,
        fmt_num(s.anticorrelated.mean_lca_depth),
        fmt_num(s.rest.mean_lca_depth)
    )?;
        writeln!(idx, "- `anticorrelated_by_bin.csv` — mean dot, same-class rate and LCA depth per fine difficulty bin.")?;
        writeln!(
            idx,
            "- `dot_histogram.csv` — counts of all (query, negative) dot products over [-1, 1].\n"
        )?;
        Ok(())
    }
}

impl BundleSection for ClassPairs {
    fn write(&self, b: &Bundle, idx: &mut String, _params: &Params) -> Result<()> {
        let cp = self;
        let t = cp.table();
        b.csv(&t)?;
        plot::class_pairs(&b.path("class_pairs.png"), cp, 10)?;
        writeln!(idx, "## Class pairs (paper Table A3)\n")?;
        writeln!(
            idx,
            "![most anti-correlated and most correlated class pairs](class_pairs.png)\n"
        )?;
        writeln!(idx, "Mean dot product of query class / negative class over {} class pairs (`class_pairs.csv`, ascending).\n", cp.pairs.len())?;
        let [low, high, zero] = cp.extremes(10);
        for (caption, rows) in [
            ("Most anti-correlated", low),
            ("Most correlated", high),
            ("Closest to zero", zero),
        ] {
            writeln!(idx, "**{caption}**\n\n{}", t.markdown(rows))?;
        }
        Ok(())
    }
}

impl BundleSection for Consistency {
    fn write(&self, b: &Bundle, idx: &mut String, params: &Params) -> Result<()> {
        let c = self;
        let hp = params.hard_percent;
        for t in c.tables() {
            b.csv(&t)?;
        }
        plot::consistency(&b.path("consistency.png"), c, hp)?;
        let s = &c.summary;
        writeln!(idx, "## Hardness consistency (paper Fig. 6)\n")?;
        writeln!(
            idx,
            "![pdf of per-negative hard frequency, real vs shuffled](consistency.png)\n"
        )?;
        writeln!(
        idx,
        "Per negative, the fraction of queries for which it is in the hardest {hp} %: std {:.4} (real) vs {:.4} \
         (shuffled ranks); two-sample KS D = {:.4}, {} ({}). The most consistently hard negative \
         (row {} of the negatives) is hard for {:.1} % of queries.\n",
        s.real_std,
        s.shuffled_std,
        s.ks.statistic,
        p_clause(s.ks.p),
        match s.ks.method {
            crate::stats::KsMethod::Exact => "exact",
            crate::stats::KsMethod::Asymptotic => "asymptotic",
        },
        s.max_negative,
        100.0 * s.max_frequency
    )?;
        writeln!(
            idx,
            "- `hard_frequency.csv` — each negative's hard frequency."
        )?;
        writeln!(
            idx,
            "- `consistency_pdf.csv` — densities, real and shuffled.\n"
        )?;
        Ok(())
    }
}

fn fmt_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".into()
    }
}
