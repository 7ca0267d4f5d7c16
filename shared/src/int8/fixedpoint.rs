//! TFLite's integer requantisation arithmetic, bit for bit.
//!
//! These are the reference forms of `tflite::MultiplyByQuantizedMultiplier` and the gemmlowp
//! primitives under it (`SaturatingRoundingDoublingHighMul`, `RoundingDivideByPOT`), of
//! `tflite::QuantizeMultiplier` (real multiplier → Q31 multiplier + power-of-two shift) and of
//! `tflite::GetInvSqrtQuantizedMultiplierExp` (the integer 1/√x of the L2 normalisation), with
//! TFLite's double rounding (not `TFLITE_SINGLE_ROUNDING`), as CMSIS-NN and TFLite-Micro use them.
//!
//! Where TFLite's C++ relies on two's-complement wrap-around (`x * (1 << left_shift)`, the raw
//! subtraction inside the Newton–Raphson step) we wrap explicitly, so debug builds never panic.

/// A real multiplier `m` as `multiplier · 2^(shift − 31)` with `multiplier` in `[2^30, 2^31)`
/// (or 0): the output of `tflite::QuantizeMultiplier`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuantizedMultiplier {
    /// Q31 mantissa.
    pub multiplier: i32,
    /// Power-of-two exponent: positive shifts left, negative shifts right.
    pub shift: i32,
}

/// The largest left shift a stored multiplier may carry (TFLite allows up to 30 before the
/// left shift of a 32-bit accumulator becomes meaningless).
pub const MAX_LEFT_SHIFT: i32 = 30;
/// The largest right shift a stored multiplier may carry.
pub const MAX_RIGHT_SHIFT: i32 = 31;

impl QuantizedMultiplier {
    /// `tflite::QuantizeMultiplier(double)`: `frexp`, round the mantissa half away from zero to
    /// Q31, renormalise when it rounds up to 2^31, and flush multipliers below 2^−31 to zero.
    /// Returns `None` for a negative, NaN or infinite multiplier, or one ≥ 2^30 (its left shift
    /// would exceed [`MAX_LEFT_SHIFT`]).
    pub fn from_real(real: f64) -> Option<Self> {
        if !real.is_finite() || real < 0.0 {
            return None;
        }
        if real == 0.0 {
            return Some(Self::default());
        }
        let (mantissa, mut shift) = libm::frexp(real);
        let mut q = libm::round(mantissa * (1u64 << 31) as f64) as i64;
        if q == 1i64 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -MAX_RIGHT_SHIFT {
            return Some(Self::default());
        }
        if shift > MAX_LEFT_SHIFT {
            return None;
        }
        Some(Self {
            multiplier: q as i32,
            shift,
        })
    }

    /// The real value this multiplier stands for.
    pub fn to_real(self) -> f64 {
        f64::from(self.multiplier) * libm::pow(2.0, f64::from(self.shift - 31))
    }

    /// Whether the fields are in the range the kernels accept (what a parsed blob must satisfy).
    pub const fn is_valid(self) -> bool {
        self.multiplier >= 0 && self.shift >= -MAX_RIGHT_SHIFT && self.shift <= MAX_LEFT_SHIFT
    }

    /// `tflite::MultiplyByQuantizedMultiplier(x, multiplier, shift)`: bit for bit
    /// [`multiply_by_quantized_multiplier`] (for every `shift` above `i32::MIN`), with both of its
    /// roundings done on the 64-bit product.
    ///
    /// The doubling high product is `q = ⌊(x·m + 2^30) / 2^31⌋` (gemmlowp's nudge-and-truncate
    /// is that floor), saturated in its one overflowing case. For a right shift `e ≥ 1`, the
    /// rounding division of `q` is `⌊(q + 2^(e−1) − [q < 0]) / 2^e⌋`; nesting the two floors
    /// gives `⌊(x·m ± 2^30 + 2^(30+e)) / 2^(31+e)⌋` with `−` for a negative product (a product
    /// in `[−2^30, 0)` gives 0 either way), i.e. the high word of `x·m ± 2^30` plus
    /// `2^(e−2)`, shifted right by `e − 1`.
    #[inline(always)]
    pub fn apply(self, x: i32) -> i32 {
        if self.shift >= 0 {
            let a = x.wrapping_shl(self.shift as u32);
            let high = (i64::from(a) * i64::from(self.multiplier) + (1 << 30)) >> 31;
            return if high > i64::from(i32::MAX) {
                i32::MAX
            } else {
                high as i32
            };
        }
        let e = if self.shift < -MAX_RIGHT_SHIFT {
            MAX_RIGHT_SHIFT
        } else {
            -self.shift
        };
        let product = i64::from(x) * i64::from(self.multiplier);
        let nudged = product + if product < 0 { -(1 << 30) } else { 1 << 30 };
        if e == 1 {
            return ((nudged + (1 << 31)) >> 32) as i32;
        }
        (((nudged >> 32) as i32) + (1 << (e - 2))) >> (e - 1)
    }
}

/// A [`QuantizedMultiplier`] prepared for applying to many values (a kernel's channel): for a
/// right shift `e ≥ 1` it precomputes the 64-bit nudge of [`QuantizedMultiplier::apply`]'s fused
/// form, so each application is one multiply-accumulate, a sign mask and two shifts. Bit for bit
/// [`QuantizedMultiplier::apply`] for every multiplier and shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requantizer {
    multiplier: QuantizedMultiplier,
    /// `2^(30+e) + 2^30`; the nudge of a negative product is `2^31` less.
    nudge: i64,
    /// `e − 1`.
    post_shift: u32,
}

impl Requantizer {
    /// Prepares `multiplier`.
    #[inline(always)]
    pub fn new(multiplier: QuantizedMultiplier) -> Self {
        let e = if multiplier.shift < -MAX_RIGHT_SHIFT {
            MAX_RIGHT_SHIFT
        } else {
            -multiplier.shift
        };
        let e = if e < 1 { 1 } else { e } as u32;
        // `2^(30+e) + 2^30` without a 64-bit variable shift (this runs once per channel and
        // pixel block on the device): high word `2^(e−2)` (0 for e = 1), low word `2^30`, or
        // `2^31 + 2^30` for e = 1.
        let high = (1u32 << e) >> 2;
        let low: u32 = if e == 1 { 0xc000_0000 } else { 0x4000_0000 };
        Self {
            multiplier,
            nudge: ((u64::from(high) << 32) | u64::from(low)) as i64,
            post_shift: e - 1,
        }
    }

    /// Whether the multiplier shifts right ([`Self::apply_right_shift`] applies).
    #[inline(always)]
    pub fn shifts_right(&self) -> bool {
        self.multiplier.shift < 0
    }

    /// [`Self::apply`] for a multiplier that shifts right ([`Self::shifts_right`]), without the
    /// test: the kernels check it once per layer.
    #[inline(always)]
    pub fn apply_right_shift(&self, x: i32) -> i32 {
        let m = self.multiplier.multiplier;
        let negative = (x ^ m) >> 31;
        let nudge = self.nudge + (i64::from(negative) << 31);
        (((i64::from(x) * i64::from(m) + nudge) >> 32) as i32) >> self.post_shift
    }

    /// For a right shift `e` of at least 2 (the usual case), the parts of
    /// [`Self::apply_right_shift`] as the DSP requantisation loop takes them: the multiplier, the
    /// nudge's high word `2^(e−2)` and the final shift `e − 1`. With `s = x >> 31` the result is
    /// the high word of `x·m + ((2^(e−2) + s)·2^32 + (2^30 | (s & 2^31)))`, shifted right by `e − 1`.
    #[inline(always)]
    pub fn right_shift_parts(&self) -> Option<RightShiftParts> {
        let e = self.post_shift + 1;
        (self.multiplier.shift <= -2 && self.multiplier.multiplier >= 0).then_some(
            RightShiftParts {
                multiplier: self.multiplier.multiplier,
                nudge_high: (self.nudge >> 32) as i32,
                post_shift: e - 1,
            },
        )
    }

    /// [`QuantizedMultiplier::apply`].
    #[inline(always)]
    pub fn apply(&self, x: i32) -> i32 {
        let m = self.multiplier.multiplier;
        if self.multiplier.shift >= 0 {
            if m == i32::MIN {
                return self.multiplier.apply(x);
            }
            // No saturation: |a·m| < 2^62 when m ≠ −2^31.
            let a = x.wrapping_shl(self.multiplier.shift as u32);
            return ((i64::from(a) * i64::from(m) + (1 << 30)) >> 31) as i32;
        }
        // The product's sign, when it is not 0 (a zero product gives 0 with either nudge).
        self.apply_right_shift(x)
    }
}

/// [`Requantizer::right_shift_parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightShiftParts {
    /// The Q31 multiplier (non-negative).
    pub multiplier: i32,
    /// `2^(e−2)`.
    pub nudge_high: i32,
    /// `e − 1` (1..=30).
    pub post_shift: u32,
}

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a·b / 2^31)` with ties away from zero,
/// saturating the single overflowing case `a = b = i32::MIN`.
#[inline]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero; so does Rust's.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
/// `exponent` is clamped to `0..=31` (TFLite's callers never pass anything else).
#[inline]
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = if exponent < 0 {
        0
    } else if exponent > 31 {
        31
    } else {
        exponent
    };
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    (x >> exponent) + if remainder > threshold { 1 } else { 0 }
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` for a run-time exponent: a saturating
/// left shift for `exponent > 0`, [`rounding_divide_by_pot`] otherwise.
#[inline]
pub const fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent <= 0 {
        return rounding_divide_by_pot(x, -exponent);
    }
    let shifted = (x as i64) << if exponent > 32 { 32 } else { exponent };
    if shifted > i32::MAX as i64 {
        i32::MAX
    } else if shifted < i32::MIN as i64 {
        i32::MIN
    } else {
        shifted as i32
    }
}

/// `tflite::MultiplyByQuantizedMultiplier` (double rounding): left-shift `x` by the positive
/// part of `shift` (wrapping, as the C++ does), take the doubling high product with
/// `multiplier`, then divide by `2^(−shift)` for a negative `shift`.
#[inline]
pub const fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    let shifted = x.wrapping_mul(1i32.wrapping_shl(left as u32));
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shifted, multiplier),
        right,
    )
}

/// `tflite::GetInvSqrtQuantizedMultiplierExp(input, reverse_shift = −1)`: `1/√input` as a
/// multiplier and a shift for [`multiply_by_quantized_multiplier`]. Inputs 0 and 1 give
/// `(i32::MAX, 0)`, as in TFLite.
pub fn inv_sqrt_quantized_multiplier(input: i32) -> QuantizedMultiplier {
    const REVERSE_SHIFT: i32 = -1;
    if input <= 1 {
        return QuantizedMultiplier {
            multiplier: i32::MAX,
            shift: 0,
        };
    }
    let mut input = input;
    let mut output_shift: i32 = 11;
    while input >= (1 << 29) {
        input /= 4;
        output_shift += 1;
    }
    let max_left_shift_bits = (input as u32).leading_zeros() as i32 - 1;
    let left_shift_bit_pairs = max_left_shift_bits / 2 - 1;
    output_shift -= left_shift_bit_pairs;
    input <<= 2 * left_shift_bit_pairs;
    // Fixed point with 3 integer bits: 1.0 is 2^28.
    let fixedpoint_input = input >> 1;
    let half_input = saturating_rounding_multiply_by_pot(fixedpoint_input, -1);
    let half_three: i32 = (1 << 28) + (1 << 27);
    let mut x: i32 = 1 << 28;
    for _ in 0..5 {
        let x2 = saturating_rounding_doubling_high_mul(x, x);
        let x3 = saturating_rounding_doubling_high_mul(x2, x);
        let x3 = saturating_rounding_multiply_by_pot(x3, 6);
        let t1 = saturating_rounding_doubling_high_mul(half_three, x);
        let t2 = saturating_rounding_doubling_high_mul(half_input, x3);
        x = saturating_rounding_multiply_by_pot(t1.wrapping_sub(t2), 3);
    }
    // × √2 / 2 in Q0.31.
    let mut multiplier = saturating_rounding_doubling_high_mul(x, 1_518_500_250);
    if output_shift < 0 {
        multiplier = multiplier.wrapping_shl((-output_shift) as u32);
        output_shift = 0;
    }
    QuantizedMultiplier {
        multiplier,
        shift: output_shift * REVERSE_SHIFT,
    }
}
