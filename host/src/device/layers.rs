//! Each layer of a blob as `bench device` tabulates it: operator, multiply-accumulates (as the
//! quantiser counts them: output elements × kernel² × input channels per group, `in × out` for
//! a dense layer, none for pooling, adds and the L2 normalisation) and the activation bytes it
//! touches (its input, second input, output and scratch tensors).

use facegate_shared::blob::format::{LayerRecord, Operator, NO_TENSOR};
use facegate_shared::blob::Model;

/// One layer's static figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFigures {
    /// Operator name.
    pub op: &'static str,
    /// Kernel side (convolutions), else 0.
    pub kernel: u8,
    /// Stride (convolutions), else 0.
    pub stride: u8,
    /// Output shape `H×W×C`.
    pub output: (u16, u16, u16),
    /// Multiply-accumulates.
    pub macs: u64,
    /// Bytes of the activation tensors the layer reads and writes.
    pub activation_bytes: u64,
}

fn op_name(op: Option<Operator>) -> &'static str {
    match op {
        Some(Operator::Conv2d) => "conv",
        Some(Operator::DepthwiseConv2d) => "depthwise",
        Some(Operator::PointwiseConv) => "pointwise",
        Some(Operator::GlobalAveragePool) => "avgpool",
        Some(Operator::Dense) => "dense",
        Some(Operator::Add) => "add",
        Some(Operator::L2Normalize) => "l2norm",
        _ => "unknown",
    }
}

fn figures(model: &Model<'_>, layer: &LayerRecord) -> LayerFigures {
    let tensor_len = |id: u16| {
        if id == NO_TENSOR {
            0
        } else {
            model.tensor(id).map_or(0, |t| t.shape.len() as u64)
        }
    };
    let shape = |id: u16| model.tensor(id).map(|t| t.shape);
    let op = Operator::from_code(layer.op);
    let out = shape(layer.output);
    let in_channels = shape(layer.input).map_or(0, |s| u64::from(s.channels));
    let out_len = out.map_or(0, |s| s.len() as u64);
    let k2 = u64::from(layer.kernel) * u64::from(layer.kernel);
    let macs = match op {
        Some(Operator::Conv2d) => out_len * k2 * in_channels,
        Some(Operator::DepthwiseConv2d) => out_len * k2,
        Some(Operator::PointwiseConv) => out_len * in_channels,
        Some(Operator::Dense) => tensor_len(layer.input) * out_len,
        _ => 0,
    };
    let activation_bytes = tensor_len(layer.input)
        + tensor_len(layer.input2)
        + tensor_len(layer.output)
        + tensor_len(layer.scratch);
    let (kernel, stride) = match op {
        Some(Operator::Conv2d | Operator::DepthwiseConv2d | Operator::PointwiseConv) => {
            (layer.kernel, layer.stride)
        }
        _ => (0, 0),
    };
    LayerFigures {
        op: op_name(op),
        kernel,
        stride,
        output: out.map_or((0, 0, 0), |s| (s.height, s.width, s.channels)),
        macs,
        activation_bytes,
    }
}

/// Every layer's figures, in order.
pub fn layer_figures(model: &Model<'_>) -> Vec<LayerFigures> {
    (0..model.header().layer_count)
        .filter_map(|i| model.layer(i))
        .map(|layer| figures(model, &layer))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    static RELEASE: &[u8] = include_bytes!("../../../models/facegate-v1.fgm");

    #[test]
    fn the_layers_macs_add_up_to_the_headers() {
        let model = Model::parse(RELEASE).unwrap();
        let layers = layer_figures(&model);
        assert_eq!(layers.len(), usize::from(model.header().layer_count));
        let total: u64 = layers.iter().map(|l| l.macs).sum();
        assert_eq!(total, u64::from(model.header().macs));
        assert!(layers.iter().all(|l| l.op != "unknown"));
        assert!(layers
            .iter()
            .all(|l| l.activation_bytes <= model.arena_size() as u64 * 2));
    }
}
