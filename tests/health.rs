//! Embedding health against numpy and scipy: the values below were printed
//! by `tests/data/health_reference.py` (numpy 2, scipy `pdist`, numpy's SVD
//! of the matrix itself) on the same integer-built input. Agreement: 1e-5.

use negstudy::analysis::health::{health, rankme, singular_values};
use negstudy::analysis::Side;
use negstudy::store::Matrix;

const N: usize = 300;
const D: usize = 8;

/// `x[i][j] = ((i*37 + j*11 + (i*j) % 7) % 101) / 101 − 0.5`, label i % 3:
/// the Python side's expression.
fn side() -> Side {
    let data: Vec<f32> = (0..N)
        .flat_map(|i| {
            (0..D).map(move |j| ((i * 37 + j * 11 + (i * j) % 7) % 101) as f64 / 101.0 - 0.5)
        })
        .map(|v| v as f32)
        .collect();
    Side {
        z: Matrix::new(N, D, data).unwrap(),
        label: (0..N as i64).map(|i| i % 3).collect(),
        rows: (0..N).collect(),
    }
}

fn close(ours: f64, numpy: f64, what: &str) {
    let err = (ours - numpy).abs() / numpy.abs().max(1.0);
    eprintln!("{what}: ours {ours} numpy {numpy} (error {err:.1e})");
    assert!(err <= 1e-5, "{what}: ours {ours} vs numpy {numpy}");
}

#[test]
fn health_matches_numpy() {
    let side = side();
    // A small memory budget: many row blocks of the Gram matrix.
    let h = health(&side, 4 * N * 7);
    close(h.uniformity, -1.9566277332848765, "uniformity");
    close(h.alignment, 2.0147186037056777, "alignment (same class)");
    close(h.rankme, 7.186456858761524, "RankMe");
    close(h.knn_top1, 0.10333333333333333, "leave-one-out kNN top-1");
    let numpy_singular = [
        8.550163172386211,
        7.557473035268131,
        4.583540811475036,
        4.029825831326913,
        3.274169908590321,
        3.004639261699849,
        2.813730809083357,
        2.2240998829494103,
    ];
    for (k, (&ours, &want)) in h.singular_values.iter().zip(&numpy_singular).enumerate() {
        close(ours, want, &format!("σ_{}", k + 1));
    }
    // One block or many: the same totals.
    let whole = health(&side, 1 << 30);
    close(whole.uniformity, h.uniformity, "uniformity, one block");
    assert_eq!(whole.knn_top1, h.knn_top1);
}

/// Known values: RankMe of a spectrum with r equal singular values is r
/// (up to ε); of rank-1 data, 1.
#[test]
fn rankme_counts_equal_directions() {
    for r in [1usize, 3, 8] {
        let mut sigma = vec![0.0; 8];
        sigma[..r].fill(2.5);
        let got = rankme(&sigma);
        assert!((got - r as f64).abs() < 1e-4, "{r}: {got}");
    }
    // Rows all multiples of one vector: one nonzero singular value.
    let z: Vec<f32> = (0..50)
        .flat_map(|i| [1.0f32, -2.0, 0.5, 3.0].map(|v| v * (i as f32 - 20.0)))
        .collect();
    let s = singular_values(&z, 4);
    assert!(s[1] / s[0] < 1e-6, "{s:?}");
    assert!((rankme(&s) - 1.0).abs() < 1e-4, "{}", rankme(&s));
}

/// A wide matrix (fewer rows than columns) takes the row-side Gram: its
/// singular values equal those of its transpose, which takes the column
/// side — so neither Gram is ever larger than the input needs.
#[test]
fn wide_and_tall_matrices_share_their_singular_values() {
    let (n, d) = (5usize, 12usize);
    let wide: Vec<f32> = (0..n * d)
        .map(|v| ((v * 37 + 11) % 29) as f32 / 29.0 - 0.5)
        .collect();
    let tall: Vec<f32> = (0..d)
        .flat_map(|c| (0..n).map(move |r| (r, c)))
        .map(|(r, c)| wide[r * d + c])
        .collect();
    let (a, b) = (singular_values(&wide, d), singular_values(&tall, n));
    assert_eq!((a.len(), b.len()), (n, n));
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-12 * a[0], "{a:?} vs {b:?}");
    }
}
