//! Sweep recipes (`analyses/*.toml`): a base `[train]` config, per-scale
//! overrides, a list of conditions, optional axes crossed with every
//! condition, and seeds.
//!
//! ```toml
//! [sweep]
//! name = "fig3-temperature"
//! seeds = [0, 1, 2]
//! baseline = "baseline"          # the condition others are tested against
//! embed_analyze = false          # also embed the test part and run `analyze all`
//! baselines = false              # also probe raw pixels and a random network per run
//! label_fractions = []           # low-label probes, e.g. [0.01, 0.1]
//! [train]                        # base config (TrainConfig fields)
//! data = "bundled:fashion-mnist-test"
//! [scale.quick]                  # overrides for --scale quick (default)
//! epochs = 15
//! [scale.full]                   # overrides for --scale full (GPU)
//! arch = "resnet18"
//! [axes]                         # crossed with every condition
//! temperature = [0.07, 0.1, 0.2]
//! [[condition]]
//! label = "baseline"
//! [[condition]]
//! label = "drop hardest 0.1% (refill)"
//! drop = "band(99.9,100)"
//! refill = 64
//! ```

use crate::train::config::TrainConfig;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepTable {
    name: String,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    baseline: Option<String>,
    #[serde(default)]
    embed_analyze: bool,
    #[serde(default)]
    description: String,
    /// Also evaluate raw pixels and a randomly initialised network per run.
    #[serde(default)]
    baselines: bool,
    /// Low-label probes per run: shares of the training labels, in (0, 1].
    #[serde(default)]
    label_fractions: Vec<f64>,
}

fn default_seeds() -> Vec<u64> {
    vec![0, 1, 2]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeFile {
    sweep: SweepTable,
    #[serde(default)]
    train: toml::Table,
    #[serde(default)]
    scale: BTreeMap<String, toml::Table>,
    #[serde(default)]
    axes: BTreeMap<String, Vec<toml::Value>>,
    #[serde(default)]
    condition: Vec<toml::Table>,
}

/// One training run of a sweep.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Folder name under `runs/<sweep>/`.
    pub id: String,
    /// The condition's label.
    pub condition: String,
    /// Axis values, in axis order (`name`, value as text).
    pub axes: Vec<(String, String)>,
    pub seed: u64,
    pub config: TrainConfig,
}

/// The one axis the sweep knows by name: it sets `[train] temperature`, so
/// `results.csv` carries it as a number column for every run (not as a text
/// axis column), figures label it `T=…`, and Figure 3 plots the change in
/// accuracy against it. Every place that treats it specially names this
/// constant.
pub const TEMPERATURE_AXIS: &str = "temperature";

/// How tables and figures label one axis point.
pub fn axis_label(name: &str, value: &str) -> String {
    if name == TEMPERATURE_AXIS {
        format!("T={value}")
    } else {
        format!("{name}={value}")
    }
}

/// A parsed recipe at one scale.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// The sweep's name: runs go to `runs/<name>/`.
    pub name: String,
    /// The report folder `reports/<report_name>/` (the name unless a subset is reported).
    pub report_name: String,
    pub description: String,
    pub scale: String,
    pub baseline: Option<String>,
    pub embed_analyze: bool,
    /// Each run also evaluates raw pixels and a random network (`[sweep] baselines`).
    pub baselines: bool,
    /// Each run's low-label probes (`[sweep] label_fractions`).
    pub label_fractions: Vec<f64>,
    pub axis_names: Vec<String>,
    pub conditions: Vec<String>,
    pub runs: Vec<RunSpec>,
    /// The command-line filters that made this a subset of the recipe
    /// (`--only '…'`, `--seeds …`, `--axis …`), for the report to say so.
    pub subset: Vec<String>,
}

/// Most runs one recipe may expand to.
pub const MAX_RUNS: usize = 10_000;

/// Merges `over` into `base`: keys of `over` win, and a table merges into a
/// table key by key (a condition's `augment = { crop_scale = … }` changes
/// that field of the base recipe's `augment`, not the whole table).
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Fails if `items` repeats a value: a repeated seed or label would reuse
/// one run and report it as several replicates.
fn reject_repeats(path: &Path, what: &str, items: impl Iterator<Item = String>) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        if !seen.insert(item.clone()) {
            bail!(
                "{}: {what} list '{item}' twice; each must be distinct",
                path.display()
            );
        }
    }
    Ok(())
}

/// Axis values compare as numbers when both parse (`0.070` = `0.07`), else as text.
fn same_axis_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Recipe {
    /// Keeps only the listed conditions (plus the baseline), seeds and axis
    /// values (`name=v1,v2`, e.g. `temperature=0.07`); empty lists keep all.
    /// Run ids do not change, so a subset's runs are the full recipe's runs.
    pub fn restrict(&mut self, only: &[String], seeds: &[u64], axes: &[String]) -> Result<()> {
        let axis_filters = axes
            .iter()
            .map(|a| self.parse_axis_filter(a))
            .collect::<Result<Vec<_>>>()?;
        for o in only {
            if !self.conditions.contains(o) {
                bail!(
                    "--only: no condition '{o}' (conditions: {})",
                    self.conditions.join(", ")
                );
            }
        }
        let keep = |c: &str| {
            only.is_empty() || only.iter().any(|o| o == c) || self.baseline.as_deref() == Some(c)
        };
        self.runs.retain(|r| {
            keep(&r.condition)
                && (seeds.is_empty() || seeds.contains(&r.seed))
                && axis_filters.iter().all(|(name, values)| {
                    r.axes
                        .iter()
                        .any(|(n, v)| n == name && values.iter().any(|w| same_axis_value(v, w)))
                })
        });
        let conditions: Vec<String> = self
            .conditions
            .iter()
            .filter(|c| keep(c))
            .cloned()
            .collect();
        self.conditions = conditions;
        if self.runs.is_empty() {
            bail!("the filters leave no runs");
        }
        let quoted = |v: String| {
            if v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._,=-".contains(c))
            {
                v
            } else {
                format!("'{v}'")
            }
        };
        if !only.is_empty() {
            self.subset
                .push(format!("--only {}", quoted(only.join(","))));
        }
        if !seeds.is_empty() {
            let seeds: Vec<String> = seeds.iter().map(|s| s.to_string()).collect();
            self.subset.push(format!("--seeds {}", seeds.join(",")));
        }
        for a in axes {
            self.subset.push(format!("--axis {}", quoted(a.clone())));
        }
        Ok(())
    }

    /// Parses `--axis name=v1,v2` against the recipe's axes and their values.
    fn parse_axis_filter(&self, text: &str) -> Result<(String, Vec<String>)> {
        let Some((name, values)) = text.split_once('=') else {
            bail!("--axis '{text}': expected NAME=VALUE[,VALUE...], e.g. temperature=0.07");
        };
        let name = name.trim().to_string();
        if !self.axis_names.contains(&name) {
            bail!(
                "--axis: the recipe has no axis '{name}' (axes: {})",
                if self.axis_names.is_empty() {
                    "none".to_string()
                } else {
                    self.axis_names.join(", ")
                }
            );
        }
        let mut known: Vec<&str> = Vec::new();
        for r in &self.runs {
            for (_, v) in r.axes.iter().filter(|(n, _)| *n == name) {
                if !known.contains(&v.as_str()) {
                    known.push(v);
                }
            }
        }
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
        for v in &values {
            if !known.iter().any(|k| same_axis_value(k, v)) {
                bail!(
                    "--axis: '{name}' has no value '{v}' (values: {})",
                    known.join(", ")
                );
            }
        }
        Ok((name, values))
    }

    pub fn load(path: &Path, scale: &str) -> Result<Recipe> {
        let text = crate::input_file::read_to_string(path)?;
        Recipe::parse(&text, path, scale)
    }

    /// A recipe from its TOML text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path, scale: &str) -> Result<Recipe> {
        let file: RecipeFile = toml::from_str(text)
            .with_context(|| format!("{}: not a sweep recipe", path.display()))?;
        if file.condition.is_empty() {
            bail!("{}: no [[condition]] entries", path.display());
        }
        crate::atomic::check_name(&file.sweep.name, "[sweep] name")
            .with_context(|| format!("{}", path.display()))?;
        reject_repeated_seeds_and_axis_values(&file, path)?;
        let base = scaled_base(&file, scale, path)?;
        let axis_names: Vec<String> = file.axes.keys().cloned().collect();
        let points = axis_points(&file, path)?;
        let mut runs = Vec::new();
        let mut conditions = Vec::new();
        for cond in &file.condition {
            let mut cond = cond.clone();
            let label = match cond.remove("label") {
                Some(toml::Value::String(s)) => s,
                _ => bail!(
                    "{}: every [[condition]] needs a string `label`",
                    path.display()
                ),
            };
            conditions.push(label.clone());
            for point in &points {
                for &seed in &file.sweep.seeds {
                    runs.push(run_spec(&base, &cond, &label, point, seed, path)?);
                }
            }
        }
        reject_repeats(path, "condition labels", conditions.iter().cloned())?;
        reject_shared_ids(&runs, path)?;
        if let Some(f) = file
            .sweep
            .label_fractions
            .iter()
            .find(|f| !(**f > 0.0 && **f <= 1.0))
        {
            bail!(
                "{}: [sweep] label_fractions: {f} is not a share of the labels in (0, 1]",
                path.display()
            );
        }
        if let Some(b) = &file.sweep.baseline {
            if !conditions.contains(b) {
                bail!(
                    "{}: baseline '{b}' is not a condition label",
                    path.display()
                );
            }
        }
        Ok(Recipe {
            report_name: file.sweep.name.clone(),
            name: file.sweep.name,
            description: file.sweep.description,
            scale: scale.to_string(),
            baseline: file.sweep.baseline,
            embed_analyze: file.sweep.embed_analyze,
            baselines: file.sweep.baselines,
            label_fractions: file.sweep.label_fractions,
            axis_names,
            conditions,
            runs,
            subset: Vec::new(),
        })
    }
}

/// Seeds and each axis's values must not repeat: a repeat would reuse one
/// run and report a fake replicate.
fn reject_repeated_seeds_and_axis_values(file: &RecipeFile, path: &Path) -> Result<()> {
    reject_repeats(
        path,
        "seeds",
        file.sweep.seeds.iter().map(|s| s.to_string()),
    )?;
    for (name, values) in &file.axes {
        let texts: Vec<String> = values.iter().map(value_text).collect();
        for (i, a) in texts.iter().enumerate() {
            if let Some(b) = texts[..i].iter().find(|b| same_axis_value(a, b)) {
                bail!(
                    "{}: axis '{name}' lists the same value twice ({b} and {a}); each value is one set of runs",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// The recipe's `[train]` table with its `[scale.<scale>]` overrides.
fn scaled_base(file: &RecipeFile, scale: &str, path: &Path) -> Result<toml::Table> {
    let mut base = file.train.clone();
    match file.scale.get(scale) {
        Some(over) => merge(&mut base, over),
        None if file.scale.is_empty() => {}
        None => bail!(
            "{}: no [scale.{scale}] (has: {})",
            path.display(),
            file.scale.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
    }
    Ok(base)
}

/// The cartesian product of the axes (one empty point without axes),
/// counted before it is built: a hostile recipe must not allocate a product
/// it can never run.
fn axis_points(file: &RecipeFile, path: &Path) -> Result<Vec<Vec<(String, toml::Value)>>> {
    let total = file
        .axes
        .values()
        .map(Vec::len)
        .chain([file.condition.len(), file.sweep.seeds.len()])
        .try_fold(1usize, |acc, n| acc.checked_mul(n))
        .filter(|&n| n <= MAX_RUNS);
    if total.is_none() {
        bail!(
            "{}: conditions × axis values × seeds is more than {MAX_RUNS} runs",
            path.display()
        );
    }
    let mut points: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (name, values) in &file.axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                values
                    .iter()
                    .map(move |v| [p.clone(), vec![(name.clone(), v.clone())]].concat())
            })
            .collect();
    }
    Ok(points)
}

/// One run: the base config with the condition's fields, the axis point and
/// the seed, its id (`<label>-<axis letter><value>…-s<seed>`), validated.
fn run_spec(
    base: &toml::Table,
    cond: &toml::Table,
    label: &str,
    point: &[(String, toml::Value)],
    seed: u64,
    path: &Path,
) -> Result<RunSpec> {
    let mut t = base.clone();
    merge(&mut t, cond);
    for (k, v) in point {
        t.insert(k.clone(), v.clone());
    }
    let axes: Vec<(String, String)> = point
        .iter()
        .map(|(k, v)| (k.clone(), value_text(v)))
        .collect();
    let mut id = slug(label);
    for (k, v) in &axes {
        id.push_str(&format!(
            "-{}{}",
            slug(k).chars().next().unwrap_or('x'),
            slug(v)
        ));
    }
    id.push_str(&format!("-s{seed}"));
    t.insert("seed".into(), toml::Value::Integer(seed as i64));
    t.insert("name".into(), toml::Value::String(id.clone()));
    let config: TrainConfig = toml::Value::Table(t).try_into().with_context(|| {
        format!(
            "{}: condition '{label}': bad training fields",
            path.display()
        )
    })?;
    config
        .validate()
        .with_context(|| format!("{}: condition '{label}'", path.display()))?;
    Ok(RunSpec {
        id,
        condition: label.to_string(),
        axes,
        seed,
        config,
    })
}

/// Two conditions whose labels slug to the same run id would share a run
/// folder: an error that lists them.
fn reject_shared_ids(runs: &[RunSpec], path: &Path) -> Result<()> {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in runs {
        by_id.entry(&r.id).or_default().push(&r.condition);
    }
    let shared: Vec<String> = by_id
        .iter()
        .filter(|(_, labels)| labels.len() > 1)
        .map(|(id, labels)| format!("{id} ← {}", labels.join(" | ")))
        .collect();
    if !shared.is_empty() {
        bail!(
            "{}: conditions whose labels differ only in punctuation or case would share run folders (run id ← labels): {}; rename them",
            path.display(),
            shared.join("; ")
        );
    }
    Ok(())
}
