//! Online triplet miners over a batch's distance matrix.
//!
//! Every miner sees the squared-distance matrix of the batch (detached: mining is not
//! differentiated) and the batch labels, and returns index triplets `(anchor, positive,
//! negative)`; the losses then gather the differentiable distances at those indices. The work is
//! done with tensor ops on `[pairs, batch]` matrices, so it runs on whatever device the batch is on.
//!
//! - [`Miner::SemiHard`] — FaceNet (Schroff et al. 2015): every anchor–positive pair, with the
//!   *hardest semi-hard* negative `argmin { d_an : d_ap < d_an < d_ap + α }`. **Fallback** when a
//!   pair has none (as TensorFlow Addons' `triplet_semihard_loss`): if it has hard negatives
//!   (`d_an ≤ d_ap`) the least hard of them (`argmax d_an`) is used; if every negative is easy the
//!   pair yields no triplet (its hinge would be 0). Fallbacks are counted.
//! - [`Miner::BatchHard`] — Hermans et al. 2017: for each anchor, its farthest positive and
//!   closest negative.
//! - [`Miner::BatchAll`] — every valid triplet whose hinge is non-zero.
//! - [`Miner::Random`] — every anchor–positive pair with a uniformly random negative.

use crate::tensors::{indices, to_bool, to_usize};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Which triplets to train on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Miner {
    /// FaceNet semi-hard negatives for every anchor–positive pair.
    SemiHard,
    /// Hardest positive and hardest negative per anchor.
    BatchHard,
    /// All triplets with a positive hinge.
    BatchAll,
    /// A random negative per anchor–positive pair.
    Random,
}

/// Mined triplets, as batch indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Triplets {
    /// Anchor indices.
    pub anchors: Vec<usize>,
    /// Positive indices (same person as the anchor).
    pub positives: Vec<usize>,
    /// Negative indices (another person).
    pub negatives: Vec<usize>,
    /// Semi-hard mining: pairs that had no semi-hard negative and took the fallback.
    pub fallbacks: usize,
    /// Semi-hard mining: pairs dropped because all their negatives were easy.
    pub dropped: usize,
}

impl Triplets {
    /// Number of triplets.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    fn push(&mut self, a: usize, p: usize, n: usize) {
        self.anchors.push(a);
        self.positives.push(p);
        self.negatives.push(n);
    }
}

/// All ordered anchor–positive pairs `(a, p)`, `a ≠ p`, same label.
pub fn positive_pairs(labels: &[u32]) -> (Vec<usize>, Vec<usize>) {
    let mut anchors = Vec::new();
    let mut positives = Vec::new();
    for (a, la) in labels.iter().enumerate() {
        for (p, lp) in labels.iter().enumerate() {
            if a != p && la == lp {
                anchors.push(a);
                positives.push(p);
            }
        }
    }
    (anchors, positives)
}

/// `same[i][j] = 1.0` where labels i and j are equal (diagonal included), as a `[b, b]` tensor.
fn same_label_matrix(labels: &[u32], device: &Device) -> Tensor<2> {
    let b = labels.len();
    let values = labels
        .iter()
        .flat_map(|li| labels.iter().map(move |lj| f32::from(u8::from(li == lj))))
        .collect();
    crate::tensors::floats(values, [b, b], device)
}

/// The per-pair view the pair-based miners and the diagnostics work on.
pub struct PairView {
    /// Anchor index of each anchor–positive pair.
    pub anchors: Vec<usize>,
    /// Positive index of each pair.
    pub positives: Vec<usize>,
    /// `d_ap` per pair, `[pairs, 1]`.
    pub d_ap: Tensor<2>,
    /// `d_an` for every batch item as negative, `[pairs, batch]`.
    pub d_an: Tensor<2>,
    /// Which batch items are negatives for the pair's anchor, `[pairs, batch]`.
    pub negative: Tensor<2, Bool>,
}

impl PairView {
    /// Builds the view from a (detached) `[b, b]` distance matrix; `None` without positive pairs.
    pub fn new(distances: Tensor<2>, labels: &[u32]) -> Option<Self> {
        let (anchors, positives) = positive_pairs(labels);
        if anchors.is_empty() {
            return None;
        }
        let device = distances.device();
        let b = labels.len();
        let flat: Vec<usize> = anchors
            .iter()
            .zip(&positives)
            .map(|(a, p)| a * b + p)
            .collect();
        let d_ap = distances
            .clone()
            .reshape([b * b])
            .select(0, indices(&flat, &device))
            .unsqueeze_dim(1);
        let a_idx = indices(&anchors, &device);
        let d_an = distances.select(0, a_idx.clone());
        let negative = same_label_matrix(labels, &device)
            .select(0, a_idx)
            .equal_elem(0.0);
        Some(Self {
            anchors,
            positives,
            d_ap,
            d_an,
            negative,
        })
    }

    fn d_ap_expanded(&self) -> Tensor<2> {
        self.d_ap.clone().expand(self.d_an.dims())
    }

    /// Negatives with `d_an ≤ d_ap`.
    pub fn hard(&self) -> Tensor<2, Bool> {
        self.d_an
            .clone()
            .lower_equal(self.d_ap_expanded())
            .bool_and(self.negative.clone())
    }

    /// Negatives with `d_ap < d_an < d_ap + α`.
    pub fn semi_hard(&self, alpha: f32) -> Tensor<2, Bool> {
        let d_ap = self.d_ap_expanded();
        self.d_an
            .clone()
            .greater(d_ap.clone())
            .bool_and(self.d_an.clone().lower(d_ap + alpha))
            .bool_and(self.negative.clone())
    }
}

const FAR: f32 = 1.0e9;

/// Mines triplets from a detached squared-distance matrix `[b, b]` and the batch labels.
pub fn mine(miner: Miner, distances: Tensor<2>, labels: &[u32], alpha: f32, seed: u64) -> Triplets {
    let distances = distances.detach();
    match miner {
        Miner::BatchHard => batch_hard(distances, labels),
        _ => {
            let Some(view) = PairView::new(distances, labels) else {
                return Triplets::default();
            };
            match miner {
                Miner::SemiHard => semi_hard(&view, alpha),
                Miner::BatchAll => batch_all(&view, alpha),
                _ => random(&view, seed),
            }
        }
    }
}

fn semi_hard(view: &PairView, alpha: f32) -> Triplets {
    let band = view.semi_hard(alpha);
    let hard = view.hard();
    let has_band = to_bool(band.clone().any_dim(1));
    let has_hard = to_bool(hard.clone().any_dim(1));
    let closest_in_band = to_usize(view.d_an.clone().mask_fill(band.bool_not(), FAR).argmin(1));
    let least_hard = to_usize(view.d_an.clone().mask_fill(hard.bool_not(), -FAR).argmax(1));
    let mut out = Triplets::default();
    for (i, (&a, &p)) in view.anchors.iter().zip(&view.positives).enumerate() {
        if has_band[i] {
            out.push(a, p, closest_in_band[i]);
        } else if has_hard[i] {
            out.fallbacks += 1;
            out.push(a, p, least_hard[i]);
        } else {
            out.dropped += 1;
        }
    }
    out
}

fn batch_all(view: &PairView, alpha: f32) -> Triplets {
    let active = view
        .d_an
        .clone()
        .lower(view.d_ap_expanded() + alpha)
        .bool_and(view.negative.clone());
    let hits = to_usize(active.argwhere());
    let mut out = Triplets::default();
    for hit in hits.chunks_exact(2) {
        out.push(view.anchors[hit[0]], view.positives[hit[0]], hit[1]);
    }
    out
}

fn random(view: &PairView, seed: u64) -> Triplets {
    use rand::{Rng, SeedableRng};
    let [pairs, b] = view.d_an.dims();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let scores = (0..pairs * b).map(|_| rng.random::<f32>()).collect();
    let device = view.d_an.device();
    let scores = crate::tensors::floats(scores, [pairs, b], &device);
    let has = to_bool(view.negative.clone().any_dim(1));
    let pick = to_usize(
        scores
            .mask_fill(view.negative.clone().bool_not(), -1.0)
            .argmax(1),
    );
    let mut out = Triplets::default();
    for (i, (&a, &p)) in view.anchors.iter().zip(&view.positives).enumerate() {
        if has[i] {
            out.push(a, p, pick[i]);
        }
    }
    out
}

fn batch_hard(distances: Tensor<2>, labels: &[u32]) -> Triplets {
    let device = distances.device();
    let b = labels.len();
    let same = same_label_matrix(labels, &device);
    let eye = Tensor::<2>::eye(b, &device);
    let positive = (same.clone() - eye).equal_elem(1.0);
    let negative = same.equal_elem(0.0);
    let has_pos = to_bool(positive.clone().any_dim(1));
    let has_neg = to_bool(negative.clone().any_dim(1));
    let hardest_pos = to_usize(
        distances
            .clone()
            .mask_fill(positive.bool_not(), -FAR)
            .argmax(1),
    );
    let hardest_neg = to_usize(distances.mask_fill(negative.bool_not(), FAR).argmin(1));
    let mut out = Triplets::default();
    for a in 0..b {
        if has_pos[a] && has_neg[a] {
            out.push(a, hardest_pos[a], hardest_neg[a]);
        }
    }
    out
}

#[cfg(test)]
#[path = "mining_tests.rs"]
mod tests;
