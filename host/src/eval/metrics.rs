//! Pure verification metrics over scored pairs.
//!
//! A pair is *accepted* iff `distance <= threshold`. With `P` same-person (positive) and `N`
//! different-person (negative) pairs:
//!
//! - TAR (true accept rate) = accepted positives / `P`; FAR (false accept rate) = accepted
//!   negatives / `N`; accuracy = (accepted positives + rejected negatives) / (`P` + `N`).
//! - The ROC curve has one point per distinct distance `d` (threshold `d`), plus a first point that
//!   rejects everything. Pairs tied at one distance move the curve diagonally.
//! - AUC is computed exactly by ranking: the probability that a random positive has a *smaller*
//!   distance than a random negative, ties counting ½. It equals the trapezoidal area under the ROC.
//!
//! Thresholds returned here sit between observed distances (midpoints), so any threshold between the
//! two neighbouring distances would give the same rates on these pairs.

use super::ScoredPair;
use serde::{Deserialize, Serialize};

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// There are no pairs.
    #[error("no pairs to evaluate")]
    Empty,
    /// There are no same-person pairs, so TAR (and AUC, EER) are undefined.
    #[error("no same-person pairs: TAR, AUC and EER are undefined")]
    NoSamePairs,
    /// There are no different-person pairs, so FAR (and AUC, EER) are undefined.
    #[error("no different-person pairs: FAR, AUC and EER are undefined")]
    NoDifferentPairs,
    /// A distance is NaN or infinite.
    #[error("pair {index} has a non-finite distance ({distance})")]
    NonFinite {
        /// Index of the offending pair in the input.
        index: usize,
        /// Its distance.
        distance: f32,
    },
    /// A target FAR outside `[0, 1]` (or NaN).
    #[error("target FAR {0} is not in [0, 1]")]
    InvalidFar(f64),
    /// A threshold that is NaN.
    #[error("threshold is NaN")]
    InvalidThreshold,
}

/// A threshold and the accuracy it achieves on the pairs it was chosen on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// Accept iff `distance <= threshold`.
    pub threshold: f32,
    /// Fraction of pairs classified correctly.
    pub accuracy: f64,
}

/// One point of the ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Accept iff `distance <= threshold`.
    pub threshold: f32,
    /// Accepted same-person pairs.
    pub true_accepts: usize,
    /// Accepted different-person pairs.
    pub false_accepts: usize,
    /// `true_accepts / P`.
    pub tar: f64,
    /// `false_accepts / N`.
    pub far: f64,
}

/// The ROC curve of a set of pairs holding both classes.
///
/// Built only by [`Roc::new`], so it always starts at "reject all" and ends at "accept all".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roc {
    points: Vec<RocPoint>,
    positives: usize,
    negatives: usize,
}

/// The equal error rate: where FAR = FRR (= 1 − TAR), interpolated linearly along the ROC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eer {
    /// The common value of FAR and FRR, in `[0, 1]`.
    pub rate: f64,
    /// The threshold, interpolated like the rate between the two bracketing ROC thresholds.
    pub threshold: f32,
}

/// The operating point with the largest threshold whose FAR does not exceed a target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The FAR asked for.
    pub target_far: f64,
    /// Accept iff `distance <= threshold`; midway between the last accepted distance and the next.
    pub threshold: f32,
    /// FAR achieved on these pairs (`<= target_far`).
    pub far: f64,
    /// TAR achieved on these pairs; `None` when there are no same-person pairs.
    pub tar: Option<f64>,
    /// Different-person pairs accepted at `threshold`.
    pub false_accepts: usize,
    /// Different-person pairs the FAR is measured on.
    pub negatives: usize,
    /// Same-person pairs the TAR is measured on.
    pub positives: usize,
    /// `negatives < 1 / target_far`: a FAR this small cannot be resolved (one false accept
    /// already exceeds it), so the point says little.
    pub too_few_negatives: bool,
}

/// A run of pairs sharing one distance, in ascending order of distance.
#[derive(Debug, Clone, Copy)]
struct Group {
    distance: f32,
    same: usize,
    different: usize,
}

/// Checks `pairs` and groups them by distinct distance, ascending.
fn groups(pairs: &[ScoredPair]) -> Result<Vec<Group>, MetricsError> {
    if pairs.is_empty() {
        return Err(MetricsError::Empty);
    }
    let mut sorted = Vec::with_capacity(pairs.len());
    for (index, p) in pairs.iter().enumerate() {
        if !p.distance.is_finite() {
            return Err(MetricsError::NonFinite {
                index,
                distance: p.distance,
            });
        }
        // `+ 0.0` turns -0.0 into +0.0, so equal distances sort together under `total_cmp`.
        sorted.push((p.distance + 0.0, p.same));
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<Group> = Vec::new();
    for (distance, same) in sorted {
        match out.last_mut() {
            Some(g) if g.distance == distance => {
                g.same += usize::from(same);
                g.different += usize::from(!same);
            }
            _ => out.push(Group {
                distance,
                same: usize::from(same),
                different: usize::from(!same),
            }),
        }
    }
    Ok(out)
}

/// The largest `f32` below a finite `x`: a threshold that rejects `x` and everything above it.
pub(crate) fn next_down(x: f32) -> f32 {
    if x == 0.0 {
        -f32::from_bits(1)
    } else if x > 0.0 {
        f32::from_bits(x.to_bits() - 1)
    } else {
        f32::from_bits(x.to_bits() + 1)
    }
}

/// A threshold strictly between finite `a < b` that accepts `a` and rejects `b`: their midpoint,
/// or `a` itself when the midpoint rounds up to `b` (adjacent floats).
pub(crate) fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m < b {
        m
    } else {
        a
    }
}

fn rate(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Fraction of `pairs` classified correctly when accepting `distance <= threshold`.
pub fn accuracy_at(pairs: &[ScoredPair], threshold: f32) -> Result<f64, MetricsError> {
    if threshold.is_nan() {
        return Err(MetricsError::InvalidThreshold);
    }
    let gs = groups(pairs)?;
    let correct: usize = gs
        .iter()
        .map(|g| {
            if g.distance <= threshold {
                g.same
            } else {
                g.different
            }
        })
        .sum();
    Ok(rate(correct, pairs.len()))
}

/// The threshold maximising accuracy on `pairs`.
///
/// Candidates are the midpoints between consecutive distinct distances, plus "reject all" (just
/// below the smallest distance) and "accept all" (the largest distance). Among equally accurate
/// candidates the smallest threshold wins. One class alone is allowed (the answer is then
/// "accept all" or "reject all" with accuracy 1).
pub fn best_threshold(pairs: &[ScoredPair]) -> Result<ThresholdChoice, MetricsError> {
    let gs = groups(pairs)?;
    let negatives: usize = gs.iter().map(|g| g.different).sum();
    // Reject all: every negative is right.
    let mut best_correct = negatives;
    let mut best_threshold = next_down(gs[0].distance);
    let (mut same_le, mut different_le) = (0usize, 0usize);
    for (i, g) in gs.iter().enumerate() {
        same_le += g.same;
        different_le += g.different;
        let correct = same_le + (negatives - different_le);
        if correct > best_correct {
            best_correct = correct;
            best_threshold = match gs.get(i + 1) {
                Some(next) => midpoint(g.distance, next.distance),
                None => g.distance,
            };
        }
    }
    Ok(ThresholdChoice {
        threshold: best_threshold,
        accuracy: rate(best_correct, pairs.len()),
    })
}

impl Roc {
    /// The ROC curve of `pairs`, which must hold both classes and only finite distances.
    pub fn new(pairs: &[ScoredPair]) -> Result<Self, MetricsError> {
        let roc = Self::build(pairs)?;
        if roc.positives == 0 {
            return Err(MetricsError::NoSamePairs);
        }
        if roc.negatives == 0 {
            return Err(MetricsError::NoDifferentPairs);
        }
        Ok(roc)
    }

    /// From "reject all" (`(0, 0)`) to "accept all" (`(1, 1)`), thresholds ascending.
    pub fn points(&self) -> &[RocPoint] {
        &self.points
    }

    /// Number of same-person pairs `P`.
    pub fn positives(&self) -> usize {
        self.positives
    }

    /// Number of different-person pairs `N`.
    pub fn negatives(&self) -> usize {
        self.negatives
    }

    /// Like [`Roc::new`] but allows either class to be missing (its rate is then 0).
    fn build(pairs: &[ScoredPair]) -> Result<Self, MetricsError> {
        let gs = groups(pairs)?;
        let positives: usize = gs.iter().map(|g| g.same).sum();
        let negatives = pairs.len() - positives;
        let mut points = Vec::with_capacity(gs.len() + 1);
        points.push(RocPoint {
            threshold: next_down(gs[0].distance),
            true_accepts: 0,
            false_accepts: 0,
            tar: 0.0,
            far: 0.0,
        });
        let (mut ta, mut fa) = (0usize, 0usize);
        for g in &gs {
            ta += g.same;
            fa += g.different;
            points.push(RocPoint {
                threshold: g.distance,
                true_accepts: ta,
                false_accepts: fa,
                tar: rate(ta, positives),
                far: rate(fa, negatives),
            });
        }
        Ok(Self {
            points,
            positives,
            negatives,
        })
    }

    /// Exact ROC AUC by ranking: P(positive distance < negative distance) + ½ P(equal).
    pub fn auc(&self) -> f64 {
        // Twice the Mann–Whitney count, in integers: each tie counts 1 instead of ½.
        let mut twice: u128 = 0;
        for w in self.points.windows(2) {
            let same = (w[1].true_accepts - w[0].true_accepts) as u128;
            let different = (w[1].false_accepts - w[0].false_accepts) as u128;
            let above = (self.negatives - w[1].false_accepts) as u128;
            twice += same * (2 * above + different);
        }
        let pairs = 2 * self.positives as u128 * self.negatives as u128;
        twice as f64 / pairs as f64
    }

    /// The equal error rate, interpolated along the ROC.
    pub fn eer(&self) -> Eer {
        // f = FAR − FRR = FAR + TAR − 1 rises from −1 (reject all) to +1 (accept all).
        let f = |p: &RocPoint| p.far + p.tar - 1.0;
        let mut prev = self.points[0];
        for &p in &self.points[1..] {
            let fp = f(&p);
            if fp >= 0.0 {
                let fq = f(&prev);
                let alpha = if fp > fq { -fq / (fp - fq) } else { 1.0 };
                let lerp = |a: f64, b: f64| a + alpha * (b - a);
                return Eer {
                    rate: lerp(prev.far, p.far),
                    threshold: lerp(f64::from(prev.threshold), f64::from(p.threshold)) as f32,
                };
            }
            prev = p;
        }
        // Unreachable for a curve ending at (1, 1); answer the end point all the same.
        Eer {
            rate: 1.0,
            threshold: prev.threshold,
        }
    }

    /// The operating point with the largest threshold whose FAR is at most `target_far`.
    pub fn at_far(&self, target_far: f64) -> Result<OperatingPoint, MetricsError> {
        if !(0.0..=1.0).contains(&target_far) {
            return Err(MetricsError::InvalidFar(target_far));
        }
        let within = |p: &RocPoint| rate(p.false_accepts, self.negatives) <= target_far;
        // FAR never decreases along the curve, and the first point (reject all) has FAR 0.
        let k = self.points.iter().take_while(|p| within(p)).count() - 1;
        let p = self.points[k];
        let threshold = match (k, self.points.get(k + 1)) {
            (0, _) | (_, None) => p.threshold,
            (_, Some(next)) => midpoint(p.threshold, next.threshold),
        };
        Ok(OperatingPoint {
            target_far,
            threshold,
            far: rate(p.false_accepts, self.negatives),
            tar: (self.positives > 0).then(|| rate(p.true_accepts, self.positives)),
            false_accepts: p.false_accepts,
            negatives: self.negatives,
            positives: self.positives,
            too_few_negatives: (self.negatives as f64) < 1.0 / target_far,
        })
    }
}

/// Exact ROC AUC of `pairs` (see [`Roc::auc`]).
pub fn auc(pairs: &[ScoredPair]) -> Result<f64, MetricsError> {
    Ok(Roc::new(pairs)?.auc())
}

/// Calibrates a deployment threshold on a calibration set: the largest threshold whose FAR on
/// `pairs` is at most `target_far`, with the FAR and TAR it achieves there.
///
/// Only different-person pairs are required; without same-person pairs `tar` is `None`.
pub fn calibrate(pairs: &[ScoredPair], target_far: f64) -> Result<OperatingPoint, MetricsError> {
    let roc = Roc::build(pairs)?;
    if roc.negatives == 0 {
        return Err(MetricsError::NoDifferentPairs);
    }
    roc.at_far(target_far)
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
