//! Table A3: mean dot product of every (query class, negative class) pair
//! that occurs, from most anti-correlated to most correlated.

use super::plugin::{Analysis, Finding, Setup};
use super::ranking::{add_into, RankedQuery};
use super::Params;
use crate::table::Table;
use anyhow::Result;
use serde::Serialize;
use serde_json::Value;
use std::any::Any;
use std::fmt::Write;
use std::path::Path;

/// The analysis (see [`Analysis`]).
pub struct ClassPairsAnalysis;

/// Row-major [query class][negative class] sums and counts of dot products.
#[derive(Debug, PartialEq)]
pub struct Totals {
    pub classes: usize,
    pub sum: Vec<f64>,
    pub count: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClassPair {
    pub query_class: usize,
    pub negative_class: usize,
    pub mean_dot: f64,
    pub pairs: u64,
}

#[derive(Clone, Debug)]
pub struct ClassPairs {
    /// Sorted by mean dot ascending (ties: query class, then negative class).
    pub pairs: Vec<ClassPair>,
    pub names: Vec<String>,
}

/// The class-pair table in brief: its size and its two ends.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub pairs: usize,
    pub most_anticorrelated: Option<NamedPair>,
    pub most_correlated: Option<NamedPair>,
}

/// A class pair by name, with its mean dot product.
#[derive(Clone, Debug, Serialize)]
pub struct NamedPair {
    pub query_class: String,
    pub negative_class: String,
    pub mean_dot: f64,
}

/// Rows shown per part of Table A3 (index and figure).
const SHOWN: usize = 10;

impl Analysis for ClassPairsAnalysis {
    type Acc = Totals;
    type Output = ClassPairs;

    fn name(&self) -> &'static str {
        "class-pairs"
    }
    fn about(&self) -> &'static str {
        "Table A3: mean dot product per class pair"
    }
    fn start(&self, s: Setup) -> Totals {
        // `pass::Context` bounds the class count (MAX_CLASSES) before this.
        let classes = s.input.classes.len();
        Totals {
            classes,
            sum: vec![0.0; classes * classes],
            count: vec![0; classes * classes],
        }
    }
    fn fold(&self, acc: &mut Totals, query: &RankedQuery, _: Setup) {
        let row = query.class * acc.classes;
        for p in query.pairs {
            let cell = row + p.class as usize;
            acc.sum[cell] += p.dot as f64;
            acc.count[cell] += 1;
        }
    }
    fn merge(&self, acc: &mut Totals, later: Totals) {
        add_into(&mut acc.sum, &later.sum);
        add_into(&mut acc.count, &later.count);
    }
    fn finish(&self, acc: Totals, s: Setup) -> ClassPairs {
        let c = acc.classes;
        let mut pairs: Vec<ClassPair> = (0..c * c)
            .filter(|&i| acc.count[i] > 0)
            .map(|i| ClassPair {
                query_class: i / c,
                negative_class: i % c,
                mean_dot: acc.sum[i] / acc.count[i] as f64,
                pairs: acc.count[i],
            })
            .collect();
        pairs.sort_by(|a, b| {
            a.mean_dot
                .total_cmp(&b.mean_dot)
                .then(a.query_class.cmp(&b.query_class))
                .then(a.negative_class.cmp(&b.negative_class))
        });
        ClassPairs {
            pairs,
            names: s.input.classes.clone(),
        }
    }
}

impl ClassPairs {
    pub fn table(&self) -> Table {
        let p = &self.pairs;
        let name = |c: usize| self.names[c].clone();
        Table::new("class_pairs")
            .int(
                "query_class",
                p.iter().map(|x| x.query_class as i64).collect(),
            )
            .int(
                "negative_class",
                p.iter().map(|x| x.negative_class as i64).collect(),
            )
            .text(
                "query_name",
                p.iter().map(|x| name(x.query_class)).collect(),
            )
            .text(
                "negative_name",
                p.iter().map(|x| name(x.negative_class)).collect(),
            )
            .float("mean_dot", p.iter().map(|x| x.mean_dot).collect())
            .int("pairs", p.iter().map(|x| x.pairs as i64).collect())
    }

    /// Row indices of the `k` most anti-correlated, most correlated and
    /// closest-to-zero pairs (the three parts of Table A3).
    pub fn extremes(&self, k: usize) -> [Vec<usize>; 3] {
        let n = self.pairs.len();
        let lowest = (0..k.min(n)).collect();
        let highest = (n.saturating_sub(k)..n).rev().collect();
        let mut by_abs: Vec<usize> = (0..n).collect();
        by_abs.sort_by(|&a, &b| {
            self.pairs[a]
                .mean_dot
                .abs()
                .total_cmp(&self.pairs[b].mean_dot.abs())
                .then(a.cmp(&b))
        });
        by_abs.truncate(k);
        [lowest, highest, by_abs]
    }

    fn named(&self, p: &ClassPair) -> NamedPair {
        NamedPair {
            query_class: self.names[p.query_class].clone(),
            negative_class: self.names[p.negative_class].clone(),
            mean_dot: p.mean_dot,
        }
    }
}

impl Finding for ClassPairs {
    fn tables(&self) -> Vec<Table> {
        vec![self.table()]
    }
    fn summary(&self) -> Result<Value> {
        Ok(serde_json::to_value(Summary {
            pairs: self.pairs.len(),
            most_anticorrelated: self.pairs.first().map(|p| self.named(p)),
            most_correlated: self.pairs.last().map(|p| self.named(p)),
        })?)
    }
    fn figure(&self, dir: &Path, _: &Params) -> Result<()> {
        let [low, high, _] = self.extremes(SHOWN);
        let rows = |idx: Vec<usize>| -> Vec<(&str, &str, f64)> {
            idx.iter()
                .map(|&i| {
                    let p = &self.pairs[i];
                    let (q, n) = (&self.names[p.query_class], &self.names[p.negative_class]);
                    (q.as_str(), n.as_str(), p.mean_dot)
                })
                .collect()
        };
        crate::plot::class_pairs(&dir.join("class_pairs.png"), &rows(low), &rows(high), SHOWN)
    }
    fn index(&self, _: &Params, tables: &[Table]) -> Result<String> {
        let mut idx = String::new();
        writeln!(idx, "## Class pairs (paper Table A3)\n")?;
        writeln!(
            idx,
            "![most anti-correlated and most correlated class pairs](class_pairs.png)\n"
        )?;
        writeln!(idx, "Mean dot product of query class / negative class over {} class pairs (`class_pairs.csv`, ascending).\n", self.pairs.len())?;
        let [low, high, zero] = self.extremes(SHOWN);
        for (caption, rows) in [
            ("Most anti-correlated", low),
            ("Most correlated", high),
            ("Closest to zero", zero),
        ] {
            writeln!(idx, "**{caption}**\n\n{}", tables[0].markdown(rows))?;
        }
        Ok(idx)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
