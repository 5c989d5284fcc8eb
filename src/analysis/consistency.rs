//! Figure 6: is hardness a property of the negative? For each negative, the
//! fraction of queries for which it is among the hardest, against a
//! baseline where each query's ranks are randomly permuted.

use super::plugin::{Analysis, Finding, Setup};
use super::ranking::{add_into, RankedQuery};
use super::Params;
use crate::rng::{self, Purpose};
use crate::stats::{ks_2samp, p_clause, std, KsMethod, KsTest};
use crate::table::Table;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct ConsistencyAnalysis;

/// Per negative: queries it was compared with, for how many it was hard,
/// and the same under the shuffled baseline.
#[derive(Debug, PartialEq)]
pub struct Totals {
    pub candidates: Vec<u32>,
    pub hard: Vec<u32>,
    pub shuffled_hard: Vec<u32>,
}

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

/// One bin of the densities of hard frequency.
#[derive(Clone, Copy, Debug)]
pub struct PdfRow {
    pub lo: f64,
    pub hi: f64,
    pub real: f64,
    pub shuffled: f64,
}

#[derive(Clone, Debug)]
pub struct Consistency {
    pub frequency: Vec<f64>,
    pub shuffled: Vec<f64>,
    /// Over [0, max frequency].
    pub pdf: Vec<PdfRow>,
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

impl Analysis for ConsistencyAnalysis {
    type Acc = Totals;
    type Output = Consistency;

    fn name(&self) -> &'static str {
        "consistency"
    }
    fn about(&self) -> &'static str {
        "Fig. 6: per-negative hard frequency vs a shuffled baseline, KS test"
    }
    fn start(&self, s: Setup) -> Totals {
        let m = s.input.negatives.z.rows();
        Totals {
            candidates: vec![0; m],
            hard: vec![0; m],
            shuffled_hard: vec![0; m],
        }
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, s: Setup) {
        for p in query.pairs {
            let j = p.negative as usize;
            acc.candidates[j] += 1;
            acc.hard[j] += u32::from(p.hard);
        }
        // Shuffled baseline: a uniformly random permutation of this query's
        // ranks makes its hard set a uniformly random subset of the same
        // size, drawn from the query's own stream. `pick` indexes the
        // candidates in index order, which skip the excluded negative.
        let mut rng = rng::stream(
            s.params.seed,
            Purpose::ShuffledBaseline,
            query.query_row as u64,
        );
        let n = query.pairs.len();
        for pick in rand::seq::index::sample(&mut rng, n, query.hard_count) {
            let j = match query.excluded {
                Some(e) if pick >= e as usize => pick + 1,
                _ => pick,
            };
            acc.shuffled_hard[j] += 1;
        }
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        add_into(&mut acc.candidates, &later.candidates);
        add_into(&mut acc.hard, &later.hard);
        add_into(&mut acc.shuffled_hard, &later.shuffled_hard);
    }
    fn finish(&self, acc: Totals, s: Setup) -> Consistency {
        analyze(&acc, s.params.consistency_bins)
    }
}

/// Frequencies, densities and the KS test from the totals.
fn analyze(acc: &Totals, bins: usize) -> Consistency {
    let freq = |counts: &[u32]| -> Vec<f64> {
        counts
            .iter()
            .zip(&acc.candidates)
            .map(|(&h, &c)| {
                if c == 0 {
                    f64::NAN
                } else {
                    h as f64 / c as f64
                }
            })
            .collect()
    };
    let frequency = freq(&acc.hard);
    let shuffled = freq(&acc.shuffled_hard);
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
        .map(|b| PdfRow {
            lo: b as f64 * width,
            hi: (b + 1) as f64 * width,
            real: dr[b],
            shuffled: ds[b],
        })
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

impl Finding for Consistency {
    fn tables(&self) -> Vec<Table> {
        let col = |f: fn(&PdfRow) -> f64| self.pdf.iter().map(f).collect();
        vec![
            Table::new("hard_frequency")
                .int("negative", (0..self.frequency.len() as i64).collect())
                .float("hard_frequency", self.frequency.clone()),
            Table::new("consistency_pdf")
                .float("lo", col(|p| p.lo))
                .float("hi", col(|p| p.hi))
                .float("real_density", col(|p| p.real))
                .float("shuffled_density", col(|p| p.shuffled)),
        ]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(&self.summary)?)
    }
    fn figure(&self, dir: &Path, params: &Params) -> Result<()> {
        let pdf: Vec<(f64, f64, f64, f64)> = self
            .pdf
            .iter()
            .map(|p| (p.lo, p.hi, p.real, p.shuffled))
            .collect();
        crate::plot::consistency(
            &dir.join("consistency.png"),
            &pdf,
            self.summary.ks.p,
            params.hard_percent,
        )
    }
    fn index(&self, params: &Params, _: &[Table]) -> Result<String> {
        let hp = params.hard_percent;
        let s = &self.summary;
        let mut idx = String::new();
        writeln!(idx, "## Hardness consistency (paper Fig. 6)\n")?;
        writeln!(
            idx,
            "![pdf of per-negative hard frequency, real vs shuffled](consistency.png)\n"
        )?;
        writeln!(
            idx,
            "Per negative, the fraction of queries for which it is in the hardest {hp} %: std {:.4} (real) vs {:.4} \
             (shuffled ranks); two-sample KS D = {:.4}, {} ({}). The most consistently hard negative \
             (row {} of the negatives) is hard for {:.1} % of queries.\n",
            s.real_std,
            s.shuffled_std,
            s.ks.statistic,
            p_clause(s.ks.p),
            match s.ks.method {
                KsMethod::Exact => "exact",
                KsMethod::Asymptotic => "asymptotic",
            },
            s.max_negative,
            100.0 * s.max_frequency
        )?;
        writeln!(
            idx,
            "- `hard_frequency.csv` — each negative's hard frequency."
        )?;
        writeln!(
            idx,
            "- `consistency_pdf.csv` — densities, real and shuffled.\n"
        )?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
