//! What an ideal runtime computes from the QDQ export, exactly, and a sound per-element bound on
//! how far a real one (any CPU, any order of float summation, float operators or integer kernels)
//! can be from it.
//!
//! The device rounds twice (TFLite's fixed point), the export's `QuantizeLinear` once: that
//! difference is fixed by the arithmetic, so [`single_rounding_reference`] computes it exactly
//! (f64 on exact integers, the graph's own f32 scales: the same bits on every CPU), and the device
//! can be compared with it deterministically. What does depend on the CPU is the runtime's float
//! error: it can change a rounding only where the exact value lies within the float error bound of
//! a boundary. This module follows those elements as intervals: for each layer, from the
//! reference input `x` and its uncertainty `e` (LSB, per element), the value the runtime rounds is
//! `v(x) ± (Σ |w|·e·M + ε)` — `M` the export's real multiplier, `ε` the float error bound — and
//! its output can be any `round(v)` in that interval, clamped like the device's. Nothing in it is
//! measured.
//!
//! Float error `ε`: a runtime evaluates a layer's `n` products, its bias and the dequantisations in
//! float32, in any order, with or without fused multiply-add. With `u = 2⁻²⁴`, every such sum is
//! within `γ = (n + FLOAT_TERMS)·u/(1 − (n + FLOAT_TERMS)·u)` of the sum of the absolute values of
//! its terms (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1), where
//! [`FLOAT_TERMS`] covers the dequantisations, the bias, the division by the output scale and the
//! zero point. Integer kernels (ONNX Runtime's fused path) accumulate exactly and requantise with
//! one float32 multiply, within it; its fixed-point `QLinearAdd` has its own term
//! ([`fixed_point_add_error`]).

use super::qdq::{bad, channel_scales, layer_parts, LayerParts};
use super::OnnxError;
use facegate_shared::blob::{Model, Operator, TensorRecord};
use facegate_shared::int8::add::AddMultipliers;
use facegate_shared::int8::ChannelParams;

/// Roundings besides the `n` products' sum: input and weight dequantisation, bias, division by the
/// output scale, zero point, clip, and a margin for the few operators ONNX Runtime inserts.
pub const FLOAT_TERMS: usize = 8;

/// float32's unit roundoff.
const UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

/// The relative error bound of a float32 sum of `n` terms (plus [`FLOAT_TERMS`] roundings).
pub fn gamma(n: usize) -> f64 {
    let k = (n + FLOAT_TERMS) as f64 * UNIT_ROUNDOFF;
    k / (1.0 - k)
}

/// What the exact value a layer's `QuantizeLinear` rounds may be, for one output element.
#[derive(Debug, Clone, Copy)]
pub struct ValueInterval {
    /// The value from the device's input, exactly (output LSB, zero point included).
    pub centre: f64,
    /// How far the runtime's value may be from `centre` (input uncertainty + float error).
    pub radius: f64,
}

/// The largest distance from `device` of `clamp(round(v))` for `v` in the interval.
fn output_uncertainty(v: ValueInterval, device: i8, lo: i8, hi: i8) -> u32 {
    let clamp = |x: f64| x.clamp(f64::from(lo), f64::from(hi));
    // Either rounding of an exact half is possible: widen to the outer integers.
    let low = clamp((v.centre - v.radius - 0.5).ceil());
    let high = clamp((v.centre + v.radius + 0.5).floor());
    let d = f64::from(device);
    (d - low).abs().max((high - d).abs()) as u32
}

/// The device's tensors around one layer and the uncertainty of its inputs.
pub struct LayerInput<'a> {
    /// The first input (device `H·W·C` order).
    pub x: &'a [i8],
    /// Its uncertainty per element.
    pub e: &'a [u32],
    /// The add's second input and its uncertainty.
    pub second: Option<(&'a [i8], &'a [u32])>,
}

/// ONNX Runtime's fused `QLinearAdd` (MLAS) computes in fixed point: each input's scale ratio
/// `s_in / s_out` becomes an integer multiplier at `2^shift` with `2^-shift ≤ max_ratio · 2⁻²¹`
/// (the larger ratio gets 22 significant bits), so each product `(q − z) · ratio` is off by at most
/// `|q − z| · max_ratio · 2⁻²²`; the zero points fold into an exact integer offset and the final
/// rounding shift rounds that approximation once.
fn fixed_point_add_error(qa: f64, qb: f64, max_ratio: f64) -> f64 {
    (qa.abs() + qb.abs()) * max_ratio * 2f64.powi(-22)
}

fn centred(t: &TensorRecord, q: i8) -> f64 {
    f64::from(i32::from(q) - t.zero_point)
}

/// The value intervals of every output element of layer `index`: with zero input uncertainty, the
/// radius is the float error bound alone.
pub fn layer_intervals(
    model: &Model<'_>,
    index: u16,
    input: &LayerInput<'_>,
) -> Result<Vec<ValueInterval>, OnnxError> {
    intervals(model, &layer_parts(model, index)?, input)
}

fn intervals(
    model: &Model<'_>,
    parts: &LayerParts,
    input: &LayerInput<'_>,
) -> Result<Vec<ValueInterval>, OnnxError> {
    let LayerParts {
        layer,
        op,
        input: i_t,
        output: o_t,
    } = parts;
    let (x, e) = (input.x, input.e);
    if x.len() != i_t.shape.len() || e.len() != x.len() {
        return Err(bad("layer input size"));
    }
    let params = model
        .weights_slice(layer.params_offset, layer.params_len)
        .ok_or_else(|| bad("constants"))?;
    let weights = model
        .weights_slice(layer.weights_offset, layer.weights_len)
        .ok_or_else(|| bad("weights"))?;
    let (s_in, s_out, z_out) = (
        f64::from(i_t.scale),
        f64::from(o_t.scale),
        f64::from(o_t.zero_point),
    );
    let (h, w, c) = (
        usize::from(i_t.shape.height),
        usize::from(i_t.shape.width),
        usize::from(i_t.shape.channels),
    );
    let (oh, ow, oc) = (
        usize::from(o_t.shape.height),
        usize::from(o_t.shape.width),
        usize::from(o_t.shape.channels),
    );
    Ok(match op {
        Operator::Conv2d
        | Operator::DepthwiseConv2d
        | Operator::PointwiseConv
        | Operator::Dense => {
            let channels = ChannelParams::new(params).ok_or_else(|| bad("channel constants"))?;
            let scales = channel_scales(&channels, i_t, o_t);
            let depthwise = *op == Operator::DepthwiseConv2d;
            let (k, stride, pad) = match op {
                Operator::Conv2d | Operator::DepthwiseConv2d => (
                    usize::from(layer.kernel),
                    usize::from(layer.stride),
                    usize::from(layer.padding),
                ),
                _ => (1, 1, 0),
            };
            let per_group = if depthwise { 1 } else { c };
            if weights.len() != oc * k * k * per_group {
                return Err(bad("weights size"));
            }
            let mut out = Vec::with_capacity(oh * ow * oc);
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..oc {
                        let ch = channels.get(o).ok_or_else(|| bad("channel constants"))?;
                        let (ws, bs) = (f64::from(scales.weight[o]), f64::from(scales.bias[o]));
                        let (mut acc, mut abs, mut spread, mut n) = (0.0, 0.0, 0.0, 0usize);
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = ((oy * stride + ky), (ox * stride + kx));
                                if iy < pad || ix < pad || iy - pad >= h || ix - pad >= w {
                                    continue;
                                }
                                let pixel = (iy - pad) * w + (ix - pad);
                                let tap = ky * k + kx;
                                for i in 0..per_group {
                                    let (src, wi) = if depthwise {
                                        (pixel * c + o, tap * oc + o)
                                    } else {
                                        (pixel * c + i, (o * k * k + tap) * per_group + i)
                                    };
                                    let wv = f64::from(weights[wi] as i8);
                                    let xv = centred(i_t, x[src]);
                                    acc += xv * wv;
                                    abs += (xv * wv).abs();
                                    spread += wv.abs() * f64::from(e[src]);
                                    n += 1;
                                }
                            }
                        }
                        let bias = f64::from(ch.bias);
                        let real = (acc * s_in * ws + bias * bs) / s_out;
                        let magnitude = (abs * s_in * ws + bias.abs() * bs) / s_out + z_out.abs();
                        out.push(ValueInterval {
                            centre: real + z_out,
                            radius: spread * s_in * ws / s_out + gamma(n) * magnitude,
                        });
                    }
                }
            }
            out
        }
        Operator::Add => {
            let (x2, e2) = input.second.ok_or_else(|| bad("add input"))?;
            let t2 = model.tensor(layer.input2).ok_or_else(|| bad("add input"))?;
            AddMultipliers::from_bytes(params).ok_or_else(|| bad("add constants"))?;
            if x2.len() != x.len() || e2.len() != x.len() {
                return Err(bad("add input size"));
            }
            let s2 = f64::from(t2.scale);
            let max_ratio = s_in.max(s2) / s_out;
            (0..x.len())
                .map(|i| {
                    let (qa, qb) = (centred(i_t, x[i]), centred(&t2, x2[i]));
                    let (a, b) = (qa * s_in, qb * s2);
                    let float = gamma(2) * ((a.abs() + b.abs()) / s_out + z_out.abs());
                    ValueInterval {
                        centre: (a + b) / s_out + z_out,
                        radius: (f64::from(e[i]) * s_in + f64::from(e2[i]) * s2) / s_out
                            + float
                            + fixed_point_add_error(qa, qb, max_ratio),
                    }
                })
                .collect()
        }
        Operator::GlobalAveragePool => {
            let n = h * w;
            let nudge = 1.0 / (4 * n) as f64;
            (0..c)
                .map(|ch| {
                    let (mut sum, mut abs, mut spread) = (0.0, 0.0, 0.0);
                    for p in 0..n {
                        let v = centred(i_t, x[p * c + ch]);
                        sum += v;
                        abs += v.abs();
                        spread += f64::from(e[p * c + ch]);
                    }
                    let raw = sum / n as f64 * s_in / s_out + z_out;
                    let float = gamma(n) * (abs / n as f64 * s_in / s_out + z_out.abs());
                    let mut radius = spread / n as f64 * s_in / s_out + float;
                    // The tie nudge's direction follows the sign of the runtime's value.
                    if raw.abs() <= radius {
                        radius += 2.0 * nudge;
                    }
                    ValueInterval {
                        centre: raw + nudge * raw.signum(),
                        radius,
                    }
                })
                .collect()
        }
        Operator::L2Normalize => {
            let v: Vec<f64> = x.iter().map(|&q| centred(i_t, q)).collect();
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            let e_norm = e.iter().map(|&d| f64::from(d).powi(2)).sum::<f64>().sqrt();
            let (n_lo, n_hi) = ((norm - e_norm).max(0.0), norm + e_norm);
            let out_scale = 1.0 / s_out;
            v.iter()
                .zip(e)
                .map(|(&a, &d)| {
                    let d = f64::from(d);
                    let centre = a / norm.max(1e-300) * out_scale + z_out;
                    // The ratio's extremes over the box lie at its corners.
                    let corners = [
                        (a - d) / n_lo,
                        (a - d) / n_hi,
                        (a + d) / n_lo,
                        (a + d) / n_hi,
                    ];
                    let reach = corners
                        .iter()
                        .map(|&r| {
                            if r.is_finite() {
                                (r * out_scale + z_out - centre).abs()
                            } else {
                                f64::INFINITY
                            }
                        })
                        .fold(0.0, f64::max);
                    ValueInterval {
                        centre,
                        radius: reach + gamma(v.len()) * (out_scale + z_out.abs()),
                    }
                })
                .collect()
        }
        _ => return Err(bad("an operator the QDQ exporter does not know")),
    })
}

/// The export run with exact arithmetic and one correct rounding (half to even) per
/// `QuantizeLinear` — what an ideal runtime computes — and how far a real one may be from it.
#[derive(Debug, Clone)]
pub struct ReferenceRun {
    /// The reference's int8 embedding.
    pub embedding: Vec<i8>,
    /// Per element: the most a correct float32 (or integer-kernel) runtime can differ from it.
    pub uncertainty: Vec<u32>,
}

/// Runs the export's arithmetic exactly (f64 on exact integers: identical on every CPU) and follows
/// where a real runtime's float error could round differently: only elements within the float
/// error bound of a rounding boundary can, and their effect on later layers is propagated as
/// intervals.
pub fn single_rounding_reference(
    model: &Model<'_>,
    input: &[i8],
) -> Result<ReferenceRun, OnnxError> {
    let h = *model.header();
    let tensors = usize::from(h.tensor_count);
    let mut values: Vec<Option<Vec<i8>>> = vec![None; tensors];
    let mut uncertainty: Vec<Option<Vec<u32>>> = vec![None; tensors];
    if input.len() != model.input_len() {
        return Err(bad("input size"));
    }
    // The input's QuantizeLinear of an exact pixel value gives the device's input exactly.
    values[usize::from(h.input_tensor)] = Some(input.to_vec());
    uncertainty[usize::from(h.input_tensor)] = Some(vec![0; input.len()]);
    let get = |v: &[Option<Vec<i8>>], u: &[Option<Vec<u32>>], t: u16| {
        let t = usize::from(t);
        match (v.get(t).cloned().flatten(), u.get(t).cloned().flatten()) {
            (Some(v), Some(u)) => Ok((v, u)),
            _ => Err(bad("a layer reads a tensor no layer wrote")),
        }
    };
    for k in 0..h.layer_count {
        let parts = layer_parts(model, k)?;
        let (x, e) = get(&values, &uncertainty, parts.layer.input)?;
        let second = match parts.op {
            Operator::Add => Some(get(&values, &uncertainty, parts.layer.input2)?),
            _ => None,
        };
        let layer_input = LayerInput {
            x: &x,
            e: &e,
            second: second.as_ref().map(|(v, u)| (v.as_slice(), u.as_slice())),
        };
        let (lo, hi) = match parts.op {
            Operator::GlobalAveragePool | Operator::L2Normalize => (i8::MIN, i8::MAX),
            _ => (parts.layer.act_min, parts.layer.act_max),
        };
        let intervals = intervals(model, &parts, &layer_input)?;
        let out: Vec<i8> = intervals
            .iter()
            .map(|v| {
                v.centre
                    .round_ties_even()
                    .clamp(f64::from(lo), f64::from(hi)) as i8
            })
            .collect();
        let e_out = intervals
            .iter()
            .zip(&out)
            .map(|(&v, &q)| output_uncertainty(v, q, lo, hi))
            .collect();
        values[usize::from(parts.layer.output)] = Some(out);
        uncertainty[usize::from(parts.layer.output)] = Some(e_out);
    }
    let out = usize::from(h.output_tensor);
    match (values[out].take(), uncertainty[out].take()) {
        (Some(embedding), Some(uncertainty)) => Ok(ReferenceRun {
            embedding,
            uncertainty,
        }),
        _ => Err(bad("no layer writes the output")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_uncertainty_covers_both_roundings_of_a_half() {
        let v = |centre, radius| ValueInterval { centre, radius };
        // Exactly on an integer, no radius: only that integer.
        assert_eq!(output_uncertainty(v(3.0, 0.0), 3, -128, 127), 0);
        // An exact half may round either way: 3 or 4, the device said 3.
        assert_eq!(output_uncertainty(v(3.5, 0.0), 3, -128, 127), 1);
        // A radius of 1.2 around 3.4 reaches 2.2 … 4.6: 2 … 5.
        assert_eq!(output_uncertainty(v(3.4, 1.2), 3, -128, 127), 2);
        // Clamped like the device: nothing beyond the activation range.
        assert_eq!(output_uncertainty(v(126.9, 3.0), 127, -128, 127), 3);
        assert_eq!(output_uncertainty(v(5.0, 10.0), 6, 0, 6), 6);
    }

    #[test]
    fn gamma_is_the_float32_sum_bound() {
        // 100 products + the fixed roundings, each 2^-24 relative.
        let g = gamma(100);
        assert!(g > 108.0 / 16_777_216.0 && g < 109.0 / 16_777_216.0);
    }
}
