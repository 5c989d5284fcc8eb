//! Figure 5: the easiest negatives are anti-correlated with the query yet
//! semantically close. Fine percentile bins over the whole range, and the
//! histogram of all dot products.

use super::pass::{BinAcc, PassResult};
use super::Params;
use crate::difficulty::Band;
use crate::table::Table;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Group {
    pub pairs: u64,
    pub mean_dot: f64,
    pub same_class_rate: f64,
    /// `null` without a hierarchy.
    pub mean_lca_depth: f64,
}

impl Group {
    fn of(a: &BinAcc, has_lca: bool) -> Group {
        let n = a.pairs as f64;
        Group {
            pairs: a.pairs,
            mean_dot: a.dot_sum / n,
            same_class_rate: a.same_class as f64 / n,
            mean_lca_depth: if has_lca { a.lca_sum / n } else { f64::NAN },
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Pairs with a dot product below this are anti-correlated.
    pub threshold: f64,
    /// Fraction of all pairs that are anti-correlated.
    pub fraction: f64,
    pub anticorrelated: Group,
    pub rest: Group,
}

#[derive(Clone, Debug)]
pub struct Anticorrelated {
    /// One per fine bin (bin, band, totals).
    pub by_bin: Vec<(usize, Band, Group)>,
    /// (lo, hi, count) over [-1, 1].
    pub histogram: Vec<(f64, f64, u64)>,
    pub summary: Summary,
}

pub fn analyze(pass: &PassResult, params: &Params) -> Anticorrelated {
    let fine = pass.fine.len();
    let by_bin = pass
        .fine
        .iter()
        .enumerate()
        .map(|(b, a)| {
            (
                b,
                Band::bin(b, fine).unwrap_or_else(|e| unreachable!("{e}")),
                Group::of(a, pass.has_lca),
            )
        })
        .collect();
    let nb = pass.dot_hist.len() as f64;
    let histogram = pass
        .dot_hist
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            (
                -1.0 + 2.0 * i as f64 / nb,
                -1.0 + 2.0 * (i + 1) as f64 / nb,
                c,
            )
        })
        .collect();
    let total = (pass.anti.pairs + pass.rest.pairs) as f64;
    let summary = Summary {
        threshold: params.anticorrelated_below,
        fraction: pass.anti.pairs as f64 / total,
        anticorrelated: Group::of(&pass.anti, pass.has_lca),
        rest: Group::of(&pass.rest, pass.has_lca),
    };
    Anticorrelated {
        by_bin,
        histogram,
        summary,
    }
}

impl Anticorrelated {
    pub fn tables(&self) -> Vec<Table> {
        let b = &self.by_bin;
        vec![
            Table::new("anticorrelated_by_bin")
                .int("bin", b.iter().map(|r| r.0 as i64).collect())
                .float("lo", b.iter().map(|r| r.1.lo()).collect())
                .float("hi", b.iter().map(|r| r.1.hi()).collect())
                .float("mean_dot", b.iter().map(|r| r.2.mean_dot).collect())
                .float(
                    "same_class_rate",
                    b.iter().map(|r| r.2.same_class_rate).collect(),
                )
                .float(
                    "mean_lca_depth",
                    b.iter().map(|r| r.2.mean_lca_depth).collect(),
                )
                .int("pairs", b.iter().map(|r| r.2.pairs as i64).collect()),
            Table::new("dot_histogram")
                .float("lo", self.histogram.iter().map(|h| h.0).collect())
                .float("hi", self.histogram.iter().map(|h| h.1).collect())
                .int("count", self.histogram.iter().map(|h| h.2 as i64).collect()),
        ]
    }
}
