//! Figure 5: the easiest negatives are anti-correlated with the query yet
//! semantically close. Fine percentile bins over the whole range, and the
//! histogram of all dot products.

use super::plugin::{Analysis, Finding, Setup};
use super::ranking::{add_into, BinAcc, RankedQuery};
use super::Params;
use crate::difficulty::Band;
use crate::table::Table;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct AnticorrelatedAnalysis;

/// Totals: pairs per fine bin, the dot-product histogram, and the pairs
/// below and above the anti-correlation threshold.
#[derive(Debug, PartialEq)]
pub struct Totals {
    pub fine: Vec<BinAcc>,
    pub dot_hist: Vec<u64>,
    pub anti: BinAcc,
    pub rest: BinAcc,
}

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

/// One fine difficulty bin.
#[derive(Clone, Debug)]
pub struct FineBin {
    pub bin: usize,
    pub band: Band,
    pub group: Group,
}

/// One bin of the dot-product histogram.
#[derive(Clone, Copy, Debug)]
pub struct HistogramBin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
}

#[derive(Clone, Debug)]
pub struct Anticorrelated {
    pub by_bin: Vec<FineBin>,
    /// Over [-1, 1].
    pub histogram: Vec<HistogramBin>,
    pub summary: Summary,
}

impl Analysis for AnticorrelatedAnalysis {
    type Acc = Totals;
    type Output = Anticorrelated;

    fn name(&self) -> &'static str {
        "anticorrelated"
    }
    fn about(&self) -> &'static str {
        "Fig. 5: dot-product histogram; same-class rate and LCA depth over fine bins"
    }
    fn start(&self, s: Setup) -> Totals {
        Totals {
            fine: vec![BinAcc::default(); s.params.fine_bins],
            dot_hist: vec![0; s.params.dot_bins],
            anti: BinAcc::default(),
            rest: BinAcc::default(),
        }
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, s: Setup) {
        let (bins, below) = (s.params.dot_bins, s.params.anticorrelated_below);
        // The totals are copied into locals for a run of pairs in one fine
        // bin (pairs come segment by segment) and written back after it:
        // the same additions in the same order, without a store and reload
        // per pair.
        let (mut anti, mut rest) = (acc.anti, acc.rest);
        for run in query.pairs.chunk_by(|a, b| a.fine_bin == b.fine_bin) {
            let mut bin = acc.fine[run[0].fine_bin as usize];
            for p in run {
                bin.add_pair(p);
                let h = ((p.dot.clamp(-1.0, 1.0) + 1.0) / 2.0 * bins as f32) as usize;
                acc.dot_hist[h.min(bins - 1)] += 1;
                if (p.dot as f64) < below {
                    anti.add_pair(p);
                } else {
                    rest.add_pair(p);
                }
            }
            acc.fine[run[0].fine_bin as usize] = bin;
        }
        (acc.anti, acc.rest) = (anti, rest);
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        for (a, b) in acc.fine.iter_mut().zip(&later.fine) {
            a.add(b);
        }
        add_into(&mut acc.dot_hist, &later.dot_hist);
        acc.anti.add(&later.anti);
        acc.rest.add(&later.rest);
    }
    fn finish(&self, acc: Totals, s: Setup) -> Anticorrelated {
        let has_lca = s.input.lca.is_some();
        let fine = acc.fine.len();
        let by_bin = acc
            .fine
            .iter()
            .enumerate()
            .map(|(bin, a)| FineBin {
                bin,
                band: Band::bin(bin, fine).unwrap_or_else(|e| unreachable!("{e}")),
                group: Group::of(a, has_lca),
            })
            .collect();
        let nb = acc.dot_hist.len() as f64;
        let histogram = acc
            .dot_hist
            .iter()
            .enumerate()
            .map(|(i, &count)| HistogramBin {
                lo: -1.0 + 2.0 * i as f64 / nb,
                hi: -1.0 + 2.0 * (i + 1) as f64 / nb,
                count,
            })
            .collect();
        let total = (acc.anti.pairs + acc.rest.pairs) as f64;
        let summary = Summary {
            threshold: s.params.anticorrelated_below,
            fraction: acc.anti.pairs as f64 / total,
            anticorrelated: Group::of(&acc.anti, has_lca),
            rest: Group::of(&acc.rest, has_lca),
        };
        Anticorrelated {
            by_bin,
            histogram,
            summary,
        }
    }
}

impl Finding for Anticorrelated {
    fn tables(&self) -> Vec<Table> {
        let b = &self.by_bin;
        let h = &self.histogram;
        let col = |f: fn(&Group) -> f64| b.iter().map(|r| f(&r.group)).collect();
        vec![
            Table::new("anticorrelated_by_bin")
                .int("bin", b.iter().map(|r| r.bin as i64).collect())
                .float("lo", b.iter().map(|r| r.band.lo()).collect())
                .float("hi", b.iter().map(|r| r.band.hi()).collect())
                .float("mean_dot", col(|g| g.mean_dot))
                .float("same_class_rate", col(|g| g.same_class_rate))
                .float("mean_lca_depth", col(|g| g.mean_lca_depth))
                .int("pairs", b.iter().map(|r| r.group.pairs as i64).collect()),
            Table::new("dot_histogram")
                .float("lo", h.iter().map(|x| x.lo).collect())
                .float("hi", h.iter().map(|x| x.hi).collect())
                .int("count", h.iter().map(|x| x.count as i64).collect()),
        ]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(&self.summary)?)
    }
    fn figure(&self, dir: &Path, _: &Params) -> Result<()> {
        let curve = |f: fn(&Group) -> f64| -> Vec<(f64, f64)> {
            self.by_bin
                .iter()
                .map(|r| ((r.band.lo() + r.band.hi()) / 2.0, f(&r.group)))
                .collect()
        };
        let histogram: Vec<(f64, f64, u64)> = self
            .histogram
            .iter()
            .map(|h| (h.lo, h.hi, h.count))
            .collect();
        crate::plot::anticorrelated(
            &dir.join("anticorrelated.png"),
            &histogram,
            self.summary.threshold,
            &curve(|g| g.same_class_rate),
            &curve(|g| g.mean_lca_depth),
        )
    }
    fn index(&self, _: &Params, _: &[Table]) -> Result<String> {
        let s = &self.summary;
        let mut idx = String::new();
        writeln!(idx, "## Anti-correlated negatives (paper Fig. 5)\n")?;
        writeln!(idx, "![dot-product histogram and same-class rate and LCA depth over fine difficulty bins](anticorrelated.png)\n")?;
        writeln!(
            idx,
            "{:.2} % of pairs have q·n < {}: same-class rate {:.4} (rest {:.4}), mean LCA depth {} (rest {}).\n",
            100.0 * s.fraction,
            s.threshold,
            s.anticorrelated.same_class_rate,
            s.rest.same_class_rate,
            fmt_num(s.anticorrelated.mean_lca_depth),
            fmt_num(s.rest.mean_lca_depth)
        )?;
        writeln!(idx, "- `anticorrelated_by_bin.csv` — mean dot, same-class rate and LCA depth per fine difficulty bin.")?;
        writeln!(
            idx,
            "- `dot_histogram.csv` — counts of all (query, negative) dot products over [-1, 1].\n"
        )?;
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Three decimals, or "n/a" (no hierarchy).
fn fmt_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "n/a".into()
    }
}
