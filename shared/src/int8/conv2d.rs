//! General 2-D convolution (TFLite `CONV_2D`, int8, per-channel): the stem of the embedder.
//!
//! The fast path (module `lanes`) takes output pixels two at a time: both receptive fields
//! are packed, tap by tap in the filters' `[ky][kx][c_in]` order, into one word per tap (a tap
//! in the padding packs as 0, which is what the reference's skipped tap adds), and every pair
//! of filters is then two weight rows against that buffer. Windows of more than `MAX_TAPS` = 128
//! taps and zero points outside int8 take the naive loop (`Conv2d::run_reference`).

use super::lanes::{pack, packable_zero_point, pair_outputs, MAX_TAPS};
use super::{check_len, check_window, dsp, ChannelParams, KernelError, OutputStage, Shape, Window};

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

    /// Runs the convolution: the DSP kernel on the device ([`crate::int8::dsp`]), the portable
    /// one elsewhere.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        if dsp::ENABLED {
            dsp::conv::run(self, input, output)
        } else {
            self.run_portable(input, output)
        }
    }

    /// The DSP kernel ([`crate::int8::dsp`]; emulated off the device).
    pub fn run_dsp(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        dsp::conv::run(self, input, output)
    }

    /// The portable kernel.
    pub fn run_portable(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check(input, output)?;
        let taps = self.weight_len() / (self.output.channels as usize).max(1);
        if taps == 0 || taps > MAX_TAPS || !packable_zero_point(self.input_zero_point) {
            self.run_reference(input, output);
            return Ok(());
        }
        let (ow, co) = (self.output.width as usize, self.output.channels as usize);
        let mut packed = [0i32; MAX_TAPS];
        let packed = &mut packed[..taps];
        let mut pairs = output.chunks_exact_mut(2 * co);
        let mut pixel = 0;
        for pair in &mut pairs {
            self.receptive_field(input, pixel / ow, pixel % ow, packed, false);
            let next = pixel + 1;
            self.receptive_field(input, next / ow, next % ow, packed, true);
            let (out_a, out_b) = pair.split_at_mut(co);
            pair_outputs(
                packed,
                self.weights,
                self.channels,
                self.stage,
                out_a,
                out_b,
            );
            pixel += 2;
        }
        let last = pairs.into_remainder();
        if !last.is_empty() {
            self.receptive_field(input, pixel / ow, pixel % ow, packed, false);
            self.single(packed, last);
        }
        Ok(())
    }

    /// One output pixel from its unpacked receptive field (the last of an odd count).
    fn single(&self, field: &[i32], out: &mut [i8]) {
        for ((filter, param), slot) in self
            .weights
            .chunks_exact(field.len())
            .zip(self.channels.iter())
            .zip(out.iter_mut())
        {
            let acc = filter
                .iter()
                .zip(field)
                .fold(0i32, |acc, (&w, &p)| acc.wrapping_add(i32::from(w) * p));
            *slot = param.output(acc, self.stage);
        }
    }

    /// Writes `x − zp` of output pixel `(oy, ox)`'s receptive field (0 in the padding) into
    /// lane `b` (`high`) or lane `a` (overwriting) of `packed`.
    fn receptive_field(&self, input: &[i8], oy: usize, ox: usize, packed: &mut [i32], high: bool) {
        let (ih, iw, ci) = (
            self.input.height as usize,
            self.input.width as usize,
            self.input.channels as usize,
        );
        let k = self.window.kernel as usize;
        let (stride, pad) = (self.window.stride as usize, self.window.padding as usize);
        let zp = self.input_zero_point;
        if ci == 1 {
            // One input channel (the stem): one value per tap.
            let mut slots = packed.iter_mut();
            for ky in 0..k {
                let iy = (oy * stride + ky).wrapping_sub(pad);
                for kx in 0..k {
                    let ix = (ox * stride + kx).wrapping_sub(pad);
                    let x = if iy < ih && ix < iw {
                        input.get(iy * iw + ix).map_or(0, |&x| i32::from(x) - zp)
                    } else {
                        0
                    };
                    if let Some(slot) = slots.next() {
                        *slot = if high { pack(*slot, x) } else { x };
                    }
                }
            }
            return;
        }
        let mut taps = packed.chunks_exact_mut(ci);
        for ky in 0..k {
            let iy = (oy * stride + ky).wrapping_sub(pad);
            for kx in 0..k {
                let ix = (ox * stride + kx).wrapping_sub(pad);
                let Some(slots) = taps.next() else {
                    return;
                };
                let pixel = if iy < ih && ix < iw {
                    input.get((iy * iw + ix) * ci..(iy * iw + ix + 1) * ci)
                } else {
                    None
                };
                match (pixel, high) {
                    (Some(pixel), false) => {
                        for (slot, &x) in slots.iter_mut().zip(pixel) {
                            *slot = i32::from(x) - zp;
                        }
                    }
                    (Some(pixel), true) => {
                        for (slot, &x) in slots.iter_mut().zip(pixel) {
                            *slot = pack(*slot, i32::from(x) - zp);
                        }
                    }
                    (None, false) => slots.fill(0),
                    (None, true) => {}
                }
            }
        }
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

    /// The naive loop: the reference of [`Self::run`] (lengths already checked).
    pub(crate) fn run_reference(&self, input: &[i8], output: &mut [i8]) {
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
                    if let Some(slot) = out.next() {
                        *slot = param.output(acc, self.stage);
                    }
                }
            }
        }
    }
}
