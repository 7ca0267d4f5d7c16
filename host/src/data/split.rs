//! Identity-disjoint splits: train on people the evaluation never shows.
//!
//! A training set leaves out every person named by a pairs file ([`Holdout::AllPairs`]), or by
//! one fold of a View 2 file ([`Holdout::Fold`]). A run records [`trained_people`]; before an
//! evaluation, [`overlapping_people`] lists the pairs file's people the run was trained on, and
//! the caller refuses to evaluate when that list is not empty.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::pairs::PairsFile;

/// Why a split could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The fold does not exist in the pairs file.
    #[error("fold {fold} does not exist: the pairs file has {folds} fold(s), numbered from 0")]
    NoSuchFold {
        /// The fold asked for.
        fold: usize,
        /// Folds in the file.
        folds: usize,
    },
}

/// Which people of a pairs file to keep out of training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holdout {
    /// Everyone the file names.
    AllPairs,
    /// Everyone fold `k` (0-based) names.
    Fold(usize),
}

/// The people `holdout` keeps out of training.
pub fn held_out_people(
    pairs: &PairsFile,
    holdout: Holdout,
) -> Result<BTreeSet<String>, SplitError> {
    match holdout {
        Holdout::AllPairs => Ok(pairs.people()),
        Holdout::Fold(fold) if fold < pairs.folds => Ok(pairs.people_in_fold(fold)),
        Holdout::Fold(fold) => Err(SplitError::NoSuchFold {
            fold,
            folds: pairs.folds,
        }),
    }
}

/// `dataset` without `people` (names absent from the dataset are ignored).
pub fn exclude_people(dataset: &Dataset, people: &BTreeSet<String>) -> Dataset {
    dataset.retain_people(|p| !people.contains(&p.name))
}

/// `dataset` without the people `holdout` takes from `pairs`.
pub fn training_set(
    dataset: &Dataset,
    pairs: &PairsFile,
    holdout: Holdout,
) -> Result<Dataset, SplitError> {
    Ok(exclude_people(dataset, &held_out_people(pairs, holdout)?))
}

/// The people a training run on `dataset` sees (store it with the run).
pub fn trained_people(dataset: &Dataset) -> BTreeSet<String> {
    dataset.people().iter().map(|p| p.name.clone()).collect()
}

/// The people of `pairs` that are in `trained`, sorted; empty when the evaluation is
/// identity-disjoint from training.
pub fn overlapping_people(trained: &BTreeSet<String>, pairs: &PairsFile) -> Vec<String> {
    pairs
        .people()
        .into_iter()
        .filter(|p| trained.contains(p))
        .collect()
}
