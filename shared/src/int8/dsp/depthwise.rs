//! The 3×3 depthwise convolution (stride 1 or 2) on the DSP instructions.
//!
//! One channel at a time, as the portable kernel: each input row a window needs is gathered
//! once per channel into a three-row ring, as `x − zp` with the padding 0, and stored as
//! overlapping halfword pairs `P[j] = [v[j], v[j+1]]`. A window's row at column `a` is then
//! `SMLAD(P[a], [w0, w1]) + SMLABB(P[a+2], w2)`: two loads and two instructions for three taps,
//! with no padding tests ([`instr::depthwise_row`]: 15 instructions per output, 9 MACs). Each
//! output row's accumulators are then requantised in one pass.

use super::{halves, instr};
use crate::int8::depthwise::DepthwiseConv2d;
use crate::int8::fixedpoint::Requantizer;
use crate::int8::lanes::packable_zero_point;
use crate::int8::KernelError;

/// Longest padded input row (`width + 2·padding`) the ring holds.
pub const RING_ROW: usize = 68;

/// Whether the DSP path takes the layer.
fn applies(layer: &DepthwiseConv2d<'_>) -> bool {
    let padded = layer.input.width as usize + 2 * layer.window.padding as usize;
    layer.window.kernel == 3
        && (layer.window.stride == 1 || layer.window.stride == 2)
        && padded <= RING_ROW
        && packable_zero_point(layer.input_zero_point)
}

/// Gathers padded row `row` of channel `c` into `ring` (`width + 2·padding` words) as
/// overlapping pairs of `x − zp` (0 in the padding): `ring[j] = [v[j], v[j+1]]`.
fn gather(layer: &DepthwiseConv2d<'_>, input: &[i8], c: usize, row: usize, ring: &mut [u32]) {
    let (h, w) = (layer.input.height as usize, layer.input.width as usize);
    let channels = layer.input.channels as usize;
    let pad = layer.window.padding as usize;
    let zp = layer.input_zero_point;
    ring.fill(0);
    if row < pad || row - pad >= h || w == 0 {
        return;
    }
    let start = (row - pad) * w * channels + c;
    let src = input.get(start..).unwrap_or(&[]);
    // With no left padding the first value only starts the first pair.
    let (prev, first, src, count) = if pad == 0 {
        let first_value = src.first().map_or(0, |&x| i32::from(x) - zp);
        (first_value, 0, src.get(channels..).unwrap_or(&[]), w - 1)
    } else {
        (0, pad - 1, src, w)
    };
    let slots = ring.get_mut(first..).unwrap_or(&mut []);
    let last = if count > 0 {
        instr::gather_pairs(src, channels, count, zp, prev, slots)
    } else {
        prev
    };
    if let Some(slot) = slots.get_mut(count) {
        *slot = halves(last, 0);
    }
}

/// [`DepthwiseConv2d::run`] on the DSP instructions (the naive loop for any window other than
/// 3×3 at stride 1 or 2, rows longer than [`RING_ROW`], or a zero point outside int8).
pub fn run(
    layer: &DepthwiseConv2d<'_>,
    input: &[i8],
    output: &mut [i8],
) -> Result<(), KernelError> {
    if !applies(layer) {
        return layer.run_checked_reference(input, output);
    }
    layer.check(input, output)?;
    let channels = layer.input.channels as usize;
    let (oh, ow) = (layer.output.height as usize, layer.output.width as usize);
    let stride = layer.window.stride as usize;
    let row_len = layer.input.width as usize + 2 * layer.window.padding as usize;
    let mut ring = [[0u32; RING_ROW]; 3];
    let mut accs = [0i32; RING_ROW];
    let accs = &mut accs[..ow];
    for (c, param) in layer.channels.iter().enumerate().take(channels) {
        let tap = |t: usize| i32::from(layer.weights.get(t * channels + c).copied().unwrap_or(0));
        let weights: [u32; 6] = core::array::from_fn(|i| {
            let ky = i / 2;
            if i % 2 == 0 {
                halves(tap(3 * ky), tap(3 * ky + 1))
            } else {
                halves(tap(3 * ky + 2), 0)
            }
        });
        let rq = Requantizer::new(param.requantize);
        // `slot_of[k]`: the ring slot holding padded row `next_row − 3 + k` (rows arrive in
        // order, each gathered once per channel).
        let mut slot_of = [0usize, 1, 2];
        let mut next_row = 0;
        for oy in 0..oh {
            let top = oy * stride;
            while next_row < top + 3 {
                // The oldest slot takes the next row.
                let slot = if next_row < 3 { next_row } else { slot_of[0] };
                if next_row >= 3 {
                    slot_of = [slot_of[1], slot_of[2], slot];
                }
                gather(layer, input, c, next_row, &mut ring[slot][..row_len]);
                next_row += 1;
            }
            let rows = [
                &ring[slot_of[0]][..row_len],
                &ring[slot_of[1]][..row_len],
                &ring[slot_of[2]][..row_len],
            ];
            if stride == 1 {
                instr::depthwise_row::<1>(rows, &weights, accs);
            } else {
                instr::depthwise_row::<2>(rows, &weights, accs);
            }
            let out = output.get_mut(oy * ow * channels + c..).unwrap_or(&mut []);
            instr::requantize_strided(accs, param.bias, &rq, layer.stage, out, channels);
        }
    }
    Ok(())
}
