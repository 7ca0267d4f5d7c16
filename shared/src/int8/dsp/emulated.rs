//! The DSP instructions and loops of `super::arm` in plain Rust, bit for bit their definitions
//! (ARMv7-M ARM, A7.7): the host's build of the DSP kernels, and the reference the firmware's
//! `kernel-check` compares the real instructions with. The Q and GE flags are not modelled: no
//! kernel reads them.

use crate::int8::fixedpoint::{Requantizer, RightShiftParts};
use crate::int8::OutputStage;

/// Low signed half of a word.
#[inline(always)]
const fn lo(x: u32) -> i32 {
    x as u16 as i16 as i32
}

/// High signed half of a word.
#[inline(always)]
const fn hi(x: u32) -> i32 {
    (x >> 16) as u16 as i16 as i32
}

/// `SXTB16 Rd, Rm`: bytes 0 and 2 of `x`, sign-extended into the low and high halves.
#[inline(always)]
pub const fn sxtb16(x: u32) -> u32 {
    let b0 = x as u8 as i8 as i16 as u16 as u32;
    let b2 = (x >> 16) as u8 as i8 as i16 as u16 as u32;
    b0 | (b2 << 16)
}

/// `SXTB16 Rd, Rm, ROR #8`: bytes 1 and 3 of `x`, sign-extended into the low and high halves.
#[inline(always)]
pub const fn sxtb16_ror8(x: u32) -> u32 {
    sxtb16(x.rotate_right(8))
}

/// `SSUB16 Rd, Rn, Rm`: halfwise `a − b`, each modulo 2^16.
#[inline(always)]
pub const fn ssub16(a: u32, b: u32) -> u32 {
    let l = (lo(a) - lo(b)) as u16 as u32;
    let h = (hi(a) - hi(b)) as u16 as u32;
    l | (h << 16)
}

/// `SMLAD Rd, Rn, Rm, Ra`: `acc + lo(a)·lo(b) + hi(a)·hi(b)`, modulo 2^32.
#[inline(always)]
pub const fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    acc.wrapping_add(lo(a) * lo(b)).wrapping_add(hi(a) * hi(b))
}

/// `SMLABB Rd, Rn, Rm, Ra`: `acc + lo(a)·lo(b)`, modulo 2^32.
#[inline(always)]
pub const fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    acc.wrapping_add(lo(a) * lo(b))
}

/// `SMLATB Rd, Rn, Rm, Ra`: `acc + hi(a)·lo(b)`, modulo 2^32.
#[inline(always)]
pub const fn smlatb(a: u32, b: u32, acc: i32) -> i32 {
    acc.wrapping_add(hi(a) * lo(b))
}

/// `PKHBT Rd, Rn, Rm, LSL #16`: the low half of `low` under the low half of `high`.
#[inline(always)]
pub const fn pkhbt(low: u32, high: u32) -> u32 {
    (low & 0xffff) | (high << 16)
}

/// `PKHTB Rd, Rn, Rm, ASR #16`: the high half of `low` under the high half of `high`.
#[inline(always)]
pub const fn pkhtb(low: u32, high: u32) -> u32 {
    (low >> 16) | (high & 0xffff_0000)
}

/// Four pixels' dot products with one weight row: for every 4-byte group `g` of `weights`,
/// `acc[k] += SMLAD(x[8g + 2k], SXTB16(w_g)) + SMLAD(x[8g + 2k + 1], SXTB16(w_g, ROR 8))`,
/// over `min(weights.len() / 4, x.len() / 8)` groups.
#[inline(always)]
pub fn dot_4x1(weights: &[u8], x: &[u32], acc: &mut [i32; 4]) {
    for (w, x) in weights.chunks_exact(4).zip(x.chunks_exact(8)) {
        let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let (even, odd) = (sxtb16(w), sxtb16_ror8(w));
        for (k, a) in acc.iter_mut().enumerate() {
            *a = smlad(x[2 * k + 1], odd, smlad(x[2 * k], even, *a));
        }
    }
}

/// [`dot_4x1`] over exactly `G` groups when the slices hold them (the device unrolls it).
#[inline(always)]
pub fn dot_4x1_fixed<const G: usize>(weights: &[u8], x: &[u32], acc: &mut [i32; 4]) {
    match (weights.get(..4 * G), x.get(..8 * G)) {
        (Some(w), Some(x)) => dot_4x1(w, x, acc),
        _ => dot_4x1(weights, x, acc),
    }
}

/// One output row of a 3×3 depthwise channel: for every output `k` (`a = S·k`),
/// `acc[k] = Σ_r SMLAD(rows[r][a], weights[2r]) + SMLABB(rows[r][a + 2], weights[2r + 1])`
/// (`weights`: per kernel row `[w0, w1]` and `[w2, 0]`), over the outputs the rows cover.
#[inline(always)]
pub fn depthwise_row<const S: usize>(rows: [&[u32]; 3], weights: &[u32; 6], acc: &mut [i32]) {
    for (k, a) in acc.iter_mut().enumerate() {
        let at = S * k;
        let mut sum = 0i32;
        for (r, row) in rows.iter().enumerate() {
            if let (Some(&p), Some(&q)) = (row.get(at), row.get(at + 2)) {
                sum = smlabb(q, weights[2 * r + 1], smlad(p, weights[2 * r], sum));
            }
        }
        *a = sum;
    }
}

/// `out[k·stride] = clamp(rq(acc[k] + bias) + zp)` for every `k` whose slot exists: the
/// requantisation of a run of accumulators into a strided output (a channel's outputs in a
/// channel-last tensor).
#[inline(always)]
pub fn requantize_strided(
    acc: &[i32],
    bias: i32,
    rq: &Requantizer,
    stage: OutputStage,
    out: &mut [i8],
    stride: usize,
) {
    let slots = out.iter_mut().step_by(stride.max(1));
    for (&a, slot) in acc.iter().zip(slots) {
        *slot = stage.finish(rq.apply(a.wrapping_add(bias)));
    }
}

/// [`requantize_strided`] for four accumulators (the device unrolls it).
#[inline(always)]
pub fn requantize4(
    acc: &[i32; 4],
    bias: i32,
    rq: &Requantizer,
    stage: OutputStage,
    out: &mut [i8],
    stride: usize,
) {
    requantize_strided(acc, bias, rq, stage, out, stride);
}

/// The fast requantisation of four accumulators from a channel's [`RightShiftParts`], for an
/// upper clamp of 127 and `e ≥ 2`: with `x = acc[k] + bias` and `s = x >> 31`, the high word
/// `q` of `x·m + (2^(e−2) + s)·2^32 + (2^30 | (s & 2^31))` gives
/// `out[k·stride] = max(ssat8((q >> (e−1)) + zp), min)`. Equal to
/// `Requantizer::apply_right_shift` then `OutputStage::finish`.
#[inline(always)]
pub fn requantize4_lean(
    acc: &[i32; 4],
    bias: i32,
    parts: RightShiftParts,
    zp: i32,
    min: i32,
    out: &mut [i8],
    stride: usize,
) {
    let slots = out.iter_mut().step_by(stride.max(1));
    for (&a, slot) in acc.iter().zip(slots) {
        *slot = requantize_lean(a, bias, parts, zp, min);
    }
}

/// One output of the lean requantisation (see [`requantize4_lean`]).
#[inline(always)]
fn requantize_lean(a: i32, bias: i32, parts: RightShiftParts, zp: i32, min: i32) -> i8 {
    let x = a.wrapping_add(bias);
    let s = x >> 31;
    let low = 0x4000_0000u32 | (s as u32 & 0x8000_0000);
    let high = parts.nudge_high.wrapping_add(s);
    let nudge = (i64::from(high) << 32) | i64::from(low);
    let q = ((i64::from(x) * i64::from(parts.multiplier)).wrapping_add(nudge) >> 32) as i32;
    (q >> parts.post_shift)
        .wrapping_add(zp)
        .clamp(-128, 127)
        .max(min) as i8
}

/// `P` pixels' outputs for each of `accs.len()` consecutive channels (their 12-byte
/// `ChannelParam` records in `params`), for layers whose shifts are all in −31..=−2 with
/// non-negative multipliers and whose clamp is the full int8 range or, with `relu`, `[zp, 127]`:
/// `out[i + k·stride]` for channel `i` and pixel `k`. Channels or slots past the slices are
/// skipped.
#[inline(always)]
pub fn requantize_chunk<const P: usize>(
    accs: &[[i32; P]],
    params: &[u8],
    zp: i32,
    relu: bool,
    out: &mut [i8],
    stride: usize,
) {
    for (i, (acc, p)) in accs.iter().zip(params.chunks_exact(12)).enumerate() {
        let word = |at: usize| i32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        let (bias, multiplier, shift) = (word(0), word(4), word(8));
        let e = shift.unsigned_abs().clamp(2, 31);
        let parts = RightShiftParts {
            multiplier,
            nudge_high: 1 << (e - 2),
            post_shift: e - 1,
        };
        let min = if relu { zp.clamp(-128, 127) } else { -128 };
        let slots = out
            .get_mut(i..)
            .unwrap_or(&mut [])
            .iter_mut()
            .step_by(stride.max(1));
        for (&a, slot) in acc.iter().zip(slots) {
            *slot = requantize_lean(a, bias, parts, zp, min);
        }
    }
}

/// Gathers `count` values `v = src[k·stride] − zp` as overlapping halfword pairs:
/// `dst[k] = [v(k−1), v(k)]` with `v(−1) = prev`; returns the last value (`prev` for none).
/// Stops early at the end of either slice.
#[inline(always)]
pub fn gather_pairs(
    src: &[i8],
    stride: usize,
    count: usize,
    zp: i32,
    prev: i32,
    dst: &mut [u32],
) -> i32 {
    let mut prev = prev;
    let values = src.iter().step_by(stride.max(1)).take(count);
    // `values` first: when it runs out, `zip` does not take (and lose) another slot.
    for (&x, slot) in values.zip(dst.iter_mut()) {
        let v = i32::from(x) - zp;
        *slot = super::halves(prev, v);
        prev = v;
    }
    prev
}

/// The residual add of a layer whose output multiplier shifts right by 2 or more and whose
/// clamp is the int8 range or a ReLU at `zp`: `out[k] = lean(t1[a[k]] + t2[b[k]])` (tables
/// indexed by byte + 128), in place over `b_and_output`.
#[inline(always)]
pub fn add_lean(
    a: &[i8],
    b_and_output: &mut [i8],
    tables: [&[i32; 256]; 2],
    parts: RightShiftParts,
    zp: i32,
    relu: bool,
) {
    let min = if relu { zp.clamp(-128, 127) } else { -128 };
    for (&x, o) in a.iter().zip(b_and_output.iter_mut()) {
        let sum = tables[0][(i32::from(x) + 128) as usize & 255]
            .wrapping_add(tables[1][(i32::from(*o) + 128) as usize & 255]);
        *o = requantize_lean(sum, 0, parts, zp, min);
    }
}

/// One pixel's dot products with two weight rows: for every group `g`,
/// `acc[r] += SMLAD(x[2g], SXTB16(w_r,g)) + SMLAD(x[2g + 1], SXTB16(w_r,g, ROR 8))`, over
/// `min(row0.len() / 4, row1.len() / 4, x.len() / 2)` groups.
#[inline(always)]
pub fn dot_1x2(row0: &[u8], row1: &[u8], x: &[u32], acc: &mut [i32; 2]) {
    for ((w0, w1), x) in row0
        .chunks_exact(4)
        .zip(row1.chunks_exact(4))
        .zip(x.chunks_exact(2))
    {
        for (w, a) in [w0, w1].into_iter().zip(acc.iter_mut()) {
            let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            *a = smlad(x[1], sxtb16_ror8(w), smlad(x[0], sxtb16(w), *a));
        }
    }
}
