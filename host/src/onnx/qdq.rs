//! The int8 model as a QDQ ONNX graph: every activation the device quantises is wrapped in
//! `QuantizeLinear` → `DequantizeLinear` with the blob's scale and zero point, every weight is the
//! blob's int8 tensor behind a per-channel `DequantizeLinear`, every bias the blob's `i32` one
//! (8-bit values stored as `uint8` + 128: see "Why `uint8`" below).
//!
//! Built from a parsed `.fgm` blob, so it encodes exactly the device's quantisation. Each weight
//! scale is recovered from the blob's requantisation multiplier as `M · s_out / s_in`, so the
//! float product `acc · s_in · s_w / s_out` an ONNX runtime computes is the device's `acc · M`.
//!
//! Where the runtimes' rounding differs from TFLite's (and so from the device's):
//! - `QuantizeLinear` rounds half to even, TFLite's requantisation rounds half up (doubling high
//!   product) then half away from zero (rounding shift), and computes in fixed point: results
//!   differ by 1 LSB when a value falls within float error of a rounding boundary.
//! - TFLite's average pooling rounds the mean of raw int8 values half away from zero; ties are
//!   common (a mean of 16 values is a tie once in 16). The graph adds `±s/(4n)` in the direction
//!   away from zero before `QuantizeLinear` ([`pool_tie_nudge`]), which reproduces it exactly.
//! - L2 normalisation: TFLite uses a fixed-point inverse square root (≈1e-6 relative error); the
//!   graph uses `LpNormalization` in float.
//!
//! [`super::qdq_layers`] runs one layer at a time and bounds, per element, where these may show.
//!
//! # Why `uint8`, when the device computes in `int8`
//!
//! Every int8 value of the device (activations, weights, zero points) is written as `uint8`
//! `q + 128` with zero point `z + 128` ([`to_u8`]): `(q + 128) − (z + 128) = q − z`, so each
//! dequantised value, each integer accumulator and each saturation bound is the same integer as on
//! the device — an exact re-expression, not a requantisation. It is needed because ONNX Runtime
//! fuses the QDQ pattern into its integer kernels (`QLinearConv`, `QGemm`, `QLinearAdd`) under its
//! default optimisations, and on x86-64 without VNNI (AVX2 only) its u8 × s8 kernels multiply pairs
//! with `vpmaddubsw`, whose 16-bit sum of two products saturates: `2 · 255 · 128 = 65,280 >
//! 32,767` for full-range weights. ONNX Runtime turns int8 activations into uint8 for those
//! kernels, so an int8 export hit that path (max 48 LSB, cosine −0.04 on LFW, measured under
//! `qemu-x86_64 -cpu Haswell`). With uint8 weights it uses its u8 × u8 kernels, which widen both
//! operands to 16 bits and multiply-add pairs into 32 bits (`vpmaddwd`; `2 · 255 · 255 < 2^31`),
//! and VNNI's `vpdpbusd` accumulates in 32 bits: exact on every x86-64 CPU class.

use super::metadata::OnnxMetadata;
use super::proto::{self, Attr, GraphBuilder};
use super::{OnnxError, INPUT, OUTPUT};
use facegate_shared::blob::{LayerRecord, Model, Operator, TensorRecord};
use facegate_shared::int8::ChannelParams;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

fn tensor(name: &str, dims: &[usize], data_type: DataType, raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: data_type as i32,
        raw_data: raw,
        ..Default::default()
    }
}

/// The ONNX element type of every quantised value of the export (see the module documentation).
pub const QUANTIZED_TYPE: DataType = DataType::Uint8;

/// A device int8 value as the export's `uint8`: `q + 128` (offset binary).
pub fn to_u8(q: i8) -> u8 {
    (q as u8) ^ 0x80
}

/// The export's `uint8` back to the device's int8: `q − 128`.
pub fn from_u8(q: u8) -> i8 {
    (q ^ 0x80) as i8
}

/// Adds a tensor's scale and zero point as `{name}.scale` and `{name}.zero_point`.
fn quantization(g: &mut GraphBuilder, name: &str, t: &TensorRecord) -> (String, String) {
    let scale = g.constant(&format!("{name}.scale"), &[], &[t.scale]);
    let zp = format!("{name}.zero_point");
    // Blob zero points are int8 values (the parser checks it).
    let zero_point = to_u8(t.zero_point.clamp(-128, 127) as i8);
    g.initializer(tensor(&zp, &[], QUANTIZED_TYPE, vec![zero_point]));
    (scale, zp)
}

/// Adds `QuantizeLinear(x)` with a tensor's parameters; returns the int8 value `name.q`.
pub(super) fn quantize(g: &mut GraphBuilder, x: &str, name: &str, t: &TensorRecord) -> String {
    let (scale, zp) = quantization(g, name, t);
    g.node(
        "QuantizeLinear",
        &[x, &scale, &zp],
        &format!("{name}.q"),
        vec![],
    )
}

/// Adds `DequantizeLinear(q)` with a tensor's parameters; returns the float value `name`.
pub(super) fn dequantize(g: &mut GraphBuilder, q: &str, name: &str, t: &TensorRecord) -> String {
    let (scale, zp) = quantization(g, &format!("{name}.dq"), t);
    g.node("DequantizeLinear", &[q, &scale, &zp], name, vec![])
}

/// Adds `QuantizeLinear(x) → DequantizeLinear` with a tensor's parameters; returns the float
/// value's name (`name`) and adds the int8 value `name.q`.
fn quantize_dequantize(g: &mut GraphBuilder, x: &str, name: &str, t: &TensorRecord) -> String {
    let q = quantize(g, x, name, t);
    let (scale, zp) = (format!("{name}.scale"), format!("{name}.zero_point"));
    g.node("DequantizeLinear", &[&q, &scale, &zp], name, vec![])
}

/// The per-channel float scales the export gives a layer's weights and biases.
pub struct ChannelScales {
    /// `M · s_out / s_in` for each output channel (`M` the blob's requantisation multiplier).
    pub weight: Vec<f32>,
    /// `weight · s_in`: the int32 bias's scale.
    pub bias: Vec<f32>,
}

/// The weight and bias scales of a layer with these channel constants and tensors.
pub fn channel_scales(
    channels: &ChannelParams<'_>,
    input: &TensorRecord,
    output: &TensorRecord,
) -> ChannelScales {
    let (s_in, s_out) = (f64::from(input.scale), f64::from(output.scale));
    let weight: Vec<f32> = channels
        .iter()
        .map(|c| (c.requantize.to_real() * s_out / s_in) as f32)
        .collect();
    let bias = weight
        .iter()
        .map(|&s| (f64::from(s) * s_in) as f32)
        .collect();
    ChannelScales { weight, bias }
}

/// Per-channel weights and bias behind `DequantizeLinear`; returns (weight, bias) value names.
fn weights(
    g: &mut GraphBuilder,
    name: &str,
    oihw: Vec<i8>,
    dims: &[usize],
    channels: &ChannelParams<'_>,
    input: &TensorRecord,
    output: &TensorRecord,
) -> (String, String) {
    let c_out = dims[0];
    let ChannelScales {
        weight: w_scales,
        bias: b_scales,
    } = channel_scales(channels, input, output);
    let w = format!("{name}.weight.q");
    g.initializer(tensor(
        &w,
        dims,
        QUANTIZED_TYPE,
        oihw.iter().map(|&v| to_u8(v)).collect(),
    ));
    let ws = g.constant(&format!("{name}.weight.scale"), &[c_out], &w_scales);
    let wz = format!("{name}.weight.zero_point");
    // The device's symmetric weights (zero point 0) are `uint8` with zero point 128.
    g.initializer(tensor(&wz, &[c_out], QUANTIZED_TYPE, vec![to_u8(0); c_out]));
    let wf = g.node(
        "DequantizeLinear",
        &[&w, &ws, &wz],
        &format!("{name}.weight"),
        vec![Attr::Int("axis", 0)],
    );
    let b = format!("{name}.bias.q");
    let bias: Vec<u8> = channels.iter().flat_map(|c| c.bias.to_le_bytes()).collect();
    g.initializer(tensor(&b, &[c_out], DataType::Int32, bias));
    let bs = g.constant(&format!("{name}.bias.scale"), &[c_out], &b_scales);
    let bz = format!("{name}.bias.zero_point");
    g.initializer(tensor(&bz, &[c_out], DataType::Int32, vec![0; 4 * c_out]));
    let bf = g.node(
        "DequantizeLinear",
        &[&b, &bs, &bz],
        &format!("{name}.bias"),
        vec![Attr::Int("axis", 0)],
    );
    (wf, bf)
}

/// The fused activation as a float `Clip`, when it narrows the int8 range.
fn activation(
    g: &mut GraphBuilder,
    x: &str,
    name: &str,
    layer: &LayerRecord,
    out: &TensorRecord,
) -> String {
    if layer.act_min == i8::MIN && layer.act_max == i8::MAX {
        return x.to_string();
    }
    let real = |q: i8| (i32::from(q) - out.zero_point) as f32 * out.scale;
    let lo = g.constant(&format!("{name}.clip.min"), &[], &[real(layer.act_min)]);
    let hi = g.constant(&format!("{name}.clip.max"), &[], &[real(layer.act_max)]);
    g.node("Clip", &[x, &lo, &hi], &format!("{name}.clip"), vec![])
}

/// `y + sign(y / s + zp) · s / (4n)`: moves an exact tie of the mean of `n` raw int8 values away
/// from zero (TFLite's rounding) and leaves every other mean on the same side of its rounding
/// boundary (non-ties are at least `1/n` from one).
pub fn pool_tie_nudge(g: &mut GraphBuilder, y: &str, t: &TensorRecord, n: usize) -> String {
    let s = g.constant("pool.nudge.scale", &[], &[t.scale]);
    let zp = g.constant("pool.nudge.zero_point", &[], &[t.zero_point as f32]);
    let step = g.constant("pool.nudge.step", &[], &[t.scale / (4 * n) as f32]);
    let raw = g.node("Div", &[y, &s], "pool.nudge.div", vec![]);
    let raw = g.node("Add", &[&raw, &zp], "pool.nudge.raw", vec![]);
    let sign = g.node("Sign", &[&raw], "pool.nudge.sign", vec![]);
    let nudge = g.node("Mul", &[&sign, &step], "pool.nudge.amount", vec![]);
    g.node("Add", &[y, &nudge], "pool.nudged", vec![])
}

/// `[kh][kw][c]` depthwise weights → OIHW `[c][1][kh][kw]`; OHWI → OIHW.
fn to_oihw(w: &[i8], c_out: usize, c_in_per_group: usize, k: usize, depthwise: bool) -> Vec<i8> {
    let mut out = vec![0i8; w.len()];
    for o in 0..c_out {
        for i in 0..c_in_per_group {
            for tap in 0..k * k {
                let src = if depthwise {
                    tap * c_out + o
                } else {
                    (o * k * k + tap) * c_in_per_group + i
                };
                out[(o * c_in_per_group + i) * k * k + tap] = w[src];
            }
        }
    }
    out
}

/// A layer's record, operator and input/output tensors, checked.
pub(super) struct LayerParts {
    pub layer: LayerRecord,
    pub op: Operator,
    pub input: TensorRecord,
    pub output: TensorRecord,
}

pub(super) fn bad(what: &str) -> OnnxError {
    OnnxError::NotAnEmbedder(format!("blob: {what}"))
}

/// Layer `index` of a parsed blob.
pub(super) fn layer_parts(model: &Model<'_>, index: u16) -> Result<LayerParts, OnnxError> {
    let layer = model.layer(index).ok_or_else(|| bad("layer table"))?;
    Ok(LayerParts {
        op: Operator::from_code(layer.op).ok_or_else(|| bad("operator"))?,
        input: model.tensor(layer.input).ok_or_else(|| bad("tensor"))?,
        output: model.tensor(layer.output).ok_or_else(|| bad("tensor"))?,
        layer,
    })
}

/// The float operators of layer `index`, from its dequantised input `x` (and `second`, the add's
/// other input) to the float value the layer's `QuantizeLinear` rounds. `x` is `[N,C]` after the
/// global pooling (`flat`), `[N,C,H,W]` before.
pub(super) fn layer_nodes(
    g: &mut GraphBuilder,
    model: &Model<'_>,
    index: u16,
    x: &str,
    second: Option<&str>,
    flat: bool,
) -> Result<String, OnnxError> {
    let LayerParts {
        layer,
        op,
        input: i_t,
        output: o_t,
    } = layer_parts(model, index)?;
    let name = format!("layer{index}");
    let weights_bytes = model
        .weights_slice(layer.weights_offset, layer.weights_len)
        .ok_or_else(|| bad("weights"))?;
    let params = model
        .weights_slice(layer.params_offset, layer.params_len)
        .ok_or_else(|| bad("constants"))?;
    let w: Vec<i8> = weights_bytes.iter().map(|&b| b as i8).collect();
    let (c_in, c_out) = (
        usize::from(i_t.shape.channels),
        usize::from(o_t.shape.channels),
    );
    Ok(match op {
        Operator::Conv2d | Operator::DepthwiseConv2d | Operator::PointwiseConv => {
            let depthwise = op == Operator::DepthwiseConv2d;
            let k = if op == Operator::PointwiseConv {
                1
            } else {
                usize::from(layer.kernel)
            };
            let per_group = if depthwise { 1 } else { c_in };
            let channels = ChannelParams::new(params).ok_or_else(|| bad("channel constants"))?;
            let oihw = to_oihw(&w, c_out, per_group, k, depthwise);
            let dims = [c_out, per_group, k, k];
            let (wf, bf) = weights(g, &name, oihw, &dims, &channels, &i_t, &o_t);
            let (s, p) = if op == Operator::PointwiseConv {
                (1, 0)
            } else {
                (i64::from(layer.stride), i64::from(layer.padding))
            };
            let k = k as i64;
            let conv = g.node(
                "Conv",
                &[x, &wf, &bf],
                &format!("{name}.conv"),
                vec![
                    Attr::Ints("kernel_shape", vec![k, k]),
                    Attr::Ints("strides", vec![s, s]),
                    Attr::Ints("pads", vec![p, p, p, p]),
                    Attr::Int("group", if depthwise { c_in as i64 } else { 1 }),
                ],
            );
            activation(g, &conv, &name, &layer, &o_t)
        }
        Operator::Add => {
            let second = second.ok_or_else(|| bad("add input"))?;
            let sum = g.node("Add", &[x, second], &format!("{name}.add"), vec![]);
            activation(g, &sum, &name, &layer, &o_t)
        }
        Operator::GlobalAveragePool => {
            let pooled = g.node("GlobalAveragePool", &[x], &format!("{name}.pool"), vec![]);
            let n = usize::from(i_t.shape.height) * usize::from(i_t.shape.width);
            let nudged = pool_tie_nudge(g, &pooled, &o_t, n);
            g.node(
                "Flatten",
                &[&nudged],
                &format!("{name}.flat"),
                vec![Attr::Int("axis", 1)],
            )
        }
        Operator::Dense => {
            if !flat {
                return Err(bad("a dense layer before pooling"));
            }
            let channels = ChannelParams::new(params).ok_or_else(|| bad("channel constants"))?;
            let (wf, bf) = weights(g, &name, w, &[c_out, c_in], &channels, &i_t, &o_t);
            let gemm = g.node(
                "Gemm",
                &[x, &wf, &bf],
                &format!("{name}.gemm"),
                vec![Attr::Int("transB", 1)],
            );
            activation(g, &gemm, &name, &layer, &o_t)
        }
        Operator::L2Normalize => g.node(
            "LpNormalization",
            &[x],
            &format!("{name}.l2"),
            vec![Attr::Int("axis", 1), Attr::Int("p", 2)],
        ),
        _ => return Err(bad("an operator the QDQ exporter does not know")),
    })
}

/// The QDQ graph of a parsed blob: input `[N,1,S,S]` float, output `[N,D]` float (the int8
/// embedding dequantised, `q / 128`).
pub fn qdq_graph(model: &Model<'_>) -> Result<pb::GraphProto, OnnxError> {
    let h = *model.header();
    let mut g = GraphBuilder::default();
    let mut names: Vec<Option<String>> = vec![None; usize::from(h.tensor_count)];
    let input_t = model
        .tensor(h.input_tensor)
        .ok_or_else(|| bad("input tensor"))?;
    names[usize::from(h.input_tensor)] =
        Some(quantize_dequantize(&mut g, INPUT, "input.dq", &input_t));
    let mut flat = false;
    for index in 0..h.layer_count {
        let parts = layer_parts(model, index)?;
        let read = |t: u16| {
            names
                .get(usize::from(t))
                .cloned()
                .flatten()
                .ok_or_else(|| bad("a layer reads a tensor no layer wrote"))
        };
        let x = read(parts.layer.input)?;
        let second = if parts.op == Operator::Add {
            Some(read(parts.layer.input2)?)
        } else {
            None
        };
        let y = layer_nodes(&mut g, model, index, &x, second.as_deref(), flat)?;
        flat |= parts.op == Operator::GlobalAveragePool;
        let out_name = if parts.layer.output == h.output_tensor {
            OUTPUT.to_string()
        } else {
            format!("t{}", parts.layer.output)
        };
        names[usize::from(parts.layer.output)] =
            Some(quantize_dequantize(&mut g, &y, &out_name, &parts.output));
    }
    Ok(super::export::finish_embedder(
        g,
        "facegate_embedder_int8_qdq",
        usize::from(h.input_height),
        usize::from(h.embedding_dim),
    ))
}

/// The QDQ model with the run's metadata plus the blob's identity and integer threshold.
pub fn export_qdq(model: &Model<'_>, metadata: &OnnxMetadata) -> Result<pb::ModelProto, OnnxError> {
    let mut props = metadata.to_props();
    let h = model.header();
    props.push((
        "facegate.int8.fgm_model_id".into(),
        super::metadata::hex(&h.model_id),
    ));
    props.push(("facegate.int8.threshold".into(), h.threshold.to_string()));
    props.push(("facegate.int8.embedding_scale".into(), "0.0078125".into()));
    Ok(proto::model(
        qdq_graph(model)?,
        env!("CARGO_PKG_VERSION"),
        "facegate face embedder, int8 (QDQ): the device's quantisation of the .fgm blob with this \
         model id; output = int8 embedding / 128; verify by squared L2 against facegate.threshold",
        props,
    ))
}
