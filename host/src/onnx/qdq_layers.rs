//! One layer of the int8 QDQ export as a model of its own, and the band around each rounding
//! boundary inside which the device's fixed-point arithmetic may round differently from a single
//! rounding of the exact value.
//!
//! This is how the QDQ export is held to "encodes exactly the device's quantisation": give one
//! layer the device's own int8 input (read from the engine's arena), run it in ONNX Runtime, and
//! every output element must equal the device's, or differ by 1 LSB at a value that lies within
//! [`rounding_band`] (plus float error) of a rounding boundary — nowhere else. End to end the
//! differences compound (a 1-LSB change in layer k moves layer k + 1's sums), so the whole-graph
//! comparison is looser: see `host/tests/onnx_qdq.rs` and BENCHMARKS.md.
//!
//! The layer model: inputs [`X`] (and [`X2`] for an add), int8 NCHW `[1,C,H,W]` (`[1,C]` after
//! the global pooling) → `DequantizeLinear` → the same float operators as the whole graph
//! ([`super::qdq::layer_nodes`]) → [`Y`] (float, before rounding; optional, because a graph
//! output stops ONNX Runtime from fusing the layer into its int8 kernels) → `QuantizeLinear` →
//! [`YQ`] (int8).

use super::proto::{self, Dimension, GraphBuilder};
use super::qdq::{bad, dequantize, layer_nodes, layer_parts, quantize, QUANTIZED_TYPE};
use super::OnnxError;
use facegate_shared::blob::{Model, Operator, TensorRecord};
use facegate_shared::int8::add::AddMultipliers;
use facegate_shared::int8::fixedpoint::inv_sqrt_quantized_multiplier;
use facegate_shared::int8::l2norm::{sum_of_squares, OUTPUT_SCALE_BITS};
use facegate_shared::int8::{ChannelParams, QuantizedMultiplier};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

/// The first input (the device's int8 as `uint8` + 128, like every quantised value of the export).
pub const X: &str = "x.q";
/// The add's second input (`uint8` + 128).
pub const X2: &str = "x2.q";
/// The float value the layer's `QuantizeLinear` rounds.
pub const Y: &str = "y";
/// The layer's quantised output (`uint8` + 128).
pub const YQ: &str = "y.q";

/// A tensor of a layer model: its name, quantisation and NCHW dimensions.
#[derive(Debug, Clone)]
pub struct LayerTensor {
    /// The graph input or output name.
    pub name: &'static str,
    /// The blob's record (shape, scale, zero point).
    pub record: TensorRecord,
    /// `[1,C,H,W]`, or `[1,C]` after the global pooling.
    pub dims: Vec<usize>,
}

/// Layer `index` of a blob as an ONNX model.
#[derive(Debug, Clone)]
pub struct LayerModel {
    /// The model.
    pub proto: pb::ModelProto,
    /// Its int8 inputs, in the order of the layer record (input, then input2).
    pub inputs: Vec<LayerTensor>,
    /// Its int8 output [`YQ`].
    pub output: LayerTensor,
    /// Whether [`Y`] is an output too.
    pub float_output: bool,
}

fn dims_of(t: &TensorRecord, flat: bool) -> Vec<usize> {
    let c = usize::from(t.shape.channels);
    if flat {
        vec![1, c]
    } else {
        vec![
            1,
            c,
            usize::from(t.shape.height),
            usize::from(t.shape.width),
        ]
    }
}

fn declare(name: &str, dims: &[usize], data_type: DataType) -> pb::ValueInfoProto {
    let shape: Vec<Dimension> = dims.iter().map(|&d| Dimension::Fixed(d)).collect();
    proto::value_info(name, &shape, data_type)
}

/// Layer `index` of `model` alone; `float_output` adds [`Y`] as a second output.
pub fn layer_model(
    model: &Model<'_>,
    index: u16,
    float_output: bool,
) -> Result<LayerModel, OnnxError> {
    let parts = layer_parts(model, index)?;
    let flat_in = matches!(parts.op, Operator::Dense | Operator::L2Normalize);
    let flat_out = flat_in || parts.op == Operator::GlobalAveragePool;
    let mut inputs = vec![LayerTensor {
        name: X,
        record: parts.input,
        dims: dims_of(&parts.input, flat_in),
    }];
    if parts.op == Operator::Add {
        let second = model
            .tensor(parts.layer.input2)
            .ok_or_else(|| bad("add input"))?;
        inputs.push(LayerTensor {
            name: X2,
            record: second,
            dims: dims_of(&second, false),
        });
    }
    let mut g = GraphBuilder::default();
    let x = dequantize(&mut g, X, "x", &inputs[0].record);
    let second = inputs
        .get(1)
        .map(|t| dequantize(&mut g, X2, "x2", &t.record));
    let y = layer_nodes(&mut g, model, index, &x, second.as_deref(), flat_in)?;
    let y = g.node("Identity", &[&y], Y, vec![]);
    let q = quantize(&mut g, &y, "y", &parts.output);
    debug_assert_eq!(q, YQ);
    let output = LayerTensor {
        name: YQ,
        record: parts.output,
        dims: dims_of(&parts.output, flat_out),
    };
    let mut outputs = vec![declare(YQ, &output.dims, QUANTIZED_TYPE)];
    if float_output {
        outputs.push(declare(Y, &output.dims, DataType::Float));
    }
    let declared = inputs
        .iter()
        .map(|t| declare(t.name, &t.dims, QUANTIZED_TYPE))
        .collect();
    let graph = g.finish(&format!("layer{index}"), declared, outputs);
    Ok(LayerModel {
        proto: proto::model(graph, env!("CARGO_PKG_VERSION"), "", vec![]),
        inputs,
        output,
        float_output,
    })
}

/// The device's `H·W·C` order to NCHW (`C` fastest → `W` fastest).
pub fn hwc_to_chw<T: Copy>(hwc: &[T], channels: usize) -> Vec<T> {
    let pixels = hwc.len() / channels.max(1);
    (0..hwc.len())
        .map(|i| hwc[(i % pixels) * channels + i / pixels])
        .collect()
}

/// NCHW back to the device's `H·W·C` order.
pub fn chw_to_hwc<T: Copy>(chw: &[T], channels: usize) -> Vec<T> {
    let pixels = chw.len() / channels.max(1);
    (0..chw.len())
        .map(|i| chw[(i % channels) * pixels + i / channels])
        .collect()
}

/// How far (in output LSB) a fixed-point `multiply_by_quantized_multiplier` result can sit from
/// the exact product before its final rounding: the doubling high product rounds at `2^shift`
/// output LSB, then the rounding shift rounds again; one rounding (`shift ≥ 0`) is exact.
fn requantize_band(m: QuantizedMultiplier) -> f64 {
    if m.shift < 0 {
        0.5 * 2f64.powi(m.shift)
    } else {
        0.0
    }
}

/// For each output element of layer `index` (device `H·W·C` order), the distance from a rounding
/// boundary (`k + ½` output LSB) within which the device's result may differ from a single correct
/// rounding of the exact value. `input` is the layer's first int8 input (the L2 normalisation's
/// band depends on it).
///
/// - Convolutions and dense: the double rounding of each channel's requantisation.
/// - Add: the two input rescalings (≤ 1 unit of the 2^20-scaled sum each) through the output
///   multiplier, plus the output requantisation's double rounding.
/// - Global pooling: 0 (the export reproduces the device's rounding of ties).
/// - L2 normalisation: the double rounding of the final multiply plus the error of the
///   fixed-point `1/√Σx²`, computed exactly for this input.
pub fn rounding_band(model: &Model<'_>, index: u16, input: &[i8]) -> Result<Vec<f64>, OnnxError> {
    let parts = layer_parts(model, index)?;
    let out_len = parts.output.shape.len();
    let c_out = usize::from(parts.output.shape.channels);
    let params = model
        .weights_slice(parts.layer.params_offset, parts.layer.params_len)
        .ok_or_else(|| bad("constants"))?;
    Ok(match parts.op {
        Operator::Conv2d
        | Operator::DepthwiseConv2d
        | Operator::PointwiseConv
        | Operator::Dense => {
            let channels = ChannelParams::new(params).ok_or_else(|| bad("channel constants"))?;
            let per_channel: Vec<f64> = channels
                .iter()
                .map(|c| requantize_band(c.requantize))
                .collect();
            (0..out_len).map(|i| per_channel[i % c_out]).collect()
        }
        Operator::Add => {
            let output = AddMultipliers::from_bytes(params)
                .ok_or_else(|| bad("add constants"))?
                .output;
            vec![2.0 * output.to_real() + requantize_band(output); out_len]
        }
        Operator::GlobalAveragePool => vec![0.0; out_len],
        Operator::L2Normalize => {
            let zp = parts.input.zero_point;
            let sum_squares = sum_of_squares(input, zp);
            let inv = inv_sqrt_quantized_multiplier(sum_squares);
            let exact = 1.0 / f64::from(sum_squares.max(1)).sqrt();
            let out_scale = f64::from(1 << OUTPUT_SCALE_BITS);
            let final_multiply = QuantizedMultiplier {
                multiplier: inv.multiplier,
                shift: inv.shift + OUTPUT_SCALE_BITS,
            };
            input
                .iter()
                .map(|&x| {
                    let d = f64::from(i32::from(x) - zp).abs();
                    requantize_band(final_multiply) + d * out_scale * (inv.to_real() - exact).abs()
                })
                .collect()
        }
        _ => return Err(bad("an operator the QDQ exporter does not know")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_convert_both_ways() {
        // 2 × 2 pixels, 3 channels: HWC value = 10·pixel + channel.
        let hwc: Vec<i8> = (0..4)
            .flat_map(|p| (0..3).map(move |c| 10 * p + c))
            .collect();
        let chw = hwc_to_chw(&hwc, 3);
        assert_eq!(chw, [0, 10, 20, 30, 1, 11, 21, 31, 2, 12, 22, 32]);
        assert_eq!(chw_to_hwc(&chw, 3), hwc);
        // After the global pooling (1 × 1 × C) both layouts are the same.
        assert_eq!(hwc_to_chw(&[1, 2, 3], 3), [1, 2, 3]);
    }

    #[test]
    fn requantisation_band_is_half_the_first_roundings_step() {
        let m = |shift| QuantizedMultiplier {
            multiplier: 1 << 30,
            shift,
        };
        // A right shift of 8: the doubling high product rounds at 1/256 of an output LSB.
        assert_eq!(requantize_band(m(-8)), 1.0 / 512.0);
        assert_eq!(requantize_band(m(-1)), 0.25);
        // No right shift: one rounding, exact.
        assert_eq!(requantize_band(m(0)), 0.0);
        assert_eq!(requantize_band(m(3)), 0.0);
    }
}
