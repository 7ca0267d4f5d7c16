//! Enrolment templates: the re-normalised mean of a person's int8 embeddings.
//!
//! The int8 embeddings are unit vectors at scale 1/128 ([`crate::int8::l2norm`]). The template
//! of embeddings `e₁ … e_n` is their sum `s` (exact, `i32`) scaled back to length 128:
//!
//! `tᵢ = sign(sᵢ) · ⌊128 · |sᵢ| / ‖s‖ + ½⌋`, clamped to −128..=127 (ties away from zero),
//!
//! computed **exactly in integers**: `⌊128·|sᵢ|/‖s‖ + ½⌋ = (⌊√⌊65536·sᵢ² / ‖s‖²⌋⌋ + 1) / 2`,
//! so host and device get the same bytes with no floating point. (The mean's `1/n` cancels in
//! the normalisation.) A zero sum gives a zero template.

/// Integer square root: the largest `r` with `r² ≤ n`.
pub const fn isqrt(n: u64) -> u64 {
    // Bit by bit, most significant first: exact for every u64.
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

/// Adds an embedding into a running sum (`sum.len() == embedding.len()`, extra elements of
/// either are ignored).
pub fn accumulate(sum: &mut [i32], embedding: &[i8]) {
    for (s, &e) in sum.iter_mut().zip(embedding) {
        *s = s.saturating_add(i32::from(e));
    }
}

/// The template of a sum of embeddings, into `out` (as long as the sum; extra elements of `out`
/// are left alone). Exact for sums of up to 2¹⁵ embeddings of up to 128 elements.
pub fn mean_template(sum: &[i32], out: &mut [i8]) {
    let norm2: u64 = sum
        .iter()
        .map(|&s| u64::from(s.unsigned_abs()).pow(2))
        .fold(0u64, u64::saturating_add);
    for (o, &s) in out.iter_mut().zip(sum) {
        let a = u64::from(s.unsigned_abs());
        // 65536·a² ≤ 2¹⁶·2⁴⁶ for |s| ≤ 2²³: no overflow; the quotient is ≤ 65536. A zero
        // sum (no norm) gives 0.
        let k = (a * a)
            .saturating_mul(65_536)
            .checked_div(norm2)
            .map_or(0, |q| isqrt(q).div_ceil(2));
        // k ≤ 128 since a² ≤ norm2.
        let k = k.min(128) as i32;
        *o = if s < 0 { -k } else { k.min(127) } as i8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_exact() {
        for n in (0u64..5000).chain([u64::MAX, u64::MAX - 1, 1 << 62, (1 << 32) - 1]) {
            let r = isqrt(n);
            assert!(r * r <= n, "{n}");
            assert!((r + 1).checked_mul(r + 1).is_none_or(|sq| sq > n), "{n}");
        }
    }

    #[test]
    fn template_table() {
        let cases: &[(&str, &[i32], &[i8])] = &[
            ("axis", &[5, 0, 0], &[127, 0, 0]),
            ("negative axis", &[0, -3, 0], &[0, -128, 0]),
            ("zero sum", &[0, 0], &[0, 0]),
            // 128/√2 = 90.51 → 91.
            ("diagonal", &[7, -7], &[91, -91]),
            // 3-4-5: 76.8 → 77, 102.4 → 102.
            ("3-4-5", &[3, 4], &[77, 102]),
            // 128·1/√3 = 73.9 → 74.
            ("cube diagonal", &[-1, 1, 1], &[-74, 74, 74]),
        ];
        for (name, sum, want) in cases {
            let mut out = vec![0i8; sum.len()];
            mean_template(sum, &mut out);
            assert_eq!(&out, want, "{name}");
        }
    }

    #[test]
    fn matches_float_reference_away_from_ties() {
        // Against f64 for pseudo-random sums: equal except where the f64 lands within 1e-9 of a
        // half (never in this set).
        let mut state = 0x1234_5678u32;
        for _ in 0..200 {
            let sum: Vec<i32> = (0..128)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 16) as i32 % 2000 - 1000
                })
                .collect();
            let mut out = vec![0i8; 128];
            mean_template(&sum, &mut out);
            let norm = sum
                .iter()
                .map(|&s| f64::from(s).powi(2))
                .sum::<f64>()
                .sqrt();
            for (&s, &t) in sum.iter().zip(&out) {
                let x = 128.0 * f64::from(s) / norm;
                let want = (x.abs() + 0.5).floor().copysign(x).clamp(-128.0, 127.0);
                assert_eq!(f64::from(t), want, "{x}");
            }
        }
    }

    #[test]
    fn one_embedding_gives_itself_within_one() {
        let e: Vec<i8> = (0..128).map(|i| ((i * 37) % 23) as i8 - 11).collect();
        let mut sum = vec![0i32; 128];
        accumulate(&mut sum, &e);
        accumulate(&mut sum, &e);
        let mut t = vec![0i8; 128];
        mean_template(&sum, &mut t);
        // e is not unit length at scale 128, so compare directions: t ∥ e.
        let norm = e.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        for (&x, &y) in e.iter().zip(&t) {
            assert!((128.0 * f64::from(x) / norm - f64::from(y)).abs() <= 0.5 + 1e-9);
        }
    }
}
