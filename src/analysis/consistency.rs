//! Figure 6: is hardness a property of the negative? For each negative, the
//! fraction of queries for which it is among the hardest, against a
//! baseline where each query's ranks are randomly permuted.

use super::pass::PassResult;
use crate::stats::{ks_2samp, std, KsTest};
use crate::table::Table;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Population std of the real per-negative hard frequencies.
    pub real_std: f64,
    pub shuffled_std: f64,
    /// Real vs shuffled frequencies.
    pub ks: KsTest,
    /// Largest real frequency, and the negative (row in the negatives input) with it.
    pub max_frequency: f64,
    pub max_negative: usize,
}

#[derive(Clone, Debug)]
pub struct Consistency {
    pub frequency: Vec<f64>,
    pub shuffled: Vec<f64>,
    /// (lo, hi, real density, shuffled density) over [0, max frequency].
    pub pdf: Vec<(f64, f64, f64, f64)>,
    pub summary: Summary,
}

/// Densities of `values` over `bins` equal bins of [0, top] (integral 1).
fn density(values: &[f64], bins: usize, top: f64) -> Vec<f64> {
    let width = top / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values {
        let b = ((v / width) as usize).min(bins - 1);
        counts[b] += 1;
    }
    counts
        .iter()
        .map(|&c| c as f64 / (values.len() as f64 * width))
        .collect()
}

pub fn analyze(pass: &PassResult, bins: usize) -> Consistency {
    let freq = |counts: &[u32]| -> Vec<f64> {
        counts
            .iter()
            .zip(&pass.candidate_count)
            .map(|(&h, &c)| {
                if c == 0 {
                    f64::NAN
                } else {
                    h as f64 / c as f64
                }
            })
            .collect()
    };
    let frequency = freq(&pass.hard_count);
    let shuffled = freq(&pass.shuffled_hard_count);
    let real: Vec<f64> = frequency
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let shuf: Vec<f64> = shuffled.iter().copied().filter(|v| v.is_finite()).collect();
    let top = real
        .iter()
        .chain(&shuf)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-12);
    let (dr, ds) = (density(&real, bins, top), density(&shuf, bins, top));
    let width = top / bins as f64;
    let pdf = (0..bins)
        .map(|b| (b as f64 * width, (b + 1) as f64 * width, dr[b], ds[b]))
        .collect();
    let (max_negative, max_frequency) = frequency
        .iter()
        .copied()
        .enumerate()
        .filter(|x| x.1.is_finite())
        .fold((0, f64::NEG_INFINITY), |a, x| if x.1 > a.1 { x } else { a });
    let summary = Summary {
        real_std: std(&real, 0),
        shuffled_std: std(&shuf, 0),
        ks: ks_2samp(&real, &shuf),
        max_frequency,
        max_negative,
    };
    Consistency {
        frequency,
        shuffled,
        pdf,
        summary,
    }
}

impl Consistency {
    pub fn tables(&self) -> Vec<Table> {
        vec![
            Table::new("hard_frequency")
                .int("negative", (0..self.frequency.len() as i64).collect())
                .float("hard_frequency", self.frequency.clone()),
            Table::new("consistency_pdf")
                .float("lo", self.pdf.iter().map(|p| p.0).collect())
                .float("hi", self.pdf.iter().map(|p| p.1).collect())
                .float("real_density", self.pdf.iter().map(|p| p.2).collect())
                .float("shuffled_density", self.pdf.iter().map(|p| p.3).collect()),
        ]
    }
}
