//! `negstudy demo`: the whole analysis side on bundled real data, nothing
//! installed. Until the trainer lands, the embeddings are the bundled
//! Fashion-MNIST test images themselves (centred pixels, L2-normalised):
//! a no-learning baseline that exercises dumps, difficulty bands, the
//! WordNet hierarchy, statistics and every report on real images.

use super::analyze::{self, AnalyzeArgs, Which};
use super::hierarchy::HierarchySource;
use crate::data::{classes, idx};
use crate::store::{Dump, DumpMeta, Matrix};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Report folder.
    #[arg(long, default_value = "reports/demo")]
    pub out: PathBuf,
    /// Where the pixel-space dump is written.
    #[arg(long, default_value = "runs/demo/pixels.safetensors")]
    pub dump: PathBuf,
    /// Seeds the query/negative sampling and the shuffled baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Centred, L2-normalised pixel vectors of the bundled test split.
pub fn pixel_dump() -> Result<Dump> {
    let images = idx::bundled_fashion_mnist_test()?;
    let dim = images.rows * images.cols;
    let mut mean = vec![0f64; dim];
    for i in 0..images.n {
        mean.iter_mut()
            .zip(images.image(i))
            .for_each(|(m, &p)| *m += p as f64 / 255.0);
    }
    mean.iter_mut().for_each(|m| *m /= images.n as f64);
    let mut z = Vec::with_capacity(images.n * dim);
    for i in 0..images.n {
        let v: Vec<f64> = images
            .image(i)
            .iter()
            .zip(&mean)
            .map(|(&p, m)| p as f64 / 255.0 - m)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            bail!("bundled image {i} equals the mean image; cannot normalise");
        }
        z.extend(v.iter().map(|x| (x / norm) as f32));
    }
    let (names, wnids) = classes::fashion_mnist();
    Ok(Dump {
        z: Matrix::new(images.n, dim, z)?,
        h: None,
        label: images.labels.iter().map(|&l| l as i64).collect(),
        index: Some((0..images.n as i64).collect()),
        meta: DumpMeta {
            classes: names,
            wnids: Some(wnids),
            encoder: Some("none: centred pixels".into()),
            source: Some("negstudy demo".into()),
            epoch: None,
            dataset: Some("bundled:fashion-mnist-test".into()),
            negstudy_version: Some(crate::VERSION.into()),
        },
    })
}

pub fn run(a: DemoArgs) -> Result<()> {
    let started = std::time::Instant::now();
    eprintln!("negstudy demo: embeddings = centred pixels of the bundled Fashion-MNIST test split (10 000 images)");
    let dump = pixel_dump()?;
    dump.save(&a.dump)?;
    let (path, summary) = analyze::run(AnalyzeArgs {
        which: Which::All,
        embeddings: Some(a.dump.clone()),
        queries: None,
        negatives: None,
        n_queries: None,
        n_negatives: None,
        seed: a.seed,
        hierarchy: HierarchySource {
            hierarchy: None,
            wordnet: None,
        },
        wnids: None,
        bins: 20,
        fine_bins: 100,
        hard_percent: 5.0,
        out: Some(a.out.clone()),
        memory_budget: 1 << 30,
        normalize: false,
    })?;
    let get = |k: &str, f: &str| summary[k][f].as_f64().unwrap_or(f64::NAN);
    let p = |k: &str| {
        crate::report::plot::fmt_p(summary[k]["student"]["p"].as_f64().unwrap_or(f64::NAN))
    };
    println!("Headline numbers (2000 queries × 2000 negatives, hard = hardest 5 %):");
    println!(
        "  same-class rate   hard {:.3} vs easy {:.3}   (t-test p = {})",
        get("same_class", "hard_mean"),
        get("same_class", "easy_mean"),
        p("same_class")
    );
    println!(
        "  WordNet LCA depth hard {:.3} vs easy {:.3}   (t-test p = {})",
        get("wordnet", "hard_mean"),
        get("wordnet", "easy_mean"),
        p("wordnet")
    );
    println!(
        "  hard frequency std real {:.4} vs shuffled {:.4}   (KS p = {})",
        get("consistency", "real_std"),
        get("consistency", "shuffled_std"),
        crate::report::plot::fmt_p(
            summary["consistency"]["ks"]["p"]
                .as_f64()
                .unwrap_or(f64::NAN)
        )
    );
    println!(
        "Report: {}/index.md  ({:.1} s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
