//! The metric-learning losses as burn tensor ops, over whole batches.
//!
//! Each is the batch form of a scalar reference in `facegate_shared::loss` and is tested against
//! it on the same numbers. Distances come from [`crate::tensors::pairwise_squared_distances`];
//! triplets from [`crate::mining`].

use crate::mining::Triplets;
use crate::tensors::{indices, safe_sqrt};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which loss to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// FaceNet triplet hinge on squared distances, `max(0, d_ap² − d_an² + α)`.
    Triplet,
    /// DrLIM contrastive loss on every pair of the batch.
    Contrastive,
    /// Hoffer–Ailon softmax ratio, MSE form.
    SoftmaxRatioMse,
    /// Hoffer–Ailon softmax ratio, negative-log-likelihood form.
    SoftmaxRatioNll,
    /// Soft-margin triplet loss `ln(1 + e^{d_ap − d_an})` (Hermans et al.), usually batch-hard.
    SoftMargin,
}

/// The distances of mined triplets, gathered (differentiably) from the distance matrix.
///
/// # Shapes
/// - `squared`: `[b, b]` squared distances
/// - outputs: `[t]` each, for `t` triplets
pub struct TripletDistances {
    /// `‖a − p‖²`.
    pub ap_squared: Tensor<1>,
    /// `‖a − n‖²`.
    pub an_squared: Tensor<1>,
}

impl TripletDistances {
    /// Gathers the triplets' squared distances; `None` for an empty set.
    pub fn gather(squared: Tensor<2>, triplets: &Triplets) -> Option<Self> {
        if triplets.is_empty() {
            return None;
        }
        let [b, _] = squared.dims();
        let device = squared.device();
        let flat = squared.reshape([b * b]);
        let pick = |second: &[usize]| {
            let idx: Vec<usize> = triplets
                .anchors
                .iter()
                .zip(second)
                .map(|(a, x)| a * b + x)
                .collect();
            flat.clone().select(0, indices(&idx, &device))
        };
        Some(Self {
            ap_squared: pick(&triplets.positives),
            an_squared: pick(&triplets.negatives),
        })
    }

    /// Unsquared distances `(‖a − p‖, ‖a − n‖)`.
    pub fn euclidean(&self) -> (Tensor<1>, Tensor<1>) {
        (
            safe_sqrt(self.ap_squared.clone()),
            safe_sqrt(self.an_squared.clone()),
        )
    }
}

/// Mean FaceNet triplet hinge `max(0, d_ap² + α − d_an²)`.
///
/// # Shapes
/// - `d`: `[t]` distances; output `[1]`
pub fn triplet_hinge(d: &TripletDistances, alpha: f32) -> Tensor<1> {
    ((d.ap_squared.clone() + alpha) - d.an_squared.clone())
        .clamp_min(0.0)
        .mean()
}

/// Mean Hoffer–Ailon MSE loss `d₊*² + (d₋* − 1)²` on unsquared distances, where
/// `d₊* = σ(d₊ − d₋)` and `d₋* = σ(d₋ − d₊)` (the two-way softmax).
///
/// # Shapes
/// - `d`: `[t]` distances; output `[1]`
pub fn softmax_ratio_mse(d: &TripletDistances) -> Tensor<1> {
    let (dp, dn) = d.euclidean();
    let positive = burn::tensor::activation::sigmoid(dp.clone() - dn.clone());
    let negative = burn::tensor::activation::sigmoid(dn - dp);
    (positive.square() + (negative - 1.0).square()).mean()
}

/// Mean Hoffer–Ailon NLL loss `−ln d₋* = softplus(d₊ − d₋)` on unsquared distances.
///
/// # Shapes
/// - `d`: `[t]` distances; output `[1]`
pub fn softmax_ratio_nll(d: &TripletDistances) -> Tensor<1> {
    let (dp, dn) = d.euclidean();
    burn::tensor::activation::softplus(dp - dn, 1.0).mean()
}

/// Mean soft-margin triplet loss `softplus(d_ap − d_an)` on unsquared distances (Hermans et al.).
///
/// # Shapes
/// - `d`: `[t]` distances; output `[1]`
pub fn soft_margin(d: &TripletDistances) -> Tensor<1> {
    softmax_ratio_nll(d)
}

/// DrLIM contrastive loss over every unordered pair `i < j` of the batch:
/// `(1−Y)·½·D² + Y·½·max(0, m − D)²`, averaged separately over similar and dissimilar pairs and
/// summed, so the many more dissimilar pairs of a P×K batch do not drown the similar ones.
/// Pairs of one kind that are absent contribute 0.
///
/// # Shapes
/// - `squared`: `[b, b]` squared distances; output `[1]`
pub fn contrastive(squared: Tensor<2>, labels: &[u32], margin: f32) -> Tensor<1> {
    let b = labels.len();
    let device = squared.device();
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..b {
        for j in i + 1..b {
            if labels[i] == labels[j] {
                &mut same
            } else {
                &mut diff
            }
            .push(i * b + j);
        }
    }
    let flat = squared.reshape([b * b]);
    let mut total = Tensor::<1>::zeros([1], &device);
    if !same.is_empty() {
        let d2 = flat.clone().select(0, indices(&same, &device));
        total = total + (d2 * 0.5).mean();
    }
    if !diff.is_empty() {
        let d = safe_sqrt(flat.select(0, indices(&diff, &device)));
        total = total
            + (d.neg() + margin)
                .clamp_min(0.0)
                .square()
                .mul_scalar(0.5)
                .mean();
    }
    total
}

#[cfg(test)]
#[path = "loss_tests.rs"]
mod tests;
