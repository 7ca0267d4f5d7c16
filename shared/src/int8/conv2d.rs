//! General 2-D convolution (TFLite `CONV_2D`, int8, per-channel): the stem of the embedder.

use super::{check_len, check_window, ChannelParams, KernelError, OutputStage, Shape, Window};

/// A convolution layer's constants.
#[derive(Debug, Clone, Copy)]
pub struct Conv2d<'a> {
    /// Input shape.
    pub input: Shape,
    /// Output shape (`channels` = number of filters).
    pub output: Shape,
    /// Kernel, stride, padding.
    pub window: Window,
    /// Input zero point (padding reads as this value).
    pub input_zero_point: i32,
    /// Filters `[c_out][kernel][kernel][c_in]` (TFLite `OHWI`).
    pub weights: &'a [i8],
    /// Per-output-channel bias and requantisation.
    pub channels: ChannelParams<'a>,
    /// Output zero point and fused activation.
    pub stage: OutputStage,
}

impl Conv2d<'_> {
    /// Weight count the shapes call for.
    pub fn weight_len(&self) -> usize {
        let k = self.window.kernel as usize;
        self.output.channels as usize * k * k * self.input.channels as usize
    }

    /// Checks every length and shape.
    pub fn check(&self, input: &[i8], output: &[i8]) -> Result<(), KernelError> {
        check_window(self.input, self.output, self.window)?;
        check_len("input", self.input.len(), input.len())?;
        check_len("output", self.output.len(), output.len())?;
        check_len("weights", self.weight_len(), self.weights.len())?;
        check_len(
            "channels",
            self.output.channels as usize,
            self.channels.len(),
        )
    }

    /// Runs the convolution.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check(input, output)?;
        let (ih, iw, ci) = (
            self.input.height as isize,
            self.input.width as isize,
            self.input.channels as usize,
        );
        let (oh, ow, co) = (
            self.output.height as usize,
            self.output.width as usize,
            self.output.channels as usize,
        );
        let k = self.window.kernel as usize;
        let stride = self.window.stride as isize;
        let pad = self.window.padding as isize;
        let mut out = output.iter_mut();
        for oy in 0..oh {
            for ox in 0..ow {
                for (c, param) in self.channels.iter().enumerate().take(co) {
                    let filter = &self.weights[c * k * k * ci..(c + 1) * k * k * ci];
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
                            let at = (iy as usize * iw as usize + ix as usize) * ci;
                            let pixel = &input[at..at + ci];
                            let taps = &filter[(ky * k + kx) * ci..(ky * k + kx + 1) * ci];
                            for (&w, &x) in taps.iter().zip(pixel) {
                                acc = acc.wrapping_add(
                                    i32::from(w) * (i32::from(x) - self.input_zero_point),
                                );
                            }
                        }
                    }
                    let acc = acc.wrapping_add(param.bias);
                    if let Some(slot) = out.next() {
                        *slot = self.stage.finish(param.requantize.apply(acc));
                    }
                }
            }
        }
        Ok(())
    }
}
