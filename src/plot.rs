//! The figures, modelled on the paper's: PNG via plotters' bitmap backend,
//! text through ab_glyph with DejaVu Sans compiled in, so rendering needs no
//! system fonts (plotters' `ttf` feature needs fontconfig and fails with
//! `NoSuchFont` on machines without fonts).
//!
//! Every function draws from plain series (numbers and labels), so the
//! analyses and the sweep can use them without this module knowing their
//! types.

use crate::stats::p_clause;
use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

pub(crate) const SANS: &str = "sans-serif";
pub(crate) const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub(crate) const ORANGE: RGBColor = RGBColor(255, 127, 14);
pub(crate) const GREEN_: RGBColor = RGBColor(44, 160, 44);

/// Registers DejaVu Sans for every family name plotters may ask for.
pub(crate) fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for family in [SANS, "serif", "monospace"] {
            // The embedded font is known-good; a failure here is a build defect.
            let _ =
                plotters::style::register_font(family, FontStyle::Normal, dejavu::sans::regular());
            let _ = plotters::style::register_font(family, FontStyle::Bold, dejavu::sans::bold());
            let _ =
                plotters::style::register_font(family, FontStyle::Italic, dejavu::sans::oblique());
            let _ =
                plotters::style::register_font(family, FontStyle::Oblique, dejavu::sans::oblique());
        }
    });
}

pub(crate) fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

pub(crate) fn canvas(
    path: &Path,
    size: (u32, u32),
) -> Result<DrawingArea<BitMapBackend<'_>, Shift>> {
    fonts();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    Ok(root)
}

/// The legend every figure uses: series labels in a white box with a
/// black border, at `position`, in `size`-pixel text.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font((SANS, size))
        .draw()
        .map_err(err)
}

/// Error bars `(at, lo, hi)` as a whisker with end caps (`cap_px` pixels
/// either side) and no centre marker (plotters' `ErrorBar` draws a circle
/// at the mean that hides the bar's end); vertical bars stand at x = `at`,
/// horizontal ones at y = `at`.
pub(crate) fn error_bars<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    bars: impl Iterator<Item = (f64, f64, f64)>,
    vertical: bool,
    style: ShapeStyle,
    cap_px: i32,
) -> Result<()> {
    let point = |at: f64, v: f64| if vertical { (at, v) } else { (v, at) };
    let cap = if vertical {
        vec![(-cap_px, 0), (cap_px, 0)]
    } else {
        vec![(0, -cap_px), (0, cap_px)]
    };
    for (at, lo, hi) in bars {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![point(at, lo), point(at, hi)],
                style,
            )))
            .map_err(err)?;
        chart
            .draw_series(
                [lo, hi]
                    .map(|v| EmptyElement::at(point(at, v)) + PathElement::new(cap.clone(), style)),
            )
            .map_err(err)?;
    }
    Ok(())
}

pub(crate) fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

/// A mean with its standard error (one bar of Figure 4).
#[derive(Clone, Copy, Debug)]
pub struct Bar {
    pub mean: f64,
    pub sem: f64,
}

/// Figure 4: hard vs easy bars with SEM error bars and the t-test p-value
/// `p`, beside the curve over percentile bins (`curve`: bin centre, value;
/// non-finite values are left out).
#[allow(clippy::too_many_arguments)]
pub fn hard_vs_easy(
    path: &Path,
    title: &str,
    ylabel: &str,
    [hard, easy]: [Bar; 2],
    p: f64,
    hard_label: &str,
    curve: &[(f64, f64)],
) -> Result<()> {
    let root = canvas(path, (1100, 460))?;
    let (left, right) = root.split_horizontally(420);
    let top = (hard.mean + hard.sem).max(easy.mean + easy.sem).max(1e-9) * 1.15;
    // Plain f64 coordinates (bar i centred on x = i): a segmented axis
    // leaves an empty third slot and hands the style function keys that do
    // not match `CenterOf`, which painted both bars blue.
    let mut bars = ChartBuilder::on(&left)
        .caption(format!("{title}: {} (t-test)", p_clause(p)), (SANS, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..1.5f64, 0f64..top)
        .map_err(err)?;
    let labels = [hard_label.to_string(), "easy (the rest)".to_string()];
    bars.configure_mesh()
        .disable_x_mesh()
        .y_desc(format!("{ylabel} (mean ± SEM over queries)"))
        .x_labels(2)
        .x_label_formatter(&|v| label_at(&labels, *v))
        .label_style((SANS, 14))
        .draw()
        .map_err(err)?;
    let data = [
        (0.0, hard.mean, hard.sem, ORANGE),
        (1.0, easy.mean, easy.sem, BLUE_),
    ];
    bars.draw_series(data.iter().map(|&(x, mean, _, color)| {
        Rectangle::new([(x - 0.3, 0.0), (x + 0.3, mean)], color.filled())
    }))
    .map_err(err)?;
    error_bars(
        &mut bars,
        data.iter()
            .map(|&(x, mean, sem, _)| (x, mean - sem, mean + sem)),
        true,
        BLACK.stroke_width(2),
        8,
    )?;
    let mut chart = difficulty_axes(
        &right,
        (&format!("{title} by difficulty"), 18),
        "difficulty percentile of the negative (0 = easiest, 100 = hardest)",
        (ylabel, 14),
        curve,
    )?;
    let pts: Vec<(f64, f64)> = curve.iter().copied().filter(|r| r.1.is_finite()).collect();
    chart
        .draw_series(LineSeries::new(pts.clone(), BLUE_.stroke_width(2)))
        .map_err(err)?;
    // Markers only where they stay readable (not on 1000 fine bins).
    if pts.len() <= 100 {
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, BLUE_.filled())))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Figure 5: histogram of all dot products (`histogram`: lo, hi, count;
/// bins below `threshold` in orange), and same-class rate and LCA depth over
/// fine percentile bins (bin centre, value; non-finite values left out).
pub fn anticorrelated(
    path: &Path,
    histogram: &[(f64, f64, u64)],
    threshold: f64,
    same_class: &[(f64, f64)],
    lca_depth: &[(f64, f64)],
) -> Result<()> {
    let root = canvas(path, (1400, 440))?;
    let panels = root.split_evenly((1, 3));
    let max_count = histogram.iter().map(|h| h.2).max().unwrap_or(1).max(1) as f64;
    let mut hist = ChartBuilder::on(&panels[0])
        .caption("dot products of all (query, negative) pairs", (SANS, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-1f64..1f64, 0f64..max_count * 1.05)
        .map_err(err)?;
    hist.configure_mesh()
        .x_desc("q · n")
        .y_desc("pairs")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((SANS, 13))
        .draw()
        .map_err(err)?;
    for (anti, color, label) in [
        (
            true,
            ORANGE,
            format!("anti-correlated (q · n < {threshold})"),
        ),
        (false, BLUE_, "the rest".to_string()),
    ] {
        hist.draw_series(
            histogram
                .iter()
                .filter(|h| (h.0 < threshold) == anti)
                .map(|&(lo, hi, c)| Rectangle::new([(lo, 0.0), (hi, c as f64)], color.filled())),
        )
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    legend(&mut hist, SeriesLabelPosition::UpperRight, 12)?;
    let finite = |pts: &[(f64, f64)]| -> Vec<(f64, f64)> {
        pts.iter().copied().filter(|p| p.1.is_finite()).collect()
    };
    difficulty_curve(
        &panels[1],
        "same-class rate by difficulty",
        "same-class rate",
        finite(same_class),
        ORANGE,
    )?;
    let lca = finite(lca_depth);
    if lca.is_empty() {
        panels[2]
            .draw(&Text::new(
                "no hierarchy: WordNet curve not available",
                (40, 200),
                (SANS, 16),
            ))
            .map_err(err)?;
    } else {
        difficulty_curve(
            &panels[2],
            "WordNet similarity by difficulty",
            "mean LCA depth",
            lca,
            GREEN_,
        )?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A chart over difficulty percentiles, 0 (easiest) to 100 (hardest), with
/// the y range of `values` (bin centre, value; non-finite values ignored):
/// captioned and labelled at the given text sizes, not yet drawn on.
fn difficulty_axes<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    (caption, caption_size): (&str, u32),
    x_desc: &str,
    (ylabel, label_size): (&str, u32),
    values: &[(f64, f64)],
) -> Result<Chart2d<'a, 'b>> {
    let (y0, y1) = range_of(values.iter().map(|v| v.1));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (SANS, caption_size))
        .margin(12)
        .margin_right(30)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(ylabel)
        .label_style((SANS, label_size))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// A chart on a bitmap with plain f64 axes.
pub(crate) type Chart2d<'a, 'b> = ChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One curve over difficulty percentiles (0–100) in `area` (Figure 5's
/// right panels).
fn difficulty_curve(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    caption: &str,
    ylabel: &str,
    values: Vec<(f64, f64)>,
    color: RGBColor,
) -> Result<()> {
    let mut c = difficulty_axes(
        area,
        (caption, 16),
        "difficulty percentile (0 = easiest)",
        (ylabel, 13),
        &values,
    )?;
    c.draw_series(LineSeries::new(values, color.stroke_width(2)))
        .map_err(err)?;
    Ok(())
}

/// Figure 6: pdf of per-negative hard frequency, real vs shuffled
/// (`pdf`: lo, hi, real density, shuffled density), with the KS test's `ks_p`.
pub fn consistency(
    path: &Path,
    pdf: &[(f64, f64, f64, f64)],
    ks_p: f64,
    hard_percent: f64,
) -> Result<()> {
    let root = canvas(path, (800, 480))?;
    let top = pdf.last().map_or(1.0, |p| p.1) * 100.0;
    let ymax = pdf
        .iter()
        .map(|p| p.2.max(p.3))
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1
        / 100.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "How consistently is a negative hard? (KS {})",
                p_clause(ks_p)
            ),
            (SANS, 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..top, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "% of queries for which the negative is in the hardest {hard_percent} %"
        ))
        .y_desc("density")
        .label_style((SANS, 14))
        .draw()
        .map_err(err)?;
    let series = |f: fn(&(f64, f64, f64, f64)) -> f64| -> Vec<(f64, f64)> {
        pdf.iter()
            .flat_map(|p| [(p.0 * 100.0, f(p) / 100.0), (p.1 * 100.0, f(p) / 100.0)])
            .collect()
    };
    chart
        .draw_series(LineSeries::new(series(|p| p.2), BLUE_.stroke_width(2)))
        .map_err(err)?
        .label("real")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE_.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(series(|p| p.3), ORANGE.stroke_width(2)))
        .map_err(err)?
        .label("shuffled baseline")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::MiddleRight, 14)?;
    root.present().map_err(err)?;
    Ok(())
}

pub(crate) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Table A3 as a figure: the most anti-correlated (`low`) and most
/// correlated (`high`) class pairs, each (query class, negative class, mean
/// dot), on a canvas sized for `k` rows.
pub fn class_pairs(
    path: &Path,
    low: &[(&str, &str, f64)],
    high: &[(&str, &str, f64)],
    k: usize,
) -> Result<()> {
    let root = canvas(path, (1300, 40 * k.max(3) as u32 + 120))?;
    let panels = root.split_evenly((1, 2));
    for (area, idx, caption, color) in [
        (&panels[0], low, "most anti-correlated class pairs", ORANGE),
        (&panels[1], high, "most correlated class pairs", BLUE_),
    ] {
        let names: Vec<String> = idx
            .iter()
            .map(|&(q, n, _)| format!("{} / {}", short(q, 18), short(n, 18)))
            .collect();
        let n = idx.len().max(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (SANS, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(300)
            .build_cartesian_2d(-1f64..1f64, -0.5f64..n - 0.5)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("mean dot product (query class / negative class)")
            .y_label_formatter(&|v| {
                let r = v.round();
                if (v - r).abs() < 1e-6 && r >= 0.0 {
                    names.get(r as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(idx.len().max(1))
            .label_style((SANS, 13))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(idx.iter().enumerate().map(|(r, &(_, _, v))| {
                let y = r as f64;
                Rectangle::new([(0.0, y - 0.35), (v, y + 0.35)], color.filled())
            }))
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

pub(crate) const PALETTE: [RGBColor; 6] = [
    BLUE_,
    ORANGE,
    GREEN_,
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The label of category `v` on an axis whose categories stand at
/// 0, 1, 2, …; blank between them (ticks may fall on half-integers).
pub(crate) fn label_at(labels: &[String], v: f64) -> String {
    let r = v.round();
    if (v - r).abs() < 1e-6 && r >= 0.0 {
        labels.get(r as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Training curves from `train_log.csv`: loss, and the negatives' telemetry
/// (queue dot products at per-query percentiles; each difficulty band's
/// same-class share and softmax mass — logs written before the bands were
/// recorded show the hardest 5 % against the rest instead).
pub fn training_curves(path: &Path, log: &crate::train::log::TrainLog) -> Result<()> {
    let series = |name: &str| log.series("step", name);
    let root = canvas(path, (1950, 820))?;
    let panels = root.split_evenly((2, 3));
    let panel = |area: &DrawingArea<BitMapBackend<'_>, Shift>,
                 caption: &str,
                 ylabel: &str,
                 names: &[(&str, &str)]|
     -> Result<()> {
        let all: Vec<Vec<(f64, f64)>> = names.iter().map(|(n, _)| series(n)).collect();
        let (x0, x1) = range_of(all.iter().flatten().map(|p| p.0));
        let (y0, y1) = range_of(all.iter().flatten().map(|p| p.1));
        let mut c = ChartBuilder::on(area)
            .caption(caption, (SANS, 16))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc("step")
            .y_desc(ylabel)
            // Few enough step ticks that their labels never touch.
            .x_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((SANS, 13))
            .draw()
            .map_err(err)?;
        for (i, (pts, (_, label))) in all.into_iter().zip(names).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            c.draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        if names.len() > 1 {
            legend(&mut c, SeriesLabelPosition::MiddleRight, 12)?;
        }
        Ok(())
    };
    panel(&panels[0], "training loss", "loss", &[("loss", "loss")])?;
    panel(
        &panels[1],
        "queue dot product at per-query percentiles",
        "q · n",
        &[("p50", "50th"), ("p95", "95th"), ("p999", "99.9th")],
    )?;
    let bands: Vec<String> = crate::train::moco::TELEMETRY_BANDS
        .iter()
        .map(|&b| crate::train::moco::band_name(b))
        .collect();
    let columns = |prefix: &str| -> Vec<(String, String)> {
        bands
            .iter()
            .map(|b| (format!("{prefix}{b}"), format!("{b} %")))
            .filter(|(c, _)| !series(c).is_empty())
            .collect()
    };
    fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }
    let same = columns("same_class_");
    if same.is_empty() {
        panel(
            &panels[3],
            "same-class rate of negatives",
            "rate",
            &[
                ("hard_same_class", "hardest 5 %"),
                ("easy_same_class", "the rest"),
            ],
        )?;
    } else {
        panel(
            &panels[3],
            "same-class share of each difficulty band",
            "share",
            &as_refs(&same),
        )?;
    }
    let mass = columns("mass_");
    if mass.is_empty() {
        panels[4]
            .draw(&Text::new(
                "softmax mass per band: not in this log (written before it was recorded)",
                (30, 200),
                (SANS, 15),
            ))
            .map_err(err)?;
    } else {
        panel(
            &panels[4],
            "each band's share of the negatives' softmax mass",
            "share of Σ e^(s/T)",
            &as_refs(&mass),
        )?;
    }
    // The queue's hygiene: the right column.
    let missing = |area: &DrawingArea<BitMapBackend<'_>, Shift>, what: &str| {
        area.draw(&Text::new(
            format!("{what}: not in this log (written before it was recorded)"),
            (30, 200),
            (SANS, 15),
        ))
        .map_err(err)
    };
    /// Log columns (name, legend) drawn into one panel.
    type Columns<'a> = &'a [(&'a str, &'a str)];
    let hygiene: [(usize, &str, (&str, &str), Columns); 2] = [
        (
            2,
            "own-image hits",
            ("keys of the query's own image in the queue", "per query"),
            &[("own_image_hits", "own-image hits")],
        ),
        (
            5,
            "key ages",
            ("age of the queue's keys", "steps since enqueued"),
            &[("key_age_mean", "mean"), ("key_age_max", "oldest")],
        ),
    ];
    for (at, what, (caption, ylabel), columns) in hygiene {
        if series(columns[0].0).is_empty() {
            missing(&panels[at], what)?;
        } else {
            panel(&panels[at], caption, ylabel, columns)?;
        }
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The embeddings' spectrum: singular values normalised to sum 1, largest
/// first, on a log scale (a collapsed embedding falls off a cliff), titled
/// with its RankMe.
pub fn spectrum(path: &Path, singular_values: &[f64], rankme: f64) -> Result<()> {
    let root = canvas(path, (800, 480))?;
    let total: f64 = singular_values.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let shares: Vec<(f64, f64)> = singular_values
        .iter()
        .enumerate()
        .map(|(i, s)| ((i + 1) as f64, (s / total).max(1e-12)))
        .collect();
    let lowest = shares.iter().map(|p| p.1).fold(1.0, f64::min);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Singular values of the embeddings (RankMe {rankme:.1})"),
            (SANS, 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(
            0.5f64..(shares.len().max(1) as f64 + 0.5),
            (lowest * 0.5..1.0f64).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("component (largest first)")
        .y_desc("share of the singular values' sum")
        .label_style((SANS, 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(shares, BLUE_.stroke_width(2)))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Hardness over training: left, per consecutive pair of checkpoints, the
/// mean Spearman ρ and the Jaccards of the hardest `hardest_percent` sets
/// (one per entry of each pair's vector); right, per checkpoint, the
/// hardest 5 %'s same-class share and softmax mass. x ticks name the
/// checkpoint (the pair's later one on the left).
pub fn dynamics(
    path: &Path,
    names: &[String],
    hardest_percent: &[f64],
    pairs: &[(f64, Vec<f64>)],
    per_checkpoint: &[(f64, f64)],
) -> Result<()> {
    let root = canvas(path, (1300, 480))?;
    let panels = root.split_evenly((1, 2));
    // x = i is checkpoint i (on the left, the pair that ends there).
    let label = |v: &f64| -> String {
        let i = v.round() as usize;
        if (v - v.round()).abs() < 1e-9 && v.round() >= 0.0 && i < names.len() {
            short(&names[i], 24)
        } else {
            String::new()
        }
    };
    let panel = |area: &DrawingArea<BitMapBackend<'_>, Shift>,
                 caption: &str,
                 ylabel: &str,
                 offset: usize,
                 series: Vec<(String, Vec<(f64, f64)>)>|
     -> Result<()> {
        let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
        let x1 = xs.fold(1.0f64, f64::max);
        let (y0, y1) = range_of(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let mut c = ChartBuilder::on(area)
            .caption(caption, (SANS, 16))
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(offset as f64 - 0.5..x1 + 0.5, y0.min(0.0)..y1.max(1.0))
            .map_err(err)?;
        c.configure_mesh()
            .x_desc("checkpoint")
            .y_desc(ylabel)
            .x_labels(names.len() + 1)
            .x_label_formatter(&|v| label(v))
            .label_style((SANS, 13))
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.into_iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            c.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
        legend(&mut c, SeriesLabelPosition::LowerRight, 12)
    };
    let at = |i: usize, v: f64| ((i + 1) as f64, v);
    let mut left = vec![(
        "Spearman ρ of difficulties".to_string(),
        pairs.iter().enumerate().map(|(i, p)| at(i, p.0)).collect(),
    )];
    for (h, p) in hardest_percent.iter().enumerate() {
        left.push((
            format!("Jaccard of the hardest {p} %"),
            pairs
                .iter()
                .enumerate()
                .map(|(i, q)| at(i, q.1[h]))
                .collect(),
        ));
    }
    panel(
        &panels[0],
        "consecutive checkpoints (mean over queries)",
        "ρ, Jaccard",
        1,
        left,
    )?;
    let right = vec![
        (
            "same-class share of the hardest 5 %".to_string(),
            per_checkpoint
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f64, c.0))
                .collect(),
        ),
        (
            "softmax mass of the hardest 5 %".to_string(),
            per_checkpoint
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f64, c.1))
                .collect(),
        ),
    ];
    panel(&panels[1], "each checkpoint", "share", 0, right)?;
    root.present().map_err(err)?;
    Ok(())
}
