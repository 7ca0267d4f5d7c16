//! Depthwise 2-D convolution (TFLite `DEPTHWISE_CONV_2D`, int8, per-channel, multiplier 1).

use super::{check_len, check_window, ChannelParams, KernelError, OutputStage, Shape, Window};

/// A depthwise convolution layer's constants.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseConv2d<'a> {
    /// Input shape.
    pub input: Shape,
    /// Output shape (same channels as the input).
    pub output: Shape,
    /// Kernel, stride, padding.
    pub window: Window,
    /// Input zero point (padding reads as this value).
    pub input_zero_point: i32,
    /// Filters `[kernel][kernel][channels]` (TFLite's `[1, H, W, C]`).
    pub weights: &'a [i8],
    /// Per-channel bias and requantisation.
    pub channels: ChannelParams<'a>,
    /// Output zero point and fused activation.
    pub stage: OutputStage,
}

impl DepthwiseConv2d<'_> {
    /// Checks every length and shape.
    pub fn check(&self, input: &[i8], output: &[i8]) -> Result<(), KernelError> {
        check_window(self.input, self.output, self.window)?;
        if self.input.channels != self.output.channels {
            return Err(KernelError::Shape {
                what: "depthwise input and output channels differ",
            });
        }
        let k = self.window.kernel as usize;
        let c = self.input.channels as usize;
        check_len("input", self.input.len(), input.len())?;
        check_len("output", self.output.len(), output.len())?;
        check_len("weights", k * k * c, self.weights.len())?;
        check_len("channels", c, self.channels.len())
    }

    /// Runs the convolution.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check(input, output)?;
        let (ih, iw) = (self.input.height as isize, self.input.width as isize);
        let channels = self.input.channels as usize;
        let (oh, ow) = (self.output.height as usize, self.output.width as usize);
        let k = self.window.kernel as usize;
        let stride = self.window.stride as isize;
        let pad = self.window.padding as isize;
        for oy in 0..oh {
            for ox in 0..ow {
                let out_at = (oy * ow + ox) * channels;
                for (c, param) in self.channels.iter().enumerate() {
                    let mut acc: i32 = 0;
                    for ky in 0..k {
                        let iy = oy as isize * stride + ky as isize - pad;
                        if iy < 0 || iy >= ih {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = ox as isize * stride + kx as isize - pad;
                            if ix < 0 || ix >= iw {
                                continue;
                            }
                            let x = input[(iy as usize * iw as usize + ix as usize) * channels + c];
                            let w = self.weights[(ky * k + kx) * channels + c];
                            acc = acc.wrapping_add(
                                i32::from(w) * (i32::from(x) - self.input_zero_point),
                            );
                        }
                    }
                    let acc = acc.wrapping_add(param.bias);
                    output[out_at + c] = self.stage.finish(param.requantize.apply(acc));
                }
            }
        }
        Ok(())
    }
}
