//! Pointwise (1×1) convolution: TFLite `CONV_2D` with a 1×1 kernel, stride 1, no padding.
//!
//! It can run in place when it does not widen the tensor (`c_out ≤ c_in`): each pixel's input is
//! first copied to a `c_in`-byte scratch buffer, and output pixel `p` (bytes `p·c_out ..`) never
//! reaches an input pixel that has not been read yet (`(p+1)·c_out ≤ (p+1)·c_in`).
//!
//! The fast path (module `lanes`) works on pairs of pixels: both pixels' `x − zp` are packed
//! into one word per input channel in a stack buffer, then every pair of output channels is two
//! weight rows against that buffer, four MACs per loaded word. Packing reads the whole pair
//! before any output is written, so the in-place form needs no more scratch than that buffer.
//! Inputs it cannot pack (more than `MAX_TAPS` = 128 channels, a zero point outside int8) take the
//! naive loop, which is also the reference the tests compare with byte for byte.

use super::lanes::{pack, packable_zero_point, pair_outputs, MAX_TAPS};
use super::{check_len, dsp, ChannelParams, KernelError, OutputStage};

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

    /// Whether the two-pixel packed path applies.
    fn packs(&self) -> bool {
        self.c_in > 0 && self.c_in <= MAX_TAPS && packable_zero_point(self.input_zero_point)
    }

    /// One output pixel from one input pixel (also the whole of a dense layer): the naive loop.
    #[inline]
    pub fn pixel(&self, input: &[i8], output: &mut [i8]) {
        if self.c_in == 0 {
            for (param, slot) in self.channels.iter().zip(output.iter_mut()) {
                *slot = param.output(0, self.stage);
            }
            return;
        }
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
            *slot = param.output(acc, self.stage);
        }
    }

    /// Packs two input pixels (`c_in` bytes each) into `packed` (`c_in` words).
    #[inline(always)]
    fn pack_pair(&self, a: &[i8], b: &[i8], packed: &mut [i32]) {
        let zp = self.input_zero_point;
        for ((slot, &x), &y) in packed.iter_mut().zip(a).zip(b) {
            *slot = pack(i32::from(x) - zp, i32::from(y) - zp);
        }
    }

    /// Checks the constants and the lengths of a separate input and output.
    pub(crate) fn check(&self, input: &[i8], output: &[i8]) -> Result<(), KernelError> {
        self.check_constants()?;
        check_len("input", self.pixels * self.c_in, input.len())?;
        check_len("output", self.pixels * self.c_out, output.len())
    }

    /// Checks the constants and the lengths of an in-place run.
    pub(crate) fn check_in_place(&self, buffer: &[i8], scratch: &[i8]) -> Result<(), KernelError> {
        self.check_constants()?;
        if self.c_out > self.c_in {
            return Err(KernelError::Shape {
                what: "an in-place pointwise convolution cannot widen the tensor",
            });
        }
        check_len("input", self.pixels * self.c_in, buffer.len())?;
        check_len("scratch", self.c_in, scratch.len())
    }

    /// Runs from `input` into a separate `output`: the DSP kernel on the device
    /// ([`crate::int8::dsp`]), the portable one elsewhere.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        if dsp::ENABLED {
            dsp::pointwise::run(self, input, output)
        } else {
            self.run_portable(input, output)
        }
    }

    /// Runs in place (see [`Self::run_in_place_portable`]): the DSP kernel on the device, the
    /// portable one elsewhere.
    pub fn run_in_place(&self, buffer: &mut [i8], scratch: &mut [i8]) -> Result<(), KernelError> {
        if dsp::ENABLED {
            dsp::pointwise::run_in_place(self, buffer, scratch)
        } else {
            self.run_in_place_portable(buffer, scratch)
        }
    }

    /// The DSP kernel ([`crate::int8::dsp`]; emulated off the device): from `input` into a
    /// separate `output`.
    pub fn run_dsp(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        dsp::pointwise::run(self, input, output)
    }

    /// The DSP kernel, in place.
    pub fn run_in_place_dsp(
        &self,
        buffer: &mut [i8],
        scratch: &mut [i8],
    ) -> Result<(), KernelError> {
        dsp::pointwise::run_in_place(self, buffer, scratch)
    }

    /// The portable kernel: from `input` into a separate `output`.
    pub fn run_portable(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check(input, output)?;
        if !self.packs() || self.c_out == 0 {
            self.run_reference(input, output);
            return Ok(());
        }
        let (c_in, c_out) = (self.c_in, self.c_out);
        let mut packed = [0i32; MAX_TAPS];
        let packed = &mut packed[..c_in];
        let mut src = input.chunks_exact(2 * c_in);
        let mut dst = output.chunks_exact_mut(2 * c_out);
        for (src, dst) in (&mut src).zip(&mut dst) {
            let (a, b) = src.split_at(c_in);
            self.pack_pair(a, b, packed);
            let (out_a, out_b) = dst.split_at_mut(c_out);
            pair_outputs(
                packed,
                self.weights,
                self.channels,
                self.stage,
                out_a,
                out_b,
            );
        }
        // An odd last pixel.
        self.pixel(src.remainder(), dst.into_remainder());
        Ok(())
    }

    /// The naive loop with its checks: what the DSP kernel falls back on for a layer it does not
    /// take (the device keeps no second fast path).
    pub(crate) fn run_checked_reference(
        &self,
        input: &[i8],
        output: &mut [i8],
    ) -> Result<(), KernelError> {
        self.check(input, output)?;
        self.run_reference(input, output);
        Ok(())
    }

    /// The naive in-place loop with its checks (each pixel's input copied to `scratch` first):
    /// the DSP kernel's fallback.
    pub(crate) fn run_in_place_checked_reference(
        &self,
        buffer: &mut [i8],
        scratch: &mut [i8],
    ) -> Result<(), KernelError> {
        self.check_in_place(buffer, scratch)?;
        let (c_in, c_out) = (self.c_in, self.c_out);
        for p in 0..self.pixels {
            scratch.copy_from_slice(&buffer[p * c_in..(p + 1) * c_in]);
            self.pixel(scratch, &mut buffer[p * c_out..(p + 1) * c_out]);
        }
        Ok(())
    }

    /// The naive loop over every pixel: the reference of [`Self::run`].
    pub(crate) fn run_reference(&self, input: &[i8], output: &mut [i8]) {
        if self.c_in == 0 {
            for dst in output.chunks_exact_mut(self.c_out.max(1)) {
                self.pixel(&[], dst);
            }
            return;
        }
        for (src, dst) in input
            .chunks_exact(self.c_in)
            .zip(output.chunks_exact_mut(self.c_out.max(1)))
        {
            self.pixel(src, dst);
        }
    }

    /// The portable kernel, in place: `buffer` holds the input (`pixels · c_in` bytes) and
    /// receives the output in its first `pixels · c_out` bytes. Needs `c_out ≤ c_in` and a
    /// `c_in`-byte scratch.
    pub fn run_in_place_portable(
        &self,
        buffer: &mut [i8],
        scratch: &mut [i8],
    ) -> Result<(), KernelError> {
        self.check_in_place(buffer, scratch)?;
        let (c_in, c_out) = (self.c_in, self.c_out);
        let mut first = 0;
        if self.packs() && c_out > 0 {
            let mut packed = [0i32; MAX_TAPS];
            let packed = &mut packed[..c_in];
            // Both pixels are packed before either output is written; the outputs
            // `[p·c_out, (p+2)·c_out)` end before the next pair's inputs at `(p+2)·c_in`.
            while first + 2 <= self.pixels {
                let (a, b) = buffer[first * c_in..(first + 2) * c_in].split_at(c_in);
                self.pack_pair(a, b, packed);
                let (out_a, out_b) = buffer[first * c_out..(first + 2) * c_out].split_at_mut(c_out);
                pair_outputs(
                    packed,
                    self.weights,
                    self.channels,
                    self.stage,
                    out_a,
                    out_b,
                );
                first += 2;
            }
        }
        for p in first..self.pixels {
            scratch.copy_from_slice(&buffer[p * c_in..(p + 1) * c_in]);
            self.pixel(scratch, &mut buffer[p * c_out..(p + 1) * c_out]);
        }
        Ok(())
    }
}
