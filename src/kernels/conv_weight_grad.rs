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

use crate::gemm::{gemm_here, GemmInto, View};
use rayon::prelude::*;

/// Shapes of one weight-gradient computation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub batch: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvShape {
    /// Output height and width.
    pub fn output(&self) -> (usize, usize) {
        let out = |side: usize| (side + 2 * self.padding - self.kernel) / self.stride + 1;
        (out(self.height), out(self.width))
    }
}

/// Images per parallel chunk.
const CHUNK: usize = 8;

/// The output columns `lo..hi` whose input column `xo·stride + kw − padding`
/// lies inside a row of `width` (the others read the zero padding).
pub(crate) fn inside(s: &ConvShape, kw: usize, out_width: usize) -> (usize, usize) {
    let (p, st) = (s.padding, s.stride);
    let lo = if p > kw { (p - kw).div_ceil(st) } else { 0 };
    let hi = if s.width + p > kw {
        ((s.width - 1 + p - kw) / st + 1).min(out_width)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Fills `cols` [C·K·K, OH·OW] with image `x` [C, H, W]'s patches, one
/// kernel offset (one row of `cols`) at a time.
pub(crate) fn im2col(x: &[f32], s: &ConvShape, cols: &mut [f32]) {
    let (oh, ow) = s.output();
    im2col_strided(x, s, cols, oh * ow);
}

/// The same with row r of the matrix at `cols[r·row_stride..]` (several
/// images' columns side by side in one matrix).
fn im2col_strided(x: &[f32], s: &ConvShape, cols: &mut [f32], row_stride: usize) {
    let (oh, ow) = s.output();
    let k = s.kernel;
    for c in 0..s.in_channels {
        let plane = &x[c * s.height * s.width..(c + 1) * s.height * s.width];
        for kh in 0..k {
            for kw in 0..k {
                let row = &mut cols[((c * k + kh) * k + kw) * row_stride..][..oh * ow];
                if s.stride == 1 && ow == s.width {
                    shifted_plane(plane, s, kh, kw, row);
                } else {
                    offset_rows(plane, s, kh, kw, row);
                }
            }
        }
    }
}

/// One kernel offset's row of `cols`, output row by output row: zeros for
/// the padding and one contiguous copy (stride 1) or strided gather of the
/// part inside the image.
fn offset_rows(plane: &[f32], s: &ConvShape, kh: usize, kw: usize, row: &mut [f32]) {
    let (oh, ow) = s.output();
    let (lo, hi) = inside(s, kw, ow);
    for y in 0..oh {
        let iy = (y * s.stride + kh) as isize - s.padding as isize;
        let out = &mut row[y * ow..(y + 1) * ow];
        if iy < 0 || iy >= s.height as isize || lo == hi {
            out.fill(0.0);
            continue;
        }
        let src = &plane[iy as usize * s.width..(iy as usize + 1) * s.width];
        out[..lo].fill(0.0);
        out[hi..].fill(0.0);
        let first = lo * s.stride + kw - s.padding;
        if s.stride == 1 {
            out[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
        } else {
            // Every stride-th value: the first of each `stride`-chunk (a
            // `step_by` with a run-time step compiles to a slow loop).
            for (v, pixels) in out[lo..hi].iter_mut().zip(src[first..].chunks(s.stride)) {
                *v = pixels[0];
            }
        }
    }
}

/// The same row for stride 1 when output rows are as wide as the input's
/// ("same" padding, 2·padding = K − 1, the ResNet 3×3 case): the plane
/// shifted by (kh − padding, kw − padding) is one block copy of all the
/// rows inside the image; then the few columns that the shift carried over
/// from the neighbouring row are zeroed. One copy instead of one short copy
/// per output row (28-value rows made the per-call overhead a large part
/// of the im2col).
fn shifted_plane(plane: &[f32], s: &ConvShape, kh: usize, kw: usize, row: &mut [f32]) {
    let (oh, ow) = s.output();
    let (lo, hi) = inside(s, kw, ow);
    // Output rows y with input row y + kh − padding inside the image.
    let top = s.padding.saturating_sub(kh).min(oh);
    let bottom = (s.height + s.padding).saturating_sub(kh).clamp(top, oh);
    row[..top * ow].fill(0.0);
    row[bottom * ow..].fill(0.0);
    if lo == hi {
        row[top * ow..bottom * ow].fill(0.0);
        return;
    }
    let block = &mut row[top * ow..bottom * ow];
    // block[j] = plane[start + j] where that index exists.
    let start = ((top + kh) * s.width + kw) as isize - (s.padding * s.width + s.padding) as isize;
    let first = ((-start).max(0) as usize).min(block.len());
    let end = (plane.len() as isize - start).clamp(first as isize, block.len() as isize) as usize;
    block[..first].fill(0.0);
    block[end..].fill(0.0);
    if first < end {
        let from = (start + first as isize) as usize;
        block[first..end].copy_from_slice(&plane[from..from + (end - first)]);
    }
    for out in block.chunks_exact_mut(ow) {
        for v in &mut out[..lo] {
            *v = 0.0;
        }
        for v in &mut out[hi..] {
            *v = 0.0;
        }
    }
}

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
    let (oh, ow) = s.output();
    let (ckk, pixels) = (s.in_channels * s.kernel * s.kernel, oh * ow);
    let image = s.in_channels * s.height * s.width;
    let image_grad = s.out_channels * pixels;
    assert!(x.len() == s.batch * image && grad.len() == s.batch * image_grad);
    let direct = s.kernel == 1 && s.stride == 1 && s.padding == 0;
    let per_gemm = images_per_gemm(pixels);
    let width = per_gemm * pixels;
    let partial: Vec<Vec<f32>> = (0..s.batch.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let images = chunk * CHUNK..((chunk + 1) * CHUNK).min(s.batch);
            let mut acc = vec![0f32; s.out_channels * ckk];
            if per_gemm == 1 {
                let mut cols = if direct {
                    Vec::new()
                } else {
                    vec![0f32; ckk * pixels]
                };
                for n in images {
                    let xn = &x[n * image..(n + 1) * image];
                    let gn = View::row_major(
                        &grad[n * image_grad..(n + 1) * image_grad],
                        s.out_channels,
                        pixels,
                    );
                    let cols_n: &[f32] = if direct {
                        xn
                    } else {
                        im2col(xn, s, &mut cols);
                        &cols
                    };
                    gemm_here(
                        gn,
                        View::transpose_of(cols_n, ckk, pixels),
                        &mut acc,
                        GemmInto::Accumulate,
                    );
                }
                return acc;
            }
            // Several images a GEMM: their output gradients side by side in
            // `grads` [O, width], their columns side by side in `cols`
            // [C·K·K, width].
            let mut cols = vec![0f32; ckk * width];
            let mut grads = vec![0f32; s.out_channels * width];
            for first in images.clone().step_by(per_gemm) {
                let members = first..(first + per_gemm).min(images.end);
                let terms = members.len() * pixels;
                for (j, n) in members.enumerate() {
                    im2col_strided(
                        &x[n * image..(n + 1) * image],
                        s,
                        &mut cols[j * pixels..],
                        width,
                    );
                    let gn = &grad[n * image_grad..(n + 1) * image_grad];
                    for (o, g) in gn.chunks_exact(pixels).enumerate() {
                        grads[o * width + j * pixels..][..pixels].copy_from_slice(g);
                    }
                }
                gemm_here(
                    View::strided(&grads, (s.out_channels, terms), (width, 1)),
                    View::strided(&cols, (terms, ckk), (1, width)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The block-copy im2col equals the row-by-row one on every "same"
    /// stride-1 shape it takes, including planes narrower than the kernel's
    /// reach and single rows (values distinct, so any misplaced copy shows).
    #[test]
    fn shifted_plane_equals_row_by_row() {
        for (h, w, k) in [
            (28, 28, 3),
            (5, 7, 3),
            (1, 1, 3),
            (2, 9, 5),
            (7, 3, 7),
            (4, 4, 1),
            (1, 6, 3),
        ] {
            let s = ConvShape {
                batch: 1,
                in_channels: 2,
                out_channels: 1,
                height: h,
                width: w,
                kernel: k,
                stride: 1,
                padding: (k - 1) / 2,
            };
            let (oh, ow) = s.output();
            assert_eq!(ow, w);
            let x: Vec<f32> = (0..2 * h * w).map(|i| i as f32 + 1.0).collect();
            let mut fast = vec![f32::NAN; 2 * k * k * oh * ow];
            im2col(&x, &s, &mut fast);
            let mut slow = vec![f32::NAN; fast.len()];
            for c in 0..2 {
                for kh in 0..k {
                    for kw in 0..k {
                        let row = &mut slow[((c * k + kh) * k + kw) * oh * ow..][..oh * ow];
                        offset_rows(&x[c * h * w..(c + 1) * h * w], &s, kh, kw, row);
                    }
                }
            }
            assert_eq!(fast, slow, "{h}×{w}, kernel {k}");
        }
    }
}
