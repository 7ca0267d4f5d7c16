//! The pointwise (1×1) convolution and the dense layer on the DSP instructions.
//!
//! Pixels go four at a time. Each block's `x − zp` is widened once into a stack buffer of
//! halfword pairs, per group of four input channels `[x0, x2]`, `[x1, x3]` for each of the four
//! pixels (the order `SXTB16` gives and [`instr::dot_4x1`] reads), with the input channels past
//! the last whole group kept aside as plain values. Then every output channel is one pass of its
//! weight row over the buffer: a weight word is loaded and widened once for four pixels. The
//! block's inputs are all read before any of its outputs is written, and the outputs of pixels
//! `p..p+4` end at `(p+4)·c_out ≤ (p+4)·c_in`, so the same loop runs in place for a layer that
//! does not widen the tensor. The dense layer is one pixel: two weight rows per pass
//! ([`instr::dot_1x2`]).

use super::{halves, instr};
use crate::int8::fixedpoint::Requantizer;
use crate::int8::lanes::packable_zero_point;
use crate::int8::pointwise::PointwiseConv;
use crate::int8::{ChannelParams, KernelError, OutputStage};

/// Pixels per block.
pub(super) const BLOCK: usize = 4;
/// Most input channels the pointwise buffer holds (`BLOCK · MAX_C_IN / 2` words: 1 KiB).
pub const MAX_C_IN: usize = 128;
/// Most input features of the dense path's buffer (`MAX_FEATURES / 2` words: 512 B).
pub const MAX_FEATURES: usize = 256;
/// Dense outputs whose accumulators are gathered before they are requantised (512 B).
pub const MAX_DENSE_OUT: usize = 128;

/// Whether the DSP path takes a layer with `c_in` inputs and zero point `zp` (at most `max`
/// inputs; `x − zp` must fit a signed half).
pub(crate) fn applies(c_in: usize, zp: i32, max: usize) -> bool {
    c_in > 0 && c_in <= max && packable_zero_point(zp)
}

/// Widens pixel `k` of a block (`pixel`: its `c_in` bytes) into `pairs` (`BLOCK` pixels
/// interleaved per group, `stride` = pixels per group) and its leftover channels into `tail`.
fn widen(pixel: &[i8], zp: i32, k: usize, stride: usize, pairs: &mut [u32], tail: &mut [i32]) {
    let zp2 = halves(zp, zp);
    let mut groups = pixel.chunks_exact(4);
    for (g, w) in (&mut groups).enumerate() {
        let w = u32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]);
        let at = 2 * (g * stride + k);
        if let Some(slot) = pairs.get_mut(at..at + 2) {
            slot[0] = instr::ssub16(instr::sxtb16(w), zp2);
            slot[1] = instr::ssub16(instr::sxtb16_ror8(w), zp2);
        }
    }
    for (t, &x) in tail.iter_mut().zip(groups.remainder()) {
        *t = i32::from(x) - zp;
    }
}

/// `Σ w·x` over the leftover channels.
#[inline(always)]
fn tail_dot(weights: &[i8], tail: &[i32]) -> i32 {
    weights
        .iter()
        .zip(tail)
        .fold(0i32, |a, (&w, &x)| a.wrapping_add(i32::from(w) * x))
}

/// Groups of the unrolled product (64 input channels); 128 channels run it twice.
const HALF: usize = 16;

/// Output channels whose accumulators are gathered before they are requantised.
const CHUNK: usize = 16;

/// How a layer's outputs are requantised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Requant {
    /// Every shift in −31..=−2 with a non-negative multiplier and the clamp the full int8 range
    /// (`relu` false) or `[zp, 127]` (`relu` true): [`instr::requantize_chunk`], checked once
    /// per layer.
    Lean {
        /// The clamp is a ReLU at the zero point.
        relu: bool,
    },
    /// Anything else: per channel, [`instr::requantize4`] or [`instr::requantize_strided`].
    General,
}

/// Whether an output stage is one the lean requantisation clamps: `Some(false)` for the full
/// int8 range, `Some(true)` for a ReLU at an int8 zero point (`[zp, 127]`), `None` otherwise.
#[inline(always)]
pub(crate) fn lean_clamp(s: OutputStage) -> Option<bool> {
    let linear = s.min == i8::MIN && s.max == i8::MAX;
    let relu = (-128..=127).contains(&s.zero_point)
        && i32::from(s.min) == s.zero_point
        && s.max == i8::MAX;
    match (linear, relu) {
        (true, _) => Some(false),
        (false, true) => Some(true),
        (false, false) => None,
    }
}

/// The [`Requant`] of a layer with these channels and output stage.
pub(super) fn requant_mode(channels: ChannelParams<'_>, s: OutputStage) -> Requant {
    let shifts = channels
        .iter()
        .all(|p| p.requantize.multiplier >= 0 && (-31..=-2).contains(&p.requantize.shift));
    match lean_clamp(s) {
        Some(relu) if shifts => Requant::Lean { relu },
        _ => Requant::General,
    }
}

/// The outputs of `n ≤ 4` pixels for channels `c0..c0 + accs.len()` (`accs[i][k]`: channel
/// `c0 + i`, pixel `k`): `out[k·stride + c]`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn requantize_block(
    accs: &[[i32; BLOCK]],
    channels: ChannelParams<'_>,
    stage: OutputStage,
    mode: Requant,
    c0: usize,
    out: &mut [i8],
    n: usize,
    stride: usize,
) {
    if let (Requant::Lean { relu }, BLOCK) = (mode, n) {
        let params = channels.bytes().get(c0 * 12..).unwrap_or(&[]);
        let dst = out.get_mut(c0..).unwrap_or(&mut []);
        instr::requantize_chunk(accs, params, stage.zero_point, relu, dst, stride);
        return;
    }
    for (i, acc) in accs.iter().enumerate() {
        let c = c0 + i;
        let Some(param) = channels.get(c) else {
            return;
        };
        let dst = out.get_mut(c..).unwrap_or(&mut []);
        let rq = Requantizer::new(param.requantize);
        if n == BLOCK {
            instr::requantize4(acc, param.bias, &rq, stage, dst, stride);
        } else {
            let acc = acc.get(..n).unwrap_or(&[]);
            instr::requantize_strided(acc, param.bias, &rq, stage, dst, stride);
        }
    }
}

/// A block of up to four pixels whose inputs are already widened: writes their outputs
/// (`out`: `n · c_out` bytes, pixel-major), [`CHUNK`] output channels at a time: first their
/// products, then their requantisation. `G` is the number of whole channel groups when the
/// unrolled product applies (a multiple of 64 input channels), 0 for the loop form.
fn block_outputs<const G: usize>(
    layer: &PointwiseConv<'_>,
    pairs: &[u32],
    tails: &[[i32; 3]; BLOCK],
    out: &mut [i8],
    mode: Requant,
) {
    let (c_in, c_out) = (layer.c_in, layer.c_out);
    let whole = c_in - c_in % 4;
    let has_tail = whole != c_in;
    let n = (out.len() / c_out).min(BLOCK);
    let weights: &[u8] = bytemuck::cast_slice(layer.weights);
    let mut accs = [[0i32; BLOCK]; CHUNK];
    for (chunk, rows) in weights.chunks(CHUNK * c_in).enumerate() {
        let count = rows.len() / c_in;
        let accs = &mut accs[..count.min(CHUNK)];
        for (row, acc) in rows.chunks_exact(c_in).zip(accs.iter_mut()) {
            *acc = [0; BLOCK];
            if G == 0 {
                instr::dot_4x1(row, pairs, acc);
            } else {
                // 64 input channels per pass of the unrolled product (128 take two).
                for (w, x) in row.chunks_exact(4 * G).zip(pairs.chunks_exact(8 * G)) {
                    instr::dot_4x1_fixed::<G>(w, x, acc);
                }
            }
            if has_tail {
                let row_tail: &[i8] = bytemuck::cast_slice(row.get(whole..).unwrap_or(&[]));
                for (a, tail) in acc.iter_mut().zip(tails) {
                    *a = a.wrapping_add(tail_dot(row_tail, tail));
                }
            }
        }
        requantize_block(
            accs,
            layer.channels,
            layer.stage,
            mode,
            chunk * CHUNK,
            out,
            n,
            c_out,
        );
    }
}

/// The block loop's body for one layer, chosen once per layer.
type BlockFn = fn(&PointwiseConv<'_>, &[u32], &[[i32; 3]; BLOCK], &mut [i8], Requant);

/// [`block_outputs`] instantiated for the layer's channel count.
fn block_fn(layer: &PointwiseConv<'_>) -> BlockFn {
    if layer.c_in % (4 * HALF) == 0 {
        block_outputs::<HALF>
    } else {
        block_outputs::<0>
    }
}

/// Widens the `n ≤ 4` pixels of `input` (`n · c_in` bytes) into `pairs` and `tails`; the
/// slots of missing pixels are zero.
fn widen_block(
    layer: &PointwiseConv<'_>,
    input: &[i8],
    pairs: &mut [u32],
    tails: &mut [[i32; 3]; BLOCK],
) {
    let c_in = layer.c_in;
    if input.len() < BLOCK * c_in {
        pairs.fill(0);
    }
    for (k, (pixel, tail)) in input.chunks_exact(c_in).zip(tails.iter_mut()).enumerate() {
        widen(pixel, layer.input_zero_point, k, BLOCK, pairs, tail);
    }
}

/// [`PointwiseConv::run`] on the DSP instructions (falls back to the naive loop for more than
/// [`MAX_C_IN`] input channels or a zero point outside int8).
pub fn run(layer: &PointwiseConv<'_>, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
    if !applies(layer.c_in, layer.input_zero_point, MAX_C_IN) || layer.c_out == 0 {
        return layer.run_checked_reference(input, output);
    }
    layer.check(input, output)?;
    let (c_in, c_out) = (layer.c_in, layer.c_out);
    let groups = c_in / 4;
    let mut buffer = [0u32; 2 * BLOCK * MAX_C_IN / 4];
    let pairs = &mut buffer[..2 * BLOCK * groups];
    let mut tails = [[0i32; 3]; BLOCK];
    let block = block_fn(layer);
    let mode = requant_mode(layer.channels, layer.stage);
    for (src, dst) in input
        .chunks(BLOCK * c_in)
        .zip(output.chunks_mut(BLOCK * c_out))
    {
        widen_block(layer, src, pairs, &mut tails);
        block(layer, pairs, &tails, dst, mode);
    }
    Ok(())
}

/// [`PointwiseConv::run_in_place`] on the DSP instructions (same fallback as [`run`]).
pub fn run_in_place(
    layer: &PointwiseConv<'_>,
    buffer: &mut [i8],
    scratch: &mut [i8],
) -> Result<(), KernelError> {
    if !applies(layer.c_in, layer.input_zero_point, MAX_C_IN) || layer.c_out == 0 {
        return layer.run_in_place_checked_reference(buffer, scratch);
    }
    layer.check_in_place(buffer, scratch)?;
    let (c_in, c_out) = (layer.c_in, layer.c_out);
    let groups = c_in / 4;
    let mut words = [0u32; 2 * BLOCK * MAX_C_IN / 4];
    let pairs = &mut words[..2 * BLOCK * groups];
    let mut tails = [[0i32; 3]; BLOCK];
    let block = block_fn(layer);
    let mode = requant_mode(layer.channels, layer.stage);
    let mut first = 0;
    while first < layer.pixels {
        let n = BLOCK.min(layer.pixels - first);
        // Every input of the block is read before any output is written; the outputs end at
        // `(first + n)·c_out ≤ (first + n)·c_in`, before the next block's inputs.
        widen_block(
            layer,
            &buffer[first * c_in..(first + n) * c_in],
            pairs,
            &mut tails,
        );
        block(
            layer,
            pairs,
            &tails,
            &mut buffer[first * c_out..(first + n) * c_out],
            mode,
        );
        first += n;
    }
    Ok(())
}

/// [`crate::int8::dense::Dense::run`]'s arithmetic on the DSP instructions: one pixel of
/// `layer.c_in ≤ MAX_FEATURES` inputs, two output channels per pass, then the outputs
/// requantised [`MAX_DENSE_OUT`] at a time (same fallback as [`run`]).
pub fn run_dense(
    layer: &PointwiseConv<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<(), KernelError> {
    if layer.pixels != 1 || !applies(layer.c_in, layer.input_zero_point, MAX_FEATURES) {
        return layer.run_checked_reference(input, output);
    }
    layer.check(input, output)?;
    let c_in = layer.c_in;
    let whole = c_in - c_in % 4;
    let mut words = [0u32; MAX_FEATURES / 2];
    let pairs = &mut words[..whole / 2];
    let mut tail = [0i32; 3];
    widen(input, layer.input_zero_point, 0, 1, pairs, &mut tail);
    let weights: &[u8] = bytemuck::cast_slice(layer.weights);
    let row = |c: usize| weights.get(c * c_in..c * c_in + whole).unwrap_or(&[]);
    let row_tail = |c: usize| {
        layer
            .weights
            .get(c * c_in + whole..(c + 1) * c_in)
            .unwrap_or(&[])
    };
    let mode = requant_mode(layer.channels, layer.stage);
    let mut accs = [[0i32; 1]; MAX_DENSE_OUT];
    let mut c0 = 0;
    while c0 < layer.c_out {
        let count = MAX_DENSE_OUT.min(layer.c_out - c0);
        let accs = &mut accs[..count];
        for (pair, two) in accs.chunks_mut(2).enumerate() {
            let c = c0 + 2 * pair;
            let second = if two.len() == 2 { c + 1 } else { c };
            let mut acc = [0i32; 2];
            instr::dot_1x2(row(c), row(second), pairs, &mut acc);
            for (k, slot) in two.iter_mut().enumerate() {
                slot[0] = acc[k].wrapping_add(tail_dot(row_tail(c + k), &tail));
            }
        }
        let out = output.get_mut(c0..c0 + count).unwrap_or(&mut []);
        match mode {
            Requant::Lean { relu } => {
                let params = layer.channels.bytes().get(c0 * 12..).unwrap_or(&[]);
                instr::requantize_chunk(accs, params, layer.stage.zero_point, relu, out, 1);
            }
            Requant::General => {
                for (i, (acc, slot)) in accs.iter().zip(out.iter_mut()).enumerate() {
                    if let Some(param) = layer.channels.get(c0 + i) {
                        let rq = Requantizer::new(param.requantize);
                        *slot = layer
                            .stage
                            .finish(rq.apply(acc[0].wrapping_add(param.bias)));
                    }
                }
            }
        }
        c0 += count;
    }
    Ok(())
}
