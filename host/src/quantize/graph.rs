//! The int8 graph of a folded embedder: tensors with their quantisation, layers with quantised
//! weights and precomputed constants, and the buffers the memory planner places.

use super::calibrate::{QuantParams, Range};
use super::memory_plan::Buffer;
use super::weights::{kernel_layout, quantize_channels};
use super::QuantizeError;
use crate::folded::{FoldedConv, FoldedDense, FoldedEmbedder};
use facegate_shared::blob::Operator;
use facegate_shared::int8::add::{Add, AddMultipliers};
use facegate_shared::int8::{ChannelParam, OutputStage, QuantizedMultiplier, Shape};
use facegate_shared::preprocess::{INPUT_SCALE, INPUT_ZERO_POINT};

/// A tensor of the int8 graph.
#[derive(Debug, Clone)]
pub struct QTensor {
    /// Name (the float tap it quantises).
    pub name: String,
    /// NHWC shape.
    pub shape: Shape,
    /// Quantisation.
    pub quant: QuantParams,
    /// Index of the arena buffer it lives in.
    pub buffer: usize,
}

/// A layer of the int8 graph.
#[derive(Debug, Clone)]
pub struct QLayer {
    /// Operator.
    pub op: Operator,
    /// Kernel, stride, padding (convolutions).
    pub window: [u8; 3],
    /// Input tensor.
    pub input: usize,
    /// Second input (add).
    pub input2: Option<usize>,
    /// Output tensor.
    pub output: usize,
    /// Scratch tensor (in-place pointwise).
    pub scratch: Option<usize>,
    /// Output zero point and clamp.
    pub stage: OutputStage,
    /// Quantised weights in the kernel's layout.
    pub weights: Vec<i8>,
    /// Constants: per-channel params or add multipliers.
    pub params: Vec<u8>,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// A layer without weights, as [`QGraph::simple`] adds it.
struct SimpleLayer<'a> {
    op: Operator,
    name: &'a str,
    input: usize,
    input2: Option<usize>,
    shape: Shape,
    quant: QuantParams,
    /// The tensor whose buffer the output reuses (in place), if any.
    alias: Option<usize>,
    stage: OutputStage,
    params: Vec<u8>,
}

/// The whole int8 graph.
#[derive(Debug, Clone, Default)]
pub struct QGraph {
    /// Tensors.
    pub tensors: Vec<QTensor>,
    /// Layers in execution order.
    pub layers: Vec<QLayer>,
    /// Arena buffers (aliasing tensors share one).
    pub buffers: Vec<Buffer>,
    /// Input tensor.
    pub input: usize,
    /// Output (embedding) tensor.
    pub output: usize,
}

impl QGraph {
    fn tensor(
        &mut self,
        name: &str,
        shape: Shape,
        quant: QuantParams,
        alias_of: Option<usize>,
    ) -> usize {
        let layer = self.layers.len();
        let buffer = match alias_of {
            Some(t) => self.tensors[t].buffer,
            None => {
                self.buffers.push(Buffer {
                    size: shape.len(),
                    first: layer,
                    last: layer,
                });
                self.buffers.len() - 1
            }
        };
        self.tensors.push(QTensor {
            name: name.to_string(),
            shape,
            quant,
            buffer,
        });
        self.tensors.len() - 1
    }

    /// Marks `t` as read by the layer about to be added.
    fn read(&mut self, t: usize) {
        let layer = self.layers.len();
        let b = &mut self.buffers[self.tensors[t].buffer];
        b.last = b.last.max(layer);
    }

    fn channel_params(
        &self,
        input: usize,
        output: usize,
        scales: &[f64],
        bias: &[f32],
    ) -> Result<Vec<u8>, QuantizeError> {
        let s_in = f64::from(self.tensors[input].quant.scale);
        let s_out = f64::from(self.tensors[output].quant.scale);
        let mut bytes = Vec::with_capacity(scales.len() * 12);
        for (c, (&s_w, &b)) in scales.iter().zip(bias).enumerate() {
            let requantize =
                QuantizedMultiplier::from_real(s_in * s_w / s_out).ok_or_else(|| {
                    QuantizeError::Multiplier(format!("{} channel {c}", self.tensors[output].name))
                })?;
            let bias = (f64::from(b) / (s_in * s_w))
                .round()
                .clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32;
            bytes.extend(ChannelParam { bias, requantize }.to_bytes());
        }
        Ok(bytes)
    }

    /// Adds a folded convolution reading `input`; its output gets `range` (after the fused ReLU
    /// when `relu`). `in_place` writes a non-widening pointwise over its input.
    fn conv(
        &mut self,
        name: &str,
        input: usize,
        conv: &FoldedConv,
        range: Range,
        relu: bool,
        in_place: bool,
    ) -> Result<usize, QuantizeError> {
        let in_shape = self.tensors[input].shape;
        let side = conv.output_side(in_shape.height as usize) as u16;
        let shape = Shape::new(side, side, conv.c_out as u16);
        let quant = range.quant_params();
        let (k, c_in, c_out) = (conv.kernel, conv.c_in, conv.c_out);
        let depthwise = conv.groups == c_in && c_in > 1;
        let pointwise = k == 1 && conv.groups == 1;
        let in_place = in_place && pointwise && c_out <= c_in;
        let scratch = in_place.then(|| {
            self.tensor(
                &format!("{name}.scratch"),
                Shape::new(1, 1, c_in as u16),
                quant,
                None,
            )
        });
        self.read(input);
        let output = self.tensor(name, shape, quant, in_place.then_some(input));
        let (q, scales) = quantize_channels(&conv.weight, c_out);
        let weights = kernel_layout(&q, conv);
        let params = self.channel_params(input, output, &scales, &conv.bias)?;
        let op = if depthwise {
            Operator::DepthwiseConv2d
        } else if pointwise {
            Operator::PointwiseConv
        } else {
            Operator::Conv2d
        };
        let stage = if relu {
            OutputStage::relu(quant.zero_point)
        } else {
            OutputStage::linear(quant.zero_point)
        };
        let macs = shape.len() as u64 * (k * k * conv.c_in_per_group()) as u64;
        self.layers.push(QLayer {
            op,
            window: [k as u8, conv.stride as u8, conv.padding as u8],
            input,
            input2: None,
            output,
            scratch,
            stage,
            weights,
            params,
            macs,
        });
        Ok(output)
    }

    fn dense(
        &mut self,
        input: usize,
        dense: &FoldedDense,
        range: Range,
    ) -> Result<usize, QuantizeError> {
        let quant = range.quant_params();
        self.read(input);
        let output = self.tensor(
            "projection",
            Shape::new(1, 1, dense.c_out as u16),
            quant,
            None,
        );
        let (weights, scales) = quantize_channels(&dense.weight, dense.c_out);
        let params = self.channel_params(input, output, &scales, &dense.bias)?;
        self.layers.push(QLayer {
            op: Operator::Dense,
            window: [0; 3],
            input,
            input2: None,
            output,
            scratch: None,
            stage: OutputStage::linear(quant.zero_point),
            weights,
            params,
            macs: (dense.c_in * dense.c_out) as u64,
        });
        Ok(output)
    }

    /// Adds a layer without weights (add, pooling, L2 normalisation).
    fn simple(&mut self, layer: SimpleLayer<'_>) -> usize {
        let SimpleLayer {
            op,
            name,
            input,
            input2,
            shape,
            quant,
            alias,
            stage,
            params,
        } = layer;
        self.read(input);
        if let Some(t) = input2 {
            self.read(t);
        }
        let output = self.tensor(name, shape, quant, alias);
        self.layers.push(QLayer {
            op,
            window: [0; 3],
            input,
            input2,
            output,
            scratch: None,
            stage,
            weights: Vec::new(),
            params,
            macs: 0,
        });
        output
    }

    /// Builds the int8 graph of `model` with activation `ranges` (named as the float taps).
    pub fn build(
        model: &FoldedEmbedder,
        ranges: &[(String, Range)],
    ) -> Result<Self, QuantizeError> {
        let range = |name: &str| {
            ranges
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| *r)
                .ok_or_else(|| QuantizeError::MissingRange(name.to_string()))
        };
        let mut g = QGraph::default();
        let side = model.input_side as u16;
        let input_quant = QuantParams {
            scale: INPUT_SCALE,
            zero_point: i32::from(INPUT_ZERO_POINT),
        };
        g.input = g.tensor("input", Shape::new(side, side, 1), input_quant, None);
        let mut x = g.conv("stem", g.input, &model.stem, range("stem")?, true, false)?;
        for (i, block) in model.blocks.iter().enumerate() {
            let dw = g.conv(
                &format!("block{i}.depthwise"),
                x,
                &block.depthwise,
                range(&format!("block{i}.depthwise"))?,
                true,
                false,
            )?;
            let out_name = format!("block{i}.out");
            if block.residual {
                let pw = g.conv(
                    &format!("block{i}.pointwise"),
                    dw,
                    &block.pointwise,
                    range(&format!("block{i}.pointwise"))?,
                    false,
                    true,
                )?;
                let (q1, q2) = (g.tensors[x].quant, g.tensors[pw].quant);
                let out_quant = range(&out_name)?.quant_params();
                let stage = OutputStage::relu(out_quant.zero_point);
                let add = Add::from_scales(
                    q1.scale.into(),
                    q1.zero_point,
                    q2.scale.into(),
                    q2.zero_point,
                    out_quant.scale.into(),
                    stage,
                )
                .ok_or_else(|| QuantizeError::Multiplier(out_name.clone()))?;
                let params = AddMultipliers {
                    input1: add.input1,
                    input2: add.input2,
                    output: add.output,
                }
                .to_bytes()
                .to_vec();
                let shape = g.tensors[pw].shape;
                x = g.simple(SimpleLayer {
                    op: Operator::Add,
                    name: &out_name,
                    input: x,
                    input2: Some(pw),
                    shape,
                    quant: out_quant,
                    alias: Some(pw),
                    stage,
                    params,
                });
            } else {
                x = g.conv(
                    &out_name,
                    dw,
                    &block.pointwise,
                    range(&out_name)?,
                    true,
                    false,
                )?;
            }
        }
        let last = g.tensors[x].clone();
        let pooled_shape = Shape::new(1, 1, last.shape.channels);
        let pool = g.simple(SimpleLayer {
            op: Operator::GlobalAveragePool,
            name: "pool",
            input: x,
            input2: None,
            shape: pooled_shape,
            quant: last.quant,
            alias: None,
            stage: OutputStage::linear(last.quant.zero_point),
            params: Vec::new(),
        });
        let projection = g.dense(pool, &model.projection, range("projection")?)?;
        let dim = model.embedding_dim() as u16;
        let embedding_quant = QuantParams {
            scale: 1.0 / 128.0,
            zero_point: 0,
        };
        g.output = g.simple(SimpleLayer {
            op: Operator::L2Normalize,
            name: "embedding",
            input: projection,
            input2: None,
            shape: Shape::new(1, 1, dim),
            quant: embedding_quant,
            alias: None,
            stage: OutputStage::linear(0),
            params: Vec::new(),
        });
        // The output is read by the caller after the last layer.
        let last_layer = g.layers.len();
        let b = g.tensors[g.output].buffer;
        g.buffers[b].last = last_layer;
        Ok(g)
    }

    /// Multiply-accumulates per embedding.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }
}
