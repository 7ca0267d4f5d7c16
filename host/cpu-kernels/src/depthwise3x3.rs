//! Plain-slice kernels of a 3×3 convolution with padding 1 in which every output channel reads
//! one input channel: the depthwise layers (`groups = c_in = c_out`) and the one-channel stem
//! (`c_in = 1`, every output channel reads the image). Output channel `co` reads input channel
//! `co / multiplier`, `multiplier = c_out / c_in`.
//!
//! burn's CPU backends compute the gradients of these layers through a transposed grouped
//! convolution and a grouped convolution with layout copies around them (BENCHMARKS.md, "Where
//! facegate's step goes"); here each gradient is one pass over a zero-padded plane. The padded
//! plane is laid out so that each of the 9 taps reads one contiguous run of `out_w` values per
//! output row — for stride 2 the even and odd padded columns are stored as two planes — so every
//! inner loop is a contiguous `y += k · x` or dot product that the compiler vectorises. Every
//! output element is summed in one fixed order, so results do not depend on the thread count.
//!
//! Layout: NCHW, contiguous, f32. Weights `[c_out, 1, 3, 3]`.

use rayon::prelude::*;

/// The shape of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depthwise3x3Shape {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels (a multiple of `c_in`).
    pub c_out: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// 1 or 2.
    pub stride: usize,
}

impl Depthwise3x3Shape {
    /// Output channels per input channel.
    pub fn multiplier(&self) -> usize {
        self.c_out / self.c_in
    }
    /// Output height (padding 1, kernel 3).
    pub fn out_height(&self) -> usize {
        (self.height - 1) / self.stride + 1
    }
    /// Output width.
    pub fn out_width(&self) -> usize {
        (self.width - 1) / self.stride + 1
    }
    /// Elements of the input, output and weight.
    pub fn lens(&self) -> (usize, usize, usize) {
        let out = self.out_height() * self.out_width();
        (
            self.batch * self.c_in * self.height * self.width,
            self.batch * self.c_out * out,
            self.c_out * 9,
        )
    }
}

/// One zero-padded `(height + 2) × (width + 2)` plane in tap order: stride 1 row-major; stride 2
/// as two planes, the even padded columns then the odd ones, each `out_w + 1` wide, so that
/// padded element `(r, 2·ox + kx)` is at `index(r, kx) + ox` for every stride.
struct TapPlane {
    data: Vec<f32>,
    /// Columns per stored row.
    width: usize,
    /// Elements of one stored plane (the offset of the odd columns for stride 2).
    half: usize,
    stride: usize,
}

impl TapPlane {
    fn new(shape: &Depthwise3x3Shape) -> Self {
        let rows = shape.height + 2;
        let width = if shape.stride == 1 {
            shape.width + 2
        } else {
            shape.out_width() + 1
        };
        let planes = if shape.stride == 1 { 1 } else { 2 };
        Self {
            data: vec![0.0; planes * rows * width],
            width,
            half: rows * width,
            stride: shape.stride,
        }
    }

    /// Where padded element `(r, c)` is stored.
    #[inline]
    fn index(&self, r: usize, c: usize) -> usize {
        if self.stride == 1 {
            r * self.width + c
        } else {
            (c % 2) * self.half + r * self.width + c / 2
        }
    }

    /// The `out_w` values tap `(ky, kx)` reads for output row `oy`.
    #[inline]
    fn tap(&self, ky: usize, kx: usize, oy: usize, ow: usize) -> std::ops::Range<usize> {
        let start = self.index(oy * self.stride + ky, kx);
        start..start + ow
    }

    /// The stored runs of padded row `r`'s interior columns `1..=width`: stride 1 one run;
    /// stride 2 the odd padded columns (even `x`) and the even ones (odd `x`).
    fn interior_runs(&self, r: usize, width: usize) -> [std::ops::Range<usize>; 2] {
        if self.stride == 1 {
            let start = self.index(r, 1);
            [start..start + width, 0..0]
        } else {
            let (odd, even) = (self.index(r, 1), self.index(r, 2));
            [odd..odd + width.div_ceil(2), even..even + width / 2]
        }
    }

    /// Zeroes the plane and copies `plane` (`height × width`) into its interior.
    fn fill(&mut self, plane: &[f32], shape: &Depthwise3x3Shape) {
        self.data.fill(0.0);
        for (y, row) in plane.chunks_exact(shape.width).enumerate() {
            let [a, b] = self.interior_runs(y + 1, shape.width);
            if self.stride == 1 {
                self.data[a].copy_from_slice(row);
            } else {
                for (d, &v) in self.data[a].iter_mut().zip(row.iter().step_by(2)) {
                    *d = v;
                }
                for (d, &v) in self.data[b].iter_mut().zip(row.iter().skip(1).step_by(2)) {
                    *d = v;
                }
            }
        }
    }

    /// Copies the interior out into `plane` (`height × width`).
    fn interior_into(&self, plane: &mut [f32], shape: &Depthwise3x3Shape) {
        for (y, row) in plane.chunks_exact_mut(shape.width).enumerate() {
            let [a, b] = self.interior_runs(y + 1, shape.width);
            if self.stride == 1 {
                row.copy_from_slice(&self.data[a]);
            } else {
                for (v, &d) in row.iter_mut().step_by(2).zip(&self.data[a]) {
                    *v = d;
                }
                for (v, &d) in row.iter_mut().skip(1).step_by(2).zip(&self.data[b]) {
                    *v = d;
                }
            }
        }
    }
}

/// `y += k · x`, elementwise.
#[inline]
fn axpy(y: &mut [f32], k: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += k * x;
    }
}

/// Lanes of the dot products of the weight gradient: element `i` adds to lane `i % LANES`, the
/// lanes are summed once at the end (a fixed order the compiler can vectorise).
const LANES: usize = 8;

#[inline]
fn dot_into(lanes: &mut [f32; LANES], a: &[f32], b: &[f32]) {
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for j in 0..LANES {
            lanes[j] += ca[j] * cb[j];
        }
    }
    for (j, (x, y)) in ra.iter().zip(rb).enumerate() {
        lanes[j] += x * y;
    }
}

/// `y = conv(x, w)`; `y` is `[batch, c_out, out_h, out_w]`.
pub fn forward(x: &[f32], w: &[f32], shape: &Depthwise3x3Shape) -> Vec<f32> {
    let (_, y_len, _) = shape.lens();
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let plane_in = shape.height * shape.width;
    let m = shape.multiplier();
    let mut y = vec![0.0f32; y_len];
    y.par_chunks_mut((oh * ow * m).max(1))
        .enumerate()
        .for_each_init(
            || TapPlane::new(shape),
            |taps, (plane, out)| {
                // One input plane (b, ci) feeds `m` output planes.
                let ci = plane % shape.c_in;
                taps.fill(&x[plane * plane_in..(plane + 1) * plane_in], shape);
                for (j, out) in out.chunks_exact_mut(oh * ow).enumerate() {
                    let k = &w[(ci * m + j) * 9..(ci * m + j) * 9 + 9];
                    for (oy, out_row) in out.chunks_exact_mut(ow).enumerate() {
                        for (t, &kt) in k.iter().enumerate() {
                            axpy(out_row, kt, &taps.data[taps.tap(t / 3, t % 3, oy, ow)]);
                        }
                    }
                }
            },
        );
    y
}

/// The input gradient `dL/dx` from `dL/dy`.
pub fn input_grad(grad: &[f32], w: &[f32], shape: &Depthwise3x3Shape) -> Vec<f32> {
    let (x_len, _, _) = shape.lens();
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let plane_in = shape.height * shape.width;
    let m = shape.multiplier();
    let mut gx = vec![0.0f32; x_len];
    gx.par_chunks_mut(plane_in.max(1))
        .enumerate()
        .for_each_init(
            || TapPlane::new(shape),
            |taps, (plane, gx)| {
                let ci = plane % shape.c_in;
                taps.data.fill(0.0);
                let g_planes = &grad[plane * m * oh * ow..(plane + 1) * m * oh * ow];
                for (j, g) in g_planes.chunks_exact(oh * ow).enumerate() {
                    let k = &w[(ci * m + j) * 9..(ci * m + j) * 9 + 9];
                    for (oy, g_row) in g.chunks_exact(ow).enumerate() {
                        for (t, &kt) in k.iter().enumerate() {
                            let run = taps.tap(t / 3, t % 3, oy, ow);
                            axpy(&mut taps.data[run], kt, g_row);
                        }
                    }
                }
                taps.interior_into(gx, shape);
            },
        );
    gx
}

/// The weight gradient `dL/dw` (`[c_out, 1, 3, 3]`) from the input and `dL/dy`.
pub fn weight_grad(x: &[f32], grad: &[f32], shape: &Depthwise3x3Shape) -> Vec<f32> {
    let (oh, ow) = (shape.out_height(), shape.out_width());
    let plane_in = shape.height * shape.width;
    let m = shape.multiplier();
    let mut gw = vec![0.0f32; shape.c_out * 9];
    gw.par_chunks_mut(9).enumerate().for_each_init(
        || TapPlane::new(shape),
        |taps, (co, gw)| {
            let ci = co / m;
            let mut lanes = [[0.0f32; LANES]; 9];
            for b in 0..shape.batch {
                let x_plane = b * shape.c_in + ci;
                taps.fill(&x[x_plane * plane_in..(x_plane + 1) * plane_in], shape);
                let g_plane = b * shape.c_out + co;
                let g = &grad[g_plane * oh * ow..(g_plane + 1) * oh * ow];
                for (oy, g_row) in g.chunks_exact(ow).enumerate() {
                    for (t, lanes) in lanes.iter_mut().enumerate() {
                        dot_into(lanes, g_row, &taps.data[taps.tap(t / 3, t % 3, oy, ow)]);
                    }
                }
            }
            for (o, lanes) in gw.iter_mut().zip(&lanes) {
                *o = lanes.iter().sum();
            }
        },
    );
    gw
}
