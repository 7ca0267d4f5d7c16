//! Two pixels' dot products in one 64-bit multiply-accumulate: the inner loop of the pointwise
//! and general convolutions.
//!
//! For an int8 `x` and a zero point in −128..=127, `x − zp` lies in −255..=255, so the values of
//! one tap for two pixels `a` and `b` pack exactly into one `i32` as `a + b·2^23` ([`pack`]).
//! One widening multiply-accumulate of a weight `w` with that word (`SMLAL` on the Cortex-M4:
//! base ARMv7-M, not the DSP extension) adds `w·a + w·b·2^23` to an `i64`: two MACs in one
//! instruction. With at most [`MAX_TAPS`] terms the low lane `Σ w·a` stays inside ±2^22
//! (`128 · 128 · 255 < 2^22`), so [`unpack`] recovers both sums exactly, and they equal (mod 2^32,
//! as the reference kernels wrap) the `i32` sums of the naive loops bit for bit.

use super::{ChannelParams, OutputStage};

/// Bit position of the second pixel's lane.
pub(crate) const LANE_SHIFT: u32 = 23;

/// The most taps one packed accumulator may sum before [`unpack`] (`|w| ≤ 128`, `|x − zp| ≤ 255`).
pub(crate) const MAX_TAPS: usize = 128;

/// Whether a zero point keeps `x − zp` inside −255..=255 for every int8 `x` (the packing's
/// precondition; blobs are validated to it, hand-made kernels may not be).
pub(crate) const fn packable_zero_point(zero_point: i32) -> bool {
    zero_point >= i8::MIN as i32 && zero_point <= i8::MAX as i32
}

/// `a + b·2^23` for `a`, `b` in −255..=255 (never overflows: `|b·2^23| + 255 < 2^31`).
#[inline(always)]
pub(crate) const fn pack(a: i32, b: i32) -> i32 {
    a + b * (1 << LANE_SHIFT)
}

/// The two lanes of an accumulator of at most [`MAX_TAPS`] packed products.
#[inline(always)]
pub(crate) const fn unpack(acc: i64) -> (i32, i32) {
    let low = ((acc as i32) << (32 - LANE_SHIFT)) >> (32 - LANE_SHIFT);
    let high = ((acc - low as i64) >> LANE_SHIFT) as i32;
    (low, high)
}

/// `Σ w·p` over one weight row and the packed taps (equal lengths ≤ [`MAX_TAPS`]).
#[inline(always)]
pub(crate) fn dot1(packed: &[i32], w: &[i8]) -> i64 {
    let mut acc = 0i64;
    let (p4, w4) = (packed.chunks_exact(4), w.chunks_exact(4));
    let (pr, wr) = (p4.remainder(), w4.remainder());
    for (p, w) in p4.zip(w4) {
        acc += i64::from(w[0]) * i64::from(p[0]);
        acc += i64::from(w[1]) * i64::from(p[1]);
        acc += i64::from(w[2]) * i64::from(p[2]);
        acc += i64::from(w[3]) * i64::from(p[3]);
    }
    for (&p, &w) in pr.iter().zip(wr) {
        acc += i64::from(w) * i64::from(p);
    }
    acc
}

/// `Σ w0·p` and `Σ w1·p` over two weight rows and the packed taps (equal lengths ≤
/// [`MAX_TAPS`]): each packed word is loaded once for both rows.
#[inline(always)]
pub(crate) fn dot2(packed: &[i32], w0: &[i8], w1: &[i8]) -> (i64, i64) {
    let (mut acc0, mut acc1) = (0i64, 0i64);
    let (p4, a4, b4) = (
        packed.chunks_exact(4),
        w0.chunks_exact(4),
        w1.chunks_exact(4),
    );
    let (pr, ar, br) = (p4.remainder(), a4.remainder(), b4.remainder());
    for ((p, a), b) in p4.zip(a4).zip(b4) {
        acc0 += i64::from(a[0]) * i64::from(p[0]);
        acc1 += i64::from(b[0]) * i64::from(p[0]);
        acc0 += i64::from(a[1]) * i64::from(p[1]);
        acc1 += i64::from(b[1]) * i64::from(p[1]);
        acc0 += i64::from(a[2]) * i64::from(p[2]);
        acc1 += i64::from(b[2]) * i64::from(p[2]);
        acc0 += i64::from(a[3]) * i64::from(p[3]);
        acc1 += i64::from(b[3]) * i64::from(p[3]);
    }
    for ((&p, &a), &b) in pr.iter().zip(ar).zip(br) {
        let p = i64::from(p);
        acc0 += i64::from(a) * p;
        acc1 += i64::from(b) * p;
    }
    (acc0, acc1)
}

/// Both output pixels of a packed pair (`packed`: one word per tap, ≤ [`MAX_TAPS`]):
/// `weights` holds one row of `packed.len()` taps per output channel, and `out_a` / `out_b`
/// one byte per output channel.
#[inline(always)]
pub(crate) fn pair_outputs(
    packed: &[i32],
    weights: &[i8],
    channels: ChannelParams<'_>,
    stage: OutputStage,
    out_a: &mut [i8],
    out_b: &mut [i8],
) {
    let taps = packed.len();
    if taps == 0 {
        return;
    }
    let mut rows = weights.chunks_exact(2 * taps);
    let mut params = channels.iter();
    let mut a2 = out_a.chunks_exact_mut(2);
    let mut b2 = out_b.chunks_exact_mut(2);
    for ((two_rows, a), b) in (&mut rows).zip(&mut a2).zip(&mut b2) {
        let (w0, w1) = two_rows.split_at(taps);
        let (d0, d1) = dot2(packed, w0, w1);
        let (Some(p0), Some(p1)) = (params.next(), params.next()) else {
            return;
        };
        let ((a0, b0), (a1, b1)) = (unpack(d0), unpack(d1));
        a[0] = p0.output(a0, stage);
        a[1] = p1.output(a1, stage);
        b[0] = p0.output(b0, stage);
        b[1] = p1.output(b1, stage);
    }
    let last_row = rows.remainder();
    let last_a = a2.into_remainder().first_mut();
    let last_b = b2.into_remainder().first_mut();
    if let (Some(p), Some(a), Some(b)) = (params.next(), last_a, last_b) {
        let (sa, sb) = unpack(dot1(packed, last_row));
        *a = p.output(sa, stage);
        *b = p.output(sb, stage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_lanes_come_back_exactly() {
        for (a, b) in [
            (-255, -255),
            (255, 255),
            (-255, 255),
            (255, -255),
            (0, -255),
        ] {
            let p = pack(a, b);
            // The largest sums MAX_TAPS extreme products can reach, both signs.
            for w in [-128i64, 127] {
                let acc = w * i64::from(p) * MAX_TAPS as i64;
                let expect = (
                    w as i32 * a * MAX_TAPS as i32,
                    w as i32 * b * MAX_TAPS as i32,
                );
                assert_eq!(unpack(acc), expect, "a {a} b {b} w {w}");
            }
        }
    }

    #[test]
    fn dot_products_match_the_plain_sums() {
        let n = MAX_TAPS;
        let xa: Vec<i32> = (0..n).map(|i| (i as i32 * 37) % 511 - 255).collect();
        let xb: Vec<i32> = (0..n).map(|i| 255 - (i as i32 * 91) % 511).collect();
        let w0: Vec<i8> = (0..n).map(|i| ((i * 53) % 256) as u8 as i8).collect();
        let w1: Vec<i8> = (0..n).map(|i| ((i * 29 + 7) % 256) as u8 as i8).collect();
        for len in [0, 1, 3, 4, 5, 127, 128] {
            let packed: Vec<i32> = (0..len).map(|i| pack(xa[i], xb[i])).collect();
            let plain = |w: &[i8], x: &[i32]| -> i32 {
                w.iter().zip(x).map(|(&w, &x)| i32::from(w) * x).sum()
            };
            let (d0, d1) = dot2(&packed, &w0[..len], &w1[..len]);
            assert_eq!(unpack(d0), (plain(&w0[..len], &xa), plain(&w0[..len], &xb)));
            assert_eq!(unpack(d1), (plain(&w1[..len], &xa), plain(&w1[..len], &xb)));
            assert_eq!(dot1(&packed, &w1[..len]), d1);
        }
    }
}
