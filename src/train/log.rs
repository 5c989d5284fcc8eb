//! `train_log.csv`, the one place that writes and reads it: a row every
//! `log_every` steps with the loss, the learning rate, the negatives'
//! telemetry ([`Telemetry`]) and the throughput. Floats are written with
//! full round-trip precision, so a resumed run's log can be compared with an
//! uninterrupted one byte for byte.

use super::moco::{band_name, Telemetry, TELEMETRY_BANDS};
use crate::atomic;
use anyhow::{Context, Result};
use std::path::Path;

/// The log's file name inside a run folder.
pub const FILE: &str = "train_log.csv";

/// One row of train_log.csv.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LogRow {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    pub lr: f64,
    #[serde(flatten)]
    pub negatives: Telemetry,
    pub images_per_sec: f64,
}

/// Writes the log: rows of epochs before `epoch` already in the file (rows
/// of `epoch` or later are leftovers of an interrupted attempt), then `rows`.
pub fn write(run_dir: &Path, epoch: usize, rows: &[LogRow]) -> Result<()> {
    let path = run_dir.join(FILE);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut out = format!("{}\n", columns().join(","));
    for line in old.lines().skip(1) {
        if line
            .split(',')
            .next()
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|e| e < epoch)
        {
            out.push_str(line);
            out.push('\n');
        }
    }
    rows.iter().for_each(|r| out.push_str(&line(r)));
    atomic::write_bytes(&path, atomic::Kind::OwnedFile, out.as_bytes())
}

/// The log's columns, in order: per telemetry band `same_class_<band>` and
/// `mass_<band>` (e.g. `mass_99.9-100`) after the whole-queue telemetry.
fn columns() -> Vec<String> {
    let head = [
        "epoch",
        "step",
        "loss",
        "lr",
        "p50",
        "p95",
        "p999",
        "hard_same_class",
        "easy_same_class",
        "used_per_query",
        "own_image_hits",
        "key_age_mean",
        "key_age_max",
    ];
    let bands = TELEMETRY_BANDS.iter().flat_map(|&b| {
        let name = band_name(b);
        [format!("same_class_{name}"), format!("mass_{name}")]
    });
    head.iter()
        .map(|c| c.to_string())
        .chain(bands)
        .chain(["images_per_sec".to_string()])
        .collect()
}

/// One CSV line; floats with full round-trip precision so resumed and
/// uninterrupted runs compare exactly, NaN (not measured) as an empty cell.
fn line(r: &LogRow) -> String {
    let t = &r.negatives;
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:?}")
        } else {
            String::new()
        }
    };
    let cells = [
        f(r.loss),
        f(r.lr),
        f(t.p50),
        f(t.p95),
        f(t.p999),
        f(t.hard_same_class),
        f(t.easy_same_class),
        f(t.used_per_query),
        f(t.own_image_hits),
        f(t.key_age_mean),
        f(t.key_age_max),
    ]
    .into_iter()
    .chain(
        t.bands
            .iter()
            .flat_map(|b| [f(b.same_class), f(b.softmax_mass)]),
    )
    .collect::<Vec<_>>();
    format!(
        "{},{},{},{:.1}\n",
        r.epoch,
        r.step,
        cells.join(","),
        r.images_per_sec
    )
}

/// A log read back: its columns by name, empty cells as NaN.
#[derive(Clone, Debug, Default)]
pub struct TrainLog {
    header: Vec<String>,
    rows: Vec<Vec<f64>>,
}

impl TrainLog {
    /// Parses the text of a log (columns found by header name).
    pub fn parse(text: &str) -> TrainLog {
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::to_string)
            .collect();
        let rows = lines
            .map(|l| {
                l.split(',')
                    .map(|v| v.parse().unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        TrainLog { header, rows }
    }

    /// Reads `train_log.csv` of a run folder.
    pub fn read(run_dir: &Path) -> Result<TrainLog> {
        let path = run_dir.join(FILE);
        let text = crate::input_file::read_to_string(&path)
            .with_context(|| format!("reading the training log {}", path.display()))?;
        Ok(TrainLog::parse(&text))
    }

    /// The rows, in order.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The values of column `name` (empty if there is no such column).
    pub fn column(&self, name: &str) -> Vec<f64> {
        let Some(c) = self.header.iter().position(|h| h == name) else {
            return Vec::new();
        };
        self.rows
            .iter()
            .map(|r| r.get(c).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// `(x, y)` points of two columns where both are finite.
    pub fn series(&self, x: &str, y: &str) -> Vec<(f64, f64)> {
        let (xs, ys) = (self.column(x), self.column(y));
        xs.into_iter()
            .zip(ys)
            .filter(|(a, b)| a.is_finite() && b.is_finite())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{columns, line, LogRow, TrainLog};
    use crate::train::moco::Telemetry;

    /// What `write` produces, `TrainLog` reads back by column name; an
    /// unmeasured telemetry value (NaN, an empty cell) is left out of a series.
    #[test]
    fn the_log_reads_back_what_it_writes() {
        let row = |step: usize, loss: f64| LogRow {
            epoch: 0,
            step,
            loss,
            lr: 0.5,
            negatives: Telemetry {
                p50: f64::NAN,
                ..Telemetry::default()
            },
            images_per_sec: 100.0,
        };
        let text = format!(
            "{}\n{}{}",
            columns().join(","),
            line(&row(0, 2.5)),
            line(&row(10, 1.25))
        );
        let log = TrainLog::parse(&text);
        assert_eq!(log.len(), 2);
        assert_eq!(log.series("step", "loss"), vec![(0.0, 2.5), (10.0, 1.25)]);
        assert_eq!(log.column("images_per_sec"), vec![100.0, 100.0]);
        assert!(log.series("step", "p50").is_empty());
        assert!(log.column("no such column").is_empty());
        assert_eq!(log.column("same_class_99.9-100"), vec![0.0, 0.0]);
        assert_eq!(log.column("mass_85-90"), vec![0.0, 0.0]);
    }
}
