//! The sweep's report bundle `reports/<sweep>/`: `results.csv` (one row per
//! run), `summary.csv` (the aggregated table with t-tests), the figures,
//! `index.md` and `manifest.json`.

use super::aggregate::{axes_text, band_panels, groups, results_table, summary_table, Group};
use super::figures;
use super::recipe::{Recipe, TEMPERATURE_AXIS};
use super::run::RunResult;
use crate::report::{sha256_file, Bundle};
use crate::stats::MeanStd;
use anyhow::Result;
use serde_json::json;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// `mean ± std` for the paper-layout table.
fn pm(v: MeanStd) -> String {
    if v.std.is_finite() {
        format!("{:.2} ± {:.2}", v.mean, v.std)
    } else {
        format!("{:.2}", v.mean)
    }
}

/// `+0.41 [−0.30, +1.12]`: a difference with its Welch interval, or the
/// difference alone where there is none (the baseline, one seed).
fn delta_ci(delta: f64, ci: Option<crate::inference::Interval>) -> String {
    match ci {
        Some(i) => format!("{delta:+.2} [{:+.2}, {:+.2}]", i.low, i.high),
        None => format!("{delta:+.2}"),
    }
}

/// Writes `reports/<sweep>/` and returns its path.
pub fn write_report(
    recipe: &Recipe,
    results: &[RunResult],
    out: &Path,
    recipe_path: &Path,
) -> Result<PathBuf> {
    let b = Bundle::create(out)?;
    let gs = groups(recipe, results);
    let summary = summary_table(&gs);
    b.csv(&results_table(recipe, results))?;
    b.csv(&summary)?;
    figures::sweep_bars(&b.path("accuracy.png"), &recipe.name, &gs)?;
    // A change-vs-temperature plot needs at least two temperatures (a
    // subset such as `--axis temperature=0.07` has one).
    let temperatures: std::collections::BTreeSet<u64> =
        results.iter().map(|r| r.temperature.to_bits()).collect();
    let has_temperature =
        recipe.axis_names.iter().any(|a| a == TEMPERATURE_AXIS) && temperatures.len() > 1;
    if has_temperature && recipe.baseline.is_some() {
        figures::sweep_temperature(&b.path("temperature.png"), &gs)?;
    }
    let panels = band_panels(recipe.baseline.as_deref(), &gs, results);
    if let Some(p) = &panels {
        figures::sweep_bands(&b.path("bands.png"), &recipe.name, p)?;
    }
    let has_temperature = has_temperature && recipe.baseline.is_some();
    b.json("manifest.json", &manifest(recipe, recipe_path)?)?;
    b.index(&index_text(
        recipe,
        results,
        &gs,
        panels.is_some(),
        has_temperature,
    )?)?;
    b.finish()
}

/// The sweep's `index.md`: what ran, the figures, the summary table.
fn index_text(
    recipe: &Recipe,
    results: &[RunResult],
    gs: &[Group],
    has_bands: bool,
    has_temperature: bool,
) -> Result<String> {
    let mut idx = String::new();
    writeln!(idx, "# Sweep `{}` ({} scale)\n", recipe.name, recipe.scale)?;
    if !recipe.description.is_empty() {
        writeln!(idx, "{}\n", recipe.description)?;
    }
    if !recipe.subset.is_empty() {
        writeln!(
            idx,
            "A subset of the recipe: `{}`.\n",
            recipe.subset.join(" ")
        )?;
    }
    writeln!(idx, "{} runs: {} conditions × {} seeds{}. Accuracies in % on the held-out test part (linear probe top-1/top-5, weighted kNN top-1); mean ± sample std (ddof 1) over seeds; Welch's t-test of each condition against `{}` at the same axis values.\n",
        results.len(), recipe.conditions.len(), results.iter().map(|r| r.seed).collect::<std::collections::BTreeSet<_>>().len(),
        if recipe.axis_names.is_empty() { String::new() } else { format!(" × axes ({})", recipe.axis_names.join(", ")) },
        recipe.baseline.as_deref().unwrap_or("(no baseline)"))?;
    writeln!(idx, "![accuracy by condition](accuracy.png)\n")?;
    if has_bands {
        writeln!(
            idx,
            "![top-1 by band: train on only a band, train on all except a band](bands.png)\n"
        )?;
    }
    if has_temperature {
        writeln!(
            idx,
            "![change in accuracy against the baseline by temperature](temperature.png)\n"
        )?;
    }
    // Raw pixels probed alike, per row: rows may be on different data.
    let has_pixels = gs.iter().any(|g| g.pixels.is_some());
    let (pixel_head, pixel_rule) = if has_pixels {
        (" raw pixels top-1 | raw pixels kNN |", "---|---|")
    } else {
        ("", "")
    };
    writeln!(idx, "| condition | axes | top-1 | top-5 | kNN top-1 |{pixel_head} Δ top-1 [95 % CI] | Welch p (top-1) | Δ kNN [95 % CI] | Welch p (kNN) |\n|---|---|---|---|---|{pixel_rule}---|---|---|---|")?;
    let p_of =
        |t: Option<crate::stats::TTest>| t.map_or("—".into(), |t| crate::stats::fmt_p(t.p));
    for g in gs {
        let pixel_cells = match (has_pixels, g.pixels) {
            (false, _) => String::new(),
            (true, Some((top1, knn))) => format!(" {top1:.2} | {knn:.2} |"),
            (true, None) => " — | — |".into(),
        };
        writeln!(
            idx,
            "| {} | {} | {} | {} | {} |{pixel_cells} {} | {} | {} | {} |",
            g.condition,
            axes_text(&g.axes),
            pm(g.top1),
            pm(g.top5),
            pm(g.knn),
            delta_ci(g.delta_top1, g.ci_top1),
            p_of(g.welch_top1),
            delta_ci(g.delta_knn, g.ci_knn),
            p_of(g.welch_knn),
        )?;
    }
    if has_pixels {
        writeln!(
            idx,
            "\nRaw pixels are probed alike in every run (the grey reference in the figure)."
        )?;
    }
    writeln!(idx, "\n- `results.csv` — one row per run (condition, filter, refill, temperature, axes, seed, accuracies, epochs, wall seconds).")?;
    writeln!(
        idx,
        "- `summary.csv` — the table above with Welch t, df, p and 95 % intervals of the differences for top-1, top-5 and kNN top-1."
    )?;
    Ok(idx)
}

/// `manifest.json`: version, the command, the recipe's sha256, every run's config.
fn manifest(recipe: &Recipe, recipe_path: &Path) -> Result<serde_json::Value> {
    Ok(json!({
        "negstudy_version": crate::VERSION,
        "provenance": crate::provenance::Provenance::current(),
        "command": format!(
            "sweep {} --scale {}{}",
            recipe_path.display(),
            recipe.scale,
            recipe.subset.iter().map(|f| format!(" {f}")).collect::<String>()
        ),
        "recipe": {"path": recipe_path.display().to_string(), "sha256": sha256_file(recipe_path)?},
        "runs": recipe.runs.iter().map(|r| json!({"id": r.id, "config": r.config})).collect::<Vec<_>>(),
    }))
}
