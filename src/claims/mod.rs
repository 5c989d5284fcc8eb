//! The claims table of `reports/README.md`, generated from the committed
//! result files — sweep `results.csv`, run ledgers, report summaries — and
//! the paper's numbers in a data file (`reports/claims.toml`) that cites
//! the table or figure each comes from. Nothing in the table is typed: a
//! test regenerates it and fails when the committed one differs.

pub mod finding;
pub mod verdict;

use crate::input_file::shown;
use crate::sweep::seed_variance::{read_runs, RunScore};
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use verdict::{adjust, measure, outcome, Claimed, Measured, Samples};

/// The data file: decision parameters, where each scale's runs are, the
/// paper's claims as comparisons, and Section 4's findings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsFile {
    /// Family-wise level of Holm's correction.
    pub alpha: f64,
    /// The paper's effect scaled to this window (points): a difference
    /// whose interval rules it out does not hold.
    pub effect: f64,
    /// Equivalence margin (points) for TOST.
    pub margin: f64,
    pub scale: Vec<Scale>,
    pub comparison: Vec<Comparison>,
    #[serde(default)]
    pub finding: Vec<Finding>,
}

/// A scale the claims were tested at, e.g. the quick sweeps or the study.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    pub name: String,
    /// Seeds per condition the design planned; fewer is an interim look,
    /// shown without a verdict.
    pub seeds: usize,
    /// Each family's runs: a results.csv or a ledger folder, and the
    /// temperature its comparisons are read at.
    pub families: BTreeMap<String, Source>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub results: PathBuf,
    pub temperature: f64,
}

/// One test of a claim: `condition` against `reference` in one family.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub claim: String,
    pub family: String,
    pub text: String,
    /// The paper's numbers, and where they are printed.
    pub paper: String,
    pub source: String,
    pub claimed: Claimed,
    pub condition: String,
    pub reference: String,
}

/// A Section 4 finding read from a report's summary.json.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub text: String,
    pub paper: String,
    pub source: String,
    pub summary: PathBuf,
    /// What we measured, a [`finding::fill`] template.
    pub ours: String,
    /// It holds when `greater[0] > greater[1]` and, if given, `p_below` < alpha.
    pub greater: [String; 2],
    #[serde(default)]
    pub p_below: Option<String>,
}

pub fn read(path: &Path) -> Result<ClaimsFile> {
    let text = crate::input_file::read_to_string(path)?;
    toml::from_str(&text).with_context(|| format!("{}: not a claims file", shown(path)))
}

/// The samples (in %) of one comparison's two conditions on both metrics.
fn samples(runs: &[RunScore], c: &Comparison, temperature: f64) -> [Samples; 2] {
    let pick = |label: &str, metric: fn(&RunScore) -> f64| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.condition == label && (r.temperature - temperature).abs() < 1e-9)
            .map(metric)
            .collect()
    };
    let metric = |m: fn(&RunScore) -> f64| Samples {
        condition: pick(&c.condition, m),
        reference: pick(&c.reference, m),
    };
    [metric(|r| r.top1), metric(|r| r.knn_top1)]
}

/// One table row's cells after the comparison's name and the paper.
fn row_cells(
    file: &ClaimsFile,
    scale: &Scale,
    s: &[Samples; 2],
    claimed: Claimed,
    measured: Option<([Measured; 2], [f64; 2])>,
) -> String {
    let n = s
        .iter()
        .flat_map(|x| [x.condition.len(), x.reference.len()])
        .min()
        .unwrap_or(0);
    let Some((m, p)) = measured else {
        let why = if n == 0 {
            "not run yet"
        } else {
            "fewer than 2 seeds"
        };
        return format!("{} | {n} | — | — | — | — | {why}", scale.name);
    };
    let cell = |m: &Measured, p: f64| {
        let d = m.delta;
        (
            format!("{:+.2} [{:+.2}, {:+.2}]", d.estimate, d.low, d.high),
            crate::stats::fmt_p(p),
        )
    };
    let (top1, knn) = (cell(&m[0], p[0]), cell(&m[1], p[1]));
    let verdict = if n < scale.seeds {
        format!("interim ({n} of {} seeds): no verdict", scale.seeds)
    } else {
        let o = |i: usize| outcome(claimed, &m[i], p[i], file.alpha, file.effect, file.margin);
        verdict::verdict([o(0), o(1)])
    };
    format!(
        "{} | {n} | {} | {} | {} | {} | {verdict}",
        scale.name, top1.0, top1.1, knn.0, knn.1
    )
}

/// The comparisons' table: per claim one row per scale.
fn comparisons_table(file: &ClaimsFile) -> Result<String> {
    // rows[c][s]: comparison c at scale s.
    let mut rows: Vec<Vec<String>> = vec![Vec::new(); file.comparison.len()];
    for scale in &file.scale {
        // Each family's comparisons with data, measured, then Holm over
        // the family's tests on both metrics.
        let mut measured: Vec<Option<([Measured; 2], [f64; 2])>> =
            vec![None; file.comparison.len()];
        let mut all_samples = Vec::new();
        for (family, source) in &scale.families {
            let runs = if source.results.exists() {
                read_runs(&source.results)?
            } else {
                Vec::new()
            };
            let members: Vec<usize> = (0..file.comparison.len())
                .filter(|&i| &file.comparison[i].family == family)
                .collect();
            let mut tests: Vec<(usize, [Measured; 2])> = Vec::new();
            for &i in &members {
                let c = &file.comparison[i];
                let s = samples(&runs, c, source.temperature);
                if s.iter()
                    .all(|x| x.condition.len() >= 2 && x.reference.len() >= 2)
                {
                    tests.push((i, [0, 1].map(|k| measure(c.claimed, &s[k], file.margin))));
                }
                all_samples.push((i, s));
            }
            let flat: Vec<Measured> = tests.iter().flat_map(|t| t.1).collect();
            let holm = adjust(&flat);
            for (j, (i, m)) in tests.into_iter().enumerate() {
                measured[i] = Some((m, [holm[2 * j], holm[2 * j + 1]]));
            }
        }
        for (i, s) in all_samples {
            let c = &file.comparison[i];
            rows[i].push(row_cells(file, scale, &s, c.claimed, measured[i]));
        }
    }
    let mut out = String::from(
        "| claim | paper (source) | scale | n | Δ linear top-1 [95 % CI] | p (Holm) | Δ kNN top-1 [95 % CI] | p (Holm) | verdict |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for (c, cells) in file.comparison.iter().zip(rows) {
        if cells.is_empty() {
            bail!(
                "comparison '{}' is in family '{}', which no scale lists",
                c.claim,
                c.family
            );
        }
        for (k, cell) in cells.iter().enumerate() {
            let (name, paper) = if k == 0 {
                (
                    format!(
                        "**{}** {}: {} vs {}",
                        c.claim, c.text, c.condition, c.reference
                    ),
                    format!("{} ({})", c.paper, c.source),
                )
            } else {
                (String::new(), String::new())
            };
            writeln!(out, "| {name} | {paper} | {cell} |")?;
        }
    }
    Ok(out)
}

/// The findings' table: ours filled in from each summary.json.
fn findings_table(file: &ClaimsFile) -> Result<String> {
    let mut out = String::from(
        "| finding | paper (source) | ours | bundle | verdict |\n|---|---|---|---|---|\n",
    );
    for f in &file.finding {
        let text = crate::input_file::read_to_string(&f.summary)?;
        let summary: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not JSON", shown(&f.summary)))?;
        let ctx =
            |e: anyhow::Error| e.context(format!("{}: finding '{}'", shown(&f.summary), f.text));
        let ours = finding::fill(&f.ours, &summary).map_err(ctx)?;
        let value = |p: &str| finding::number(&summary, p).map_err(ctx);
        let greater = value(&f.greater[0])? > value(&f.greater[1])?;
        let significant = match &f.p_below {
            Some(p) => value(p)? < file.alpha,
            None => true,
        };
        let verdict = if greater && significant {
            "holds"
        } else {
            "does not hold"
        };
        writeln!(
            out,
            "| {} | {} ({}) | {ours} | `{}` | {verdict} |",
            f.text,
            f.paper,
            f.source,
            f.summary.display()
        )?;
    }
    Ok(out)
}

/// The generated section: both tables and how to read them.
pub fn section(file: &ClaimsFile) -> Result<String> {
    let mut out = String::new();
    writeln!(out, "{BEGIN}")?;
    writeln!(
        out,
        "Generated by `negstudy study claims` from the result files each scale names in `reports/claims.toml` (with the paper's numbers and their sources); do not edit by hand. Δ = condition − reference in accuracy points with Welch's 95 % interval; p is Holm-adjusted over each family's tests on both metrics (Welch's two-sided test for a difference, TOST within ±{} pt for equivalence). A claim *holds* on a metric when its adjusted p < {}; it *does not hold* when the interval rules out a {}-pt effect in the claimed direction (equivalence: when the interval lies beyond ±{} pt); a scale with fewer seeds than it planned shows its numbers without a verdict.\n",
        file.margin, file.alpha, file.effect, file.margin
    )?;
    out.push_str(&comparisons_table(file)?);
    if !file.finding.is_empty() {
        writeln!(
            out,
            "\nWhat makes a negative hard (Section 4), on the demo's held-out embeddings:\n"
        )?;
        out.push_str(&findings_table(file)?);
    }
    writeln!(out, "{END}")?;
    Ok(out)
}

pub const BEGIN: &str = "<!-- claims: begin (generated by negstudy study claims) -->";
pub const END: &str = "<!-- claims: end -->";

/// `document` with the text between the markers (inclusive) replaced.
pub fn splice(document: &str, section: &str, name: &str) -> Result<String> {
    let (Some(b), Some(e)) = (document.find(BEGIN), document.find(END)) else {
        bail!("{name}: no claims markers ({BEGIN} … {END})");
    };
    if e < b {
        bail!("{name}: the claims end marker comes before the begin marker");
    }
    Ok(format!(
        "{}{}{}",
        &document[..b],
        section.trim_end(),
        &document[e + END.len()..]
    ))
}
