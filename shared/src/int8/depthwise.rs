//! Depthwise 2-D convolution (TFLite `DEPTHWISE_CONV_2D`, int8, per-channel, multiplier 1).
//!
//! The fast path (3×3 windows at stride 1 or 2, the embedder's only kind) works one channel at
//! a time: the channel's nine weights and constants are decoded once, and the input rows its
//! windows need are gathered once each into a three-row ring, padded on both sides with the
//! input zero point. Every window then has nine taps at fixed offsets, with no bounds or padding
//! tests; since a padded tap reads `zp`, `Σ w·x − zp·Σ w` over all nine taps is exactly the
//! reference's `Σ w·(x − zp)` over the taps inside the image. Other windows, rows longer than
//! the ring and zero points outside int8 take the naive loop (`DepthwiseConv2d::run_reference`).

use super::fixedpoint::Requantizer;
use super::lanes::packable_zero_point;
use super::{check_len, check_window, dsp, ChannelParams, KernelError, OutputStage, Shape, Window};

/// Longest padded input row (`width + 2·padding`) the fast path's ring holds.
const RING_ROW: usize = 68;

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

    /// Runs the convolution: the DSP kernel on the device ([`crate::int8::dsp`]), the portable
    /// one elsewhere.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        if dsp::ENABLED {
            dsp::depthwise::run(self, input, output)
        } else {
            self.run_portable(input, output)
        }
    }

    /// The DSP kernel ([`crate::int8::dsp`]; emulated off the device).
    pub fn run_dsp(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        dsp::depthwise::run(self, input, output)
    }

    /// The portable kernel.
    pub fn run_portable(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        self.check(input, output)?;
        let padded = self.input.width as usize + 2 * self.window.padding as usize;
        if self.window.kernel == 3
            && (self.window.stride == 1 || self.window.stride == 2)
            && padded <= RING_ROW
            && packable_zero_point(self.input_zero_point)
        {
            self.run_3x3(input, output);
        } else {
            self.run_reference(input, output);
        }
        Ok(())
    }

    /// Gathers padded input row `row` (`−padding ≤ row − padding < height + padding`) of
    /// channel `c` into `slot`.
    fn gather(&self, input: &[i8], c: usize, row: usize, slot: &mut [i8]) {
        let (h, w) = (self.input.height as usize, self.input.width as usize);
        let channels = self.input.channels as usize;
        let pad = self.window.padding as usize;
        let zp = self.input_zero_point as i8;
        slot.fill(zp);
        if row < pad || row - pad >= h {
            return;
        }
        let start = (row - pad) * w * channels + c;
        let pixels = input.get(start..).unwrap_or(&[]).iter().step_by(channels);
        for (dst, &x) in slot[pad..pad + w].iter_mut().zip(pixels) {
            *dst = x;
        }
    }

    fn run_3x3(&self, input: &[i8], output: &mut [i8]) {
        let channels = self.input.channels as usize;
        let (oh, ow) = (self.output.height as usize, self.output.width as usize);
        let stride = self.window.stride as usize;
        let row_len = self.input.width as usize + 2 * self.window.padding as usize;
        let mut ring = [[0i8; RING_ROW]; 3];
        for (c, param) in self.channels.iter().enumerate().take(channels) {
            let w: [i32; 9] = core::array::from_fn(|t| {
                i32::from(self.weights.get(t * channels + c).copied().unwrap_or(0))
            });
            let sum_w: i32 = w.iter().sum();
            let fold = sum_w.wrapping_mul(self.input_zero_point).wrapping_neg();
            let taps = Taps {
                w,
                fold,
                bias: param.bias,
                requantize: Requantizer::new(param.requantize),
                stage: self.stage,
                c,
            };
            let mut held = [usize::MAX; 3];
            for oy in 0..oh {
                let top = oy * stride;
                for row in top..top + 3 {
                    if held[row % 3] != row {
                        self.gather(input, c, row, &mut ring[row % 3][..row_len]);
                        held[row % 3] = row;
                    }
                }
                let rows = [
                    &ring[top % 3][..row_len],
                    &ring[(top + 1) % 3][..row_len],
                    &ring[(top + 2) % 3][..row_len],
                ];
                let out = output
                    .get_mut(oy * ow * channels..(oy + 1) * ow * channels)
                    .unwrap_or(&mut [])
                    .chunks_exact_mut(channels);
                if stride == 1 {
                    taps.row_stride1(rows, out);
                } else {
                    taps.row::<2, 5>(rows, out, ow);
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
                    output[out_at + c] = param.output(acc, self.stage);
                }
            }
        }
    }
}

/// One channel's nine weights (`[ky][kx]`), zero-point fold and output constants.
struct Taps {
    w: [i32; 9],
    fold: i32,
    bias: i32,
    requantize: Requantizer,
    stage: OutputStage,
    c: usize,
}

impl Taps {
    #[inline(always)]
    fn finish(&self, acc: i32, pixel: &mut [i8]) {
        let acc = acc.wrapping_add(self.fold).wrapping_add(self.bias);
        if let Some(slot) = pixel.get_mut(self.c) {
            *slot = self.stage.finish(self.requantize.apply(acc));
        }
    }

    /// `Σ w·x` of the window whose left column is `at` in three row segments.
    #[inline(always)]
    fn window<const N: usize>(&self, rows: [&[i8; N]; 3], at: usize) -> i32 {
        let w = &self.w;
        let [r0, r1, r2] = rows;
        w[0] * i32::from(r0[at])
            + w[1] * i32::from(r0[at + 1])
            + w[2] * i32::from(r0[at + 2])
            + w[3] * i32::from(r1[at])
            + w[4] * i32::from(r1[at + 1])
            + w[5] * i32::from(r1[at + 2])
            + w[6] * i32::from(r2[at])
            + w[7] * i32::from(r2[at + 1])
            + w[8] * i32::from(r2[at + 2])
    }

    /// One output row at stride 1, one window at a time over the rows' zipped windows.
    fn row_stride1<'o>(&self, rows: [&[i8]; 3], out: impl Iterator<Item = &'o mut [i8]>) {
        let [r0, r1, r2] = rows;
        let w = &self.w;
        let windows = r0.windows(3).zip(r1.windows(3)).zip(r2.windows(3));
        for (((a, b), d), pixel) in windows.zip(out) {
            let acc = w[0] * i32::from(a[0])
                + w[1] * i32::from(a[1])
                + w[2] * i32::from(a[2])
                + w[3] * i32::from(b[0])
                + w[4] * i32::from(b[1])
                + w[5] * i32::from(b[2])
                + w[6] * i32::from(d[0])
                + w[7] * i32::from(d[1])
                + w[8] * i32::from(d[2]);
            self.finish(acc, pixel);
        }
    }

    /// One output row at stride `S` (segments of `N = 3 + S` columns), two outputs per
    /// segment load (used for stride 2).
    fn row<'o, const S: usize, const N: usize>(
        &self,
        rows: [&[i8]; 3],
        mut out: impl Iterator<Item = &'o mut [i8]>,
        width: usize,
    ) {
        let [r0, r1, r2] = rows;
        let segment =
            |r: &'_ [i8], at: usize| -> Option<[i8; N]> { r.get(at..at + N)?.try_into().ok() };
        let mut ox = 0;
        while ox + 2 <= width {
            let at = ox * S;
            let (Some(c0), Some(c1), Some(c2)) =
                (segment(r0, at), segment(r1, at), segment(r2, at))
            else {
                return;
            };
            let (Some(a), Some(b)) = (out.next(), out.next()) else {
                return;
            };
            let cols = [&c0, &c1, &c2];
            self.finish(self.window(cols, 0), a);
            self.finish(self.window(cols, S), b);
            ox += 2;
        }
        if ox < width {
            let segment3 =
                |r: &'_ [i8]| -> Option<[i8; 3]> { r.get(ox * S..ox * S + 3)?.try_into().ok() };
            if let (Some(c0), Some(c1), Some(c2), Some(a)) =
                (segment3(r0), segment3(r1), segment3(r2), out.next())
            {
                self.finish(self.window([&c0, &c1, &c2], 0), a);
            }
        }
    }
}
