//! Pointwise (1×1) convolution: TFLite `CONV_2D` with a 1×1 kernel, stride 1, no padding.
//!
//! It can run in place when it does not widen the tensor (`c_out ≤ c_in`): each pixel's input is
//! first copied to a `c_in`-byte scratch buffer, and output pixel `p` (bytes `p·c_out ..`) never
//! reaches an input pixel that has not been read yet (`(p+1)·c_out ≤ (p+1)·c_in`).

use super::{check_len, ChannelParams, KernelError, OutputStage};

/// A pointwise convolution layer's constants.
#[derive(Debug, Clone, Copy)]
pub struct PointwiseConv<'a> {
    /// Pixels (height × width).
    pub pixels: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Weights `[c_out][c_in]`.
    pub weights: &'a [i8],
    /// Per-output-channel bias and requantisation.
    pub channels: ChannelParams<'a>,
    /// Output zero point and fused activation.
    pub stage: OutputStage,
}

impl PointwiseConv<'_> {
    fn check_constants(&self) -> Result<(), KernelError> {
        check_len("weights", self.c_out * self.c_in, self.weights.len())?;
        check_len("channels", self.c_out, self.channels.len())
    }

    /// One output pixel from one input pixel (also the whole of a dense layer).
    #[inline]
    pub fn pixel(&self, input: &[i8], output: &mut [i8]) {
        for ((filter, param), slot) in self
            .weights
            .chunks_exact(self.c_in)
            .zip(self.channels.iter())
            .zip(output.iter_mut())
        {
            let mut acc: i32 = 0;
            for (&w, &x) in filter.iter().zip(input) {
                acc = acc.wrapping_add(i32::from(w) * (i32::from(x) - self.input_zero_point));
            }
            let acc = acc.wrapping_add(param.bias);
            *slot = self.stage.finish(param.requantize.apply(acc));
        }
    }

    /// Runs from `input` into a separate `output`.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check_constants()?;
        check_len("input", self.pixels * self.c_in, input.len())?;
        check_len("output", self.pixels * self.c_out, output.len())?;
        for (src, dst) in input
            .chunks_exact(self.c_in)
            .zip(output.chunks_exact_mut(self.c_out))
        {
            self.pixel(src, dst);
        }
        Ok(())
    }

    /// Runs in place: `buffer` holds the input (`pixels · c_in` bytes) and receives the output
    /// in its first `pixels · c_out` bytes. Needs `c_out ≤ c_in` and a `c_in`-byte scratch.
    pub fn run_in_place(&self, buffer: &mut [i8], scratch: &mut [i8]) -> Result<(), KernelError> {
        self.check_constants()?;
        if self.c_out > self.c_in {
            return Err(KernelError::Shape {
                what: "an in-place pointwise convolution cannot widen the tensor",
            });
        }
        check_len("input", self.pixels * self.c_in, buffer.len())?;
        check_len("scratch", self.c_in, scratch.len())?;
        for p in 0..self.pixels {
            scratch.copy_from_slice(&buffer[p * self.c_in..(p + 1) * self.c_in]);
            self.pixel(scratch, &mut buffer[p * self.c_out..(p + 1) * self.c_out]);
        }
        Ok(())
    }
}
