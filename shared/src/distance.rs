//! Distances between embeddings, for `f32` and `i8` vectors, and L2 normalisation.
//!
//! Every function checks its inputs and returns a [`DistanceError`] instead of panicking or
//! producing NaN from data it was handed.

use crate::math;

/// Longest `i8` vector whose squared L2 distance provably fits an `i32` accumulator:
/// each term is at most `(127 - (-128))² = 65_025`, and `33_025 × 65_025 < 2³¹`.
pub const MAX_I8_LEN: usize = (i32::MAX / (255 * 255)) as usize;

/// What was wrong with the vectors handed to a distance function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DistanceError {
    /// The two vectors have different lengths.
    LengthMismatch {
        /// Length of the first vector.
        left: usize,
        /// Length of the second vector.
        right: usize,
    },
    /// A vector is empty.
    Empty,
    /// An `i8` vector is longer than [`MAX_I8_LEN`]; its `i32` accumulator could overflow.
    TooLong {
        /// Its length.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// A vector has zero norm, so its direction (cosine, normalisation) is undefined.
    ZeroVector,
    /// A vector holds NaN or ±∞, or its norm overflows `f32`.
    NonFinite,
}

impl core::fmt::Display for DistanceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::LengthMismatch { left, right } => {
                write!(f, "vector lengths differ: {left} vs {right}")
            }
            Self::Empty => f.write_str("empty vector"),
            Self::TooLong { len, max } => write!(f, "i8 vector of length {len} exceeds {max}"),
            Self::ZeroVector => f.write_str("zero vector has no direction"),
            Self::NonFinite => f.write_str("vector holds NaN or infinity, or its norm overflows"),
        }
    }
}

fn check_pair<T>(a: &[T], b: &[T]) -> Result<(), DistanceError> {
    if a.len() != b.len() {
        return Err(DistanceError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    if a.is_empty() {
        return Err(DistanceError::Empty);
    }
    Ok(())
}

fn check_i8_pair(a: &[i8], b: &[i8]) -> Result<(), DistanceError> {
    check_pair(a, b)?;
    if a.len() > MAX_I8_LEN {
        return Err(DistanceError::TooLong {
            len: a.len(),
            max: MAX_I8_LEN,
        });
    }
    Ok(())
}

fn finite(x: f32) -> Result<f32, DistanceError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(DistanceError::NonFinite)
    }
}

/// `Σ (aᵢ − bᵢ)²`, summed in index order (the device sums in the same order: same bits).
pub fn squared_l2(a: &[f32], b: &[f32]) -> Result<f32, DistanceError> {
    check_pair(a, b)?;
    let sum = a.iter().zip(b).fold(0.0f32, |acc, (x, y)| {
        let d = x - y;
        acc + d * d
    });
    finite(sum)
}

/// Euclidean distance `‖a − b‖`, with a correctly rounded square root.
pub fn l2(a: &[f32], b: &[f32]) -> Result<f32, DistanceError> {
    squared_l2(a, b).map(math::sqrt)
}

/// `Σ aᵢ·bᵢ`.
pub fn dot(a: &[f32], b: &[f32]) -> Result<f32, DistanceError> {
    check_pair(a, b)?;
    finite(a.iter().zip(b).fold(0.0f32, |acc, (x, y)| acc + x * y))
}

/// `Σ (aᵢ/sa)·(bᵢ/sb)`: sums of products of pre-scaled elements, for the overflow fallback.
fn scaled_dot(a: &[f32], sa: f32, b: &[f32], sb: f32) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0f32, |acc, (x, y)| acc + (x / sa) * (y / sb))
}

/// `max |vᵢ|`; NaN and ±∞ give a non-finite result.
fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(
        0.0f32,
        |m, x| {
            if x.is_nan() {
                f32::NAN
            } else {
                m.max(x.abs())
            }
        },
    )
}

/// The scale that brings `v`'s largest element to 1, or the reason there is none.
fn rescale_factor(v: &[f32]) -> Result<f32, DistanceError> {
    let m = max_abs(v);
    if !m.is_finite() {
        Err(DistanceError::NonFinite)
    } else if m == 0.0 {
        Err(DistanceError::ZeroVector)
    } else {
        Ok(m)
    }
}

/// A plain sum is trusted when it is finite and not lost to underflow.
fn trusted(sum: f32) -> bool {
    sum.is_finite() && sum >= f32::MIN_POSITIVE
}

/// `‖v‖`; errors on empty or non-finite input. Vectors whose squares overflow or underflow `f32`
/// are rescaled by their largest element first, so `‖(3e30, 4e30)‖ = 5e30` and
/// `‖(1e-20, 0)‖ = 1e-20` exactly; ordinary vectors take the plain sum (the same bits as the
/// device's).
pub fn norm(v: &[f32]) -> Result<f32, DistanceError> {
    if v.is_empty() {
        return Err(DistanceError::Empty);
    }
    let sum = v.iter().fold(0.0f32, |acc, x| acc + x * x);
    if trusted(sum) {
        return Ok(math::sqrt(sum));
    }
    match rescale_factor(v) {
        Ok(m) => finite(m * math::sqrt(scaled_dot(v, m, v, m))),
        Err(DistanceError::ZeroVector) => Ok(0.0),
        Err(e) => Err(e),
    }
}

/// Cosine similarity `a·b / (‖a‖‖b‖)`, clamped to `[-1, 1]`. A zero vector is an error.
/// Very large or very small vectors are rescaled first (cosine does not depend on scale).
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> Result<f32, DistanceError> {
    check_pair(a, b)?;
    let (aa, bb) = (scaled_dot(a, 1.0, a, 1.0), scaled_dot(b, 1.0, b, 1.0));
    let ab = scaled_dot(a, 1.0, b, 1.0);
    let cos = if trusted(aa) && trusted(bb) && ab.is_finite() {
        ab / math::sqrt(aa) / math::sqrt(bb)
    } else {
        let (sa, sb) = (rescale_factor(a)?, rescale_factor(b)?);
        let (aa, bb) = (scaled_dot(a, sa, a, sa), scaled_dot(b, sb, b, sb));
        scaled_dot(a, sa, b, sb) / math::sqrt(aa) / math::sqrt(bb)
    };
    Ok(cos.clamp(-1.0, 1.0))
}

/// Cosine distance `1 − cos(a, b)`, in `[0, 2]`.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> Result<f32, DistanceError> {
    cosine_similarity(a, b).map(|c| 1.0 - c)
}

/// Scales `v` in place to unit L2 norm. A zero (or empty, or non-finite) vector is an error and
/// `v` is left unchanged: never NaN.
pub fn l2_normalize(v: &mut [f32]) -> Result<(), DistanceError> {
    let n = norm(v)?;
    if n == 0.0 {
        return Err(DistanceError::ZeroVector);
    }
    v.iter_mut().for_each(|x| *x /= n);
    Ok(())
}

/// `Σ (aᵢ − bᵢ)²` over `i8` vectors, exact in `i32` for lengths up to [`MAX_I8_LEN`].
pub fn squared_l2_i8(a: &[i8], b: &[i8]) -> Result<i32, DistanceError> {
    check_i8_pair(a, b)?;
    Ok(a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        let d = i32::from(x) - i32::from(y);
        acc + d * d
    }))
}

/// `Σ aᵢ·bᵢ` over `i8` vectors, exact in `i32` for lengths up to [`MAX_I8_LEN`].
pub fn dot_i8(a: &[i8], b: &[i8]) -> Result<i32, DistanceError> {
    check_i8_pair(a, b)?;
    Ok(a.iter()
        .zip(b)
        .fold(0i32, |acc, (&x, &y)| acc + i32::from(x) * i32::from(y)))
}

/// Euclidean distance of two `i8` vectors (the exact integer sum, then one rounding).
pub fn l2_i8(a: &[i8], b: &[i8]) -> Result<f32, DistanceError> {
    squared_l2_i8(a, b).map(|s| math::sqrt(s as f32))
}

/// Cosine similarity of two `i8` vectors, in `[-1, 1]`; a zero vector is an error.
pub fn cosine_similarity_i8(a: &[i8], b: &[i8]) -> Result<f32, DistanceError> {
    let ab = dot_i8(a, b)?;
    let (aa, bb) = (dot_i8(a, a)?, dot_i8(b, b)?);
    if aa == 0 || bb == 0 {
        return Err(DistanceError::ZeroVector);
    }
    let cos = ab as f32 / math::sqrt(aa as f32) / math::sqrt(bb as f32);
    Ok(cos.clamp(-1.0, 1.0))
}

/// Cosine distance `1 − cos(a, b)` of two `i8` vectors.
pub fn cosine_distance_i8(a: &[i8], b: &[i8]) -> Result<f32, DistanceError> {
    cosine_similarity_i8(a, b).map(|c| 1.0 - c)
}

#[cfg(test)]
#[path = "distance_tests.rs"]
mod tests;
