//! Table A3: mean dot product of every (query class, negative class) pair
//! that occurs, from most anti-correlated to most correlated.

use super::pass::PassResult;
use crate::table::Table;

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

pub fn analyze(pass: &PassResult, class_names: &[String]) -> ClassPairs {
    let c = pass.classes;
    let mut pairs: Vec<ClassPair> = (0..c * c)
        .filter(|&i| pass.class_pair_count[i] > 0)
        .map(|i| ClassPair {
            query_class: i / c,
            negative_class: i % c,
            mean_dot: pass.class_pair_sum[i] / pass.class_pair_count[i] as f64,
            pairs: pass.class_pair_count[i],
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
        names: class_names.to_vec(),
    }
}

impl ClassPairs {
    pub fn table(&self) -> Table {
        let p = &self.pairs;
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
                p.iter()
                    .map(|x| self.names[x.query_class].clone())
                    .collect(),
            )
            .text(
                "negative_name",
                p.iter()
                    .map(|x| self.names[x.negative_class].clone())
                    .collect(),
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
}
