//! The first convolution (one input channel, 3×3 window) on the DSP instructions.
//!
//! Output pixels go four at a time. Each pixel's nine taps (`x − zp`, 0 in the padding) are
//! packed into five halfword pairs; the weights of every filter are widened the same way once
//! per run into a stack table (5 words per filter). A filter's output for a pixel is then five
//! `SMLAD`s, and a block's four outputs per filter are requantised together
//! ([`super::instr::requantize_chunk`] on the released model's layers).

use super::pointwise::BLOCK;
use super::{halves, instr};
use crate::int8::conv2d::Conv2d;
use crate::int8::lanes::packable_zero_point;
use crate::int8::KernelError;

/// Most filters the widened weight table holds.
pub const MAX_FILTERS: usize = 32;
/// Halfword pairs of a 3×3 window (nine taps and a zero).
const PAIRS: usize = 5;

/// Whether the DSP path takes the layer.
fn applies(layer: &Conv2d<'_>) -> bool {
    layer.input.channels == 1
        && layer.window.kernel == 3
        && layer.output.channels as usize <= MAX_FILTERS
        && packable_zero_point(layer.input_zero_point)
}

/// The five pairs of output pixel `(oy, ox)`'s window.
#[inline(always)]
fn window(layer: &Conv2d<'_>, input: &[i8], oy: usize, ox: usize) -> [u32; PAIRS] {
    let (ih, iw) = (layer.input.height as usize, layer.input.width as usize);
    let (stride, pad) = (layer.window.stride as usize, layer.window.padding as usize);
    let zp = layer.input_zero_point;
    let mut taps = [0i32; 2 * PAIRS];
    for ky in 0..3 {
        let iy = (oy * stride + ky).wrapping_sub(pad);
        if iy >= ih {
            continue;
        }
        let row = input.get(iy * iw..(iy + 1) * iw).unwrap_or(&[]);
        for kx in 0..3 {
            let ix = (ox * stride + kx).wrapping_sub(pad);
            if let Some(&x) = row.get(ix) {
                taps[3 * ky + kx] = i32::from(x) - zp;
            }
        }
    }
    core::array::from_fn(|i| halves(taps[2 * i], taps[2 * i + 1]))
}

/// [`Conv2d::run`] on the DSP instructions (the naive loop for more than one input
/// channel, another window, more than [`MAX_FILTERS`] filters or a zero point outside int8).
pub fn run(layer: &Conv2d<'_>, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
    if !applies(layer) {
        return layer.run_checked_reference(input, output);
    }
    layer.check(input, output)?;
    let filters = layer.output.channels as usize;
    let (oh, ow) = (layer.output.height as usize, layer.output.width as usize);
    let mut table = [[0u32; PAIRS]; MAX_FILTERS];
    for (row, w) in table.iter_mut().zip(layer.weights.chunks_exact(9)) {
        let tap = |t: usize| w.get(t).map_or(0, |&v| i32::from(v));
        *row = core::array::from_fn(|i| halves(tap(2 * i), tap(2 * i + 1)));
    }
    let table = &table[..filters];
    let mode = super::pointwise::requant_mode(layer.channels, layer.stage);
    let mut accs = [[0i32; BLOCK]; MAX_FILTERS];
    let pixels = oh * ow;
    let mut first = 0;
    while first < pixels {
        let n = BLOCK.min(pixels - first);
        let mut windows = [[0u32; PAIRS]; BLOCK];
        for (k, w) in windows.iter_mut().enumerate().take(n) {
            let p = first + k;
            *w = window(layer, input, p / ow, p % ow);
        }
        for (acc, weights) in accs.iter_mut().zip(table) {
            for (a, w) in acc.iter_mut().zip(&windows) {
                let mut sum = instr::smlad(w[0], weights[0], 0);
                sum = instr::smlad(w[1], weights[1], sum);
                sum = instr::smlad(w[2], weights[2], sum);
                sum = instr::smlad(w[3], weights[3], sum);
                *a = instr::smlad(w[4], weights[4], sum);
            }
        }
        let out = output
            .get_mut(first * filters..(first + n) * filters)
            .unwrap_or(&mut []);
        super::pointwise::requantize_block(
            &accs[..filters],
            layer.channels,
            layer.stage,
            mode,
            0,
            out,
            n,
            filters,
        );
        first += n;
    }
    Ok(())
}
