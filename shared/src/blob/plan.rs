//! Decoding one layer record into a ready-to-run kernel and its arena ranges, with every check
//! the engine relies on: operator known, tensors in range, shapes consistent, weights and
//! constants of the exact length, multipliers and clamp ranges valid, and no aliasing between
//! a kernel's inputs and output other than the in-place forms the kernels implement.

use super::error::BlobError;
use super::format::{LayerRecord, Operator, TensorRecord, NO_TENSOR};
use super::model::Model;
use crate::int8::add::{Add, AddMultipliers};
use crate::int8::channel::CHANNEL_BYTES;
use crate::int8::conv2d::Conv2d;
use crate::int8::dense::Dense;
use crate::int8::depthwise::DepthwiseConv2d;
use crate::int8::pointwise::PointwiseConv;
use crate::int8::pool::GlobalAveragePool;
use crate::int8::{check_window, ChannelParams, OutputStage, Shape, Window};
use core::ops::Range;

/// A decoded layer.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kernel<'a> {
    Conv(Conv2d<'a>),
    Depthwise(DepthwiseConv2d<'a>),
    /// Pointwise; `scratch` is set when it runs in place.
    Pointwise(PointwiseConv<'a>),
    Pool(GlobalAveragePool),
    Dense(Dense<'a>),
    /// Always in place: the output is the second input's buffer.
    Add(Add),
    L2 {
        input_zero_point: i32,
    },
}

/// A decoded layer with the arena ranges it reads and writes.
#[derive(Debug, Clone)]
pub(crate) struct Step<'a> {
    pub kernel: Kernel<'a>,
    pub input: Range<usize>,
    pub input2: Option<Range<usize>>,
    pub output: Range<usize>,
    pub scratch: Option<Range<usize>>,
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Decodes and checks layer `index`.
pub(crate) fn plan_layer<'a>(model: &Model<'a>, index: u16) -> Result<Step<'a>, BlobError> {
    let bad = |problem| BlobError::Layer {
        layer: index,
        problem,
    };
    let record: LayerRecord = model.layer(index).ok_or(bad("record out of bounds"))?;
    let op = Operator::from_code(record.op).ok_or(BlobError::UnknownOperator {
        layer: index,
        code: record.op,
    })?;
    let tensor = |id: u16| -> Result<TensorRecord, BlobError> {
        model.tensor(id).ok_or(bad("tensor index out of range"))
    };
    let input = tensor(record.input)?;
    let output = tensor(record.output)?;
    let input2 = match record.input2 {
        NO_TENSOR => None,
        id => Some(tensor(id)?),
    };
    let scratch = match record.scratch {
        NO_TENSOR => None,
        id => Some(tensor(id)?),
    };
    if record.act_min > record.act_max {
        return Err(bad("empty activation range"));
    }
    let stage = OutputStage {
        zero_point: output.zero_point,
        min: record.act_min,
        max: record.act_max,
    };
    let weights = model
        .weights_slice(record.weights_offset, record.weights_len)
        .ok_or(bad("weights outside the weights section"))?;
    let params = model
        .weights_slice(record.params_offset, record.params_len)
        .ok_or(bad("constants outside the weights section"))?;
    let weights: &'a [i8] = bytemuck::cast_slice(weights);
    let (i_shape, o_shape) = (input.shape, output.shape);
    let window = Window {
        kernel: record.kernel,
        stride: record.stride,
        padding: record.padding,
    };
    let channels = |count: u16| -> Result<ChannelParams<'a>, BlobError> {
        if params.len() != count as usize * CHANNEL_BYTES {
            return Err(bad("per-channel constants have the wrong length"));
        }
        let channels = ChannelParams::new(params).ok_or(bad("per-channel constants"))?;
        if channels.iter().all(|c| c.requantize.is_valid()) {
            Ok(channels)
        } else {
            Err(bad("requantisation multiplier or shift out of range"))
        }
    };
    let expect_weights = |n: usize| {
        if weights.len() == n {
            Ok(())
        } else {
            Err(bad("weights have the wrong length"))
        }
    };
    let spatial = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(bad("output shape does not follow from the input"))
        }
    };
    let mut in_place = false;
    let kernel = match op {
        Operator::Conv2d => {
            spatial(check_window(i_shape, o_shape, window).is_ok())?;
            let k = window.kernel as usize;
            expect_weights(o_shape.channels as usize * k * k * i_shape.channels as usize)?;
            Kernel::Conv(Conv2d {
                input: i_shape,
                output: o_shape,
                window,
                input_zero_point: input.zero_point,
                weights,
                channels: channels(o_shape.channels)?,
                stage,
            })
        }
        Operator::DepthwiseConv2d => {
            spatial(
                check_window(i_shape, o_shape, window).is_ok()
                    && i_shape.channels == o_shape.channels,
            )?;
            let k = window.kernel as usize;
            expect_weights(k * k * i_shape.channels as usize)?;
            Kernel::Depthwise(DepthwiseConv2d {
                input: i_shape,
                output: o_shape,
                window,
                input_zero_point: input.zero_point,
                weights,
                channels: channels(o_shape.channels)?,
                stage,
            })
        }
        Operator::PointwiseConv => {
            spatial(i_shape.height == o_shape.height && i_shape.width == o_shape.width)?;
            let (c_in, c_out) = (i_shape.channels as usize, o_shape.channels as usize);
            expect_weights(c_in * c_out)?;
            in_place = input.arena_offset == output.arena_offset;
            if in_place {
                let s = scratch.ok_or(bad("in-place pointwise without a scratch tensor"))?;
                if c_out > c_in || s.shape.len() != c_in {
                    return Err(bad(
                        "in-place pointwise must not widen and needs a c_in scratch",
                    ));
                }
            }
            Kernel::Pointwise(PointwiseConv {
                pixels: i_shape.height as usize * i_shape.width as usize,
                c_in,
                c_out,
                input_zero_point: input.zero_point,
                weights,
                channels: channels(o_shape.channels)?,
                stage,
            })
        }
        Operator::GlobalAveragePool => {
            spatial(o_shape == Shape::new(1, 1, i_shape.channels))?;
            if output.zero_point != input.zero_point {
                return Err(bad("average pooling keeps the input's zero point"));
            }
            Kernel::Pool(GlobalAveragePool {
                input: i_shape,
                stage,
            })
        }
        Operator::Dense => {
            spatial(
                i_shape.height == 1
                    && i_shape.width == 1
                    && o_shape.height == 1
                    && o_shape.width == 1,
            )?;
            let (c_in, c_out) = (i_shape.channels as usize, o_shape.channels as usize);
            expect_weights(c_in * c_out)?;
            Kernel::Dense(Dense {
                c_in,
                c_out,
                input_zero_point: input.zero_point,
                weights,
                channels: channels(o_shape.channels)?,
                stage,
            })
        }
        Operator::Add => {
            let second = input2.ok_or(bad("add without a second input"))?;
            spatial(second.shape == i_shape && o_shape == i_shape)?;
            if second.range() != output.range() {
                return Err(bad("add must write in place over its second input"));
            }
            let AddMultipliers {
                input1: m1,
                input2: m2,
                output: mo,
            } = AddMultipliers::from_bytes(params)
                .ok_or(bad("add constants have the wrong length"))?;
            if !(m1.is_valid() && m2.is_valid() && mo.is_valid()) {
                return Err(bad("requantisation multiplier or shift out of range"));
            }
            in_place = true;
            Kernel::Add(Add {
                input1_zero_point: input.zero_point,
                input1: m1,
                input2_zero_point: second.zero_point,
                input2: m2,
                output: mo,
                stage,
            })
        }
        Operator::L2Normalize => {
            spatial(o_shape.len() == i_shape.len())?;
            if output.zero_point != 0 {
                return Err(bad("the L2 normalisation's output zero point is 0"));
            }
            Kernel::L2 {
                input_zero_point: input.zero_point,
            }
        }
    };
    let (input_r, output_r) = (input.range(), output.range());
    let input2_r = input2.map(|t| t.range());
    let scratch_r = if in_place && op == Operator::PointwiseConv {
        scratch.map(|t| t.range())
    } else {
        None
    };
    let writes_over_input = op == Operator::PointwiseConv && in_place;
    if !writes_over_input && overlaps(&input_r, &output_r) {
        return Err(bad("output overlaps the input"));
    }
    if let Some(s) = &scratch_r {
        if overlaps(s, &input_r) {
            return Err(bad("scratch overlaps the input"));
        }
    }
    if op == Operator::Add {
        if let Some(r2) = &input2_r {
            if overlaps(r2, &input_r) {
                return Err(bad("add inputs overlap"));
            }
        }
    }
    Ok(Step {
        kernel,
        input: input_r,
        input2: input2_r,
        output: output_r,
        scratch: scratch_r,
    })
}
