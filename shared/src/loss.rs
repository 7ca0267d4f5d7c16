//! Scalar reference forms of the metric-learning losses.
//!
//! The host trainer implements these with tensors over whole batches; its tests check every
//! tensor loss against these functions on the same numbers. All functions are total: they take
//! distances (assumed finite and non-negative) and return a finite value for finite input.

use crate::math;

/// FaceNet's margin α between positive and negative squared distances (Schroff et al. 2015).
pub const FACENET_ALPHA: f32 = 0.2;

/// FaceNet triplet hinge on squared distances of L2-normalised embeddings:
///
/// `L = max(0, ‖a−p‖² − ‖a−n‖² + α)`
///
/// Computed as `max(0, (d_ap + α) − d_an)`, the same expression as [`classify_negative`], so a
/// negative exactly at the margin (`d_an == d_ap + α` in f32) gives exactly 0 and is "easy".
pub fn triplet_hinge(d_ap_sq: f32, d_an_sq: f32, alpha: f32) -> f32 {
    let v = (d_ap_sq + alpha) - d_an_sq;
    if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// Whether a pair is of the same person. DrLIM's label `Y`: 0 similar, 1 dissimilar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairLabel {
    /// `Y = 0`: the same person.
    Similar,
    /// `Y = 1`: different people.
    Dissimilar,
}

/// DrLIM contrastive loss (Hadsell, Chopra, LeCun 2006):
///
/// `L = (1−Y)·½·D² + Y·½·max(0, m − D)²`
///
/// with `D` the (unsquared) Euclidean distance and `m` the margin.
pub fn contrastive(distance: f32, label: PairLabel, margin: f32) -> f32 {
    match label {
        PairLabel::Similar => 0.5 * distance * distance,
        PairLabel::Dissimilar => {
            let gap = margin - distance;
            if gap > 0.0 {
                0.5 * gap * gap
            } else {
                0.0
            }
        }
    }
}

/// The two softmax-normalised distances of the Hoffer–Ailon triplet network (2015):
///
/// `(d₊*, d₋*) = softmax(‖a−p‖, ‖a−n‖) = (e^{d₊}, e^{d₋}) / (e^{d₊} + e^{d₋})`
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftmaxRatio {
    /// `d₊* = e^{d₊} / (e^{d₊} + e^{d₋})`, in `[0, 1]`.
    pub positive: f32,
    /// `d₋* = e^{d₋} / (e^{d₊} + e^{d₋})`, in `[0, 1]`.
    pub negative: f32,
}

impl SoftmaxRatio {
    /// Softmax of the unsquared distances `d₊ = ‖a−p‖`, `d₋ = ‖a−n‖`, computed stably:
    /// `d₊* = 1 / (1 + e^{d₋ − d₊})`.
    pub fn new(d_ap: f32, d_an: f32) -> Self {
        let positive = 1.0 / (1.0 + math::exp(d_an - d_ap));
        let negative = 1.0 / (1.0 + math::exp(d_ap - d_an));
        Self { positive, negative }
    }
}

/// Hoffer–Ailon loss, mean-squared-error form: `L = ‖(d₊*, d₋* − 1)‖² = d₊*² + (d₋* − 1)²`.
pub fn softmax_ratio_mse(d_ap: f32, d_an: f32) -> f32 {
    let r = SoftmaxRatio::new(d_ap, d_an);
    let miss = r.negative - 1.0;
    r.positive * r.positive + miss * miss
}

/// Hoffer–Ailon loss, negative-log-likelihood form: `L = −log d₋* = ln(1 + e^{d₊ − d₋})`.
pub fn softmax_ratio_nll(d_ap: f32, d_an: f32) -> f32 {
    math::softplus(d_ap - d_an)
}

/// Soft-margin triplet loss used with batch-hard mining (Hermans, Beyer, Leibe 2017):
/// `L = ln(1 + e^{d_ap − d_an})` on unsquared distances of the hardest positive and negative.
pub fn soft_margin_triplet(d_ap: f32, d_an: f32) -> f32 {
    math::softplus(d_ap - d_an)
}

/// FaceNet's classes of a negative relative to an anchor–positive pair, on squared distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegativeKind {
    /// `d_an ≤ d_ap`: the negative is at least as close as the positive.
    Hard,
    /// `d_ap < d_an < d_ap + α`: further than the positive, but inside the margin.
    SemiHard,
    /// `d_an ≥ d_ap + α`: outside the margin; the hinge is 0.
    Easy,
}

/// Classifies a negative; the three classes partition every (finite) input.
pub fn classify_negative(d_ap: f32, d_an: f32, alpha: f32) -> NegativeKind {
    if d_an <= d_ap {
        NegativeKind::Hard
    } else if d_an < d_ap + alpha {
        NegativeKind::SemiHard
    } else {
        NegativeKind::Easy
    }
}

/// `d_ap < d_an < d_ap + α`.
pub fn is_semi_hard(d_ap: f32, d_an: f32, alpha: f32) -> bool {
    classify_negative(d_ap, d_an, alpha) == NegativeKind::SemiHard
}

/// `d_an ≤ d_ap`.
pub fn is_hard(d_ap: f32, d_an: f32) -> bool {
    d_an <= d_ap
}

/// `d_an ≥ d_ap + α`.
pub fn is_easy(d_ap: f32, d_an: f32, alpha: f32) -> bool {
    classify_negative(d_ap, d_an, alpha) == NegativeKind::Easy
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
