//! Embedding health: the numbers representation-learning papers and
//! monitors report beside accuracy, over the negatives input (the
//! gallery, every row compared with every other):
//!
//! * **uniformity** (Wang & Isola 2020, t = 2): log of the mean over
//!   distinct pairs of e^{−2‖x̂−ŷ‖²}, x̂ the L2-normalised rows — lower is
//!   more uniform on the sphere (about −4 for points spread uniformly on
//!   a high-dimensional sphere, where ‖x̂−ŷ‖² concentrates at 2);
//! * **alignment** (α = 2): the mean ‖x̂−ŷ‖² over *same-class* pairs
//!   (a dump holds one view per image, so the positive pairs of the
//!   original definition are not there; the field `alignment_pairs` says so);
//! * **RankMe** (Garrido et al. 2023): e^{entropy} of the singular values
//!   of the embedding matrix as the analysis sees it (unit rows, which
//!   `analyze` requires or `--normalize` makes), p_k = σ_k/Σσ + 1e-7 — the
//!   effective rank, 1 to d;
//! * **kNN top-1** at the monitors' settings (k = 200, T = 0.1, as every
//!   evaluation here): leave-one-out, each row voting with its 200 most
//!   similar other rows.
//!
//! It reads the embeddings, not the ranked negatives: it folds nothing in
//! the similarity pass and computes everything when it finishes, in row
//! blocks of the Gram matrix bounded by `--memory-budget`.

use super::plugin::{Analysis, Finding, Setup};
use super::ranking::RankedQuery;
use super::{Params, Side};
use crate::gemm::{gemm, View};
use crate::pipeline::evaluate::KNN;
use crate::table::Table;
use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct HealthAnalysis;

/// RankMe's ε (Garrido et al. 2023).
pub const RANKME_EPSILON: f64 = 1e-7;

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// Rows and dimension of the embeddings measured.
    pub embeddings: usize,
    pub dim: usize,
    pub uniformity: f64,
    /// NaN (null) without labels or same-class pairs.
    pub alignment: f64,
    /// What `alignment` averages over.
    pub alignment_pairs: &'static str,
    pub rankme: f64,
    /// Leave-one-out weighted kNN top-1 (fraction); NaN without labels.
    pub knn_top1: f64,
    pub knn_k: usize,
    pub knn_temperature: f64,
    /// Singular values, largest first (the figure and `spectrum.csv`).
    #[serde(skip)]
    pub singular_values: Vec<f64>,
}

impl Analysis for HealthAnalysis {
    type Acc = ();
    type Output = Health;

    fn name(&self) -> &'static str {
        "health"
    }
    fn about(&self) -> &'static str {
        "Embedding health: uniformity, same-class alignment, RankMe, leave-one-out kNN (k 200, T 0.1)"
    }
    fn start(&self, _: Setup) {}
    fn fold(&self, _: &mut (), _: &RankedQuery, _: Setup) {}
    fn merge(&self, _: &mut (), _: ()) {}
    fn finish(&self, _: (), s: Setup) -> Health {
        health(&s.input.negatives, s.params.memory_budget)
    }
}

/// The rows of `z` scaled to unit length (zero rows stay zero).
fn unit_rows(z: &[f32], d: usize) -> Vec<f32> {
    z.chunks(d)
        .flat_map(|r| {
            let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            r.iter().map(move |v| v * scale)
        })
        .collect()
}

/// Totals over pairs of one block of rows.
#[derive(Default)]
struct PairTotals {
    /// Σ e^{−2‖x̂−ŷ‖²} over pairs i < j.
    kernel: f64,
    pairs: u64,
    /// Σ ‖x̂−ŷ‖² over same-class pairs i < j.
    same_distance: f64,
    same_pairs: u64,
    /// Rows whose kNN vote found their class.
    knn_correct: u64,
}

impl PairTotals {
    fn add(mut self, o: PairTotals) -> PairTotals {
        self.kernel += o.kernel;
        self.pairs += o.pairs;
        self.same_distance += o.same_distance;
        self.same_pairs += o.same_pairs;
        self.knn_correct += o.knn_correct;
        self
    }
}

/// Every measure of [`Health`] for one side of the input.
pub fn health(side: &Side, memory_budget: usize) -> Health {
    let (n, d) = (side.z.rows(), side.z.cols());
    let unit = unit_rows(side.z.data(), d);
    let labelled = side.label.iter().all(|&l| l >= 0) && n > 1;
    let classes = side.label.iter().copied().max().unwrap_or(-1).max(-1) + 1;
    // Row blocks of the Gram matrix: as many rows as the budget holds.
    let block = (memory_budget / (4 * n.max(1))).clamp(1, n.max(1));
    let mut totals = PairTotals::default();
    let mut gram = vec![0f32; block * n];
    for start in (0..n).step_by(block) {
        let rows = block.min(n - start);
        let g = &mut gram[..rows * n];
        gemm(
            1.0,
            View::row_major(&unit[start * d..(start + rows) * d], rows, d),
            View::transpose_of(&unit, n, d),
            0.0,
            g,
        );
        let part = g
            .par_chunks(n)
            .enumerate()
            .map(|(r, sims)| {
                let i = start + r;
                let mut t = PairTotals::default();
                for (j, &s) in sims.iter().enumerate().skip(i + 1) {
                    let distance = (2.0 - 2.0 * s as f64).max(0.0);
                    t.kernel += (-2.0 * distance).exp();
                    t.pairs += 1;
                    if labelled && side.label[i] == side.label[j] {
                        t.same_distance += distance;
                        t.same_pairs += 1;
                    }
                }
                if labelled {
                    let mut others: Vec<(f32, usize)> = sims
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(j, &s)| (s, j))
                        .collect();
                    let vote = crate::train::eval::knn_vote(
                        &mut others,
                        &side.label,
                        classes as usize,
                        KNN.k,
                        KNN.temperature,
                    );
                    t.knn_correct += u64::from(vote as i64 == side.label[i]);
                }
                t
            })
            .reduce(PairTotals::default, PairTotals::add);
        totals = totals.add(part);
    }
    let singular_values = singular_values(side.z.data(), d);
    let ratio = |num: f64, den: u64| {
        if den == 0 {
            f64::NAN
        } else {
            num / den as f64
        }
    };
    Health {
        embeddings: n,
        dim: d,
        uniformity: ratio(totals.kernel, totals.pairs).ln(),
        alignment: ratio(totals.same_distance, totals.same_pairs),
        alignment_pairs: "same_class",
        rankme: rankme(&singular_values),
        knn_top1: if labelled {
            totals.knn_correct as f64 / n as f64
        } else {
            f64::NAN
        },
        knn_k: KNN.k,
        knn_temperature: KNN.temperature,
        singular_values,
    }
}

/// How many partial Gram matrices are summed at once: each holds k² f64,
/// so their number is capped rather than one per rayon worker.
const GRAM_PARTS: usize = 4;

/// Singular values of the row-major n×d matrix `z`, largest first: square
/// roots of the eigenvalues of its Gram matrix on the smaller side, zᵀz
/// (d×d) when n ≥ d and z·zᵀ (n×n) otherwise — both hold the nonzero
/// squared singular values — accumulated in f64. With k = min(n, d),
/// k² ≤ n·d: each f64 Gram is at most twice the f32 input's bytes.
pub fn singular_values(z: &[f32], d: usize) -> Vec<f64> {
    let n = z.len().checked_div(d).unwrap_or(0);
    let k = n.min(d);
    let gram = if n >= d {
        gram_of_columns(z, n, d)
    } else {
        gram_of_rows(z, n, d)
    };
    let symmetric = nalgebra::DMatrix::from_fn(k, k, |a, b| gram[a.min(b) * k + a.max(b)]);
    let mut values: Vec<f64> = symmetric
        .symmetric_eigenvalues()
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .collect();
    values.sort_by(|a, b| b.total_cmp(a));
    values
}

/// zᵀz's upper triangle (d×d, row-major), summed over at most
/// [`GRAM_PARTS`] ranges of rows in parallel.
fn gram_of_columns(z: &[f32], n: usize, d: usize) -> Vec<f64> {
    let rows_per_part = n.div_ceil(GRAM_PARTS).max(1);
    let parts: Vec<Vec<f64>> = z
        .par_chunks(rows_per_part * d)
        .map(|rows| {
            let mut acc = vec![0f64; d * d];
            for row in rows.chunks(d) {
                for (a, &x) in row.iter().enumerate() {
                    let x = x as f64;
                    for (b, &y) in row.iter().enumerate().skip(a) {
                        acc[a * d + b] += x * y as f64;
                    }
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0f64; d * d];
    for part in parts {
        total.iter_mut().zip(&part).for_each(|(t, p)| *t += p);
    }
    total
}

/// z·zᵀ's upper triangle (n×n, row-major): each row's dot products with
/// the rows after it, in f64.
fn gram_of_rows(z: &[f32], n: usize, d: usize) -> Vec<f64> {
    let mut gram = vec![0f64; n * n];
    gram.par_chunks_mut(n).enumerate().for_each(|(i, out)| {
        let a = &z[i * d..(i + 1) * d];
        for (j, cell) in out.iter_mut().enumerate().skip(i) {
            let b = &z[j * d..(j + 1) * d];
            *cell = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
        }
    });
    gram
}

/// RankMe from singular values: exp(−Σ p_k ln p_k), p_k = σ_k/Σσ + ε.
pub fn rankme(singular_values: &[f64]) -> f64 {
    let total: f64 = singular_values.iter().sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let entropy: f64 = singular_values
        .iter()
        .map(|s| {
            let p = s / total + RANKME_EPSILON;
            -p * p.ln()
        })
        .sum();
    entropy.exp()
}

impl Finding for Health {
    fn tables(&self) -> Vec<Table> {
        let total: f64 = self.singular_values.iter().sum();
        vec![Table::new("spectrum")
            .int(
                "component",
                (1..=self.singular_values.len() as i64).collect(),
            )
            .float("singular_value", self.singular_values.clone())
            .float(
                "share",
                self.singular_values.iter().map(|s| s / total).collect(),
            )]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(self)?)
    }
    fn figure(&self, dir: &Path, _: &Params) -> Result<()> {
        crate::plot::spectrum(
            &dir.join("spectrum.png"),
            &self.singular_values,
            self.rankme,
        )
    }
    fn index(&self, _: &Params, _: &[Table]) -> Result<String> {
        let mut idx = String::new();
        writeln!(idx, "## Embedding health\n")?;
        writeln!(
            idx,
            "![singular values of the embeddings, normalised to sum 1](spectrum.png)\n"
        )?;
        writeln!(
            idx,
            "Over the {} negatives ({}-d): uniformity {:.4} (log mean e^(−2‖x−y‖²) over distinct pairs \
             of unit rows; lower is more uniform, about −4 for a uniform high-dimensional sphere), same-class alignment {:.4} (mean ‖x−y‖² \
             over same-class pairs; a dump has no second view, so these stand in for positive pairs), \
             RankMe {:.2} of {} (effective rank of the singular values), leave-one-out kNN top-1 {:.2} % \
             (k = {}, T = {}).\n",
            self.embeddings,
            self.dim,
            self.uniformity,
            self.alignment,
            self.rankme,
            self.dim,
            100.0 * self.knn_top1,
            self.knn_k,
            self.knn_temperature,
        )?;
        writeln!(
            idx,
            "- `spectrum.csv` — singular values, largest first, and their shares.\n"
        )?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
