//! L2 normalisation to the int8 embedding (TFLite `L2_NORMALIZATION`, int8): the output scale is
//! fixed at 1/128 with zero point 0, so a unit vector's components map to −128..=127 and the
//! squared L2 distance of two int8 embeddings is about `128² ·` the float one.

use super::fixedpoint::{inv_sqrt_quantized_multiplier, multiply_by_quantized_multiplier};
use super::{check_len, KernelError};

/// The output scale's exponent: `scale = 2^−7`.
pub const OUTPUT_SCALE_BITS: i32 = 7;

/// `Σ (x − zero_point)²` as the kernel computes it: at most 255² per element, so it fits `i32`
/// for up to 33 025 elements and wraps past that.
pub fn sum_of_squares(input: &[i8], input_zero_point: i32) -> i32 {
    input.iter().fold(0i32, |acc, &x| {
        let d = i32::from(x) - input_zero_point;
        acc.wrapping_add(d * d)
    })
}

/// Normalises `input` (zero point `input_zero_point`) into `output`.
pub fn l2_normalize(
    input: &[i8],
    input_zero_point: i32,
    output: &mut [i8],
) -> Result<(), KernelError> {
    check_len("output", input.len(), output.len())?;
    let sum_squares = sum_of_squares(input, input_zero_point);
    let inv = inv_sqrt_quantized_multiplier(sum_squares);
    for (o, &x) in output.iter_mut().zip(input) {
        let d = i32::from(x) - input_zero_point;
        let v = multiply_by_quantized_multiplier(d, inv.multiplier, inv.shift + OUTPUT_SCALE_BITS);
        *o = v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
    }
    Ok(())
}
