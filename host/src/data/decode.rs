//! Decoding image files to the model's grey `side × side` `u8` input.
//!
//! The `image` crate decodes (the format is sniffed from the bytes, not trusted from the
//! extension), then [`facegate_shared::preprocess`] greys, crops and resizes with the device's
//! integer arithmetic. A whole dataset is decoded in parallel (rayon) behind a progress bar; a
//! file that cannot be read or decoded becomes a [`DecodeFailure`], never a crash.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use facegate_shared::preprocess::{
    preprocess_grey, preprocess_rgb, PreprocessConfig, PreprocessError,
};
use image::{DynamicImage, ImageReader};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::scan::Scan;

/// Why one image could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file could not be opened or read.
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not an image `image` can decode (corrupt, truncated, unknown format).
    #[error("cannot decode: {0}")]
    Image(#[from] image::ImageError),
    /// The decoded image cannot be preprocessed (e.g. zero-sized).
    #[error("cannot preprocess: {0}")]
    Preprocess(PreprocessError),
}

/// A file skipped while decoding a dataset, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The file.
    pub path: PathBuf,
    /// What was wrong with it.
    pub reason: String,
}

/// Whether to draw a progress bar on standard error (it stays hidden when that is no terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Draw one.
    Bar,
    /// Stay silent (tests, libraries).
    Hidden,
}

/// Preprocesses a decoded image. Grey images (`L8`) take the grey path; every other colour type
/// is converted to RGB8 and greyed with the device's BT.601 weights.
pub fn preprocess_image(
    image: &DynamicImage,
    cfg: &PreprocessConfig,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = vec![0u8; cfg.output_len()];
    let (w, h) = (image.width() as usize, image.height() as usize);
    let result = match image {
        DynamicImage::ImageLuma8(grey) => preprocess_grey(grey.as_raw(), w, h, cfg, &mut out),
        DynamicImage::ImageRgb8(rgb) => preprocess_rgb(rgb.as_raw(), w, h, cfg, &mut out),
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA8(_) => {
            preprocess_grey(image.to_luma8().as_raw(), w, h, cfg, &mut out)
        }
        other => preprocess_rgb(other.to_rgb8().as_raw(), w, h, cfg, &mut out),
    };
    result.map_err(DecodeError::Preprocess)?;
    Ok(out)
}

/// Decodes and preprocesses an encoded image held in memory.
pub fn decode_bytes(bytes: &[u8], cfg: &PreprocessConfig) -> Result<Vec<u8>, DecodeError> {
    let image = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()?
        .decode()?;
    preprocess_image(&image, cfg)
}

/// Decodes and preprocesses one image file.
pub fn decode_file(path: &Path, cfg: &PreprocessConfig) -> Result<Vec<u8>, DecodeError> {
    let image = ImageReader::open(path)?.with_guessed_format()?.decode()?;
    preprocess_image(&image, cfg)
}

fn progress_bar(len: usize, progress: Progress) -> ProgressBar {
    match progress {
        Progress::Hidden => ProgressBar::hidden(),
        Progress::Bar => {
            let bar = ProgressBar::new(len as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "decoding {bar:40} {pos}/{len} images  {per_sec}  eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        }
    }
}

/// Every file of a [`Scan`], decoded: the pixels of those that decoded, and why the others did
/// not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedFiles {
    /// Output side: each decoded image is `side²` bytes.
    pub side: usize,
    /// How many files were attempted (the scan's file count).
    pub file_count: usize,
    /// The decoded images, concatenated in file order, skipping failures.
    pub pixels: Vec<u8>,
    /// `(file index, reason)` of each file that failed, in increasing index order.
    pub failed: Vec<(usize, String)>,
}

impl DecodedFiles {
    /// Whether the parts agree: failures sorted, unique and in range, pixels of the right length.
    pub fn is_consistent(&self) -> bool {
        let ordered = self.failed.windows(2).all(|w| w[0].0 < w[1].0);
        let in_range = self.failed.last().is_none_or(|f| f.0 < self.file_count);
        let decoded = self.file_count.checked_sub(self.failed.len());
        let want = decoded.and_then(|n| n.checked_mul(self.side.checked_mul(self.side)?));
        ordered && in_range && want == Some(self.pixels.len())
    }
}

/// Decodes every file of `scan` in parallel, in [`Scan::files`] order.
pub fn decode_scan(scan: &Scan, cfg: &PreprocessConfig, progress: Progress) -> DecodedFiles {
    let bar = progress_bar(scan.files.len(), progress);
    let outcomes: Vec<_> = scan
        .files
        .par_iter()
        .map(|file| {
            let outcome = decode_file(&scan.path(file), cfg).map_err(|e| e.to_string());
            bar.inc(1);
            outcome
        })
        .collect();
    bar.finish_and_clear();
    let side = usize::from(cfg.out_side);
    let mut decoded = DecodedFiles {
        side,
        file_count: outcomes.len(),
        pixels: Vec::with_capacity(outcomes.len() * side * side),
        failed: Vec::new(),
    };
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(pixels) => decoded.pixels.extend_from_slice(&pixels),
            Err(reason) => decoded.failed.push((i, reason)),
        }
    }
    decoded
}
