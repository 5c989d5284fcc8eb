//! Hardness over training: the same queries and negatives embedded by a
//! series of checkpoints (negstudy's kept checkpoints, or any pipeline's —
//! solo-learn saves one every few epochs), compared checkpoint to
//! checkpoint. Per query and consecutive pair: the Spearman correlation of
//! its negatives' difficulties (q·n) and the overlap (Jaccard) of its
//! hardest 1 % and 5 %; per checkpoint: the same-class share of the
//! hardest 5 % and each telemetry band's share of the softmax mass — the
//! numbers `train_log.csv` records for the queue, here for a fixed set.
//!
//! It compares passes rather than folding one, so it stands beside the
//! single-pass registry (`negstudy analyze dynamics --series …`) and
//! writes the same kind of bundle.

use super::AnalysisInput;
use crate::difficulty::{ranks, Band};
use crate::gemm::{gemm, View};
use crate::table::Table;
use crate::train::moco::{band_name, TELEMETRY_BANDS};
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde::Serialize;

/// The hardest sets whose overlap is followed, in percent of the negatives.
pub const HARDEST: [f64; 2] = [1.0, 5.0];

/// Average ranks (1-based; ties share the mean of their positions), as
/// scipy's `rankdata` — what Spearman's correlation correlates.
pub fn average_ranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        order[start..end].iter().for_each(|&i| out[i] = rank);
        start = end;
    }
    out
}

/// Spearman's ρ: Pearson's correlation of the average ranks (scipy's
/// `spearmanr`); NaN when either side is constant.
pub fn spearman(a: &[f32], b: &[f32]) -> f64 {
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    cov / (va * vb).sqrt()
}

/// |A ∩ B| / |A ∪ B| of two index sets given as membership flags.
pub fn jaccard(a: &[bool], b: &[bool]) -> f64 {
    let both = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let either = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    if either == 0 {
        f64::NAN
    } else {
        both as f64 / either as f64
    }
}

/// One checkpoint's scores: queries × negatives dot products, row-major,
/// and each query's difficulty ranks of its negatives (0 = easiest),
/// ranked once here for every comparison and composition that reads them.
pub struct Scores {
    pub queries: usize,
    pub negatives: usize,
    pub dots: Vec<f32>,
    pub ranks: Vec<u32>,
}

impl Scores {
    pub fn of(input: &AnalysisInput) -> Scores {
        let (q, n) = (&input.queries.z, &input.negatives.z);
        let mut dots = vec![0f32; q.rows() * n.rows()];
        gemm(
            1.0,
            View::row_major(q.data(), q.rows(), q.cols()),
            View::transpose_of(n.data(), n.rows(), n.cols()),
            0.0,
            &mut dots,
        );
        let ranks = dots
            .par_chunks(n.rows().max(1))
            .flat_map_iter(ranks)
            .collect();
        Scores {
            queries: q.rows(),
            negatives: n.rows(),
            dots,
            ranks,
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.dots[i * self.negatives..(i + 1) * self.negatives]
    }

    fn ranks_of(&self, i: usize) -> &[u32] {
        &self.ranks[i * self.negatives..(i + 1) * self.negatives]
    }

    /// Per query, which negatives are in its hardest `percent` %
    /// (the trainer's band, ties broken as everywhere by index).
    fn hardest(&self, i: usize, percent: f64) -> Result<Vec<bool>> {
        let band = Band::new(100.0 - percent, 100.0).map_err(anyhow::Error::msg)?;
        let range = band.rank_range(self.negatives);
        Ok(self
            .ranks_of(i)
            .iter()
            .map(|&r| range.contains(&(r as usize)))
            .collect())
    }
}

/// One query's change between two checkpoints.
#[derive(Clone, Debug, Serialize)]
pub struct QueryChange {
    pub spearman: f64,
    /// Jaccard of the hardest sets, one per [`HARDEST`].
    pub jaccard: Vec<f64>,
}

/// Per query, how its negatives' difficulties moved from `a` to `b`.
pub fn changes(a: &Scores, b: &Scores) -> Result<Vec<QueryChange>> {
    if (a.queries, a.negatives) != (b.queries, b.negatives) {
        bail!("checkpoints compare different numbers of queries or negatives");
    }
    (0..a.queries)
        .into_par_iter()
        .map(|i| {
            let jaccard = HARDEST
                .iter()
                .map(|&p| Ok(jaccard(&a.hardest(i, p)?, &b.hardest(i, p)?)))
                .collect::<Result<Vec<f64>>>()?;
            Ok(QueryChange {
                spearman: spearman(a.row(i), b.row(i)),
                jaccard,
            })
        })
        .collect()
}

/// What the negatives of one checkpoint hold, over all queries.
#[derive(Clone, Debug, Serialize)]
pub struct Composition {
    /// Same-class share of the pooled hardest 5 % (NaN without labels).
    pub hard_same_class: f64,
    /// Each telemetry band's mean share of the softmax mass at T.
    pub mass: Vec<f64>,
}

/// The composition of one checkpoint's negatives at temperature `t`.
pub fn composition(s: &Scores, input: &AnalysisInput, t: f64) -> Result<Composition> {
    let (ql, nl) = (&input.queries.label, &input.negatives.label);
    let bands = TELEMETRY_BANDS
        .iter()
        .map(|&(lo, hi)| Band::new(lo, hi).map(|b| b.rank_range(s.negatives)))
        .collect::<Result<Vec<_>, String>>()
        .map_err(anyhow::Error::msg)?;
    let hard = Band::new(100.0 - HARDEST[1], 100.0)
        .map_err(anyhow::Error::msg)?
        .rank_range(s.negatives);
    let per_query: Vec<(usize, usize, Vec<f64>)> = (0..s.queries)
        .into_par_iter()
        .map(|i| {
            let row = s.row(i);
            let r = s.ranks_of(i);
            let top = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
            let w: Vec<f64> = row.iter().map(|&v| ((v as f64 - top) / t).exp()).collect();
            let total: f64 = w.iter().sum();
            let mass = bands
                .iter()
                .map(|band| {
                    w.iter()
                        .zip(r)
                        .filter(|(_, &k)| band.contains(&(k as usize)))
                        .map(|(v, _)| v)
                        .sum::<f64>()
                        / total
                })
                .collect();
            let in_hard: Vec<usize> = (0..s.negatives)
                .filter(|&j| hard.contains(&(r[j] as usize)))
                .collect();
            let same = in_hard.iter().filter(|&&j| nl[j] == ql[i]).count();
            (same, in_hard.len(), mass)
        })
        .collect();
    let (same, total) = per_query
        .iter()
        .fold((0, 0), |(a, b), (s, t, _)| (a + s, b + t));
    let labelled = ql.iter().chain(nl).all(|&l| l >= 0);
    let mass = (0..bands.len())
        .map(|b| per_query.iter().map(|q| q.2[b]).sum::<f64>() / s.queries as f64)
        .collect();
    Ok(Composition {
        hard_same_class: if labelled && total > 0 {
            same as f64 / total as f64
        } else {
            f64::NAN
        },
        mass,
    })
}

/// Mean and standard deviation (population) of the finite values.
pub fn mean_sd(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    (crate::stats::mean(&v), crate::stats::std(&v, 0))
}

/// The series' tables: per consecutive pair (means and SDs over queries),
/// per query and pair, and per checkpoint.
pub fn tables(
    names: &[String],
    pairs: &[Vec<QueryChange>],
    compositions: &[Composition],
    query_rows: &[usize],
) -> Vec<Table> {
    let mut pair = Table::new("dynamics_pairs")
        .text("from", names[..names.len() - 1].to_vec())
        .text("to", names[1..].to_vec());
    let stat = |f: &dyn Fn(&QueryChange) -> f64| -> (Vec<f64>, Vec<f64>) {
        pairs.iter().map(|p| mean_sd(p.iter().map(f))).unzip()
    };
    let (m, s) = stat(&|q| q.spearman);
    pair = pair.float("spearman_mean", m).float("spearman_sd", s);
    for (h, p) in HARDEST.iter().enumerate() {
        let (m, s) = stat(&|q| q.jaccard[h]);
        pair = pair
            .float(&format!("jaccard_hardest_{p}_mean"), m)
            .float(&format!("jaccard_hardest_{p}_sd"), s);
    }
    let mut per_query = Table::new("dynamics_queries")
        .text(
            "from",
            (0..pairs.len())
                .flat_map(|k| std::iter::repeat_n(names[k].clone(), query_rows.len()))
                .collect(),
        )
        .int(
            "query_row",
            pairs
                .iter()
                .flat_map(|_| query_rows.iter().map(|&r| r as i64))
                .collect(),
        )
        .float(
            "spearman",
            pairs.iter().flatten().map(|q| q.spearman).collect(),
        );
    for (h, p) in HARDEST.iter().enumerate() {
        per_query = per_query.float(
            &format!("jaccard_hardest_{p}"),
            pairs.iter().flatten().map(|q| q.jaccard[h]).collect(),
        );
    }
    let mut by_checkpoint = Table::new("dynamics_by_checkpoint")
        .text("checkpoint", names.to_vec())
        .float(
            "hard_same_class",
            compositions.iter().map(|c| c.hard_same_class).collect(),
        );
    for (b, &edges) in TELEMETRY_BANDS.iter().enumerate() {
        by_checkpoint = by_checkpoint.float(
            &format!("mass_{}", band_name(edges)),
            compositions.iter().map(|c| c.mass[b]).collect(),
        );
    }
    vec![pair, per_query, by_checkpoint]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a = [((7i + 3) % 11) / 10]`, `b = [((5i + 1) % 13) / 10]`, i < 30:
    /// many ties. scipy 1.17.1: `spearmanr(a, b).statistic` =
    /// 0.01791714449271998, `rankdata(a)[:8]` = 10, 29, 18, 7, 26, 15, 4, 23.
    #[test]
    fn spearman_and_ranks_match_scipy() {
        let a: Vec<f32> = (0..30).map(|i| ((i * 7 + 3) % 11) as f32 / 10.0).collect();
        let b: Vec<f32> = (0..30).map(|i| ((i * 5 + 1) % 13) as f32 / 10.0).collect();
        assert_eq!(
            average_ranks(&a)[..8],
            [10.0, 29.0, 18.0, 7.0, 26.0, 15.0, 4.0, 23.0]
        );
        let rho = spearman(&a, &b);
        assert!((rho - 0.01791714449271998).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&a, &a), 1.0);
        let reversed: Vec<f32> = a.iter().map(|v| -v).collect();
        assert!((spearman(&a, &reversed) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn jaccard_of_index_sets() {
        let set = |v: &[usize]| -> Vec<bool> { (0..6).map(|i| v.contains(&i)).collect() };
        assert_eq!(jaccard(&set(&[0, 1, 2]), &set(&[1, 2, 3])), 0.5);
        assert_eq!(jaccard(&set(&[4]), &set(&[4])), 1.0);
        assert_eq!(jaccard(&set(&[4]), &set(&[5])), 0.0);
        assert!(jaccard(&set(&[]), &set(&[])).is_nan());
    }
}
