//! LFW's k-fold accuracy protocol.
//!
//! For each fold `k` the accuracy-maximising threshold is chosen on all the *other* folds
//! ([`best_threshold`]) and applied to fold `k`. The result is the mean of the per-fold
//! accuracies ± its standard error `s / √n` (`s` the sample standard deviation over the `n`
//! folds), as LFW results are reported. A threshold chosen on all pairs is reported too, as the
//! deployment default.
//!
//! Folds are the pairs' `fold` indices, numbered `0..n` with `n ≥ 2` (View 2: ten folds of 600).
//! When every pair carries the same fold index (View 1, or any single list of pairs) they are
//! first split into [`LFW_FOLDS`] folds by [`split_interleaved`]: deterministic, and balanced in
//! both classes.

use super::metrics::{accuracy_at, best_threshold, MetricsError, ThresholdChoice};
use super::ScoredPair;
use serde::{Deserialize, Serialize};

/// LFW's number of folds.
pub const LFW_FOLDS: usize = 10;

/// Why the fold protocol could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FoldError {
    /// The pairs themselves are unusable (empty, non-finite distances).
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A fold index in `0..folds` has no pairs.
    #[error("fold {fold} of {folds} has no pairs")]
    EmptyFold {
        /// The empty fold.
        fold: usize,
        /// Number of folds (largest index + 1).
        folds: usize,
    },
    /// Fewer than two folds were asked for.
    #[error("cannot split into {0} folds: need at least 2")]
    TooFewFolds(usize),
}

/// One fold's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// Fold index.
    pub fold: usize,
    /// Pairs in this fold.
    pub pairs: usize,
    /// Same-person pairs among them.
    pub same_pairs: usize,
    /// Threshold chosen on the other folds.
    pub threshold: f32,
    /// Accuracy of that threshold on the other folds.
    pub train_accuracy: f64,
    /// Accuracy of that threshold on this fold.
    pub accuracy: f64,
}

/// The k-fold accuracy of a set of pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenFold {
    /// Mean of the per-fold accuracies.
    pub accuracy_mean: f64,
    /// Standard error of that mean: sample standard deviation / √folds.
    pub accuracy_se: f64,
    /// Per-fold results, by fold index.
    pub folds: Vec<FoldResult>,
    /// The pairs came as one fold and were split by [`split_interleaved`].
    pub split_interleaved: bool,
    /// Threshold chosen on all pairs, and its accuracy on them (optimistic: not held out).
    pub all_pairs: ThresholdChoice,
}

/// Mean and standard error (`s / √n`, `s` with `n − 1` degrees of freedom) of `values`;
/// `None` for fewer than two values.
pub fn mean_se(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n < 2 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    let sd = (ss / (n - 1) as f64).sqrt();
    Some((mean, sd / (n as f64).sqrt()))
}

/// Reassigns `pairs` to `folds` folds, interleaved and class-balanced.
///
/// Same-person pairs, in input order, go to folds `0, 1, …, folds−1, 0, 1, …`; different-person
/// pairs continue the same cycle where the same-person pairs stopped. So every fold gets
/// `⌊S/k⌋` or `⌈S/k⌉` same pairs, `⌊D/k⌋` or `⌈D/k⌉` different pairs and `⌊n/k⌋` or `⌈n/k⌉`
/// pairs in all. The order of `pairs` is kept.
pub fn split_interleaved(pairs: &[ScoredPair], folds: usize) -> Result<Vec<ScoredPair>, FoldError> {
    if folds < 2 {
        return Err(FoldError::TooFewFolds(folds));
    }
    let same = pairs.iter().filter(|p| p.same).count();
    let (mut next_same, mut next_different) = (0usize, same);
    Ok(pairs
        .iter()
        .map(|p| {
            let slot = if p.same {
                &mut next_same
            } else {
                &mut next_different
            };
            let fold = *slot % folds;
            *slot += 1;
            ScoredPair { fold, ..*p }
        })
        .collect())
}

/// Runs the fold protocol on `pairs` (see the module documentation).
pub fn ten_fold(pairs: &[ScoredPair]) -> Result<TenFold, FoldError> {
    // Validates everything (empty, non-finite) with indices into the caller's slice.
    let all_pairs = best_threshold(pairs)?;
    let first = pairs[0].fold;
    let single = pairs.iter().all(|p| p.fold == first);
    let split;
    let pairs = if single {
        split = split_interleaved(pairs, LFW_FOLDS)?;
        &split[..]
    } else {
        pairs
    };
    let max = if single {
        // Ten folds, whether or not there are enough pairs to fill them.
        LFW_FOLDS - 1
    } else {
        pairs.iter().map(|p| p.fold).max().unwrap_or(0)
    };
    if max >= pairs.len() {
        // More fold indices than pairs: some fold below `max` is empty; name the first.
        let mut present = vec![false; pairs.len()];
        for p in pairs.iter().filter(|p| p.fold < pairs.len()) {
            present[p.fold] = true;
        }
        return Err(FoldError::EmptyFold {
            fold: present.iter().position(|&x| !x).unwrap_or(pairs.len()),
            folds: max.saturating_add(1),
        });
    }
    let count = max + 1;
    let mut folds = Vec::with_capacity(count);
    for fold in 0..count {
        let (test, train): (Vec<ScoredPair>, Vec<ScoredPair>) =
            pairs.iter().partition(|p| p.fold == fold);
        if test.is_empty() {
            return Err(FoldError::EmptyFold { fold, folds: count });
        }
        let chosen = best_threshold(&train)?;
        folds.push(FoldResult {
            fold,
            pairs: test.len(),
            same_pairs: test.iter().filter(|p| p.same).count(),
            threshold: chosen.threshold,
            train_accuracy: chosen.accuracy,
            accuracy: accuracy_at(&test, chosen.threshold)?,
        });
    }
    let accuracies: Vec<f64> = folds.iter().map(|f| f.accuracy).collect();
    let (accuracy_mean, accuracy_se) = mean_se(&accuracies).ok_or(FoldError::TooFewFolds(count))?;
    Ok(TenFold {
        accuracy_mean,
        accuracy_se,
        folds,
        split_interleaved: single,
        all_pairs,
    })
}

#[cfg(test)]
#[path = "folds_tests.rs"]
mod tests;
