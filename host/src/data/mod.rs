//! Face datasets: folder-per-identity scanning, decoding, cache, LFW pairs, splits, augmentation.
//!
//! The pipeline, in order:
//!
//! - [`scan`]: list `root/<person>/<file>` (jpg, jpeg, png, pgm; sorted, deterministic) and
//!   fingerprint the file list and the preprocessing setting.
//! - [`decode`]: decode in parallel with `image`, then [`facegate_shared::preprocess`] to
//!   `side × side` grey `u8`; unreadable files are skipped and listed, never fatal.
//! - [`cache`]: the decoded pixels, one checked file per (dataset, file list, setting) under the
//!   user's cache folder, never inside the (read-only) dataset.
//! - [`dataset`]: the in-memory [`Dataset`] the trainer and the evaluator share.
//! - [`pairs`]: LFW View 1 / View 2 pairs files, resolved to files and to dataset indices.
//! - [`split`]: identity-disjoint training sets, and the check that an evaluation's people were
//!   not trained on.
//! - [`augment`]: seeded training-time augmentation of preprocessed images.

pub mod augment;
pub mod cache;
pub mod dataset;
pub mod decode;
pub mod pairs;
pub mod scan;
pub mod split;
pub mod synthetic;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use augment::{augment, AugmentConfig, AugmentError, AugmentParams};
pub use cache::{cache_dir, CacheError, CacheStatus};
pub use dataset::{CacheSetting, Dataset, ImageInfo, LoadOptions, Person};
pub use decode::{DecodeError, DecodeFailure, Progress};
pub use pairs::{resolve_path, ImageRef, Pair, PairsError, PairsFile};
pub use scan::{scan_dataset, Fingerprint, Scan, ScanError, ScannedFile};
pub use split::{
    exclude_people, held_out_people, overlapping_people, trained_people, training_set, Holdout,
    SplitError,
};

/// Environment variable naming the dataset root when `--data` is not given.
pub const DATA_ENV: &str = "FACEGATE_DATA";

/// Why a dataset could not be found or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Neither `--data` nor `FACEGATE_DATA` names a dataset.
    #[error("no dataset given: pass --data <folder> or set {DATA_ENV}")]
    NoDatasetGiven,
    /// The dataset root is missing or not a folder.
    #[error("dataset root {} is not a readable folder", .0.display())]
    NotAFolder(PathBuf),
    /// Listing the dataset failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The in-memory dataset given to [`Dataset::in_memory`] is inconsistent.
    #[error("invalid in-memory dataset: {0}")]
    InvalidInMemory(String),
    /// The preprocessing setting is unusable.
    #[error("invalid preprocessing setting: {0}")]
    Preprocess(facegate_shared::preprocess::PreprocessError),
}

/// The LFW images folder the tests use: `$FACEGATE_DATA`, else `../shared/data/lfw/
/// lfw-deepfunneled` beside the workspace; `None`, after printing why the caller skips, when it
/// is absent.
pub fn lfw_for_tests() -> Option<PathBuf> {
    let root = std::env::var_os(DATA_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/data/lfw/lfw-deepfunneled")
        });
    if root.is_dir() {
        Some(root)
    } else {
        println!(
            "SKIPPED: LFW not found at {} (set {DATA_ENV} to the lfw-deepfunneled folder)",
            root.display()
        );
        None
    }
}

/// The dataset root: `flag` (from `--data`) if given, else `$FACEGATE_DATA`. It must be a folder.
pub fn dataset_root(flag: Option<PathBuf>) -> Result<PathBuf, DataError> {
    dataset_root_from(flag, std::env::var_os(DATA_ENV))
}

/// [`dataset_root`] with the environment passed in (testable without touching the process
/// environment). An empty variable counts as unset.
pub fn dataset_root_from(
    flag: Option<PathBuf>,
    env: Option<OsString>,
) -> Result<PathBuf, DataError> {
    let root = flag
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .ok_or(DataError::NoDatasetGiven)?;
    if Path::is_dir(&root) {
        Ok(root)
    } else {
        Err(DataError::NotAFolder(root))
    }
}

#[cfg(test)]
mod lfw_tests;
#[cfg(test)]
mod test_data;
#[cfg(test)]
mod tests;
