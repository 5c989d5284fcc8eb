//! A series of dumps in, a dynamics bundle out (`negstudy analyze dynamics
//! --series A B C …`): the same sampled queries and negatives in every
//! dump, compared checkpoint to checkpoint (`analysis::dynamics`).

use crate::analysis::dynamics::{self, Composition, QueryChange, Scores, HARDEST};
use crate::analysis::input::{self, Source};
use crate::hierarchy::Hierarchy;
use crate::report::{sha256_file, Bundle};
use crate::train::moco::{band_name, TELEMETRY_BANDS};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What to compare and where the bundle goes.
#[derive(Clone, Debug)]
pub struct DynamicsRequest {
    /// Dumps of the same images by successive checkpoints, in training order.
    pub series: Vec<PathBuf>,
    pub n_queries: Option<usize>,
    pub n_negatives: Option<usize>,
    /// Seeds the sampling (the same rows in every dump).
    pub seed: u64,
    pub normalize: bool,
    /// Temperature of the softmax mass per band.
    pub temperature: f64,
    pub out: PathBuf,
}

/// A written bundle and its summary.
pub struct Dynamics {
    pub bundle: PathBuf,
    pub summary: Value,
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Embeds each kept checkpoint of `run` (oldest first; the paper's dump:
/// the query encoder on the test part) into `run/dumps/<checkpoint>.safetensors`
/// and returns their paths.
pub fn embed_kept(run: &Path) -> Result<Vec<PathBuf>> {
    let kept = crate::train::checkpoint::kept(run)?;
    if kept.len() < 2 {
        bail!(
            "{} keeps {} checkpoint(s); dynamics needs two or more — train with --keep-every N",
            run.display(),
            kept.len()
        );
    }
    let dumps = run.join("dumps");
    std::fs::create_dir_all(&dumps).with_context(|| format!("creating {}", dumps.display()))?;
    kept.iter()
        .map(|checkpoint| {
            let name = checkpoint
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = dumps.join(format!("{name}.safetensors"));
            crate::pipeline::embed::embed(&crate::pipeline::embed::EmbedRequest {
                quiet: true,
                ..crate::pipeline::embed::EmbedRequest::of(checkpoint.clone())
            })?
            .save(&path)?;
            Ok(path)
        })
        .collect()
}

/// Loads the series, compares consecutive dumps and writes the bundle.
pub fn run(r: &DynamicsRequest) -> Result<Dynamics> {
    if r.series.len() < 2 {
        bail!("dynamics needs at least two dumps (--series A B …), in training order");
    }
    if !(r.temperature.is_finite() && r.temperature > 0.0) {
        bail!("--temperature must be positive, got {}", r.temperature);
    }
    let hierarchy = Hierarchy::load(None, None)?;
    let mut names = Vec::new();
    let mut pairs: Vec<Vec<QueryChange>> = Vec::new();
    let mut compositions: Vec<Composition> = Vec::new();
    let mut first: Option<(Vec<usize>, Vec<usize>, Vec<i64>)> = None;
    let mut previous: Option<Scores> = None;
    for file in &r.series {
        let source = Source::Split {
            embeddings: file.clone(),
            n_queries: r.n_queries,
            n_negatives: r.n_negatives,
        };
        let (input, _) = input::load(&source, r.normalize, r.seed, None, &hierarchy)?;
        let rows = (
            input.queries.rows.clone(),
            input.negatives.rows.clone(),
            input.queries.label.clone(),
        );
        match &first {
            None => first = Some(rows),
            Some(f) if *f != rows => bail!(
                "{}: its sampled rows or labels differ from {}'s — the series must be dumps of the same images in the same order",
                file.display(),
                r.series[0].display()
            ),
            Some(_) => {}
        }
        let scores = Scores::of(&input);
        compositions.push(dynamics::composition(&scores, &input, r.temperature)?);
        if let Some(prev) = &previous {
            pairs.push(
                dynamics::changes(prev, &scores).with_context(|| file.display().to_string())?,
            );
        }
        previous = Some(scores);
        names.push(stem(file));
    }
    let (query_rows, negative_rows, _) = first.expect("two or more dumps");
    let tables = dynamics::tables(&names, &pairs, &compositions, &query_rows);
    let pair_means: Vec<(f64, Vec<f64>)> = pairs
        .iter()
        .map(|p| {
            (
                dynamics::mean_sd(p.iter().map(|q| q.spearman)).0,
                (0..HARDEST.len())
                    .map(|h| dynamics::mean_sd(p.iter().map(|q| q.jaccard[h])).0)
                    .collect(),
            )
        })
        .collect();
    let summary = json!({
        "pairs": names.windows(2).zip(&pair_means).map(|(w, (rho, j))| json!({
            "from": w[0], "to": w[1], "spearman_mean": rho,
            "jaccard_hardest_mean": HARDEST.iter().zip(j).map(|(p, v)| (format!("{p}"), json!(v))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "checkpoints": names.iter().zip(&compositions).map(|(n, c)| json!({
            "checkpoint": n, "hard_same_class": c.hard_same_class,
            "mass": TELEMETRY_BANDS.iter().zip(&c.mass).map(|(&b, m)| (band_name(b), json!(m))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    });

    let bundle = Bundle::create(&r.out)?;
    for t in &tables {
        bundle.csv(t)?;
    }
    bundle.json("summary.json", &summary)?;
    let hard_mass = TELEMETRY_BANDS
        .iter()
        .position(|&(lo, hi)| lo == 95.0 && hi == 100.0)
        .expect("the hardest 5 % is a telemetry band");
    crate::plot::dynamics(
        &bundle.path("dynamics.png"),
        &names,
        &HARDEST,
        &pair_means,
        &compositions
            .iter()
            .map(|c| (c.hard_same_class, c.mass[hard_mass]))
            .collect::<Vec<_>>(),
    )?;
    let inputs = r
        .series
        .iter()
        .map(|f| Ok(json!({"path": f.display().to_string(), "sha256": sha256_file(f)?})))
        .collect::<Result<Vec<_>>>()?;
    bundle.json(
        "manifest.json",
        &json!({
            "negstudy_version": crate::VERSION,
            "provenance": crate::provenance::Provenance::current(),
            "command": "analyze dynamics",
            "inputs": inputs,
            "queries": {"count": query_rows.len(), "rows": query_rows},
            "negatives": {"count": negative_rows.len()},
            "seed": r.seed,
            "normalize": r.normalize,
            "temperature": r.temperature,
            "hardest_percent": HARDEST,
        }),
    )?;
    bundle.index(&index(
        &names,
        &pair_means,
        &compositions,
        query_rows.len(),
        negative_rows.len(),
        r.temperature,
    )?)?;
    Ok(Dynamics {
        bundle: bundle.finish()?,
        summary,
    })
}

fn index(
    names: &[String],
    pairs: &[(f64, Vec<f64>)],
    compositions: &[Composition],
    queries: usize,
    negatives: usize,
    temperature: f64,
) -> Result<String> {
    let mut s = String::new();
    writeln!(s, "# Hardness over training\n")?;
    writeln!(
        s,
        "{queries} queries and {negatives} negatives, the same rows in each of {} checkpoints' dumps, in training order.\n",
        names.len()
    )?;
    writeln!(
        s,
        "![Spearman correlation and hardest-set overlap between consecutive checkpoints; same-class share and softmax mass of the hardest 5 % per checkpoint](dynamics.png)\n"
    )?;
    writeln!(s, "## Consecutive checkpoints\n")?;
    writeln!(
        s,
        "Per query, Spearman's ρ between its negatives' dot products at the two checkpoints, and the Jaccard overlap of its hardest 1 % and 5 %; means over queries.\n"
    )?;
    writeln!(
        s,
        "| from | to | Spearman ρ | Jaccard hardest 1 % | Jaccard hardest 5 % |"
    )?;
    writeln!(s, "|---|---|---|---|---|")?;
    for (w, (rho, j)) in names.windows(2).zip(pairs) {
        writeln!(
            s,
            "| {} | {} | {rho:.3} | {:.3} | {:.3} |",
            w[0], w[1], j[0], j[1]
        )?;
    }
    writeln!(s, "\n## Each checkpoint\n")?;
    writeln!(
        s,
        "Same-class share of the pooled hardest 5 %, and each difficulty band's mean share of the softmax mass Σ_band e^(s/T) / Σ e^(s/T) at T = {temperature}.\n"
    )?;
    let bands: Vec<String> = TELEMETRY_BANDS.iter().map(|&b| band_name(b)).collect();
    writeln!(
        s,
        "| checkpoint | hardest 5 % same class | {} |",
        bands
            .iter()
            .map(|b| format!("mass {b} %"))
            .collect::<Vec<_>>()
            .join(" | ")
    )?;
    writeln!(s, "|---|---|{}", "---|".repeat(bands.len()))?;
    for (n, c) in names.iter().zip(compositions) {
        writeln!(
            s,
            "| {n} | {:.4} | {} |",
            c.hard_same_class,
            c.mass
                .iter()
                .map(|m| format!("{m:.4}"))
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
    }
    writeln!(
        s,
        "\n- `dynamics_pairs.csv` — per consecutive pair: means and SDs over queries."
    )?;
    writeln!(
        s,
        "- `dynamics_queries.csv` — per pair and query: ρ and the Jaccard overlaps."
    )?;
    writeln!(s, "- `dynamics_by_checkpoint.csv` — per checkpoint: the hardest band's same-class share, the bands' softmax mass.")?;
    writeln!(s, "- `summary.json`, `manifest.json` — the numbers above; inputs with SHA-256, the rows, every parameter.")?;
    Ok(s)
}
