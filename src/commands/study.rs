//! `negstudy study …`: what a pre-registered study needs before and after
//! its runs. `study power` computes seeds per condition from the seed
//! variance measured in finished sweeps.

use crate::inference::{seeds_for_equivalence, seeds_for_power};
use crate::sweep::seed_variance::{pooled_sd, read_runs, Pooled, RunScore};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum StudyCommand {
    /// Seeds per condition from the seed variance of finished sweeps (pooled over their cells).
    Power(PowerArgs),
    /// Write the claims table into reports/README.md from the committed result files.
    Claims(ClaimsArgs),
}

#[derive(Debug, Args)]
pub struct ClaimsArgs {
    /// The paper's claims, their numbers and sources, and where each scale's runs are.
    #[arg(long, default_value = "reports/claims.toml")]
    pub claims: PathBuf,
    /// The document whose claims section (between its markers) is replaced.
    #[arg(long, default_value = "reports/README.md")]
    pub readme: PathBuf,
    /// Do not write: fail if the committed section differs from the generated one.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct PowerArgs {
    /// Finished runs: sweep bundles' results.csv files or ledger folders (results/<sweep>/).
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Differences to detect, in accuracy points (repeatable).
    #[arg(long = "effect", default_values_t = [1.0, 2.0])]
    pub effects: Vec<f64>,
    /// Equivalence margin for "no worse" claims (TOST within ±MARGIN points).
    #[arg(long, default_value_t = 1.0)]
    pub margin: f64,
    /// Family-wise significance level.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Tests in the family (Holm): the first step of Holm tests at ALPHA / FAMILY, so seeds are computed at that level.
    #[arg(long, default_value_t = 1)]
    pub family: usize,
    /// Power to reach.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
}

pub fn run(c: StudyCommand) -> Result<()> {
    match c {
        StudyCommand::Power(a) => {
            print!("{}", power_table(&a)?);
            Ok(())
        }
        StudyCommand::Claims(a) => claims(&a),
    }
}

/// `study claims`: regenerate the section, then write it or check it.
fn claims(a: &ClaimsArgs) -> Result<()> {
    let section = crate::claims::section(&crate::claims::read(&a.claims)?)?;
    let name = crate::input_file::shown(&a.readme);
    let current = crate::input_file::read_to_string(&a.readme)?;
    let wanted = crate::claims::splice(&current, &section, &name)?;
    if a.check {
        if wanted != current {
            bail!("{name}: the claims section differs from what the result files say; run `negstudy study claims`");
        }
        println!("{name}: the claims section matches the result files");
    } else {
        crate::atomic::write_bytes(&a.readme, crate::atomic::Kind::OwnedFile, wanted.as_bytes())?;
        println!("{name}: claims section written");
    }
    Ok(())
}

/// The markdown the command prints: the pooled sds and the seeds they imply.
pub fn power_table(a: &PowerArgs) -> Result<String> {
    let in_unit = |v: f64| v > 0.0 && v < 1.0;
    if !(in_unit(a.alpha) && in_unit(a.power)) {
        bail!("--alpha and --power must lie strictly between 0 and 1");
    }
    if a.family == 0 {
        bail!("--family must be at least 1");
    }
    let positive = |v: f64| v > 0.0 && v.is_finite();
    if !positive(a.margin) || !a.effects.iter().all(|&e| positive(e)) {
        bail!("--margin and every --effect must be positive (points of accuracy)");
    }
    let mut runs: Vec<RunScore> = Vec::new();
    for path in &a.results {
        runs.extend(read_runs(path)?);
    }
    let level = a.alpha / a.family as f64;
    let mut out = String::new();
    let sources: Vec<String> = a
        .results
        .iter()
        .map(|p| format!("`{}`", crate::input_file::shown(p)))
        .collect();
    writeln!(
        out,
        "Seed standard deviation pooled over the cells (one configuration, several seeds) of {}; \
         seeds per condition for power {} at level {} (α {} over a family of {}); differences by \
         the two-sided two-sample t-test, equivalence by TOST within ±{} pt.\n",
        sources.join(", "),
        a.power,
        fmt_level(level),
        a.alpha,
        a.family,
        a.margin
    )?;
    let mut header = "| metric | cells | runs | df | pooled sd (pt) |".to_string();
    let mut rule = "|---|---|---|---|---|".to_string();
    for e in &a.effects {
        write!(header, " seeds for a {e}-pt difference |")?;
        rule.push_str("---|");
    }
    write!(header, " seeds for equivalence within ±{} pt |", a.margin)?;
    rule.push_str("---|");
    writeln!(out, "{header}\n{rule}")?;
    type Metric = fn(&RunScore) -> f64;
    let metrics: [(&str, Metric); 2] =
        [("linear top-1", |r| r.top1), ("kNN top-1", |r| r.knn_top1)];
    for (name, metric) in metrics {
        let Some(Pooled {
            cells,
            runs: n,
            df,
            sd,
        }) = pooled_sd(&runs, metric)
        else {
            bail!("no configuration in these results was run with two or more seeds");
        };
        write!(out, "| {name} | {cells} | {n} | {df} | {sd:.3} |")?;
        for e in &a.effects {
            write!(out, " {} |", seeds_for_power(*e, sd, level, a.power))?;
        }
        writeln!(
            out,
            " {} |",
            seeds_for_equivalence(a.margin, sd, level, a.power)
        )?;
    }
    Ok(out)
}

/// A significance level as people write it (0.05, 0.0125, 0.00556).
fn fmt_level(level: f64) -> String {
    let text = format!("{level:.3e}");
    let v: f64 = text.parse().unwrap_or(level);
    format!("{v}")
}
