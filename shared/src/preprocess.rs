//! Image preprocessing: RGB8 → grey, centre crop, bilinear resize, model input.
//!
//! Integer arithmetic only, so the host trainer and the device produce the same bytes from the
//! same frame:
//!
//! 1. **Grey**: `(77·R + 150·G + 29·B + 128) >> 8` (ITU-R BT.601 luma weights scaled to sum 256,
//!    rounded to nearest).
//! 2. **Centre crop**: the largest square of side `min(crop, width, height)` whose top-left corner
//!    is `((width − side) / 2, (height − side) / 2)` (integer division: an odd margin leaves the
//!    extra pixel on the right / bottom).
//! 3. **Bilinear resize** of the crop to `out_side × out_side`, with the same sampling grid as
//!    OpenCV `INTER_LINEAR` or `align_corners = false`: output pixel `o` samples the crop at
//!    `(o + ½)·crop/out − ½`, held in Q16 (rounded down), clamped to the crop's edges. The four
//!    taps are blended with Q16 weights in an exact `u64` sum and rounded to nearest (ties up).
//!    Every output is a convex combination of input pixels, so it lies within their range.
//!
//! Grey conversion happens per tap, before interpolation: the result equals converting the whole
//! image to grey first.
//!
//! The device's frames carry a face box instead of relying on a centred face:
//! [`preprocess_grey_box`] replaces step 2 by the box (any `w × h` inside the image) and resizes
//! it with the same taps, per axis (`(o + ½)·w/out − ½` across, `(o + ½)·h/out − ½` down). A
//! square box where the centre crop would be gives exactly [`preprocess_grey`]'s bytes. [`input_f32`] and [`input_i8`] turn the `u8` result into the model input.

/// Fractional bits of source coordinates and interpolation weights.
const FRAC_BITS: u32 = 16;
/// `1.0` in Q16.
const ONE: u32 = 1 << FRAC_BITS;

/// How a frame becomes the model's square grey input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreprocessConfig {
    /// Side, in source pixels, of the square centre crop, e.g. 120 of LFW's 250×250
    /// deep-funneled images. Clamped to the image when the image is smaller.
    pub crop: u16,
    /// Side, in pixels, of the square output (the model input).
    pub out_side: u16,
}

/// The setting for LFW deep-funneled images (250×250, faces aligned and centred).
///
/// LFW's faces come from Viola–Jones boxes enlarged 2.2× to 250 px, so the detected face spans
/// about 250 / 2.2 ≈ 114 px around the centre. A 120 px crop keeps brows to chin and cheek to
/// cheek with a few pixels of margin, and drops most of the background, hair and shoulders that
/// let a model recognise a photo session rather than a face. 64×64 output (4 KiB of `u8`) is what
/// the device's 64 KiB of RAM affords; 120 → 64 is a 1.875× downscale, mild enough for bilinear.
pub const LFW_DEFAULT: PreprocessConfig = PreprocessConfig {
    crop: 120,
    out_side: 64,
};

/// The model input scale: `input = (p − 128) × INPUT_SCALE`.
pub const INPUT_SCALE: f32 = 1.0 / 128.0;
/// The int8 model input's zero point.
pub const INPUT_ZERO_POINT: i8 = 0;

/// What was wrong with the image, buffers or configuration handed to a preprocessing function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreprocessError {
    /// The image has zero width or height.
    EmptyImage {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
    /// `width × height × channels` does not fit `usize`.
    ImageTooLarge {
        /// Its width.
        width: usize,
        /// Its height.
        height: usize,
    },
    /// The source buffer's length is not `width × height × channels`.
    SourceLength {
        /// The length the dimensions call for.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// The output buffer's length is not `out_side²`.
    OutputLength {
        /// `out_side²`.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// The configuration's crop side is 0.
    ZeroCrop,
    /// The configuration's output side is 0.
    ZeroOutSide,
    /// The crop box is empty or not inside the image.
    BoxOutside {
        /// The box.
        rect: Rect,
        /// The image's width.
        width: usize,
        /// The image's height.
        height: usize,
    },
}

/// A rectangle of an image, in pixels: columns `x..x + w`, rows `y..y + h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    /// Left column.
    pub x: u16,
    /// Top row.
    pub y: u16,
    /// Width.
    pub w: u16,
    /// Height.
    pub h: u16,
}

impl Rect {
    /// The centre crop [`preprocess_grey`] takes of a `width × height` image with `crop`.
    pub fn centre_crop(width: u16, height: u16, crop: u16) -> Self {
        let side = crop.min(width).min(height);
        Self {
            x: (width - side) / 2,
            y: (height - side) / 2,
            w: side,
            h: side,
        }
    }
}

impl core::fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::EmptyImage { width, height } => write!(f, "image is empty ({width}×{height})"),
            Self::ImageTooLarge { width, height } => {
                write!(
                    f,
                    "image of {width}×{height} pixels overflows the address space"
                )
            }
            Self::SourceLength { expected, actual } => {
                write!(
                    f,
                    "source buffer holds {actual} bytes, the image needs {expected}"
                )
            }
            Self::OutputLength { expected, actual } => {
                write!(
                    f,
                    "output buffer holds {actual} elements, expected {expected}"
                )
            }
            Self::ZeroCrop => f.write_str("crop side is 0"),
            Self::ZeroOutSide => f.write_str("output side is 0"),
            Self::BoxOutside {
                rect,
                width,
                height,
            } => write!(
                f,
                "crop box {}×{} at ({}, {}) is empty or leaves the {width}×{height} image",
                rect.w, rect.h, rect.x, rect.y
            ),
        }
    }
}

impl Default for PreprocessConfig {
    /// [`LFW_DEFAULT`].
    fn default() -> Self {
        LFW_DEFAULT
    }
}

impl PreprocessConfig {
    /// Number of output pixels, `out_side²`.
    pub const fn output_len(&self) -> usize {
        self.out_side as usize * self.out_side as usize
    }

    /// Checks that both sides are non-zero.
    pub const fn validate(&self) -> Result<(), PreprocessError> {
        if self.crop == 0 {
            Err(PreprocessError::ZeroCrop)
        } else if self.out_side == 0 {
            Err(PreprocessError::ZeroOutSide)
        } else {
            Ok(())
        }
    }
}

/// BT.601 grey level of one RGB pixel: `(77·R + 150·G + 29·B + 128) >> 8`.
pub const fn grey(r: u8, g: u8, b: u8) -> u8 {
    let sum = 77 * r as u32 + 150 * g as u32 + 29 * b as u32 + 128;
    // The weights sum to 256, so `sum >> 8 ≤ (256·255 + 128) >> 8 = 255`.
    (sum >> 8) as u8
}

/// Grey, centre-crops and resizes an interleaved RGB8 image (`width × height × 3` bytes, rows
/// top to bottom) into `out` (`out_side²` bytes, row-major).
pub fn preprocess_rgb(
    src: &[u8],
    width: usize,
    height: usize,
    cfg: &PreprocessConfig,
    out: &mut [u8],
) -> Result<(), PreprocessError> {
    check(src, width, height, 3, cfg, out)?;
    resample(width, height, cfg, out, |i| {
        grey(src[3 * i], src[3 * i + 1], src[3 * i + 2])
    });
    Ok(())
}

/// Centre-crops and resizes a grey image (`width × height` bytes, row-major) into `out`
/// (`out_side²` bytes, row-major).
pub fn preprocess_grey(
    src: &[u8],
    width: usize,
    height: usize,
    cfg: &PreprocessConfig,
    out: &mut [u8],
) -> Result<(), PreprocessError> {
    check(src, width, height, 1, cfg, out)?;
    resample(width, height, cfg, out, |i| src[i]);
    Ok(())
}

/// Crops `rect` out of a grey image (`width × height` bytes, row-major) and resizes it to
/// `out_side × out_side` into `out`, with the taps of [`preprocess_grey`] per axis.
pub fn preprocess_grey_box(
    src: &[u8],
    width: usize,
    height: usize,
    rect: Rect,
    out_side: u16,
    out: &mut [u8],
) -> Result<(), PreprocessError> {
    let cfg = PreprocessConfig {
        crop: rect.w.max(1),
        out_side,
    };
    check(src, width, height, 1, &cfg, out)?;
    let inside = |start: u16, len: u16, limit: usize| {
        len > 0 && usize::from(start) + usize::from(len) <= limit
    };
    if !(inside(rect.x, rect.w, width) && inside(rect.y, rect.h, height)) {
        return Err(PreprocessError::BoxOutside {
            rect,
            width,
            height,
        });
    }
    resample_rect(width, rect, usize::from(out_side), out, |i| src[i]);
    Ok(())
}

/// The host model input of one pixel: `(p − 128) / 128`, in `[-1, 127/128]`.
///
/// Exact in `f32` (an integer in `[-128, 127]` divided by a power of two), and equal to the
/// device's [`input_i8`]`(p)` dequantised with [`INPUT_SCALE`] and [`INPUT_ZERO_POINT`]:
/// `(q − 0) × 1/128` with `q = p − 128`. Host and device see the same input, bit for bit.
pub fn input_f32(p: u8) -> f32 {
    (f32::from(p) - 128.0) / 128.0
}

/// The device model input of one pixel: `p − 128` (int8, scale 1/128, zero point 0).
pub const fn input_i8(p: u8) -> i8 {
    // `p − 128` is in `[-128, 127]`: the cast is exact.
    (p as i16 - 128) as i8
}

/// [`input_f32`] over a buffer; `out` must be as long as `pixels`.
pub fn inputs_f32(pixels: &[u8], out: &mut [f32]) -> Result<(), PreprocessError> {
    check_len(pixels.len(), out.len())?;
    out.iter_mut()
        .zip(pixels)
        .for_each(|(o, &p)| *o = input_f32(p));
    Ok(())
}

/// [`input_i8`] over a buffer; `out` must be as long as `pixels`.
pub fn inputs_i8(pixels: &[u8], out: &mut [i8]) -> Result<(), PreprocessError> {
    check_len(pixels.len(), out.len())?;
    out.iter_mut()
        .zip(pixels)
        .for_each(|(o, &p)| *o = input_i8(p));
    Ok(())
}

fn check_len(expected: usize, actual: usize) -> Result<(), PreprocessError> {
    if expected == actual {
        Ok(())
    } else {
        Err(PreprocessError::OutputLength { expected, actual })
    }
}

fn check(
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    cfg: &PreprocessConfig,
    out: &[u8],
) -> Result<(), PreprocessError> {
    cfg.validate()?;
    if width == 0 || height == 0 {
        return Err(PreprocessError::EmptyImage { width, height });
    }
    let expected = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels))
        .ok_or(PreprocessError::ImageTooLarge { width, height })?;
    if src.len() != expected {
        return Err(PreprocessError::SourceLength {
            expected,
            actual: src.len(),
        });
    }
    check_len(cfg.output_len(), out.len())
}

/// Where output coordinate `o` samples a span of `len` source pixels: two neighbours and the Q16
/// weight of the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tap {
    lo: usize,
    hi: usize,
    frac: u32,
}

/// The tap of output pixel `o` of `out` over `len ≥ 1` source pixels (`len, out ≤ 65_535`):
/// `(o + ½)·len/out − ½` in Q16, rounded down, clamped to `[0, len − 1]`.
fn tap(o: usize, len: usize, out: usize) -> Tap {
    // (2o + 1) < 2¹⁷ and len < 2¹⁶, so the numerator is below 2⁴⁹: no overflow in u64.
    let centre = ((2 * o as u64 + 1) * len as u64) << FRAC_BITS;
    let pos = centre / (2 * out as u64);
    let half = u64::from(ONE / 2);
    let last = len - 1;
    match pos.checked_sub(half) {
        None => Tap {
            lo: 0,
            hi: 0,
            frac: 0,
        },
        Some(p) => {
            let lo = usize::try_from(p >> FRAC_BITS).unwrap_or(usize::MAX);
            if lo >= last {
                Tap {
                    lo: last,
                    hi: last,
                    frac: 0,
                }
            } else {
                Tap {
                    lo,
                    hi: lo + 1,
                    frac: (p & u64::from(ONE - 1)) as u32,
                }
            }
        }
    }
}

/// Blends four taps with Q16 weights; exact in `u64`, rounded to nearest.
fn blend(p00: u8, p01: u8, p10: u8, p11: u8, fx: u32, fy: u32) -> u8 {
    let row = |a: u8, b: u8| u64::from(u32::from(a) * (ONE - fx) + u32::from(b) * fx);
    let top = row(p00, p01);
    let bottom = row(p10, p11);
    let sum = top * u64::from(ONE - fy) + bottom * u64::from(fy);
    // The weights sum to 2³², so the rounded result is at most the largest tap.
    u8::try_from((sum + (1 << (2 * FRAC_BITS - 1))) >> (2 * FRAC_BITS)).unwrap_or(u8::MAX)
}

/// Crops and resizes through `pixel(index)` (index = `y·width + x` of the full image), after
/// [`check`] has validated the sizes.
fn resample(
    width: usize,
    height: usize,
    cfg: &PreprocessConfig,
    out: &mut [u8],
    pixel: impl Fn(usize) -> u8,
) {
    // The side is at most `cfg.crop`, a `u16`: the casts below are exact.
    let side = usize::from(cfg.crop).min(width).min(height);
    let rect = Rect {
        x: 0,
        y: 0,
        w: side as u16,
        h: side as u16,
    };
    let (x0, y0) = ((width - side) / 2, (height - side) / 2);
    resample_at(width, x0, y0, rect, usize::from(cfg.out_side), out, pixel);
}

/// [`resample`] of `rect` (inside the image, checked by the caller).
fn resample_rect(width: usize, rect: Rect, n: usize, out: &mut [u8], pixel: impl Fn(usize) -> u8) {
    resample_at(
        width,
        usize::from(rect.x),
        usize::from(rect.y),
        rect,
        n,
        out,
        pixel,
    );
}

/// Resizes the `rect.w × rect.h` span whose top-left pixel is `(x0, y0)` to `n × n`.
fn resample_at(
    width: usize,
    x0: usize,
    y0: usize,
    rect: Rect,
    n: usize,
    out: &mut [u8],
    pixel: impl Fn(usize) -> u8,
) {
    let (w, h) = (usize::from(rect.w), usize::from(rect.h));
    for (oy, row) in out.chunks_exact_mut(n).enumerate() {
        let ty = tap(oy, h, n);
        let (top, bottom) = ((y0 + ty.lo) * width + x0, (y0 + ty.hi) * width + x0);
        for (ox, o) in row.iter_mut().enumerate() {
            let tx = tap(ox, w, n);
            *o = blend(
                pixel(top + tx.lo),
                pixel(top + tx.hi),
                pixel(bottom + tx.lo),
                pixel(bottom + tx.hi),
                tx.frac,
                ty.frac,
            );
        }
    }
}

#[cfg(test)]
#[path = "preprocess_tests.rs"]
mod tests;
