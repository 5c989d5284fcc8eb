//! From per-run results to the paper's tables: mean ± std over seeds per
//! condition (and axis point), and Welch's t-test of each condition against
//! the baseline at the same axis point (Table A.1, Table 1, Figures 2–3).

use super::recipe::{Recipe, TEMPERATURE_AXIS};
use super::run::{QueueBand, RunResult};
use crate::difficulty::{Band, NegativeSet};
use crate::inference::{welch_interval, Interval};
use crate::pipeline::evaluate::{Baselines, LowLabel, Scores};
use crate::provenance::Provenance;
use crate::stats::{welch_t_test, MeanStd, TTest};
use crate::table::Table;

/// One condition at one axis point, aggregated over seeds.
#[derive(Clone, Debug)]
pub struct Group {
    pub condition: String,
    /// (axis, value) of its axis point, in recipe order.
    pub axes: Vec<(String, String)>,
    pub runs: usize,
    pub top1: MeanStd,
    pub top5: MeanStd,
    pub knn: MeanStd,
    /// Difference of mean top-1 from the baseline at the same axis point.
    pub delta_top1: f64,
    pub delta_top5: f64,
    /// Welch's t-test of top-1 against the baseline (None for the baseline itself).
    pub welch_top1: Option<TTest>,
    pub welch_top5: Option<TTest>,
    /// The same for weighted kNN top-1, which separates conditions better
    /// than the linear probe at the quick scale.
    pub delta_knn: f64,
    pub welch_knn: Option<TTest>,
    /// Welch's 95 % interval of the difference from the baseline (None for
    /// the baseline itself or with fewer than two seeds on either side).
    pub ci_top1: Option<Interval>,
    pub ci_knn: Option<Interval>,
    /// Raw pixels probed alike (top-1, kNN in %), where the runs measured
    /// them (`[sweep] baselines`): the floor a trained encoder must clear.
    pub pixels: Option<(f64, f64)>,
}

/// An accuracy fraction in percent, rounded to 1e-4 % so that 0.8235
/// prints as 82.35 rather than 82.35000000000001 (accuracies are counts
/// over test sets far smaller than 10⁶ images, so nothing is lost).
fn percent(fraction: f64) -> f64 {
    (fraction * 1e6).round() / 1e4
}

/// Mean and sample std (ddof = 1) in percent.
fn mean_std(v: &[f64]) -> MeanStd {
    let pct: Vec<f64> = v.iter().map(|&x| percent(x)).collect();
    MeanStd::of(&pct)
}

/// Groups results by (condition, axes) in recipe order.
pub fn groups(recipe: &Recipe, results: &[RunResult]) -> Vec<Group> {
    let mut keys: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for r in &recipe.runs {
        let k = (r.condition.clone(), r.axes.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let pick = |cond: &str, axes: &[(String, String)], f: fn(&RunResult) -> f64| -> Vec<f64> {
        results
            .iter()
            .filter(|r| r.condition == cond && r.axes == axes)
            .map(f)
            .collect()
    };
    keys.iter()
        .map(|(cond, axes)| {
            let (t1, t5, kn) = (
                pick(cond, axes, |r| r.top1),
                pick(cond, axes, |r| r.top5),
                pick(cond, axes, |r| r.knn_top1),
            );
            let base = recipe.baseline.as_deref().filter(|b| b != cond);
            let (b1, b5, bk) = match base {
                Some(b) => (
                    pick(b, axes, |r| r.top1),
                    pick(b, axes, |r| r.top5),
                    pick(b, axes, |r| r.knn_top1),
                ),
                None => (Vec::new(), Vec::new(), Vec::new()),
            };
            let pct = |v: &[f64]| v.iter().map(|&x| percent(x)).collect::<Vec<_>>();
            let test =
                |a: &[f64], b: &[f64]| (!b.is_empty()).then(|| welch_t_test(&pct(a), &pct(b)));
            let interval = |a: &[f64], b: &[f64]| {
                (a.len() > 1 && b.len() > 1).then(|| welch_interval(&pct(a), &pct(b), 0.95))
            };
            let delta = |a: &[f64], b: &[f64]| {
                if b.is_empty() {
                    0.0
                } else {
                    mean_std(a).mean - mean_std(b).mean
                }
            };
            let pixels: Vec<(f64, f64)> = results
                .iter()
                .filter(|r| r.condition == *cond && r.axes == *axes)
                .filter_map(|r| r.baselines.as_ref())
                .map(|b| (percent(b.raw_pixels.top1), percent(b.raw_pixels.knn_top1)))
                .collect();
            let pixels = (!pixels.is_empty()).then(|| {
                let n = pixels.len() as f64;
                (
                    pixels.iter().map(|p| p.0).sum::<f64>() / n,
                    pixels.iter().map(|p| p.1).sum::<f64>() / n,
                )
            });
            Group {
                condition: cond.clone(),
                axes: axes.clone(),
                runs: t1.len(),
                top1: mean_std(&t1),
                top5: mean_std(&t5),
                knn: mean_std(&kn),
                delta_top1: delta(&t1, &b1),
                delta_top5: delta(&t5, &b5),
                welch_top1: test(&t1, &b1),
                welch_top5: test(&t5, &b5),
                delta_knn: delta(&kn, &bk),
                welch_knn: test(&kn, &bk),
                ci_top1: interval(&t1, &b1),
                ci_knn: interval(&kn, &bk),
                pixels,
            }
        })
        .collect()
}

/// One point of Figure 2: a condition that trains on only one difficulty
/// band, or on all negatives except one band, with its top-1 (mean, std).
#[derive(Clone, Debug, PartialEq)]
pub struct BandPoint {
    pub band: Band,
    pub top1: MeanStd,
}

/// Figure 2's layout: "train on only" a band (panels a–b) and "train on all
/// except" a band (panels c–d), each against the baseline's top-1.
#[derive(Clone, Debug, PartialEq)]
pub struct BandPanels {
    pub only: Vec<BandPoint>,
    pub all_except: Vec<BandPoint>,
    pub baseline: MeanStd,
}

/// The band a filter expression is, when it is exactly one `band(lo,hi)`.
fn single_band(expr: Option<&str>) -> Option<Band> {
    match NegativeSet::parse(expr?) {
        Ok(NegativeSet::Band(b)) => Some(b),
        _ => None,
    }
}

/// Figure 2's panels from a sweep's groups, in recipe order: conditions
/// whose `keep` is a single band go to "only", those whose `drop` is one
/// to "all except"; other conditions (e.g. `band(99.9,100) & same_class`)
/// are not band conditions and are left out. `None` when the report mixes
/// several axis points (a panel would mix e.g. temperatures), has no
/// baseline, or has no band condition.
pub fn band_panels(
    baseline: Option<&str>,
    groups: &[Group],
    results: &[RunResult],
) -> Option<BandPanels> {
    let first = groups.first()?;
    if groups.iter().any(|g| g.axes != first.axes) {
        return None;
    }
    let baseline = groups
        .iter()
        .find(|g| Some(g.condition.as_str()) == baseline)?
        .top1;
    let (mut only, mut all_except) = (Vec::new(), Vec::new());
    for g in groups {
        let Some(r) = results.iter().find(|r| r.condition == g.condition) else {
            continue;
        };
        if let Some(band) = single_band(r.keep.as_deref()) {
            only.push(BandPoint { band, top1: g.top1 });
        } else if let Some(band) = single_band(r.drop.as_deref()) {
            all_except.push(BandPoint { band, top1: g.top1 });
        }
    }
    (!only.is_empty() || !all_except.is_empty()).then_some(BandPanels {
        only,
        all_except,
        baseline,
    })
}

pub fn results_table(recipe: &Recipe, results: &[RunResult]) -> Table {
    let mut t = Table::new("results")
        .text("run", results.iter().map(|r| r.id.clone()).collect())
        .text(
            "condition",
            results.iter().map(|r| r.condition.clone()).collect(),
        )
        .text(
            "keep",
            results
                .iter()
                .map(|r| r.keep.clone().unwrap_or_default())
                .collect(),
        )
        .text(
            "drop",
            results
                .iter()
                .map(|r| r.drop.clone().unwrap_or_default())
                .collect(),
        )
        .int("refill", results.iter().map(|r| r.refill as i64).collect())
        .float(
            TEMPERATURE_AXIS,
            results.iter().map(|r| r.temperature).collect(),
        );
    for name in recipe
        .axis_names
        .iter()
        .filter(|n| n.as_str() != TEMPERATURE_AXIS)
    {
        t = t.text(
            name,
            results
                .iter()
                .map(|r| {
                    r.axes
                        .iter()
                        .find(|a| &a.0 == name)
                        .map(|a| a.1.clone())
                        .unwrap_or_default()
                })
                .collect(),
        );
    }
    t = t
        .int("seed", results.iter().map(|r| r.seed as i64).collect())
        .float("top1", results.iter().map(|r| percent(r.top1)).collect())
        .float("top5", results.iter().map(|r| percent(r.top5)).collect())
        .float(
            "knn_top1",
            results.iter().map(|r| percent(r.knn_top1)).collect(),
        );
    t = low_label_columns(t, "", results.len(), |i| Some(&results[i].low_label));
    if results.iter().any(|r| r.baselines.is_some()) {
        let base = |f: fn(&Baselines) -> &Scores| {
            move |r: &RunResult| r.baselines.as_ref().map(|b| f(b).clone())
        };
        for (prefix, of) in [
            ("pixels_", base(|b| &b.raw_pixels)),
            ("random_", base(|b| &b.random_init)),
        ] {
            let scores: Vec<Option<Scores>> = results.iter().map(of).collect();
            let col = |f: fn(&Scores) -> f64| -> Vec<f64> {
                scores
                    .iter()
                    .map(|s| s.as_ref().map_or(f64::NAN, |s| percent(f(s))))
                    .collect()
            };
            t = t
                .float(&format!("{prefix}top1"), col(|s| s.top1))
                .float(&format!("{prefix}knn_top1"), col(|s| s.knn_top1));
            t = low_label_columns(t, prefix, results.len(), |i| {
                scores[i].as_ref().map(|s| &s.low_label)
            });
        }
    }
    t = queue_band_columns(t, results);
    let text = |f: fn(&Provenance) -> String| -> Vec<String> {
        results
            .iter()
            .map(|r| r.provenance.as_ref().map(f).unwrap_or_default())
            .collect()
    };
    t.int("epochs", results.iter().map(|r| r.epochs as i64).collect())
        .float(
            "wall_seconds",
            results.iter().map(|r| r.wall_seconds).collect(),
        )
        .text("commit", text(|p| p.commit.clone()))
        .text("cpu", text(|p| p.cpu.clone()))
        .text("simd", text(|p| p.simd.clone()))
        .int(
            "threads",
            results
                .iter()
                .map(|r| r.provenance.as_ref().map_or(0, |p| p.threads as i64))
                .collect(),
        )
}

/// `same_class_pct_<band>` and `mass_pct_<band>` for every queue band any
/// result recorded (NaN where a run did not).
fn queue_band_columns(mut t: Table, results: &[RunResult]) -> Table {
    let mut bands: Vec<&str> = Vec::new();
    for q in results.iter().flat_map(|r| &r.queue_bands) {
        if !bands.contains(&q.band.as_str()) {
            bands.push(&q.band);
        }
    }
    for band in bands {
        let of = |f: fn(&QueueBand) -> f64| -> Vec<f64> {
            results
                .iter()
                .map(|r| {
                    r.queue_bands
                        .iter()
                        .find(|q| q.band == band)
                        .map_or(f64::NAN, |q| percent(f(q)))
                })
                .collect()
        };
        t = t
            .float(&format!("same_class_pct_{band}"), of(|q| q.same_class))
            .float(&format!("mass_pct_{band}"), of(|q| q.softmax_mass));
    }
    t
}

/// One `{prefix}top1_labels{P}pct` column per low-label fraction any of
/// the `rows` has (`of(row)`; NaN where a row lacks it), e.g.
/// `top1_labels1pct`.
fn low_label_columns<'a>(
    mut t: Table,
    prefix: &str,
    rows: usize,
    of: impl Fn(usize) -> Option<&'a Vec<LowLabel>>,
) -> Table {
    let mut fractions: Vec<f64> = Vec::new();
    for l in (0..rows).filter_map(&of).flatten() {
        if !fractions.contains(&l.fraction) {
            fractions.push(l.fraction);
        }
    }
    for f in fractions {
        let values = (0..rows)
            .map(|i| {
                of(i)
                    .and_then(|v| v.iter().find(|l| l.fraction == f))
                    .map_or(f64::NAN, |l| percent(l.top1))
            })
            .collect();
        t = t.float(&format!("{prefix}top1_labels{}pct", percent(f)), values);
    }
    t
}

pub(crate) fn axes_text(axes: &[(String, String)]) -> String {
    axes.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn summary_table(groups: &[Group]) -> Table {
    let nan = f64::NAN;
    let t = |f: fn(&Group) -> Option<TTest>, g: fn(&TTest) -> f64| {
        groups
            .iter()
            .map(|x| f(x).as_ref().map_or(nan, g))
            .collect::<Vec<f64>>()
    };
    let ci = |f: fn(&Group) -> Option<Interval>, g: fn(&Interval) -> f64| {
        groups
            .iter()
            .map(|x| f(x).as_ref().map_or(nan, g))
            .collect::<Vec<f64>>()
    };
    Table::new("summary")
        .text(
            "condition",
            groups.iter().map(|g| g.condition.clone()).collect(),
        )
        .text("axes", groups.iter().map(|g| axes_text(&g.axes)).collect())
        .int("runs", groups.iter().map(|g| g.runs as i64).collect())
        .float("top1_mean", groups.iter().map(|g| g.top1.mean).collect())
        .float("top1_std", groups.iter().map(|g| g.top1.std).collect())
        .float("top5_mean", groups.iter().map(|g| g.top5.mean).collect())
        .float("top5_std", groups.iter().map(|g| g.top5.std).collect())
        .float("knn_top1_mean", groups.iter().map(|g| g.knn.mean).collect())
        .float("knn_top1_std", groups.iter().map(|g| g.knn.std).collect())
        .float("delta_top1", groups.iter().map(|g| g.delta_top1).collect())
        .float("delta_top5", groups.iter().map(|g| g.delta_top5).collect())
        .float("welch_t_top1", t(|g| g.welch_top1, |x| x.t))
        .float("welch_df_top1", t(|g| g.welch_top1, |x| x.df))
        .float("welch_p_top1", t(|g| g.welch_top1, |x| x.p))
        .float("welch_t_top5", t(|g| g.welch_top5, |x| x.t))
        .float("welch_p_top5", t(|g| g.welch_top5, |x| x.p))
        .float("ci95_low_top1", ci(|g| g.ci_top1, |i| i.low))
        .float("ci95_high_top1", ci(|g| g.ci_top1, |i| i.high))
        .float(
            "delta_knn_top1",
            groups.iter().map(|g| g.delta_knn).collect(),
        )
        .float("welch_t_knn_top1", t(|g| g.welch_knn, |x| x.t))
        .float("welch_p_knn_top1", t(|g| g.welch_knn, |x| x.p))
        .float("ci95_low_knn_top1", ci(|g| g.ci_knn, |i| i.low))
        .float("ci95_high_knn_top1", ci(|g| g.ci_knn, |i| i.high))
}
