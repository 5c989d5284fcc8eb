//! The sweep's figures: Figure 2 / Table A.1 as bars, Figure 2's band
//! panels, Figure 3's temperature curves. Drawn with the report's plotting
//! primitives from the aggregated groups.

use super::aggregate::{BandPanels, BandPoint, Group};
use super::recipe::{axis_label, TEMPERATURE_AXIS};
use crate::plot::{
    canvas, err, error_bars, label_at, legend, range_of, short, Chart2d, BLUE_, ORANGE, PALETTE,
    SANS,
};
use crate::stats::MeanStd;
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// Every condition's accuracy, linear-probe top-1 and kNN top-1 side by
/// side: a point at the mean with whiskers of ± std over seeds, the
/// baseline in orange, raw pixels (where the runs probed them) as a dashed
/// reference line. Points rather than bars, because the axis starts well
/// above 0 — where, is printed under each panel ("axis from …").
pub fn sweep_bars(path: &Path, title: &str, groups: &[Group]) -> Result<()> {
    let n = groups.len().max(1);
    // Two empty rows above the conditions hold the legend.
    let root = canvas(path, (1300, 90 + 34 * (n as u32 + 2) + 90))?;
    let root = root
        .titled(
            &format!("{title}: accuracy by condition (point: mean, whiskers: ± std over seeds)"),
            (SANS, 18),
        )
        .map_err(err)?;
    let labels: Vec<String> = groups
        .iter()
        .map(|g| {
            let axes: Vec<String> = g.axes.iter().map(|(k, v)| axis_label(k, v)).collect();
            short(format!("{} {}", g.condition, axes.join(" ")).trim(), 48)
        })
        .collect();
    let (left, right) = root.split_horizontally(330 + (1300 - 330) / 2);
    let top1 = Metric {
        name: "linear-probe top-1",
        value: |g| g.top1,
        pixels: |p| p.0,
    };
    let knn = Metric {
        name: "weighted kNN top-1",
        value: |g| g.knn,
        pixels: |p| p.1,
    };
    for (k, (area, m)) in [(&left, top1), (&right, knn)].into_iter().enumerate() {
        let (metric, value, pixel) = (m.name, m.value, m.pixels);
        let pixels: Vec<f64> = groups.iter().filter_map(|g| g.pixels.map(pixel)).collect();
        // One reference line when every row was probed on the same data;
        // rows on different data (a pilot across protocols) get their own.
        let (p_lo, p_hi) = pixels
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let shared = !pixels.is_empty() && p_hi - p_lo < 1e-9;
        let pixel_line = shared.then_some(p_lo);
        let (lo, hi) = range_of(
            groups
                .iter()
                .map(value)
                .flat_map(|v| {
                    let s = if v.std.is_finite() { v.std } else { 0.0 };
                    [v.mean - s, v.mean + s]
                })
                .chain(pixels.iter().copied()),
        );
        let (lo, hi) = ((lo.floor()).max(0.0), (hi.ceil()).min(100.0));
        let mut chart = ChartBuilder::on(area)
            .margin(14)
            .x_label_area_size(46)
            .y_label_area_size(if k == 0 { 320 } else { 10 })
            .build_cartesian_2d(lo..hi, -0.5f64..n as f64 + 1.5)
            .map_err(err)?;
        let empty = |_: &f64| String::new();
        let named = |v: &f64| label_at(&labels, *v);
        let mut mesh = chart.configure_mesh();
        mesh.disable_y_mesh()
            .x_desc(format!("{metric} (%), axis from {lo:.0} %"))
            .x_labels(((hi - lo) as usize + 1).min(11))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(n + 2)
            .label_style((SANS, 13));
        if k == 0 {
            mesh.y_label_formatter(&named);
        } else {
            mesh.y_label_formatter(&empty);
        }
        mesh.draw().map_err(err)?;
        let grey = RGBColor(90, 90, 90);
        let key = move |(x, y): (i32, i32)| {
            PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(2))
        };
        if let Some(p) = pixel_line {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(p, -0.5), (p, n as f64 - 0.5)],
                    6,
                    4,
                    grey.stroke_width(2),
                ))
                .map_err(err)?
                .label(format!("raw pixels ({p:.2} %)"))
                .legend(key);
        } else if !pixels.is_empty() {
            chart
                .draw_series(groups.iter().enumerate().filter_map(|(i, g)| {
                    let p = pixel(g.pixels?);
                    Some(PathElement::new(
                        vec![(p, i as f64 - 0.4), (p, i as f64 + 0.4)],
                        grey.stroke_width(3),
                    ))
                }))
                .map_err(err)?
                .label("raw pixels (each row's data)")
                .legend(key);
        }
        error_bars(
            &mut chart,
            std_whiskers(groups.iter().map(value)),
            false,
            BLACK.stroke_width(2),
            8,
        )?;
        // The baseline (no Welch test against itself, where others have
        // one) in orange, the rest blue; a sweep without a baseline is all blue.
        let has_baseline = groups.iter().any(|g| g.welch_top1.is_some());
        let is_base = |g: &Group| has_baseline && g.welch_top1.is_none();
        let kinds = [(true, ORANGE, "baseline"), (false, BLUE_, "condition")];
        for (is_baseline, colour, name) in kinds.into_iter().filter(|k| has_baseline || !k.0) {
            chart
                .draw_series(
                    groups
                        .iter()
                        .enumerate()
                        .filter(|(_, g)| is_base(g) == is_baseline)
                        .map(|(i, g)| Circle::new((value(g).mean, i as f64), 6, colour.filled())),
                )
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, 13)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// One accuracy a figure panel shows: its name, a group's value and the
/// raw pixels' value from a group's `(top-1, kNN)`.
struct Metric {
    name: &'static str,
    value: fn(&Group) -> MeanStd,
    pixels: fn((f64, f64)) -> f64,
}

/// `(i, mean − std, mean + std)` for the i-th (mean, std) of categories
/// standing at 0, 1, 2, …, skipping those without a std (one seed).
fn std_whiskers(mean_std: impl Iterator<Item = MeanStd>) -> impl Iterator<Item = (f64, f64, f64)> {
    mean_std
        .enumerate()
        .filter(|(_, v)| v.std.is_finite())
        .map(|(i, v)| (i as f64, v.mean - v.std, v.mean + v.std))
}

/// Figure 2: top-1 of "train on only a band" and "train on all except a
/// band" side by side, each point mean ± std over seeds, against the
/// baseline's mean (line) ± std (shaded). Points rather than bars, because
/// the axis does not start at 0 (the differences are a few points).
pub fn sweep_bands(path: &Path, title: &str, panels: &BandPanels) -> Result<()> {
    let parts: Vec<(&str, &[BandPoint])> = [
        ("Train on only", panels.only.as_slice()),
        ("Train on all except", panels.all_except.as_slice()),
    ]
    .into_iter()
    .filter(|p| !p.1.is_empty())
    .collect();
    let width = 160 + 90 * parts.iter().map(|p| p.1.len() as u32).sum::<u32>();
    let root = canvas(path, (width.max(640), 520))?;
    let root = root
        .titled(
            &format!("{title}: linear-probe top-1 by band (mean ± std over seeds)"),
            (SANS, 18),
        )
        .map_err(err)?;
    let MeanStd { mean: b, std: bs } = panels.baseline;
    let bs = if bs.is_finite() { bs } else { 0.0 };
    let (y0, y1) = range_of(
        parts
            .iter()
            .flat_map(|p| p.1.iter())
            .flat_map(|p| {
                let s = if p.top1.std.is_finite() {
                    p.top1.std
                } else {
                    0.0
                };
                [p.top1.mean - s, p.top1.mean + s]
            })
            .chain([b - bs, b + bs]),
    );
    // Panel widths follow their number of bands, plus room for the axes.
    let weight = |n: usize| n as f64 + 2.0;
    let mut rest = root.clone();
    for (k, (name, points)) in parts.iter().enumerate() {
        let area = if k + 1 < parts.len() {
            let total: f64 = parts[k..].iter().map(|p| weight(p.1.len())).sum();
            let w = rest.dim_in_pixel().0 as f64 * weight(points.len()) / total;
            let (left, right) = rest.split_horizontally(w as u32);
            rest = right;
            left
        } else {
            rest.clone()
        };
        band_panel(&area, k == 0, name, points, (y0, y1), (b, bs))?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// One panel of Figure 2: each band's top-1 (mean ± std) against the
/// baseline's mean `b` ± `bs`, on the shared y range; the `first` panel
/// carries the y axis title and the legend.
fn band_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    first: bool,
    name: &str,
    points: &[BandPoint],
    (y0, y1): (f64, f64),
    (b, bs): (f64, f64),
) -> Result<()> {
    let n = points.len();
    let labels: Vec<String> = points
        .iter()
        .map(|p| format!("{}–{}", p.band.lo(), p.band.hi()))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(name, (SANS, 16))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(if first { 60 } else { 40 })
        .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|v| label_at(&labels, *v))
        .x_desc("band (% of negatives, 100 = hardest)")
        .y_desc(if first { "top-1 accuracy (%)" } else { "" })
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style((SANS, 13))
        .draw()
        .map_err(err)?;
    let right = n as f64 - 0.5;
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(-0.5, b - bs), (right, b + bs)],
            ORANGE.mix(0.18).filled(),
        )))
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            vec![(-0.5, b), (right, b)],
            ORANGE.stroke_width(2),
        ))
        .map_err(err)?
        .label("baseline (± std)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], ORANGE.stroke_width(2)));
    error_bars(
        &mut chart,
        std_whiskers(points.iter().map(|p| p.top1)),
        true,
        BLUE_.stroke_width(2),
        8,
    )?;
    chart
        .draw_series(
            points
                .iter()
                .enumerate()
                .map(|(i, p)| Circle::new((i as f64, p.top1.mean), 5, BLUE_.filled())),
        )
        .map_err(err)?;
    if first {
        legend(&mut chart, SeriesLabelPosition::LowerLeft, 13)?;
    }
    Ok(())
}

/// One point of Figure 3: temperature, Δ top-1 and Welch's 95 % interval
/// of Δ (none with a single seed).
#[derive(Clone, Copy)]
struct DeltaPoint {
    at: f64,
    delta: f64,
    ci: Option<(f64, f64)>,
}

fn delta_point(g: &Group) -> Option<DeltaPoint> {
    Some(DeltaPoint {
        at: temperature_of(g)?,
        delta: g.delta_top1,
        ci: g.ci_top1.map(|i| (i.low, i.high)),
    })
}

/// Figure 3: change in top-1 against the baseline as a function of
/// temperature, each point with Welch's 95 % interval of the difference
/// (which carries the baseline's seed spread as well as the condition's).
pub fn sweep_temperature(path: &Path, groups: &[Group]) -> Result<()> {
    let root = canvas(path, (900, 520))?;
    let pts: Vec<_> = groups
        .iter()
        .filter(|g| g.welch_top1.is_some())
        .filter_map(delta_point)
        .collect();
    let (x0, x1) = range_of(pts.iter().map(|p| p.at));
    let (y0, y1) = range_of(pts.iter().flat_map(|p| {
        let (lo, hi) = p.ci.unwrap_or((p.delta, p.delta));
        [lo, hi, 0.0]
    }));
    // Headroom above the data for the legend, which would otherwise cover
    // the lowest temperature's points.
    let y1 = y1 + (y1 - y0) * 0.35;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Change in top-1 against the baseline, by temperature (whiskers: Welch 95 % CI of Δ)",
            (SANS, 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("temperature T")
        .y_desc("Δ top-1 (percentage points)")
        // A tick at −0.000… would print as "-0.0".
        .y_label_formatter(&|v| format!("{:.1}", if v.abs() < 1e-9 { 0.0 } else { *v }))
        .label_style((SANS, 14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            vec![(x0, 0.0), (x1, 0.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(err)?;
    let mut conditions: Vec<&str> = groups
        .iter()
        .filter(|g| g.welch_top1.is_some())
        .map(|g| g.condition.as_str())
        .collect();
    conditions.dedup();
    // Conditions share their temperatures, so each is shifted sideways a
    // little (a "dodge") to keep the error bars from lying on top of each
    // other; the axis still reads the temperature at the group's centre.
    let dodge = (x1 - x0) * 0.012;
    let centre = (conditions.len() as f64 - 1.0) / 2.0;
    for (ci, cond) in conditions.iter().enumerate() {
        let color = PALETTE[ci % PALETTE.len()];
        let shift = (ci as f64 - centre) * dodge;
        let line: Vec<_> = groups
            .iter()
            .filter(|g| g.condition == *cond)
            .filter_map(delta_point)
            .map(|p| DeltaPoint {
                at: p.at + shift,
                ..p
            })
            .collect();
        condition_line(&mut chart, cond, line, color)?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 13)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A group's temperature (its temperature axis value), if it has one.
fn temperature_of(g: &Group) -> Option<f64> {
    g.axes
        .iter()
        .find(|a| a.0 == TEMPERATURE_AXIS)
        .and_then(|a| a.1.parse::<f64>().ok())
}

/// One condition of Figure 3: its (temperature, Δ top-1, interval) points
/// as a line with error bars and markers, in `color`, labelled for the legend.
fn condition_line(
    chart: &mut Chart2d,
    cond: &str,
    mut line: Vec<DeltaPoint>,
    color: RGBColor,
) -> Result<()> {
    line.sort_by(|a, b| a.at.total_cmp(&b.at));
    chart
        .draw_series(LineSeries::new(
            line.iter().map(|p| (p.at, p.delta)),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(cond.to_string())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    error_bars(
        chart,
        line.iter()
            .filter_map(|p| p.ci.map(|(lo, hi)| (p.at, lo, hi))),
        true,
        color.stroke_width(1),
        4,
    )?;
    chart
        .draw_series(
            line.iter()
                .map(|p| Circle::new((p.at, p.delta), 4, color.filled())),
        )
        .map_err(err)?;
    Ok(())
}
