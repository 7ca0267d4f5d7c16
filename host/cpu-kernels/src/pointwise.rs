//! Plain-slice kernels of a 1×1 convolution (stride 1, no padding, no bias) over NCHW f32 and
//! its gradients, as per-image matrix products on the `gemm` crate (the one burn's flex backend
//! uses for its own matmul):
//!
//! - forward: `y[b] = W · x[b]` (`[c_out, c_in] · [c_in, plane]`);
//! - `dL/dx[b] = Wᵀ · g[b]`;
//! - `dL/dW = Σ_b g[b] · x[b]ᵀ`, summed per chunk of [`WEIGHT_GRAD_CHUNK`] images, then the
//!   chunks in order, so the result does not depend on the thread count.
//!
//! One image per rayon task, each product single-threaded, transposes as strides (no copies):
//! burn's batched matmul with a broadcast weight materialises the transposes and the
//! `[batch, c_out, c_in]` weight gradients before summing them (BENCHMARKS.md).

use rayon::prelude::*;

/// Images whose weight-gradient products one task sums before the chunks are added in order.
pub const WEIGHT_GRAD_CHUNK: usize = 8;

/// The shape of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointwiseShape {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Pixels per channel (`h · w`).
    pub plane: usize,
}

/// A row-major or strided view of a matrix inside a slice.
#[derive(Debug, Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    /// Whether every element `(r, c)` lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`), `dst` row-major
/// `[lhs.rows, rhs.cols]`, single-threaded.
fn matmul(dst: &mut [f32], lhs: Matrix, rhs: Matrix, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions");
    assert_eq!(dst.len(), m * n, "destination size");
    assert!(
        lhs.in_bounds() && rhs.in_bounds(),
        "operand views inside their slices"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    let stride = |s: usize| isize::try_from(s).expect("a stride that fits an isize");
    // SAFETY: `gemm` reads `lhs` at `r · lhs_rs + c · lhs_cs` for r < m, c < k and `rhs` at
    // `r · rhs_rs + c · rhs_cs` for r < k, c < n — inside their slices by the `in_bounds`
    // assertions — and writes `dst` at `r · n + c` for r < m, c < n, inside `dst` (length m · n,
    // asserted), which is borrowed mutably and so aliases neither operand. With
    // `Parallelism::None` it spawns no threads that could outlive the borrows.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `y[b] = W · x[b]`. `x`: `[batch, c_in, plane]`, `weight`: `[c_out, c_in]`.
pub fn forward(x: &[f32], weight: &[f32], s: &PointwiseShape) -> Vec<f32> {
    let w = Matrix::row_major(weight, s.c_out, s.c_in);
    let mut y = vec![0.0f32; s.batch * s.c_out * s.plane];
    let (x_image, y_image) = (s.c_in * s.plane, s.c_out * s.plane);
    y.par_chunks_mut(y_image.max(1))
        .zip(x.par_chunks(x_image.max(1)))
        .for_each(|(y, x)| {
            matmul(y, w, Matrix::row_major(x, s.c_in, s.plane), false);
        });
    y
}

/// `dL/dx[b] = Wᵀ · g[b]`. `grad`: `[batch, c_out, plane]`.
pub fn input_grad(grad: &[f32], weight: &[f32], s: &PointwiseShape) -> Vec<f32> {
    let wt = Matrix::row_major(weight, s.c_out, s.c_in).transposed();
    let mut gx = vec![0.0f32; s.batch * s.c_in * s.plane];
    let (x_image, y_image) = (s.c_in * s.plane, s.c_out * s.plane);
    gx.par_chunks_mut(x_image.max(1))
        .zip(grad.par_chunks(y_image.max(1)))
        .for_each(|(gx, g)| {
            matmul(gx, wt, Matrix::row_major(g, s.c_out, s.plane), false);
        });
    gx
}

/// `dL/dW = Σ_b g[b] · x[b]ᵀ`, `[c_out, c_in]`.
pub fn weight_grad(x: &[f32], grad: &[f32], s: &PointwiseShape) -> Vec<f32> {
    let (x_image, y_image) = (s.c_in * s.plane, s.c_out * s.plane);
    let size = s.c_out * s.c_in;
    let chunks = s.batch.div_ceil(WEIGHT_GRAD_CHUNK);
    let partials: Vec<Vec<f32>> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut partial = vec![0.0f32; size];
            let images = chunk * WEIGHT_GRAD_CHUNK..((chunk + 1) * WEIGHT_GRAD_CHUNK).min(s.batch);
            for (i, b) in images.enumerate() {
                let g = Matrix::row_major(&grad[b * y_image..(b + 1) * y_image], s.c_out, s.plane);
                let xt = Matrix::row_major(&x[b * x_image..(b + 1) * x_image], s.c_in, s.plane)
                    .transposed();
                matmul(&mut partial, g, xt, i > 0);
            }
            partial
        })
        .collect();
    let mut gw = vec![0.0f32; size];
    for partial in &partials {
        for (o, p) in gw.iter_mut().zip(partial) {
            *o += p;
        }
    }
    gw
}
