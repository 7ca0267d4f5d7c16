//! FaceNet's *offline* triplet generation: every N steps, embed a subset of the training data
//! with the current model (no augmentation, evaluation mode), mine triplets on the subset's whole
//! distance matrix with the configured miner, and train the next N steps on batches drawn from
//! that pool. It sees many more candidate negatives per anchor than an online batch can hold.
//!
//! A batch of `t` pooled triplets is laid out as `[a₀..a_t, p₀..p_t, n₀..n_t]`, so its triplets are
//! `(i, t + i, 2t + i)`: the loss is computed on the fresh (augmented, training-mode) embeddings
//! of exactly the mined images.

use crate::inference::embed;
use crate::mining::{mine, Miner, Triplets};
use crate::model::Embedder;
use crate::sampler::{Batch, PkConfig, PkSampler, SamplerError};
use crate::tensors::{floats, pairwise_squared_distances};
use crate::training::TrainImages;
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Settings of offline mining; part of the training configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfflineMiningConfig {
    /// Steps between two minings.
    pub every_steps: usize,
    /// People in the mined subset.
    pub people: usize,
    /// Images per person in the subset.
    pub images_per_person: usize,
    /// Triplets per training batch (the batch holds three times as many images).
    pub triplets_per_batch: usize,
}

impl Default for OfflineMiningConfig {
    /// Every 50 steps, 300 people × 4 images (1,200 embeddings), 30 triplets (90 images) a batch.
    fn default() -> Self {
        Self {
            every_steps: 50,
            people: 300,
            images_per_person: 4,
            triplets_per_batch: 30,
        }
    }
}

/// A pool of triplets of dataset image indices, handed out batch by batch.
#[derive(Debug, Default)]
pub struct TripletPool {
    /// (anchor, positive, negative) image indices and the anchor's and negative's labels.
    triplets: Vec<([usize; 3], [u32; 2])>,
    next: usize,
    /// Candidate pairs that had no usable negative at the last mining.
    pub dropped: usize,
}

impl TripletPool {
    /// Mines a new pool: draws the subset with a P×K sampler seeded by `seed`, embeds it with
    /// `model` (evaluation mode), mines with `miner`.
    pub fn mine(
        cfg: &OfflineMiningConfig,
        miner: Miner,
        alpha: f32,
        model: &Embedder,
        data: &TrainImages,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        let eligible = data.people.iter().filter(|p| p.len() >= 2).count();
        let shape = PkConfig {
            people_per_batch: cfg.people.min(eligible),
            images_per_person: cfg.images_per_person,
            negatives_per_batch: 0,
        };
        let Batch { indices, labels } = PkSampler::new(&data.people, shape, seed)?.next_batch();
        let images: Vec<&[u8]> = indices.iter().map(|&i| data.image(i)).collect();
        let valid = model.valid();
        let device = burn::module::Module::devices(&valid)
            .into_iter()
            .next()
            .unwrap_or_else(Device::flex);
        let e = embed(&valid, &images, data.side, false, &device, |_| {});
        let emb = floats(e.values, [images.len(), e.dim], &device);
        let found: Triplets = mine(miner, pairwise_squared_distances(emb), &labels, alpha, seed);
        let mut triplets: Vec<([usize; 3], [u32; 2])> = (0..found.len())
            .map(|t| {
                let (a, p, ng) = (found.anchors[t], found.positives[t], found.negatives[t]);
                (
                    [indices[a], indices[p], indices[ng]],
                    [labels[a], labels[ng]],
                )
            })
            .collect();
        triplets.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x0FF1_11E5));
        Ok(Self {
            triplets,
            next: 0,
            dropped: found.dropped,
        })
    }

    /// Triplets in the pool.
    pub fn len(&self) -> usize {
        self.triplets.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.triplets.is_empty()
    }

    /// The next `count` triplets (cycling) as a batch `[anchors, positives, negatives]` and
    /// their triplets in batch positions; `None` when the pool is empty.
    pub fn next_batch(&mut self, count: usize) -> Option<(Batch, Triplets)> {
        if self.triplets.is_empty() {
            return None;
        }
        let t = count.min(self.triplets.len());
        let chosen: Vec<_> = (0..t)
            .map(|k| self.triplets[(self.next + k) % self.triplets.len()])
            .collect();
        self.next = (self.next + t) % self.triplets.len();
        let mut indices = Vec::with_capacity(3 * t);
        let mut labels = Vec::with_capacity(3 * t);
        for role in 0..3 {
            for (ids, [anchor_label, negative_label]) in &chosen {
                indices.push(ids[role]);
                labels.push(if role == 2 {
                    *negative_label
                } else {
                    *anchor_label
                });
            }
        }
        let triplets = Triplets {
            anchors: (0..t).collect(),
            positives: (t..2 * t).collect(),
            negatives: (2 * t..3 * t).collect(),
            fallbacks: 0,
            dropped: 0,
        };
        Some((Batch { indices, labels }, triplets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EmbedderConfig;

    #[test]
    fn pooled_batches_hold_valid_triplets_in_the_documented_layout() {
        let device = Device::flex();
        let model = EmbedderConfig::tiny().init(&device);
        let side = 32;
        let people: Vec<Vec<usize>> = (0..6).map(|p| (p * 3..p * 3 + 3).collect()).collect();
        let pixels: Vec<u8> = (0..18 * side * side)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        let cfg = OfflineMiningConfig {
            every_steps: 10,
            people: 6,
            images_per_person: 3,
            triplets_per_batch: 4,
        };
        let data = TrainImages {
            pixels: &pixels,
            side,
            people,
        };
        let mut pool = TripletPool::mine(&cfg, Miner::BatchHard, 0.2, &model, &data, 1).unwrap();
        assert_eq!(pool.len(), 18, "batch-hard gives one triplet per anchor");
        let person = |i: usize| i / 3;
        for _ in 0..6 {
            let (batch, t) = pool.next_batch(cfg.triplets_per_batch).unwrap();
            assert_eq!(batch.indices.len(), 12);
            for k in 0..t.len() {
                let (a, p, n) = (t.anchors[k], t.positives[k], t.negatives[k]);
                let (ia, ip, inn) = (batch.indices[a], batch.indices[p], batch.indices[n]);
                assert_eq!(person(ia), person(ip));
                assert_ne!(ia, ip);
                assert_ne!(person(ia), person(inn));
                assert_eq!(batch.labels[a], batch.labels[p]);
                assert_ne!(batch.labels[a], batch.labels[n]);
            }
        }
    }
}
