//! The im2col matrix of a convolution and its adjoint, col2im, one image at
//! a time, and the convolution's shape ([`ConvShape`]).
//!
//! `cols` [C·K·K, OH·OW] holds, at (c·K·K + kh·K + kw, oh·OW + ow),
//! x[c, oh·s − p + kh, ow·s − p + kw] (zero outside the image); col2im adds
//! each entry back to the pixel it was read from. Both go one kernel offset
//! (one row of `cols`) at a time: for a stride-1 convolution whose output
//! rows are as wide as the input's ("same" padding, the ResNet 3×3 case)
//! that row is the plane shifted by (kh − p, kw − p) — one block copy or
//! add ([`Shift`]) instead of one short copy per output row (28-value rows
//! made the per-call overhead a large part of the im2col); otherwise row by
//! row, with zeros at the padding.

use multiversion::multiversion;

/// A 2-D convolution's shape (groups 1, dilation 1, square kernel, stride
/// and padding).
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

    /// Output pixels per channel (OH·OW: the columns of `cols`).
    pub fn pixels(&self) -> usize {
        let (oh, ow) = self.output();
        oh * ow
    }

    /// Values per patch (C·K·K: the rows of `cols`, a filter's size).
    pub fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Values per input image (C·H·W).
    pub fn image(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Values per output image (O·OH·OW).
    pub fn output_image(&self) -> usize {
        self.out_channels * self.pixels()
    }

    /// A 1×1, stride-1, unpadded convolution: an image is its own `cols`.
    pub fn pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Whether kernel offsets are whole-plane shifts (see [`Shift`]).
    fn shifts(&self) -> bool {
        let (_, ow) = self.output();
        self.stride == 1 && ow == self.width
    }
}

/// The output columns `lo..hi` whose input column `xo·stride + kw − padding`
/// lies inside a row of `width` (the others read the zero padding).
fn inside(s: &ConvShape, kw: usize, out_width: usize) -> (usize, usize) {
    let (p, st) = (s.padding, s.stride);
    let lo = if p > kw { (p - kw).div_ceil(st) } else { 0 };
    let hi = if s.width + p > kw {
        ((s.width - 1 + p - kw) / st + 1).min(out_width)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Where kernel offset (kh, kw)'s row of `cols` meets the input plane, for
/// a convolution whose offsets are plane shifts (stride 1, output rows as
/// wide as the input's): output rows `top..bottom` read input rows inside
/// the image, and within them columns `lo..hi` read inside it. Counting
/// from row `top`, entry j of the row is plane[from + j − first] for j in
/// `first..end`; the others in `top..bottom` are columns outside `lo..hi`
/// that the shift carried over from the neighbouring row.
struct Shift {
    lo: usize,
    hi: usize,
    top: usize,
    bottom: usize,
    first: usize,
    end: usize,
    from: usize,
}

impl Shift {
    fn new(s: &ConvShape, kh: usize, kw: usize) -> Shift {
        let (oh, ow) = s.output();
        let (lo, hi) = inside(s, kw, ow);
        let top = s.padding.saturating_sub(kh).min(oh);
        let bottom = (s.height + s.padding).saturating_sub(kh).clamp(top, oh);
        let len = (bottom - top) * ow;
        let start =
            ((top + kh) * s.width + kw) as isize - (s.padding * s.width + s.padding) as isize;
        let plane = (s.height * s.width) as isize;
        let first = ((-start).max(0) as usize).min(len);
        let end = (plane - start).clamp(first as isize, len as isize) as usize;
        let from = (start + first as isize).clamp(0, plane) as usize;
        Shift {
            lo,
            hi,
            top,
            bottom,
            first,
            end,
            from,
        }
    }

    /// The rows `top..bottom` of a `cols` row.
    fn block<'a>(&self, row: &'a mut [f32], ow: usize) -> &'a mut [f32] {
        &mut row[self.top * ow..self.bottom * ow]
    }

    /// The plane values entries `first..end` of the block correspond to.
    fn source(&self) -> std::ops::Range<usize> {
        self.from..self.from + (self.end - self.first)
    }

    /// Zeroes the carried-over columns of `block` (outside `lo..hi`).
    fn zero_carried_columns(&self, block: &mut [f32], ow: usize) {
        for out in block.chunks_exact_mut(ow) {
            for v in &mut out[..self.lo] {
                *v = 0.0;
            }
            for v in &mut out[self.hi..] {
                *v = 0.0;
            }
        }
    }
}

/// Fills `cols` [C·K·K, OH·OW] with image `x` [C, H, W]'s patches, one
/// kernel offset (one row of `cols`) at a time.
pub(crate) fn im2col(x: &[f32], s: &ConvShape, cols: &mut [f32]) {
    let (oh, ow) = s.output();
    im2col_strided(x, s, cols, oh * ow);
}

/// The same with row r of the matrix at `cols[r·row_stride..]` (several
/// images' columns side by side in one matrix).
pub(crate) fn im2col_strided(x: &[f32], s: &ConvShape, cols: &mut [f32], row_stride: usize) {
    let (oh, ow) = s.output();
    let k = s.kernel;
    for c in 0..s.in_channels {
        let plane = &x[c * s.height * s.width..(c + 1) * s.height * s.width];
        for kh in 0..k {
            for kw in 0..k {
                let row = &mut cols[((c * k + kh) * k + kw) * row_stride..][..oh * ow];
                if s.shifts() {
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

/// The same row as one shifted block copy ([`Shift`]).
fn shifted_plane(plane: &[f32], s: &ConvShape, kh: usize, kw: usize, row: &mut [f32]) {
    let (_, ow) = s.output();
    let shift = Shift::new(s, kh, kw);
    row[..shift.top * ow].fill(0.0);
    row[shift.bottom * ow..].fill(0.0);
    let block = shift.block(row, ow);
    if shift.lo == shift.hi {
        block.fill(0.0);
        return;
    }
    block[..shift.first].fill(0.0);
    block[shift.end..].fill(0.0);
    block[shift.first..shift.end].copy_from_slice(&plane[shift.source()]);
    shift.zero_carried_columns(block, ow);
}

/// Adds `cols` [C·K·K, OH·OW] back into image `dx` [C, H, W] (im2col's
/// adjoint), one kernel offset (one row of `cols`) at a time. `cols` is
/// scratch: values that fell on the padding may be zeroed in it. Compiled
/// for AVX2 too, chosen at run time (the same sums in the same order,
/// wider registers).
#[multiversion(targets("x86_64+avx2"))]
pub(crate) fn col2im(cols: &mut [f32], s: &ConvShape, dx: &mut [f32]) {
    let (oh, ow) = s.output();
    let k = s.kernel;
    for c in 0..s.in_channels {
        let plane = &mut dx[c * s.height * s.width..(c + 1) * s.height * s.width];
        for kh in 0..k {
            for kw in 0..k {
                let row = &mut cols[((c * k + kh) * k + kw) * oh * ow..][..oh * ow];
                if s.shifts() {
                    add_shifted_plane(row, s, kh, kw, plane);
                } else {
                    add_offset_rows(row, s, kh, kw, plane);
                }
            }
        }
    }
}

/// One kernel offset's row added back output row by output row, skipping
/// the values that fell on the padding.
#[inline(always)]
fn add_offset_rows(row: &[f32], s: &ConvShape, kh: usize, kw: usize, plane: &mut [f32]) {
    let (oh, ow) = s.output();
    let (lo, hi) = inside(s, kw, ow);
    if lo == hi {
        return;
    }
    for y in 0..oh {
        let iy = (y * s.stride + kh) as isize - s.padding as isize;
        if iy < 0 || iy >= s.height as isize {
            continue;
        }
        let dst = &mut plane[iy as usize * s.width..(iy as usize + 1) * s.width];
        let first = lo * s.stride + kw - s.padding;
        let src = &row[y * ow + lo..y * ow + hi];
        if s.stride == 1 {
            for (d, &v) in dst[first..first + (hi - lo)].iter_mut().zip(src) {
                *d += v;
            }
        } else {
            for (pixels, &v) in dst[first..].chunks_mut(s.stride).zip(src) {
                pixels[0] += v;
            }
        }
    }
}

/// The same as one shifted block add ([`Shift`]): the carried-over columns
/// (values that fell on the padding) are zeroed in `row` first, so each
/// pixel gets the same terms in the same order as row by row, plus exact
/// zeros.
#[inline(always)]
fn add_shifted_plane(row: &mut [f32], s: &ConvShape, kh: usize, kw: usize, plane: &mut [f32]) {
    let (_, ow) = s.output();
    let shift = Shift::new(s, kh, kw);
    if shift.lo == shift.hi {
        return;
    }
    let block = shift.block(row, ow);
    shift.zero_carried_columns(block, ow);
    for (d, &v) in plane[shift.source()]
        .iter_mut()
        .zip(&block[shift.first..shift.end])
    {
        *d += v;
    }
}

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
