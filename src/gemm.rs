//! The calls into the GEMM libraries: C ← α·A·B + β·C for f32 matrices
//! held in slices and described by shape and strides. `matrixmultiply`
//! (threaded, for the analyses' large products) and `gemm` (single-thread,
//! inside the CPU kernels' own parallel loops, where it measures faster on
//! their small products: `bench kernels`) read and write through raw
//! pointers; here every element either can touch is checked to lie inside
//! its slice first, so their callers stay safe code.

use std::mem::MaybeUninit;

/// A matrix inside a slice: element (i, j) is `data[i·row_stride + j·col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// `data` as a row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> View<'a> {
        View {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of `data` read as a row-major `rows × cols` matrix:
    /// a `cols × rows` matrix, without copying.
    pub fn transpose_of(data: &'a [f32], rows: usize, cols: usize) -> View<'a> {
        View {
            data,
            rows: cols,
            cols: rows,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Element (i, j) at `data[i·row_stride + j·col_stride]`.
    pub fn strided(
        data: &'a [f32],
        (rows, cols): (usize, usize),
        (row_stride, col_stride): (usize, usize),
    ) -> View<'a> {
        View {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        }
    }

    /// Whether every element lies inside `data` (and every offset fits an isize).
    fn fits(&self) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return true;
        }
        let last = (self.rows - 1)
            .checked_mul(self.row_stride)
            .zip((self.cols - 1).checked_mul(self.col_stride))
            .and_then(|(a, b)| a.checked_add(b));
        last.is_some_and(|l| l < self.data.len() && l <= isize::MAX as usize)
    }
}

/// Checks the shapes and that every element lies inside its slice — C of
/// `c_len` values holds the m×n product (`exact`: holds exactly it) — and
/// returns (m, k, n). Panics otherwise: a caller's bug, caught before any
/// raw pointer is read.
fn checked(a: &View, b: &View, c_len: usize, exact: bool) -> (usize, usize, usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let fits_c = m
        .checked_mul(n)
        .is_some_and(|mn| c_len == mn || (!exact && c_len > mn));
    assert!(
        b.rows == k && a.fits() && b.fits() && fits_c,
        "gemm: {m}×{k} · {}×{n} into {c_len} values: shapes disagree or exceed their slices",
        b.rows,
    );
    (m, k, n)
}

/// `c ← alpha·a·b + beta·c`, with `c` row-major `a.rows × b.cols`
/// (matrixmultiply, threaded).
///
/// Panics if the shapes disagree or a view reaches outside its slice.
pub fn gemm(alpha: f32, a: View, b: View, beta: f32, c: &mut [f32]) {
    let (m, k, n) = checked(&a, &b, c.len(), false);
    // SAFETY: every element sgemm reads from A and B lies inside its slice
    // (`fits`, with strides and offsets within isize), C holds m×n values
    // written row-major with strides (n, 1), and the three slices are
    // borrowed for the call (C mutably, so it aliases neither A nor B).
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Whether [`gemm_here`] adds the product to `c` or writes over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmInto {
    /// `c ← a·b + c`.
    Accumulate,
    /// `c ← a·b`: `c`'s old values are never read, so a scratch buffer
    /// needs no zeroing first.
    Overwrite,
}

/// `c ← a·b (+ c)`, on the calling thread only (the `gemm` crate), for
/// callers that parallelise around it.
///
/// Panics if the shapes disagree or a view reaches outside its slice.
pub fn gemm_here(a: View, b: View, c: &mut [f32], into: GemmInto) {
    let (m, k, n) = checked(&a, &b, c.len(), false);
    // SAFETY: `checked`: A and B are read only inside their slices, C is
    // m×n row-major inside `c`, borrowed mutably so it aliases neither.
    unsafe { single_thread(m, k, n, a, b, c.as_mut_ptr(), into == GemmInto::Accumulate) }
}

/// `c ← a·b` into memory not yet initialised, which the product fills
/// exactly (`c` holds a.rows × b.cols values, each written): an output
/// buffer needs no zeroing pass before the GEMM writes over it.
///
/// Panics if the shapes disagree, `c` is not exactly the product's size or
/// a view reaches outside its slice.
pub fn gemm_here_uninit(a: View, b: View, c: &mut [MaybeUninit<f32>]) {
    let (m, k, n) = checked(&a, &b, c.len(), true);
    if k == 0 {
        // An empty sum: zeros (the crate need not write anything).
        c.fill(MaybeUninit::new(0.0));
        return;
    }
    // SAFETY: as in `gemm_here`; with read_dst false the crate never reads
    // C, and with k ≥ 1 it writes each of its m×n elements.
    unsafe { single_thread(m, k, n, a, b, c.as_mut_ptr().cast::<f32>(), false) }
}

/// dst ← alpha·dst + beta·lhs·rhs (alpha = beta = 1; dst read only with
/// `read_dst`), single-threaded.
///
/// # Safety
/// A and B must lie inside their slices; `c` must point at m×n writable
/// values (row-major, row stride n) aliasing neither.
unsafe fn single_thread(
    m: usize,
    k: usize,
    n: usize,
    a: View,
    b: View,
    c: *mut f32,
    read_dst: bool,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            n as isize,
            read_dst,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-checked: [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]; with
    /// the first factor read transposed, [[1,3],[2,4]] · … = [[26,30],[38,44]].
    #[test]
    fn products_by_hand() {
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut c = [0f32; 4];
        gemm(
            1.0,
            View::row_major(&x, 2, 2),
            View::row_major(&y, 2, 2),
            0.0,
            &mut c,
        );
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        let mut c = [1f32; 4];
        gemm(
            1.0,
            View::transpose_of(&x, 2, 2),
            View::row_major(&y, 2, 2),
            1.0,
            &mut c,
        );
        assert_eq!(c, [27.0, 31.0, 39.0, 45.0]);
    }

    #[test]
    #[should_panic(expected = "shapes disagree")]
    fn a_view_past_its_slice_panics_before_sgemm() {
        let x = [0f32; 5];
        gemm(
            1.0,
            View::row_major(&x, 2, 3),
            View::row_major(&x, 3, 1),
            0.0,
            &mut [0f32; 2],
        );
    }

    /// The single-thread GEMM on the same hand-checked products: written
    /// over, added to, into uninitialised memory, and the empty sum (k = 0)
    /// as zeros; strided views read the right elements.
    #[test]
    fn single_thread_products_by_hand() {
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let (a, b) = (View::row_major(&x, 2, 2), View::row_major(&y, 2, 2));
        let mut c = [f32::NAN; 4];
        gemm_here(a, b, &mut c, GemmInto::Overwrite);
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        let mut c = [1f32; 4];
        gemm_here(
            View::transpose_of(&x, 2, 2),
            b,
            &mut c,
            GemmInto::Accumulate,
        );
        assert_eq!(c, [27.0, 31.0, 39.0, 45.0]);
        let mut c = [MaybeUninit::<f32>::uninit(); 4];
        gemm_here_uninit(a, View::strided(&y, (2, 2), (2, 1)), &mut c);
        assert_eq!(
            c.map(|v| unsafe { v.assume_init() }),
            [19.0, 22.0, 43.0, 50.0]
        );
        let mut c = [MaybeUninit::<f32>::uninit(); 4];
        gemm_here_uninit(
            View::row_major(&[], 2, 0),
            View::row_major(&[], 0, 2),
            &mut c,
        );
        assert_eq!(c.map(|v| unsafe { v.assume_init() }), [0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "shapes disagree")]
    fn an_uninitialised_output_larger_than_the_product_panics() {
        let x = [1f32; 4];
        let mut c = [MaybeUninit::<f32>::uninit(); 5];
        gemm_here_uninit(View::row_major(&x, 2, 2), View::row_major(&x, 2, 2), &mut c);
    }
}
