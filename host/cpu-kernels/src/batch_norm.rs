//! Plain-slice kernels of training-mode BatchNorm (statistics of the batch itself) with what
//! follows it in the embedder fused into the same passes — an optional residual add and ReLU,
//! `y = relu(bn(x) + residual)` — and their gradients, NCHW contiguous f32.
//!
//! burn's generic `batch_norm_train` (which flex uses) swaps the batch and channel axes and
//! reshapes for every reduction — a layout copy each — then makes one pass per element-wise op;
//! here the forward is one statistics pass and one affine pass (with the add and the ReLU), the
//! backward one reduction pass and one pass for `dL/dx` (and `dL/dresidual`), the ReLU's mask
//! applied on the fly. Per-channel sums are accumulated in f64 in a fixed order.

use rayon::prelude::*;

/// The shape of one call: `[batch, channels, plane]` with `plane = h · w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchNormShape {
    /// Images in the batch.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Elements per channel per image (`h · w`).
    pub plane: usize,
}

impl BatchNormShape {
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// The planes of channel `c`, one per image.
    fn planes<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (stride, plane) = (self.channels * self.plane, self.plane);
        (0..self.batch).map(move |b| &x[b * stride + c * plane..b * stride + (c + 1) * plane])
    }
}

/// What the forward applies after the normalisation, in the same pass:
/// `y = bn(x) + residual` (when given), then `max(y, 0)` (when `relu`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// Added after the affine step; the shape of `x`.
    pub residual: Option<&'a [f32]>,
    /// Whether a ReLU ends the operation.
    pub relu: bool,
}

/// What the forward returns.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormOutput {
    /// The normalised, scaled and shifted input.
    pub output: Vec<f32>,
    /// Per-channel batch mean.
    pub mean: Vec<f32>,
    /// Per-channel biased batch variance.
    pub variance: Vec<f32>,
}

/// Per-channel gradients and the input gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormGrads {
    /// `dL/dx`.
    pub x: Vec<f32>,
    /// `dL/dgamma`.
    pub gamma: Vec<f32>,
    /// `dL/dbeta`.
    pub beta: Vec<f32>,
    /// `dL/dresidual` (the upstream gradient through the ReLU's mask), when there was one.
    pub residual: Option<Vec<f32>>,
}

/// Applies a per-channel `y = x · scale[c] + shift[c]` and the epilogue, one image per task.
fn affine(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    epilogue: Epilogue,
    shape: &BatchNormShape,
) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    let image = shape.channels * shape.plane;
    let images = y
        .par_chunks_mut(image.max(1))
        .zip(x.par_chunks(image.max(1)))
        .enumerate();
    images.for_each(|(b, (y, x))| {
        let residual = epilogue.residual.map(|r| &r[b * image..(b + 1) * image]);
        for (c, (y, x)) in y
            .chunks_exact_mut(shape.plane)
            .zip(x.chunks_exact(shape.plane))
            .enumerate()
        {
            let (a, s) = (scale[c], shift[c]);
            match residual {
                Some(r) => {
                    let r = &r[c * shape.plane..(c + 1) * shape.plane];
                    for ((y, x), r) in y.iter_mut().zip(x).zip(r) {
                        *y = x * a + s + r;
                    }
                }
                None => {
                    for (y, x) in y.iter_mut().zip(x) {
                        *y = x * a + s;
                    }
                }
            }
            if epilogue.relu {
                // burn's ReLU: 0 where ≤ 0 (a NaN stays NaN).
                for y in y.iter_mut() {
                    *y = if *y <= 0.0 { 0.0 } else { *y };
                }
            }
        }
    });
    y
}

/// Per-channel sums are kept in `LANES` interleaved f64 partial sums (element `i` of a plane
/// adds to lane `i % LANES`), added in order at the end: a fixed order that vectorises.
const LANES: usize = 8;

/// `lanes[i % LANES] += f(values[i])`.
#[inline]
fn lane_sums(lanes: &mut [f64; LANES], values: &[f32], f: impl Fn(f32) -> f64) {
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for j in 0..LANES {
            lanes[j] += f(chunk[j]);
        }
    }
    for (j, &v) in rest.iter().enumerate() {
        lanes[j] += f(v);
    }
}

/// `sums[i % LANES] += g[i]` and `centred[i % LANES] += g[i] · (x[i] − mean)`.
#[inline]
fn grad_lane_sums(
    sums: &mut [f64; LANES],
    centred: &mut [f64; LANES],
    g: &[f32],
    x: &[f32],
    mean: f64,
) {
    let (gc, xc) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let (gr, xr) = (gc.remainder(), xc.remainder());
    for (gc, xc) in gc.zip(xc) {
        for j in 0..LANES {
            sums[j] += gc[j] as f64;
            centred[j] += gc[j] as f64 * (xc[j] as f64 - mean);
        }
    }
    for (j, (&gv, &xv)) in gr.iter().zip(xr).enumerate() {
        sums[j] += gv as f64;
        centred[j] += gv as f64 * (xv as f64 - mean);
    }
}

/// Training-mode forward: `y = (x − mean) / √(var + ε) · gamma + beta` with the batch's own
/// per-channel mean and biased variance (two passes for the variance: the centred sum), then
/// the epilogue.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    epilogue: Epilogue,
    shape: &BatchNormShape,
) -> BatchNormOutput {
    let stats: Vec<(f64, f64)> = (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let mut lanes = [0.0f64; LANES];
            for p in shape.planes(x, c) {
                lane_sums(&mut lanes, p, |v| v as f64);
            }
            let mean = lanes.iter().sum::<f64>() / shape.count();
            let mut lanes = [0.0f64; LANES];
            for p in shape.planes(x, c) {
                lane_sums(&mut lanes, p, |v| (v as f64 - mean) * (v as f64 - mean));
            }
            (mean, lanes.iter().sum::<f64>() / shape.count())
        })
        .collect();
    let mut scale = Vec::with_capacity(shape.channels);
    let mut shift = Vec::with_capacity(shape.channels);
    for (c, &(mean, var)) in stats.iter().enumerate() {
        let s = gamma[c] as f64 / (var + epsilon).sqrt();
        scale.push(s as f32);
        shift.push((beta[c] as f64 - mean * s) as f32);
    }
    BatchNormOutput {
        output: affine(x, &scale, &shift, epilogue, shape),
        mean: stats.iter().map(|s| s.0 as f32).collect(),
        variance: stats.iter().map(|s| s.1 as f32).collect(),
    }
}

/// What the backward needs of its forward.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormSaved<'a> {
    /// The forward's input.
    pub x: &'a [f32],
    /// Its scale.
    pub gamma: &'a [f32],
    /// The batch mean it computed.
    pub mean: &'a [f32],
    /// The batch variance it computed.
    pub variance: &'a [f32],
    /// Its output, when a ReLU ended it (the ReLU's mask).
    pub relu_output: Option<&'a [f32]>,
    /// Its ε.
    pub epsilon: f64,
}

/// `g` masked by the ReLU: 0 where the output is ≤ 0, else `g` (burn's ReLU backward; a NaN
/// output passes its gradient).
fn masked<'a>(grad: &'a [f32], relu_output: Option<&[f32]>, scratch: &'a mut [f32]) -> &'a [f32] {
    match relu_output {
        None => grad,
        Some(y) => {
            for ((s, &g), &y) in scratch.iter_mut().zip(grad).zip(y) {
                *s = if y <= 0.0 { 0.0 } else { g };
            }
            scratch
        }
    }
}

/// The gradients of [`forward`] given `dL/dy` (`grad`), with `g` = `dL/dy` through the ReLU's
/// mask when there was one: `dL/dresidual = g` (when `with_residual`), `dL/dbeta = Σ g`,
/// `dL/dgamma = Σ g·x̂`,
/// `dL/dx = gamma / √(var + ε) · (g − mean(g) − x̂ · mean(g·x̂))` with `x̂ = (x − mean) / √(var + ε)`.
pub fn backward(
    saved: BatchNormSaved,
    grad: &[f32],
    with_residual: bool,
    shape: &BatchNormShape,
) -> BatchNormGrads {
    let BatchNormSaved {
        x,
        gamma,
        mean,
        variance,
        relu_output,
        epsilon,
    } = saved;
    let plane = shape.plane;
    let inv_std: Vec<f64> = variance
        .iter()
        .map(|&v| 1.0 / (v as f64 + epsilon).sqrt())
        .collect();
    let sums: Vec<(f64, f64)> = (0..shape.channels)
        .into_par_iter()
        .map(|c| {
            let (m, s) = (mean[c] as f64, inv_std[c]);
            let (mut sums, mut centred) = ([0.0f64; LANES], [0.0f64; LANES]);
            let mut scratch = vec![0.0f32; plane];
            for b in 0..shape.batch {
                let at = (b * shape.channels + c) * plane..(b * shape.channels + c + 1) * plane;
                let g = masked(
                    &grad[at.clone()],
                    relu_output.map(|y| &y[at.clone()]),
                    &mut scratch,
                );
                grad_lane_sums(&mut sums, &mut centred, g, &x[at], m);
            }
            (sums.iter().sum::<f64>(), centred.iter().sum::<f64>() * s)
        })
        .collect();
    // dL/dx = k·g + a·x + b per channel, with k = gamma·s, a = −k·s·mean(g·x̂),
    // b = −k·mean(g) − a·mean.
    let n = shape.count();
    let mut k = Vec::with_capacity(shape.channels);
    let mut a = Vec::with_capacity(shape.channels);
    let mut b = Vec::with_capacity(shape.channels);
    for c in 0..shape.channels {
        let kc = gamma[c] as f64 * inv_std[c];
        let ac = -kc * inv_std[c] * sums[c].1 / n;
        k.push(kc as f32);
        a.push(ac as f32);
        b.push((-kc * sums[c].0 / n - ac * mean[c] as f64) as f32);
    }
    let image = shape.channels * plane;
    // One image per task: dL/dx, and dL/dresidual (g itself) when asked for.
    let one_image = |img: usize, gx: &mut [f32], mut g_residual: Option<&mut [f32]>| {
        let mut scratch = vec![0.0f32; plane];
        for c in 0..shape.channels {
            let (kc, ac, bc) = (k[c], a[c], b[c]);
            let at = img * image + c * plane..img * image + (c + 1) * plane;
            let g = masked(
                &grad[at.clone()],
                relu_output.map(|y| &y[at.clone()]),
                &mut scratch,
            );
            for ((o, &xv), &gv) in gx[c * plane..(c + 1) * plane].iter_mut().zip(&x[at]).zip(g) {
                *o = kc * gv + ac * xv + bc;
            }
            if let Some(r) = g_residual.as_deref_mut() {
                r[c * plane..(c + 1) * plane].copy_from_slice(g);
            }
        }
    };
    let mut gx = vec![0.0f32; x.len()];
    let residual = if with_residual {
        let mut gr = vec![0.0f32; x.len()];
        let tasks = gx
            .par_chunks_mut(image.max(1))
            .zip(gr.par_chunks_mut(image.max(1)))
            .enumerate();
        tasks.for_each(|(img, (gx, gr))| one_image(img, gx, Some(gr)));
        Some(gr)
    } else {
        gx.par_chunks_mut(image.max(1))
            .enumerate()
            .for_each(|(img, gx)| one_image(img, gx, None));
        None
    };
    BatchNormGrads {
        x: gx,
        gamma: sums.iter().map(|s| s.1 as f32).collect(),
        beta: sums.iter().map(|s| s.0 as f32).collect(),
        residual,
    }
}
