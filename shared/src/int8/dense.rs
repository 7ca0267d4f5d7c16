//! Fully connected layer (TFLite `FULLY_CONNECTED`, int8, per-channel weights): the projection
//! of the pooled features to the embedding. Arithmetically a pointwise convolution of one pixel.

use super::pointwise::PointwiseConv;
use super::{check_len, dsp, ChannelParams, KernelError, OutputStage};

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
        if dsp::ENABLED {
            dsp::pointwise::run_dense(&self.as_pointwise(), input, output)
        } else {
            self.as_pointwise().run_portable(input, output)
        }
    }

    /// The portable kernel.
    pub fn run_portable(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        check_len("input", self.c_in, input.len())?;
        check_len("output", self.c_out, output.len())?;
        self.as_pointwise().run_portable(input, output)
    }

    /// The DSP kernel ([`crate::int8::dsp`]; emulated off the device).
    pub fn run_dsp(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        check_len("input", self.c_in, input.len())?;
        check_len("output", self.c_out, output.len())?;
        dsp::pointwise::run_dense(&self.as_pointwise(), input, output)
    }

    /// The same arithmetic as a one-pixel pointwise convolution.
    fn as_pointwise(&self) -> PointwiseConv<'_> {
        PointwiseConv {
            pixels: 1,
            c_in: self.c_in,
            c_out: self.c_out,
            input_zero_point: self.input_zero_point,
            weights: self.weights,
            channels: self.channels,
            stage: self.stage,
        }
    }
}
