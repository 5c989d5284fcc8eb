//! The weight gradient of a 2-D convolution (groups 1, dilation 1, square
//! stride and padding), as a sum of per-image GEMMs.
//!
//! For image n, with `cols_n` its im2col matrix [C·K·K, OH·OW] (entry
//! (c·K·K + kh·K + kw, oh·OW + ow) = x[n, c, oh·s − p + kh, ow·s − p + kw],
//! zero outside the image) and `g_n` the output gradient [O, OH·OW]:
//!
//!   dW [O, C·K·K] = Σ_n g_n · cols_nᵀ
//!
//! Images are split into fixed chunks that run in parallel, each with its
//! own accumulator; the accumulators are added in chunk order, so the result
//! does not depend on the number of threads.
//!
//! Memory traffic: x and g are read once; one im2col buffer of C·K·K·OH·OW
//! values per running chunk (16→16 channels, 3×3, 28×28: 0.45 MB, in L2),
//! instead of burn's generic path, which swaps the batch into the channel
//! axis and builds one im2col of the whole batch (~115 MB for that layer)
//! for a skinny GEMM. A 1×1 stride-1 unpadded convolution needs no im2col:
//! `cols_n` is image n itself.

use super::im2col::{im2col_strided, ConvShape};
use crate::gemm::{gemm_here, GemmInto, View};
use rayon::prelude::*;

/// Images per parallel chunk.
const CHUNK: usize = 8;

/// Images whose columns go side by side into one GEMM: a whole chunk's when
/// an output has fewer than 128 pixels (8×8, 7×7, 4×4 — one image gives
/// too few terms for an efficient GEMM; `bench kernels`: 8×8 2×, 4×4 1.1×
/// faster than one image a GEMM), else one (a chunk's columns of a 16×16
/// output no longer fit in L2, and measured slower).
fn images_per_gemm(pixels: usize) -> usize {
    if pixels < 128 {
        CHUNK
    } else {
        1
    }
}

/// dW [O, C, K, K] from x [N, C, H, W] and the output gradient
/// [N, O, OH, OW], both row-major.
pub fn conv2d_weight_grad(x: &[f32], grad: &[f32], s: &ConvShape) -> Vec<f32> {
    let (ckk, pixels, image, image_grad) = (s.patch(), s.pixels(), s.image(), s.output_image());
    assert!(x.len() == s.batch * image && grad.len() == s.batch * image_grad);
    let per_gemm = images_per_gemm(pixels);
    let width = per_gemm * pixels;
    let partial: Vec<Vec<f32>> = (0..s.batch.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let images = chunk * CHUNK..((chunk + 1) * CHUNK).min(s.batch);
            let mut acc = vec![0f32; s.out_channels * ckk];
            // A GEMM's images side by side: their columns in `cols`
            // [C·K·K, width], their output gradients in `grads` [O, width].
            // One image needs neither copy of its gradient (already
            // [O, OH·OW]) nor, pointwise, of its pixels.
            let alone = per_gemm == 1;
            let mut cols = vec![
                0f32;
                if alone && s.pointwise() {
                    0
                } else {
                    ckk * width
                }
            ];
            let mut grads = vec![0f32; if alone { 0 } else { s.out_channels * width }];
            for first in images.clone().step_by(per_gemm) {
                let members = first..(first + per_gemm).min(images.end);
                let terms = members.len() * pixels;
                let image_of = |n: usize| &x[n * image..(n + 1) * image];
                let grad_of = |n: usize| &grad[n * image_grad..(n + 1) * image_grad];
                let (g, c): (&[f32], &[f32]) = if alone && s.pointwise() {
                    (grad_of(first), image_of(first))
                } else {
                    for (j, n) in members.enumerate() {
                        im2col_strided(image_of(n), s, &mut cols[j * pixels..], width);
                        if !alone {
                            for (o, g) in grad_of(n).chunks_exact(pixels).enumerate() {
                                grads[o * width + j * pixels..][..pixels].copy_from_slice(g);
                            }
                        }
                    }
                    (if alone { grad_of(first) } else { &grads }, &cols)
                };
                gemm_here(
                    View::strided(g, (s.out_channels, terms), (width, 1)),
                    View::strided(c, (terms, ckk), (1, width)),
                    &mut acc,
                    GemmInto::Accumulate,
                );
            }
            acc
        })
        .collect();
    let mut out = vec![0f32; s.out_channels * ckk];
    for p in &partial {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

// Tested with the forward and input gradient against their definitions in
// `conv_forward`'s tests.
