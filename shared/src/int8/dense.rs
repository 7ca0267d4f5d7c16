//! Fully connected layer (TFLite `FULLY_CONNECTED`, int8, per-channel weights): the projection
//! of the pooled features to the embedding. Arithmetically a pointwise convolution of one pixel.

use super::pointwise::PointwiseConv;
use super::{check_len, ChannelParams, KernelError, OutputStage};

/// A dense layer's constants.
#[derive(Debug, Clone, Copy)]
pub struct Dense<'a> {
    /// Input features.
    pub c_in: usize,
    /// Output features.
    pub c_out: usize,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Weights `[c_out][c_in]`.
    pub weights: &'a [i8],
    /// Per-output bias and requantisation.
    pub channels: ChannelParams<'a>,
    /// Output zero point and fused activation.
    pub stage: OutputStage,
}

impl Dense<'_> {
    /// Runs the layer.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        check_len("input", self.c_in, input.len())?;
        check_len("output", self.c_out, output.len())?;
        PointwiseConv {
            pixels: 1,
            c_in: self.c_in,
            c_out: self.c_out,
            input_zero_point: self.input_zero_point,
            weights: self.weights,
            channels: self.channels,
            stage: self.stage,
        }
        .run(input, output)
    }
}
