//! The requantisation primitives against TFLite's formulas: named edge cases and properties
//! against exact wide-integer / float arithmetic.

use super::fixedpoint::*;
use proptest::prelude::*;

/// `floor(num / 2^bits + ½)`: ties toward +∞, in exact `i128` arithmetic. This is what
/// gemmlowp's `SaturatingRoundingDoublingHighMul` computes (its negative nudge `1 − 2^30` plus
/// truncating division rounds −0.5 up to 0).
fn round_half_up_exact(num: i128, bits: u32) -> i128 {
    (num + (1i128 << (bits - 1))) >> bits
}

/// `round(num / 2^bits)` with ties away from zero, in exact `i128` arithmetic.
fn round_shift_exact(num: i128, bits: u32) -> i128 {
    let den = 1i128 << bits;
    let q = num.abs() / den;
    let r = num.abs() % den;
    let q = if 2 * r >= den { q + 1 } else { q };
    if num < 0 {
        -q
    } else {
        q
    }
}

#[test]
fn doubling_high_mul_named_cases() {
    let cases: &[(&str, i32, i32, i32)] = &[
        ("min × min saturates", i32::MIN, i32::MIN, i32::MAX),
        ("half × half", 1 << 30, 1 << 30, 1 << 29),
        ("zero", 0, 12345, 0),
        ("max × max", i32::MAX, i32::MAX, i32::MAX - 1),
        ("min × max", i32::MIN, i32::MAX, -i32::MAX),
        ("positive tie rounds up", 1, 1 << 30, 1),
        ("negative tie rounds up (gemmlowp's nudge)", -1, 1 << 30, 0),
        ("−1.5 rounds up to −1", -3, 1 << 30, -1),
        ("below the tie rounds to zero", 1, (1 << 30) - 1, 0),
    ];
    for &(name, a, b, expected) in cases {
        assert_eq!(
            saturating_rounding_doubling_high_mul(a, b),
            expected,
            "{name}"
        );
    }
}

#[test]
fn rounding_divide_named_cases() {
    let cases: &[(&str, i32, i32, i32)] = &[
        ("2.5 rounds to 3", 5, 1, 3),
        ("−2.5 rounds to −3", -5, 1, -3),
        ("1.5 rounds to 2", 3, 1, 2),
        ("−1.5 rounds to −2", -3, 1, -2),
        ("−1.25 rounds to −1", -5, 2, -1),
        ("exponent 0 is the identity", -7, 0, -7),
        ("max by 31", i32::MAX, 31, 1),
        ("min by 31", i32::MIN, 31, -1),
        ("−2^30 by 31 is the tie −0.5", -(1 << 30), 31, -1),
        ("2^30 by 31 is the tie 0.5", 1 << 30, 31, 1),
        ("just under the negative tie", -(1 << 30) + 1, 31, 0),
    ];
    for &(name, x, e, expected) in cases {
        assert_eq!(rounding_divide_by_pot(x, e), expected, "{name}");
    }
}

#[test]
fn quantize_multiplier_named_cases() {
    let q = |m| QuantizedMultiplier::from_real(m).map(|q| (q.multiplier, q.shift));
    assert_eq!(q(0.5), Some((1 << 30, 0)));
    assert_eq!(q(1.0), Some((1 << 30, 1)));
    assert_eq!(q(0.25), Some((1 << 30, -1)));
    assert_eq!(q(0.0), Some((0, 0)));
    // The mantissa rounds up to 2^31: renormalised.
    assert_eq!(q(1.0 - 1e-12), Some((1 << 30, 1)));
    // Below 2^−32 the multiplier is flushed to zero, as TFLite does.
    assert_eq!(q(1e-12), Some((0, 0)));
    assert_eq!(q(-0.5), None);
    assert_eq!(q(f64::NAN), None);
    assert_eq!(q(f64::INFINITY), None);
    assert_eq!(q(2f64.powi(31)), None, "left shift beyond 30");
    assert!(q(2f64.powi(29)).is_some());
}

#[test]
fn multiply_by_quantized_multiplier_saturation_and_shift_extremes() {
    // Largest left shift: x·2^30 wraps in TFLite's C++ too; the result stays defined.
    let m = QuantizedMultiplier::from_real(2f64.powi(29)).unwrap();
    assert_eq!(m.shift, 30);
    assert_eq!(m.apply(1), 1 << 29);
    // Largest right shift.
    let tiny = QuantizedMultiplier {
        multiplier: i32::MAX,
        shift: -31,
    };
    assert_eq!(tiny.apply(i32::MAX), 1, "≈ 2^31 · 2^−31");
    assert_eq!(tiny.apply(1 << 30), 1, "the tie 0.5 rounds away from zero");
    assert_eq!(tiny.apply(1 << 29), 0, "0.25");
    // Saturating product: min × min.
    assert_eq!(
        multiply_by_quantized_multiplier(i32::MIN, i32::MIN, 0),
        i32::MAX
    );
    // Negative ties: TFLite's double rounding rounds them differently depending on which step
    // meets the tie. 0.5 = (2^30, shift 0): the tie is met in the doubling high product, which
    // rounds ties up: −3 × 0.5 = −1.5 → −1, −1 × 0.5 → 0, 3 × 0.5 → 2.
    let half = QuantizedMultiplier::from_real(0.5).unwrap();
    assert_eq!(half.apply(-3), -1);
    assert_eq!(half.apply(-1), 0);
    assert_eq!(half.apply(3), 2);
    // 0.25 = (2^30, shift −1): the tie is met in the rounding right shift, which rounds ties
    // away from zero: −6 × 0.25 = −1.5 → −2, 6 × 0.25 → 2.
    let quarter = QuantizedMultiplier::from_real(0.25).unwrap();
    assert_eq!(quarter.apply(-6), -2);
    assert_eq!(quarter.apply(6), 2);
}

/// Values where the roundings and the saturation change behaviour.
const EDGE_VALUES: [i32; 16] = [
    i32::MIN,
    i32::MIN + 1,
    -(1 << 30) - 1,
    -(1 << 30),
    -(1 << 30) + 1,
    -65_536,
    -3,
    -1,
    0,
    1,
    3,
    65_535,
    (1 << 30) - 1,
    1 << 30,
    i32::MAX - 1,
    i32::MAX,
];

#[test]
fn apply_is_the_reference_on_edge_values_and_every_shift() {
    for shift in -40..=40 {
        for &multiplier in &EDGE_VALUES {
            for &x in &EDGE_VALUES {
                let q = QuantizedMultiplier { multiplier, shift };
                let reference = multiply_by_quantized_multiplier(x, multiplier, shift);
                assert_eq!(
                    q.apply(x),
                    reference,
                    "x {x} multiplier {multiplier} shift {shift}"
                );
                assert_eq!(
                    Requantizer::new(q).apply(x),
                    reference,
                    "prepared: x {x} multiplier {multiplier} shift {shift}"
                );
            }
        }
    }
}

proptest! {
    /// The fused fast form of `apply` against TFLite's two-step reference, bit for bit, over
    /// every input, multiplier (valid or not) and shift.
    #[test]
    fn apply_is_the_reference(
        x in any::<i32>(),
        multiplier in prop_oneof![any::<i32>(), (1i32 << 30)..=i32::MAX],
        shift in -40i32..=40,
    ) {
        let q = QuantizedMultiplier { multiplier, shift };
        let reference = multiply_by_quantized_multiplier(x, multiplier, shift);
        prop_assert_eq!(q.apply(x), reference);
        prop_assert_eq!(Requantizer::new(q).apply(x), reference);
    }

    /// Small accumulators, as the kernels produce them.
    #[test]
    fn apply_is_the_reference_on_small_accumulators(
        x in -(1i32 << 20)..(1i32 << 20),
        multiplier in (1i32 << 30)..=i32::MAX,
        shift in -31i32..=30,
    ) {
        let q = QuantizedMultiplier { multiplier, shift };
        let reference = multiply_by_quantized_multiplier(x, multiplier, shift);
        prop_assert_eq!(q.apply(x), reference);
        prop_assert_eq!(Requantizer::new(q).apply(x), reference);
    }

    #[test]
    fn doubling_high_mul_is_exact_rounding(a in any::<i32>(), b in any::<i32>()) {
        prop_assume!(!(a == i32::MIN && b == i32::MIN));
        let exact = round_half_up_exact(i128::from(a) * i128::from(b), 31);
        prop_assert_eq!(i128::from(saturating_rounding_doubling_high_mul(a, b)), exact);
    }

    #[test]
    fn rounding_divide_is_exact_rounding(x in any::<i32>(), e in 0i32..=31) {
        prop_assert_eq!(i128::from(rounding_divide_by_pot(x, e)), round_shift_exact(i128::from(x), e as u32));
    }

    /// Against the real product: TFLite's double rounding is within 1 of `round(x·m)`.
    #[test]
    fn requantisation_is_within_one_of_the_real_product(
        x in -(1i32 << 24)..(1i32 << 24),
        m in 1e-6f64..0.999,
    ) {
        let q = QuantizedMultiplier::from_real(m).unwrap();
        let got = q.apply(x);
        let exact = (f64::from(x) * m).round();
        prop_assert!((f64::from(got) - exact).abs() <= 1.0, "x {} m {} got {} exact {}", x, m, got, exact);
        // And the stored multiplier is within 2^−31 relative of the real one.
        prop_assert!((q.to_real() - m).abs() <= m * 2f64.powi(-30));
    }

    /// `1/√n` within 1e-5 relative over the whole positive range (the Newton iteration works
    /// with 28 fraction bits). For an int8 L2 normalisation that is < 0.33 LSB: |d| ≤ 255 and
    /// the output is `d·128/√n`, so the error is ≤ 255·128·1e-5/√n with n ≥ d².
    #[test]
    fn inverse_square_root_is_accurate(n in 2i32..i32::MAX) {
        let q = inv_sqrt_quantized_multiplier(n);
        let got = q.to_real();
        let exact = 1.0 / f64::from(n).sqrt();
        prop_assert!(((got - exact) / exact).abs() < 1e-5, "n {} got {} exact {}", n, got, exact);
    }
}

#[test]
fn inverse_square_root_small_inputs() {
    for n in [0, 1] {
        let q = inv_sqrt_quantized_multiplier(n);
        assert_eq!((q.multiplier, q.shift), (i32::MAX, 0), "input {n}");
    }
    for n in 2..2000 {
        let got = inv_sqrt_quantized_multiplier(n).to_real();
        let exact = 1.0 / f64::from(n).sqrt();
        assert!(
            ((got - exact) / exact).abs() < 1e-5,
            "n {n}: {got} vs {exact}"
        );
    }
}
