//! Synthetic embedding dumps with known structure, for tests, benchmarks and
//! the example report: Fashion-MNIST's classes, with class centroids built
//! from WordNet so that semantically closer classes lie closer together.
//!
//! Each hypernym `a` of any class gets a random Gaussian direction `g(a)`;
//! a class centroid is the sum of its hypernyms' directions (so classes
//! sharing deep hypernyms share many components), and a row is its class
//! centroid plus isotropic noise, L2-normalised.

use crate::data::classes;
use crate::hierarchy::Hierarchy;
use crate::rng::{self, gaussian, Purpose};
use crate::store::{Dump, DumpMeta, Matrix};
use anyhow::{bail, Result};
use rand::Rng as _;
use std::collections::BTreeMap;

/// Most values (rows × dim) a synthetic dump may hold.
const MAX_VALUES: usize = 1 << 30;

fn normalise(v: &mut [f64]) {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

/// `rows` rows of dimension `dim`; `noise` is the noise norm relative to a
/// unit centroid (≈1 gives overlapping classes, like real embeddings).
pub fn fashion_mnist_like(rows: usize, dim: usize, noise: f64, seed: u64) -> Result<Dump> {
    if rows == 0 || dim == 0 || rows.checked_mul(dim).is_none_or(|n| n > MAX_VALUES) {
        bail!("--rows {rows} × --dim {dim}: both must be positive and their product at most {MAX_VALUES} (4 GiB of f32)");
    }
    if !(noise.is_finite() && noise >= 0.0) {
        bail!("--noise {noise}: must be a finite number ≥ 0");
    }
    let (names, wnids) = classes::fashion_mnist();
    let h = Hierarchy::bundled();
    let mut rng = rng::stream(seed, Purpose::Synthetic, 0);
    let mut directions: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    let mut centroids = Vec::new();
    for w in &wnids {
        let id = h.require(w)?;
        let mut c = vec![0.0; dim];
        for (a, _) in h.ancestors(id) {
            let g = directions
                .entry(a)
                .or_insert_with(|| (0..dim).map(|_| gaussian(&mut rng)).collect());
            c.iter_mut().zip(g.iter()).for_each(|(x, y)| *x += y);
        }
        normalise(&mut c);
        centroids.push(c);
    }
    let scale = noise / (dim as f64).sqrt();
    let mut z = Vec::with_capacity(rows * dim);
    let mut label = Vec::with_capacity(rows);
    for _ in 0..rows {
        let c = rng.random_range(0..names.len());
        let mut v: Vec<f64> = centroids[c]
            .iter()
            .map(|x| x + scale * gaussian(&mut rng))
            .collect();
        normalise(&mut v);
        z.extend(v.iter().map(|&x| x as f32));
        label.push(c as i64);
    }
    Ok(Dump {
        z: Matrix::new(rows, dim, z)?,
        h: None,
        label,
        index: Some((0..rows as i64).collect()),
        meta: DumpMeta {
            classes: names,
            wnids: Some(wnids),
            encoder: Some("synthetic".into()),
            source: Some(format!(
                "negstudy dump synthetic --rows {rows} --dim {dim} --noise {noise} --seed {seed}"
            )),
            epoch: None,
            dataset: Some("synthetic Fashion-MNIST classes, WordNet-structured centroids".into()),
            negstudy_version: Some(crate::VERSION.into()),
        },
    })
}
