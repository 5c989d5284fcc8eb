//! The calls into the GEMM libraries: C ← α·A·B + β·C for f32 matrices
//! held in slices and described by shape and strides. `matrixmultiply`
//! (threaded, for the analyses' large products) and `gemm` (single-thread,
//! inside the CPU kernels' own parallel loops, where it measures faster on
//! their small products: `bench kernels`) read and write through raw
//! pointers; here every element either can touch is checked to lie inside
//! its slice first, so their callers stay safe code.

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

/// Checks the shapes and that every element lies inside its slice, and
/// returns (m, k, n). Panics otherwise: a caller's bug, caught before any
/// raw pointer is read.
fn checked(a: &View, b: &View, c: &[f32]) -> (usize, usize, usize) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(
        b.rows == k && a.fits() && b.fits() && m.checked_mul(n).is_some_and(|mn| c.len() >= mn),
        "gemm: {m}×{k} · {}×{n} into {} values: shapes disagree or exceed their slices",
        b.rows,
        c.len()
    );
    (m, k, n)
}

/// `c ← alpha·a·b + beta·c`, with `c` row-major `a.rows × b.cols`
/// (matrixmultiply, threaded).
///
/// Panics if the shapes disagree or a view reaches outside its slice.
pub fn gemm(alpha: f32, a: View, b: View, beta: f32, c: &mut [f32]) {
    let (m, k, n) = checked(&a, &b, c);
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

/// `c ← a·b + c` (accumulate), on the calling thread only (the `gemm`
/// crate), for callers that parallelise around it.
///
/// Panics if the shapes disagree or a view reaches outside its slice.
pub fn gemm_accumulate_here(a: View, b: View, c: &mut [f32]) {
    let (m, k, n) = checked(&a, &b, c);
    // SAFETY: as in `gemm`: A and B are read only inside their slices
    // (`checked`), C is m×n row-major (column stride 1, row stride n) inside
    // `c`, borrowed mutably so it aliases neither input. The crate computes
    // dst ← alpha·dst + beta·lhs·rhs; alpha = beta = 1 with read_dst.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            true,
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
}
