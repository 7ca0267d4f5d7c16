//! The Cortex-M4 DSP instructions as stable inline `asm!`: the only `unsafe` code in the crate.
//!
//! Each single-instruction function is a register-to-register operation with no memory access
//! (`nomem`), no stack use and no effect other than its output register (and, for `SMLAD` and
//! `SSUB16`, the sticky Q / GE flags, which no code reads; those blocks do not claim
//! `preserves_flags`). The two loops read memory only inside the slices they are given, which the
//! SAFETY comments show. Their results are bit for bit those of [`super::emulated`].
#![allow(unsafe_code)]

use crate::int8::fixedpoint::{Requantizer, RightShiftParts};
use crate::int8::OutputStage;
use core::arch::asm;

/// `SXTB16 Rd, Rm`: bytes 0 and 2, sign-extended into the two halves.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    let out: u32;
    // SAFETY: a register-only instruction without side effects.
    unsafe {
        asm!("sxtb16 {0}, {1}", lateout(reg) out, in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// `SXTB16 Rd, Rm, ROR #8`: bytes 1 and 3, sign-extended into the two halves.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    let out: u32;
    // SAFETY: a register-only instruction without side effects.
    unsafe {
        asm!("sxtb16 {0}, {1}, ror #8", lateout(reg) out, in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// `SSUB16 Rd, Rn, Rm`: halfwise `a − b`.
#[inline(always)]
pub fn ssub16(a: u32, b: u32) -> u32 {
    let out: u32;
    // SAFETY: a register-only instruction; it also sets the GE flags, which nothing reads.
    unsafe {
        asm!("ssub16 {0}, {1}, {2}", lateout(reg) out, in(reg) a, in(reg) b,
             options(pure, nomem, nostack));
    }
    out
}

/// A multiply-accumulate instruction `Rd = Ra + f(Rn, Rm)` as a function `(a, b, acc)`.
macro_rules! multiply_accumulate {
    ($(#[$doc:meta])* $name:ident, $mnemonic:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name(a: u32, b: u32, acc: i32) -> i32 {
            let out: i32;
            // SAFETY: a register-only instruction; it may set the sticky Q flag, which nothing
            // reads.
            unsafe {
                asm!(concat!($mnemonic, " {0}, {1}, {2}, {3}"), lateout(reg) out, in(reg) a,
                     in(reg) b, in(reg) acc, options(pure, nomem, nostack));
            }
            out
        }
    };
}

multiply_accumulate!(
    /// `SMLAD Rd, Rn, Rm, Ra`: `acc + lo·lo + hi·hi`.
    smlad,
    "smlad"
);
multiply_accumulate!(
    /// `SMLABB Rd, Rn, Rm, Ra`: `acc + lo(a)·lo(b)`.
    smlabb,
    "smlabb"
);
multiply_accumulate!(
    /// `SMLATB Rd, Rn, Rm, Ra`: `acc + hi(a)·lo(b)`.
    smlatb,
    "smlatb"
);

/// `PKHBT Rd, Rn, Rm, LSL #16`: the low half of `low` under the low half of `high`.
#[inline(always)]
pub fn pkhbt(low: u32, high: u32) -> u32 {
    let out: u32;
    // SAFETY: a register-only instruction without side effects.
    unsafe {
        asm!("pkhbt {0}, {1}, {2}, lsl #16", lateout(reg) out, in(reg) low, in(reg) high,
             options(pure, nomem, nostack, preserves_flags));
    }
    out
}

/// `PKHTB Rd, Rn, Rm, ASR #16`: the high half of `low` under the high half of `high`.
#[inline(always)]
pub fn pkhtb(low: u32, high: u32) -> u32 {
    let out: u32;
    // SAFETY: a register-only instruction without side effects.
    unsafe {
        asm!("pkhtb {0}, {1}, {2}, asr #16", lateout(reg) out, in(reg) high, in(reg) low,
             options(pure, nomem, nostack, preserves_flags));
    }
    out
}

// The emulated forms the fast paths fall back on when a slice is shorter than their callers
// guarantee: out of line, so that the kernels do not carry an inlined copy of each.

#[cold]
#[inline(never)]
fn cold_depthwise_row<const S: usize>(rows: [&[u32]; 3], weights: &[u32; 6], acc: &mut [i32]) {
    super::emulated::depthwise_row::<S>(rows, weights, acc);
}

#[cold]
#[inline(never)]
fn cold_requantize_strided(
    acc: &[i32],
    bias: i32,
    rq: &Requantizer,
    stage: OutputStage,
    out: &mut [i8],
    stride: usize,
) {
    super::emulated::requantize_strided(acc, bias, rq, stage, out, stride);
}

#[cold]
#[inline(never)]
fn cold_requantize_chunk<const P: usize>(
    accs: &[[i32; P]],
    params: &[u8],
    zp: i32,
    relu: bool,
    out: &mut [i8],
    stride: usize,
) {
    super::emulated::requantize_chunk(accs, params, zp, relu, out, stride);
}

/// One group of [`dot_4x1`] with the single instructions.
#[inline(always)]
fn group_4x1(w: &[u8], x: &[u32], acc: &mut [i32; 4]) {
    if let (Some(w), Some(x)) = (w.get(..4), x.get(..8)) {
        let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        let (even, odd) = (sxtb16(w), sxtb16_ror8(w));
        for (k, a) in acc.iter_mut().enumerate() {
            *a = smlad(x[2 * k + 1], odd, smlad(x[2 * k], even, *a));
        }
    }
}

/// [`super::emulated::dot_4x1`]: four pixels against one weight row, two groups (8 MACs per
/// pixel) per loop turn: per group one `LDR` of four weights, two `SXTB16`, four `LDRD` of the
/// pixels' widened pairs and eight `SMLAD` (15 instructions for 16 MACs), plus `CMP`/`BNE`.
#[inline(always)]
pub fn dot_4x1(weights: &[u8], x: &[u32], acc: &mut [i32; 4]) {
    let groups = (weights.len() / 4).min(x.len() / 8);
    let (mut weights, mut x) = (weights, x);
    if groups % 2 == 1 {
        group_4x1(weights, x, acc);
        weights = weights.get(4..).unwrap_or(&[]);
        x = x.get(8..).unwrap_or(&[]);
    }
    let pairs = groups / 2;
    if pairs == 0 {
        return;
    }
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    let wp = weights.as_ptr();
    let xp = x.as_ptr();
    // SAFETY: the loop runs `pairs ≥ 1` times; each turn reads 8 bytes at `wp` (`LDR` ×2, any
    // alignment: ARMv7-M allows unaligned `LDR`) and 64 bytes at `xp` (`LDRD` ×8 on a `u32`
    // slice: word-aligned, as `LDRD` requires). In all it reads `8·pairs ≤ weights.len()` bytes
    // and `16·pairs ≤ x.len()` words, from the start of each slice. `end` is one past the last
    // weight byte read, computed in bounds (`wrapping_add` never wraps here).
    unsafe {
        let end = wp.wrapping_add(8 * pairs);
        asm!(
            "2:",
            ".rept 2",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {t}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "smlad {a0}, {x0}, {w}, {a0}",
            "smlad {a0}, {x1}, {t}, {a0}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "smlad {a1}, {x0}, {w}, {a1}",
            "smlad {a1}, {x1}, {t}, {a1}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "smlad {a2}, {x0}, {w}, {a2}",
            "smlad {a2}, {x1}, {t}, {a2}",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "smlad {a3}, {x0}, {w}, {a3}",
            "smlad {a3}, {x1}, {t}, {a3}",
            ".endr",
            "cmp {wp}, {end}",
            "bne 2b",
            wp = inout(reg) wp => _,
            xp = inout(reg) xp => _,
            end = in(reg) end,
            w = out(reg) _,
            t = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            options(nostack, readonly),
        );
    }
    *acc = [a0, a1, a2, a3];
}

/// [`dot_4x1`] for exactly `G` groups (`weights.len() ≥ 4G`, `x.len() ≥ 8G`; otherwise the
/// loop form runs), fully unrolled: per group one `LDR` of four weights, two `SXTB16`, two
/// `LDM` of four widened pairs and eight `SMLAD` — 13 instructions for 16 MACs, no loop
/// counter. Pointwise layers of 16, 64 and 128 input channels use it.
#[inline(always)]
pub fn dot_4x1_fixed<const G: usize>(weights: &[u8], x: &[u32], acc: &mut [i32; 4]) {
    if weights.len() < 4 * G || x.len() < 8 * G || G == 0 {
        dot_4x1(weights, x, acc);
        return;
    }
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    // SAFETY: the block reads `4·G ≤ weights.len()` bytes from `weights` (unaligned `LDR` is
    // allowed) and `8·G ≤ x.len()` words from `x` (`LDM` on a `u32` slice: word-aligned), both
    // from the start, as checked above. `LDM` loads ascending addresses into r0..r3 in order,
    // which is why those four are named explicitly.
    unsafe {
        asm!(
            ".rept {g}",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {t}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {xp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, r0, {w}, {a0}",
            "smlad {a0}, r1, {t}, {a0}",
            "smlad {a1}, r2, {w}, {a1}",
            "smlad {a1}, r3, {t}, {a1}",
            "ldm {xp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, r0, {w}, {a2}",
            "smlad {a2}, r1, {t}, {a2}",
            "smlad {a3}, r2, {w}, {a3}",
            "smlad {a3}, r3, {t}, {a3}",
            ".endr",
            g = const G,
            wp = inout(reg) weights.as_ptr() => _,
            xp = inout(reg) x.as_ptr() => _,
            w = out(reg) _,
            t = out(reg) _,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            options(nostack, readonly),
        );
    }
    *acc = [a0, a1, a2, a3];
}

/// The body of [`depthwise_row`]: `$step` is each row pointer's post-increment (4·stride
/// bytes), `$third` the offset of pair a+2 from the incremented pointer.
macro_rules! depthwise_row_asm {
    ($step:literal, $third:literal, $rows:expr, $weights:expr, $accp:expr, $end:expr) => {{
        let [w0, w1, w2, w3, w4, w5] = *$weights;
        asm!(
            "2:",
            concat!("ldr {x}, [{p0}], ", $step),
            "smuad {a}, {x}, {w0}",
            concat!("ldr {x}, [{p0}, ", $third, "]"),
            "smlabb {a}, {x}, {w1}, {a}",
            concat!("ldr {x}, [{p1}], ", $step),
            "smlad {a}, {x}, {w2}, {a}",
            concat!("ldr {x}, [{p1}, ", $third, "]"),
            "smlabb {a}, {x}, {w3}, {a}",
            concat!("ldr {x}, [{p2}], ", $step),
            "smlad {a}, {x}, {w4}, {a}",
            concat!("ldr {x}, [{p2}, ", $third, "]"),
            "smlabb {a}, {x}, {w5}, {a}",
            "str {a}, [{accp}], #4",
            "cmp {accp}, {end}",
            "bne 2b",
            p0 = inout(reg) $rows[0].as_ptr() => _,
            p1 = inout(reg) $rows[1].as_ptr() => _,
            p2 = inout(reg) $rows[2].as_ptr() => _,
            w0 = in(reg) w0, w1 = in(reg) w1, w2 = in(reg) w2,
            w3 = in(reg) w3, w4 = in(reg) w4, w5 = in(reg) w5,
            accp = inout(reg) $accp => _,
            end = in(reg) $end,
            x = out(reg) _,
            a = out(reg) _,
            options(nostack),
        )
    }};
}

/// [`super::emulated::depthwise_row`]: one output row of a 3×3 depthwise channel from three
/// rows of overlapping pairs, per output `SMUAD`/`SMLAD` of `[v(a), v(a+1)]` with `[w0, w1]` and
/// `SMLABB` of `v(a+2)` with `w2` for each kernel row: six loads and six multiplies for 9 MACs,
/// plus the store. `S` is the stride (1 or 2).
#[inline(always)]
pub fn depthwise_row<const S: usize>(rows: [&[u32]; 3], weights: &[u32; 6], acc: &mut [i32]) {
    let n = acc.len();
    // Output k reads pairs S·k and S·k + 2 of each row.
    let needed = if n == 0 { 0 } else { S * (n - 1) + 3 };
    if n == 0 || rows.iter().any(|r| r.len() < needed) || !(S == 1 || S == 2) {
        cold_depthwise_row::<S>(rows, weights, acc);
        return;
    }
    // SAFETY: the loop runs `n ≥ 1` times; turn `k` reads words `S·k` and `S·k + 2` of each
    // row (in bounds: `S·(n−1) + 2 < needed ≤ len`, checked above) and writes word `k` of
    // `acc` (`k < n = acc.len()`). All pointers are word-aligned (`u32`/`i32` slices).
    unsafe {
        let accp = acc.as_mut_ptr();
        let end = accp.wrapping_add(n);
        // Stride 1: pairs a and a+2 are the words at the row pointer before and 4 bytes after its
        // post-increment of 4; stride 2: at the pointer before and right after its
        // post-increment of 8.
        if S == 1 {
            depthwise_row_asm!("#4", "#4", rows, weights, accp, end);
        } else {
            depthwise_row_asm!("#8", "#0", rows, weights, accp, end);
        }
    }
}

/// [`super::emulated::requantize_strided`]'s loop for a right shift of at least 2 and an upper
/// clamp of 127 (the other cases run the emulated form): per output 17 instructions.
#[inline(always)]
pub fn requantize_strided(
    acc: &[i32],
    bias: i32,
    rq: &Requantizer,
    stage: OutputStage,
    out: &mut [i8],
    stride: usize,
) {
    let n = acc.len();
    let fits = n > 0
        && stride > 0
        && (n - 1)
            .checked_mul(stride)
            .is_some_and(|last| last < out.len());
    let (Some(parts), true, true) = (rq.right_shift_parts(), stage.max == i8::MAX, fits) else {
        cold_requantize_strided(acc, bias, rq, stage, out, stride);
        return;
    };
    // SAFETY: the loop runs `n ≥ 1` times; turn `k` reads `acc[k]` and writes
    // `out[k·stride]`, in bounds (`(n−1)·stride < out.len()`, checked above). The arithmetic is
    // that of `Requantizer::apply_right_shift` (see `right_shift_parts`); the output zero point
    // is added without saturation, which is exact since `|x·m / 2^(31+e)| < 2^30` for e ≥ 2.
    unsafe {
        let accp = acc.as_ptr();
        let end = accp.wrapping_add(n);
        asm!(
            "2:",
            "ldr {a}, [{accp}], #4",
            "add {a}, {a}, {bias}",
            "asr {s}, {a}, #31",
            "and {lo}, {s}, #0x80000000",
            "orr {lo}, {lo}, #0x40000000",
            "add {s}, {s}, {nh}",
            "smlal {lo}, {s}, {a}, {m}",
            "asr {a}, {s}, {post}",
            "add {a}, {a}, {zp}",
            "ssat {a}, #8, {a}",
            "cmp {a}, {min}",
            "it lt",
            "movlt {a}, {min}",
            "strb {a}, [{outp}]",
            "add {outp}, {outp}, {stride}",
            "cmp {accp}, {end}",
            "bne 2b",
            accp = inout(reg) accp => _,
            end = in(reg) end,
            bias = in(reg) bias,
            nh = in(reg) parts.nudge_high,
            m = in(reg) parts.multiplier,
            post = in(reg) parts.post_shift,
            zp = in(reg) stage.zero_point,
            min = in(reg) i32::from(stage.min),
            outp = inout(reg) out.as_mut_ptr() => _,
            stride = in(reg) stride,
            a = out(reg) _,
            s = out(reg) _,
            lo = out(reg) _,
            options(nostack),
        );
    }
}

/// [`super::emulated::requantize_strided`] for exactly four accumulators (a pointwise block's
/// pixels), unrolled: 15 instructions per output. Same fast-path conditions as
/// [`requantize_strided`], and `out` must hold `3·stride + 1` bytes.
#[inline(always)]
pub fn requantize4(
    acc: &[i32; 4],
    bias: i32,
    rq: &Requantizer,
    stage: OutputStage,
    out: &mut [i8],
    stride: usize,
) {
    match rq.right_shift_parts() {
        Some(parts) if stage.max == i8::MAX => requantize4_lean(
            acc,
            bias,
            parts,
            stage.zero_point,
            i32::from(stage.min),
            out,
            stride,
        ),
        _ => cold_requantize_strided(acc, bias, rq, stage, out, stride),
    }
}

/// [`super::emulated::requantize4_lean`]: [`requantize4`] with the channel's parts and the
/// layer's zero point and lower clamp given directly (the caller checked once per layer that
/// every multiplier shifts right by 2 or more and the upper clamp is 127); only the length of
/// `out` is checked here.
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
    let fits = stride.checked_mul(3).is_some_and(|last| last < out.len());
    if !fits || parts.post_shift == 0 {
        super::emulated::requantize4_lean(acc, bias, parts, zp, min, out, stride);
        return;
    }
    // SAFETY: reads the four words of `acc` and writes `out[k·stride]` for k < 4, in bounds
    // (`3·stride < out.len()`, checked above). Arithmetic as in `requantize_strided`.
    unsafe {
        asm!(
            ".rept 4",
            "ldr {a}, [{accp}], #4",
            "add {a}, {a}, {bias}",
            "asr {s}, {a}, #31",
            "and {lo}, {s}, #0x80000000",
            "orr {lo}, {lo}, #0x40000000",
            "add {s}, {s}, {nh}",
            "smlal {lo}, {s}, {a}, {m}",
            "asr {a}, {s}, {post}",
            "add {a}, {a}, {zp}",
            "ssat {a}, #8, {a}",
            "cmp {a}, {min}",
            "it lt",
            "movlt {a}, {min}",
            "strb {a}, [{outp}]",
            "add {outp}, {outp}, {stride}",
            ".endr",
            accp = inout(reg) acc.as_ptr() => _,
            bias = in(reg) bias,
            nh = in(reg) parts.nudge_high,
            m = in(reg) parts.multiplier,
            post = in(reg) parts.post_shift,
            zp = in(reg) zp,
            min = in(reg) min,
            outp = inout(reg) out.as_mut_ptr() => _,
            stride = in(reg) stride,
            a = out(reg) _,
            s = out(reg) _,
            lo = out(reg) _,
            options(nostack),
        );
    }
}

/// The body of [`requantize_chunk`]: `$clamp` is the ReLU clamp line (or nothing).
macro_rules! requantize_chunk_asm {
    ($clamp:literal, $p:expr, $params:expr, $acc:expr, $out:expr, $stride:expr, $zp:expr, $end:expr) => {
        asm!(
            "2:",
            "ldr {bias}, [{pp}], #4",
            "ldr {m}, [{pp}], #4",
            "ldr {post}, [{pp}], #4",
            "rsb {post}, {post}, #0",
            "mov {nh}, #1",
            "sub {post}, {post}, #2",
            "lsl {nh}, {nh}, {post}",
            "add {post}, {post}, #1",
            ".rept {pixels}",
            "ldr {a}, [{accp}], #4",
            "add {a}, {a}, {bias}",
            "asr {s}, {a}, #31",
            "and {lo}, {s}, #0x80000000",
            "orr {lo}, {lo}, #0x40000000",
            "add {s}, {s}, {nh}",
            "smlal {lo}, {s}, {a}, {m}",
            "asr {a}, {s}, {post}",
            $clamp,
            "add {a}, {a}, {zp}",
            "ssat {a}, #8, {a}",
            "strb {a}, [{ob}]",
            "add {ob}, {ob}, {stride}",
            ".endr",
            "sub {ob}, {ob}, {stride}, lsl #{log2}",
            "add {ob}, {ob}, #1",
            "cmp {pp}, {end}",
            "bne 2b",
            pixels = const $p,
            log2 = const $p.trailing_zeros(),
            pp = inout(reg) $params => _,
            accp = inout(reg) $acc => _,
            ob = inout(reg) $out => _,
            stride = in(reg) $stride,
            zp = in(reg) $zp,
            end = in(reg) $end,
            bias = out(reg) _,
            m = out(reg) _,
            post = out(reg) _,
            nh = out(reg) _,
            a = out(reg) _,
            s = out(reg) _,
            lo = out(reg) _,
            options(nostack),
        )
    };
}

/// [`super::emulated::requantize_chunk`]: `P` pixels' outputs (4 for a pointwise block, 1 for
/// a dense layer) for each of `accs.len()` consecutive channels, their 12-byte constants read
/// straight from `params`, in one loop (8 + 12·P + 4 instructions per channel, one more per
/// output with the ReLU clamp). The caller checked once per layer that every
/// shift is in −31..=−2 with a non-negative multiplier and that the clamp is the full int8
/// range (`relu` false) or `[zp, 127]` (`relu` true); here only the slices' lengths are
/// checked.
#[inline(always)]
pub fn requantize_chunk<const P: usize>(
    accs: &[[i32; P]],
    params: &[u8],
    zp: i32,
    relu: bool,
    out: &mut [i8],
    stride: usize,
) {
    let n = accs.len();
    let fits = n > 0
        && (P == 1 || P == 4)
        && params.len() >= 12 * n
        && stride
            .checked_mul(P - 1)
            .and_then(|last| last.checked_add(n - 1))
            .is_some_and(|last| last < out.len());
    if !fits {
        cold_requantize_chunk(accs, params, zp, relu, out, stride);
        return;
    }
    // SAFETY: the loop runs `n ≥ 1` times; turn `i` reads the 12 bytes of channel `i` in
    // `params` (unaligned `LDR`s, allowed), the `P` words of `accs[i]`, and writes
    // `out[i + k·stride]` for k < P: all in bounds (`12n ≤ params.len()`,
    // `(P−1)·stride + n − 1 < out.len()`, checked above). The arithmetic is that of
    // `Requantizer::apply_right_shift` for the caller-checked shifts, then the clamp (ReLU:
    // `BIC a, a, a, ASR #31` is max(a, 0) before the zero point, i.e. max(·, zp) after it).
    unsafe {
        let pp = params.as_ptr();
        let end = pp.wrapping_add(12 * n);
        if relu {
            requantize_chunk_asm!(
                "bic {a}, {a}, {a}, asr #31",
                P,
                pp,
                accs.as_ptr(),
                out.as_mut_ptr(),
                stride,
                zp,
                end
            );
        } else {
            requantize_chunk_asm!("", P, pp, accs.as_ptr(), out.as_mut_ptr(), stride, zp, end);
        }
    }
}

/// One group of [`dot_1x2`] with the single instructions.
#[inline(always)]
fn group_1x2(row0: &[u8], row1: &[u8], x: &[u32], acc: &mut [i32; 2]) {
    if let (Some(w0), Some(w1), Some(x)) = (row0.get(..4), row1.get(..4), x.get(..2)) {
        for (w, a) in [w0, w1].into_iter().zip(acc.iter_mut()) {
            let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            *a = smlad(x[1], sxtb16_ror8(w), smlad(x[0], sxtb16(w), *a));
        }
    }
}

/// [`super::emulated::gather_pairs`]: one depthwise channel's row into the ring, 8
/// instructions per value (`LDRSB`, the channel stride, the zero point, `PKHBT`, `STR`).
#[inline(always)]
pub fn gather_pairs(
    src: &[i8],
    stride: usize,
    count: usize,
    zp: i32,
    prev: i32,
    dst: &mut [u32],
) -> i32 {
    let fits = count > 0
        && stride > 0
        && count <= dst.len()
        && (count - 1)
            .checked_mul(stride)
            .is_some_and(|last| last < src.len());
    if !fits {
        return cold_gather_pairs(src, stride, count, zp, prev, dst);
    }
    let last: i32;
    // SAFETY: the loop runs `count ≥ 1` times; turn `k` reads `src[k·stride]` and writes
    // `dst[k]` (word-aligned `u32` slice), in bounds: `(count−1)·stride < src.len()` and
    // `count ≤ dst.len()`, checked above.
    unsafe {
        asm!(
            "2:",
            "ldrsb {v}, [{sp}]",
            "add {sp}, {sp}, {stride}",
            "sub {v}, {v}, {zp}",
            "pkhbt {t}, {prev}, {v}, lsl #16",
            "str {t}, [{dp}], #4",
            "mov {prev}, {v}",
            "subs {n}, {n}, #1",
            "bne 2b",
            sp = inout(reg) src.as_ptr() => _,
            dp = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) count => _,
            stride = in(reg) stride,
            zp = in(reg) zp,
            prev = inout(reg) prev => last,
            v = out(reg) _,
            t = out(reg) _,
            options(nostack),
        );
    }
    last
}

#[cold]
#[inline(never)]
fn cold_gather_pairs(
    src: &[i8],
    stride: usize,
    count: usize,
    zp: i32,
    prev: i32,
    dst: &mut [u32],
) -> i32 {
    super::emulated::gather_pairs(src, stride, count, zp, prev, dst)
}

/// The body of [`add_lean`]: `$clamp` is the ReLU clamp line (or nothing).
macro_rules! add_lean_asm {
    ($clamp:literal, $a:expr, $b:expr, $end:expr, $t1:expr, $t2:expr, $parts:expr, $zp:expr) => {
        asm!(
            "2:",
            "ldrsb {x}, [{pa}], #1",
            "ldrsb {y}, [{pb}]",
            "ldr {x}, [{t1}, {x}, lsl #2]",
            "ldr {y}, [{t2}, {y}, lsl #2]",
            "add {x}, {x}, {y}",
            "asr {y}, {x}, #31",
            "and {lo}, {y}, #0x80000000",
            "orr {lo}, {lo}, #0x40000000",
            "add {y}, {y}, {nh}",
            "smlal {lo}, {y}, {x}, {m}",
            "asr {x}, {y}, {post}",
            $clamp,
            "add {x}, {x}, {zp}",
            "ssat {x}, #8, {x}",
            "strb {x}, [{pb}], #1",
            "cmp {pa}, {end}",
            "bne 2b",
            pa = inout(reg) $a => _,
            pb = inout(reg) $b => _,
            end = in(reg) $end,
            t1 = in(reg) $t1,
            t2 = in(reg) $t2,
            nh = in(reg) $parts.nudge_high,
            m = in(reg) $parts.multiplier,
            post = in(reg) $parts.post_shift,
            zp = in(reg) $zp,
            x = out(reg) _,
            y = out(reg) _,
            lo = out(reg) _,
            options(nostack),
        )
    };
}

/// [`super::emulated::add_lean`]: the residual add with per-byte tables, 17 instructions per
/// element (18 with the ReLU clamp).
#[inline(always)]
pub fn add_lean(
    a: &[i8],
    b_and_output: &mut [i8],
    tables: [&[i32; 256]; 2],
    parts: RightShiftParts,
    zp: i32,
    relu: bool,
) {
    let n = a.len().min(b_and_output.len());
    if n == 0 || parts.post_shift == 0 {
        super::emulated::add_lean(a, b_and_output, tables, parts, zp, relu);
        return;
    }
    // SAFETY: the loop runs `n ≥ 1` times; turn `k` reads `a[k]` and `b_and_output[k]` and
    // writes `b_and_output[k]` (`k < n ≤` both lengths), and one word of each table at its
    // centre + 4·x for a byte x in −128..=127, i.e. entries 0..=255.
    unsafe {
        let pa = a.as_ptr();
        let end = pa.wrapping_add(n);
        let t1 = tables[0].as_ptr().wrapping_add(128);
        let t2 = tables[1].as_ptr().wrapping_add(128);
        let pb = b_and_output.as_mut_ptr();
        if relu {
            add_lean_asm!("bic {x}, {x}, {x}, asr #31", pa, pb, end, t1, t2, parts, zp);
        } else {
            add_lean_asm!("", pa, pb, end, t1, t2, parts, zp);
        }
    }
}

/// [`super::emulated::dot_1x2`]: one pixel against two weight rows, two groups per loop turn:
/// per group one `LDRD` of the pixel's pairs, per row one `LDR`, two `SXTB16`, two `SMLAD`
/// (11 instructions for 8 MACs), plus `CMP`/`BNE` every 16 MACs.
#[inline(always)]
pub fn dot_1x2(row0: &[u8], row1: &[u8], x: &[u32], acc: &mut [i32; 2]) {
    let groups = (row0.len() / 4).min(row1.len() / 4).min(x.len() / 2);
    let (mut row0, mut row1, mut x) = (row0, row1, x);
    if groups % 2 == 1 {
        group_1x2(row0, row1, x, acc);
        row0 = row0.get(4..).unwrap_or(&[]);
        row1 = row1.get(4..).unwrap_or(&[]);
        x = x.get(2..).unwrap_or(&[]);
    }
    let pairs = groups / 2;
    if pairs == 0 {
        return;
    }
    let [mut a0, mut a1] = *acc;
    // SAFETY: the loop runs `pairs ≥ 1` times; each turn reads 8 bytes at `w0` and at `w1`
    // (unaligned `LDR` is allowed) and 16 bytes at `xp` (`LDRD` on a `u32` slice:
    // word-aligned). In all `8·pairs` bytes of each row and `4·pairs` words of `x`, within the
    // slices (`2·pairs` groups remain after the odd one).
    unsafe {
        let xp = x.as_ptr();
        let end = xp.wrapping_add(4 * pairs);
        asm!(
            "2:",
            ".rept 2",
            "ldrd {x0}, {x1}, [{xp}], #8",
            "ldr {w}, [{w0}], #4",
            "sxtb16 {t}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {x0}, {w}, {a0}",
            "smlad {a0}, {x1}, {t}, {a0}",
            "ldr {w}, [{w1}], #4",
            "sxtb16 {t}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {x0}, {w}, {a1}",
            "smlad {a1}, {x1}, {t}, {a1}",
            ".endr",
            "cmp {xp}, {end}",
            "bne 2b",
            xp = inout(reg) xp => _,
            end = in(reg) end,
            w0 = inout(reg) row0.as_ptr() => _,
            w1 = inout(reg) row1.as_ptr() => _,
            w = out(reg) _,
            t = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            options(nostack, readonly),
        );
    }
    *acc = [a0, a1];
}
