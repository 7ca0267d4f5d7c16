//! Training-time augmentation of preprocessed `side × side` grey images (host only).
//!
//! Each call draws one [`AugmentParams`] from a seeded RNG, always six numbers in the same order
//! whatever the configuration, so a run replays exactly from its seed. The geometric part (flip,
//! shift, scale about the centre) resamples bilinearly with edge clamp; the photometric part
//! scales contrast about the image mean and adds a brightness offset. With
//! [`AugmentConfig::IDENTITY`] the output equals the input, byte for byte.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Why augmentation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AugmentError {
    /// A configuration amount is NaN or outside its range.
    #[error("augmentation {field} = {value} is outside [{min}, {max}]")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// Its value.
        value: f32,
        /// Smallest allowed.
        min: f32,
        /// Largest allowed.
        max: f32,
    },
    /// The image side is 0.
    #[error("image side is 0")]
    ZeroSide,
    /// A buffer is not `side²` bytes.
    #[error("{buffer} buffer holds {actual} bytes, expected side² = {expected}")]
    BufferLength {
        /// `"source"` or `"output"`.
        buffer: &'static str,
        /// `side²`.
        expected: usize,
        /// Its length.
        actual: usize,
    },
}

/// How strongly to augment; part of the training configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip, in `[0, 1]`.
    pub flip_probability: f32,
    /// Largest shift in x and in y, as a fraction of the side, in `[0, 0.5]`.
    pub max_shift: f32,
    /// Largest relative zoom: the scale factor is drawn in `[1 − s, 1 + s]`, `s ∈ [0, 0.5]`.
    pub max_scale: f32,
    /// Largest brightness offset, as a fraction of full scale (255), in `[0, 1]`.
    pub max_brightness: f32,
    /// Largest relative contrast change: the factor is drawn in `[1 − c, 1 + c]`, `c ∈ [0, 1]`.
    pub max_contrast: f32,
}

impl AugmentConfig {
    /// No augmentation: the output equals the input.
    pub const IDENTITY: Self = Self {
        flip_probability: 0.0,
        max_shift: 0.0,
        max_scale: 0.0,
        max_brightness: 0.0,
        max_contrast: 0.0,
    };

    /// Whether every amount is zero (the output will equal the input).
    pub fn is_identity(&self) -> bool {
        *self == Self::IDENTITY
    }

    /// Checks every amount against its range.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let fields = [
            ("flip_probability", self.flip_probability, 1.0),
            ("max_shift", self.max_shift, 0.5),
            ("max_scale", self.max_scale, 0.5),
            ("max_brightness", self.max_brightness, 1.0),
            ("max_contrast", self.max_contrast, 1.0),
        ];
        for (field, value, max) in fields {
            if !(0.0..=max).contains(&value) {
                return Err(AugmentError::InvalidConfig {
                    field,
                    value,
                    min: 0.0,
                    max,
                });
            }
        }
        Ok(())
    }
}

impl Default for AugmentConfig {
    /// Flip half the time, shift up to ±6 % of the side (±4 px at 64), zoom ±10 %, brightness
    /// ±8 % (±20 grey levels), contrast ±15 %: small enough that the aligned face stays in view.
    fn default() -> Self {
        Self {
            flip_probability: 0.5,
            max_shift: 0.06,
            max_scale: 0.10,
            max_brightness: 0.08,
            max_contrast: 0.15,
        }
    }
}

/// One drawn transformation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Mirror left–right.
    pub flip: bool,
    /// Shift in x, in pixels (positive moves the face right).
    pub shift_x: f32,
    /// Shift in y, in pixels (positive moves the face down).
    pub shift_y: f32,
    /// Zoom factor about the centre (above 1 enlarges the face).
    pub scale: f32,
    /// Added to every pixel, in grey levels.
    pub brightness: f32,
    /// Multiplies each pixel's distance from the image mean.
    pub contrast: f32,
}

impl AugmentParams {
    /// The transformation that changes nothing.
    pub const IDENTITY: Self = Self {
        flip: false,
        shift_x: 0.0,
        shift_y: 0.0,
        scale: 1.0,
        brightness: 0.0,
        contrast: 1.0,
    };

    /// Draws parameters for a `side`-pixel image: six RNG draws, always in this order.
    pub fn draw<R: Rng + ?Sized>(cfg: &AugmentConfig, side: usize, rng: &mut R) -> Self {
        let u: [f32; 6] = std::array::from_fn(|_| rng.random::<f32>());
        let symmetric = |i: usize, amount: f32| (2.0 * u[i] - 1.0) * amount;
        let side = side as f32;
        Self {
            flip: u[0] < cfg.flip_probability,
            shift_x: symmetric(1, cfg.max_shift) * side,
            shift_y: symmetric(2, cfg.max_shift) * side,
            scale: 1.0 + symmetric(3, cfg.max_scale),
            brightness: symmetric(4, cfg.max_brightness) * 255.0,
            contrast: 1.0 + symmetric(5, cfg.max_contrast),
        }
    }
}

fn check_buffers(src: &[u8], side: usize, out: &[u8]) -> Result<(), AugmentError> {
    if side == 0 {
        return Err(AugmentError::ZeroSide);
    }
    let expected = side * side;
    for (buffer, actual) in [("source", src.len()), ("output", out.len())] {
        if actual != expected {
            return Err(AugmentError::BufferLength {
                buffer,
                expected,
                actual,
            });
        }
    }
    Ok(())
}

/// Source coordinate, clamped to `[0, side − 1]`, split into two neighbours and a weight.
fn taps(coord: f32, side: usize) -> (usize, usize, f32) {
    let last = (side - 1) as f32;
    let c = if coord.is_nan() {
        0.0
    } else {
        coord.clamp(0.0, last)
    };
    let lo = c.floor();
    let i = lo as usize;
    (i, (i + 1).min(side - 1), c - lo)
}

/// Applies `params` to `src` (`side²` bytes, row-major) into `out`.
pub fn apply(
    src: &[u8],
    side: usize,
    params: &AugmentParams,
    out: &mut [u8],
) -> Result<(), AugmentError> {
    check_buffers(src, side, out)?;
    let n = side as f32;
    let centre = n / 2.0;
    let mean = src.iter().map(|&p| u64::from(p)).sum::<u64>() as f32 / (side * side) as f32;
    let scale = if params.scale > 0.0 {
        params.scale
    } else {
        1.0
    };
    for (y, row) in out.chunks_exact_mut(side).enumerate() {
        let sy = (y as f32 + 0.5 - centre - params.shift_y) / scale + centre - 0.5;
        let (y0, y1, fy) = taps(sy, side);
        for (x, o) in row.iter_mut().enumerate() {
            let mut sx = (x as f32 + 0.5 - centre - params.shift_x) / scale + centre - 0.5;
            if params.flip {
                sx = n - 1.0 - sx;
            }
            let (x0, x1, fx) = taps(sx, side);
            let at = |yy: usize, xx: usize| f32::from(src[yy * side + xx]);
            let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
            let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
            let v = top * (1.0 - fy) + bottom * fy;
            let v = mean + (v - mean) * params.contrast + params.brightness;
            *o = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(())
}

/// Draws a transformation from `rng` and applies it: the training-time entry point.
pub fn augment<R: Rng + ?Sized>(
    src: &[u8],
    side: usize,
    cfg: &AugmentConfig,
    rng: &mut R,
    out: &mut [u8],
) -> Result<(), AugmentError> {
    cfg.validate()?;
    check_buffers(src, side, out)?;
    let params = AugmentParams::draw(cfg, side, rng);
    apply(src, side, &params, out)
}

#[cfg(test)]
#[path = "augment_tests.rs"]
mod tests;
