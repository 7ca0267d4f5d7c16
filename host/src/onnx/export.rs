//! The float ONNX graph of a folded embedder.
//!
//! ```text
//! input [N,1,S,S] → Conv(stem) → Relu
//!   → per block: Conv(depthwise, group = C) → Relu → Conv(pointwise) [→ Add(block input)] → Relu
//!   → GlobalAveragePool → Flatten → Gemm(transB = 1)                      = raw [N,D]
//!   → ReduceL2(axis 1) → Max(·, 1e-6) → Div(raw, ·)                       = embedding [N,D]
//! ```
//! The normalisation is burn's `x / max(‖x‖, 1e-6)` exactly (ONNX `LpNormalization` has no floor).
//! BatchNorm is already folded into every convolution's weights and bias ([`FoldedEmbedder`]).
//!
//! Each layer is one function over a [`GraphBuilder`], named after the activation it produces
//! (`stem`, `block3.depthwise`, `block3.out`, ... the names of the folded model's taps), so a
//! quantised (QDQ) variant can wrap the same values in `QuantizeLinear`/`DequantizeLinear`.

use super::metadata::OnnxMetadata;
use super::proto::{self, Attr, Dimension, GraphBuilder};
use super::{BATCH_DIM, INPUT, OUTPUT};
use crate::folded::{FoldedConv, FoldedDense, FoldedEmbedder};
use prost::Message;
use tract_onnx::pb;

/// The norm floor of [`crate::model::l2_normalize_rows`].
pub const NORM_FLOOR: f32 = 1e-6;

/// `Conv` with the folded weights and bias; returns the output's name.
pub fn conv(g: &mut GraphBuilder, name: &str, input: &str, c: &FoldedConv) -> String {
    let k = c.kernel;
    let w = g.constant(
        &format!("{name}.weight"),
        &[c.c_out, c.c_in_per_group(), k, k],
        &c.weight,
    );
    let b = g.constant(&format!("{name}.bias"), &[c.c_out], &c.bias);
    let (k, s, p) = (k as i64, c.stride as i64, c.padding as i64);
    g.node(
        "Conv",
        &[input, &w, &b],
        &format!("{name}.conv"),
        vec![
            Attr::Ints("kernel_shape", vec![k, k]),
            Attr::Ints("strides", vec![s, s]),
            Attr::Ints("pads", vec![p, p, p, p]),
            Attr::Ints("dilations", vec![1, 1]),
            Attr::Int("group", c.groups as i64),
        ],
    )
}

/// `Relu`, its output named `name`.
pub fn relu(g: &mut GraphBuilder, name: &str, input: &str) -> String {
    g.node("Relu", &[input], name, vec![])
}

/// Global average pooling to `[N,C]`.
pub fn pool(g: &mut GraphBuilder, input: &str) -> String {
    let pooled = g.node("GlobalAveragePool", &[input], "pool.nchw", vec![]);
    g.node("Flatten", &[&pooled], "pool", vec![Attr::Int("axis", 1)])
}

/// `Gemm` with `[out][in]` weights (`transB = 1`).
pub fn dense(g: &mut GraphBuilder, name: &str, input: &str, d: &FoldedDense) -> String {
    let w = g.constant(&format!("{name}.weight"), &[d.c_out, d.c_in], &d.weight);
    let b = g.constant(&format!("{name}.bias"), &[d.c_out], &d.bias);
    g.node("Gemm", &[input, &w, &b], name, vec![Attr::Int("transB", 1)])
}

/// `x / max(‖x‖₂, 1e-6)` along axis 1, its output named `output`.
pub fn l2_normalize(g: &mut GraphBuilder, input: &str, output: &str) -> String {
    let norm = g.node(
        "ReduceL2",
        &[input],
        "norm",
        vec![Attr::Ints("axes", vec![1]), Attr::Int("keepdims", 1)],
    );
    let floor = g.constant("norm.floor", &[], &[NORM_FLOOR]);
    let floored = g.node("Max", &[&norm, &floor], "norm.floored", vec![]);
    g.node("Div", &[input, &floored], output, vec![])
}

/// The float graph: input `[N,1,S,S]` named [`INPUT`], output `[N,D]` named [`OUTPUT`].
pub fn float_graph(model: &FoldedEmbedder) -> pb::GraphProto {
    let mut g = GraphBuilder::default();
    let stem = conv(&mut g, "stem", INPUT, &model.stem);
    let mut x = relu(&mut g, "stem", &stem);
    for (i, block) in model.blocks.iter().enumerate() {
        let dw = conv(&mut g, &format!("block{i}.depthwise"), &x, &block.depthwise);
        let dw = relu(&mut g, &format!("block{i}.depthwise"), &dw);
        let mut pw = conv(
            &mut g,
            &format!("block{i}.pointwise"),
            &dw,
            &block.pointwise,
        );
        if block.residual {
            pw = g.node(
                "Add",
                &[&pw, &x],
                &format!("block{i}.pointwise.residual"),
                vec![],
            );
        }
        x = relu(&mut g, &format!("block{i}.out"), &pw);
    }
    let pooled = pool(&mut g, &x);
    let raw = dense(&mut g, "projection", &pooled, &model.projection);
    l2_normalize(&mut g, &raw, OUTPUT);
    finish_embedder(
        g,
        "facegate_embedder",
        model.input_side,
        model.embedding_dim(),
    )
}

/// The graph with the embedder's interface: input [`INPUT`] `[N,1,side,side]`, output
/// [`OUTPUT`] `[N,dim]`, both float, `N` dynamic.
pub fn finish_embedder(g: GraphBuilder, name: &str, side: usize, dim: usize) -> pb::GraphProto {
    let batch = || Dimension::Named(BATCH_DIM.to_string());
    g.finish(
        name,
        vec![proto::float_value_info(
            INPUT,
            &[
                batch(),
                Dimension::Fixed(1),
                Dimension::Fixed(side),
                Dimension::Fixed(side),
            ],
        )],
        vec![proto::float_value_info(
            OUTPUT,
            &[batch(), Dimension::Fixed(dim)],
        )],
    )
}

/// The float model with its metadata.
pub fn export_float(model: &FoldedEmbedder, metadata: &OnnxMetadata) -> pb::ModelProto {
    proto::model(
        float_graph(model),
        env!("CARGO_PKG_VERSION"),
        "facegate face embedder (float, BatchNorm folded): grey face crop in, L2-normalised \
         embedding out; verify by squared L2 distance against facegate.threshold",
        metadata.to_props(),
    )
}

/// The protobuf bytes of a model (the `.onnx` file).
pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
