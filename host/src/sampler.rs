//! The P×K batch sampler (FaceNet-style): each batch shows P distinct people, K images each.
//!
//! - **Eligible people** have at least 2 images: only they form the P groups, so every image of
//!   a group has a positive in the batch. People with 2 ≤ n < K images give all n, then K − n
//!   draws with replacement, counted in [`SamplerStats`].
//! - **Singletons** (one image) never form a group. With `negatives_per_batch > 0`, that many
//!   distinct singleton images are appended to each batch as extra negatives, each with its own
//!   label.
//! - **Order**: people are taken from a reshuffled cycle of eligible people, and each person's
//!   images from that person's own reshuffled cycle, so within a cycle every person (image)
//!   comes up once before any comes up twice. A batch never repeats a person, nor an image of a
//!   person with at least K images, even across a reshuffle.
//! - **Epoch**: one epoch is `ceil(E / (P × K))` batches, `E` the number of images of eligible
//!   people: as many image slots as there are images to learn from. Over an epoch every eligible
//!   person is picked the same number of times, ±1.
//! - **Determinism**: all draws come from one ChaCha8 RNG seeded at construction.
//!
//! A [`Batch`] lists the P groups of K consecutive images, then the extra negatives.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::Dataset;

/// Why a sampler could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// P or K is below 2 (a batch needs negatives and positives).
    #[error("{field} is {value}, must be at least 2")]
    TooSmall {
        /// `people_per_batch` or `images_per_person`.
        field: &'static str,
        /// Its value.
        value: usize,
    },
    /// Fewer people with two or more images than P.
    #[error("{eligible} people have two or more images, a batch needs {needed}")]
    TooFewPeople {
        /// People with at least two images.
        eligible: usize,
        /// P.
        needed: usize,
    },
    /// Fewer single-image people than extra negatives per batch.
    #[error("{available} single-image people, a batch asks for {needed} extra negatives")]
    TooFewSingletons {
        /// People with exactly one image.
        available: usize,
        /// `negatives_per_batch`.
        needed: usize,
    },
    /// More people than `u32` labels.
    #[error("{0} people do not fit u32 labels")]
    TooManyPeople(usize),
}

/// Batch shape; part of the training configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PkConfig {
    /// P: distinct people per batch.
    pub people_per_batch: usize,
    /// K: images per person.
    pub images_per_person: usize,
    /// Single-image people appended to each batch as extra negatives.
    pub negatives_per_batch: usize,
}

impl Default for PkConfig {
    /// 45 × 2 = 90 images, no extra negatives.
    fn default() -> Self {
        Self {
            people_per_batch: 45,
            images_per_person: 2,
            negatives_per_batch: 0,
        }
    }
}

/// One batch: dataset image indices and their labels (person indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Image indices: P groups of K, then the extra negatives.
    pub indices: Vec<usize>,
    /// The person index of each image.
    pub labels: Vec<u32>,
}

/// Counters since construction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SamplerStats {
    /// Batches drawn.
    pub batches: u64,
    /// Groups that needed draws with replacement (their person has fewer than K images).
    pub groups_with_replacement: u64,
    /// Images drawn with replacement.
    pub images_with_replacement: u64,
}

/// A reshuffled cycle over items.
#[derive(Debug, Clone)]
struct Cycle {
    items: Vec<usize>,
    next: usize,
}

impl Cycle {
    fn new(items: Vec<usize>) -> Self {
        let next = items.len();
        Self { items, next }
    }

    /// Appends `min(k, items.len())` distinct items. On a reshuffle, the items already taken by
    /// this call go to the end of the new cycle.
    fn take_distinct(&mut self, k: usize, rng: &mut ChaCha8Rng, out: &mut Vec<usize>) {
        let k = k.min(self.items.len());
        let start = out.len();
        while out.len() - start < k {
            if self.next >= self.items.len() {
                self.items.shuffle(rng);
                let taken = &out[start..];
                let (mut fresh, repeated): (Vec<_>, Vec<_>) =
                    self.items.iter().partition(|i| !taken.contains(i));
                fresh.extend(repeated);
                self.items = fresh;
                self.next = 0;
            }
            out.push(self.items[self.next]);
            self.next += 1;
        }
    }
}

/// The P×K sampler; see the module documentation.
#[derive(Debug, Clone)]
pub struct PkSampler {
    config: PkConfig,
    rng: ChaCha8Rng,
    /// Each person's image cycle (only eligible people's are used).
    images: Vec<Cycle>,
    eligible: Cycle,
    /// Cycle over positions in `singleton_images`.
    singletons: Cycle,
    /// (image, label) of each single-image person.
    singleton_images: Vec<(usize, u32)>,
    eligible_images: usize,
    short_people: usize,
    stats: SamplerStats,
}

impl PkSampler {
    /// A sampler over `people[p]` = image indices of person `p` (label `p`), seeded by `seed`.
    pub fn new(people: &[Vec<usize>], config: PkConfig, seed: u64) -> Result<Self, SamplerError> {
        let (p, k) = (config.people_per_batch, config.images_per_person);
        for (field, value) in [("people_per_batch", p), ("images_per_person", k)] {
            if value < 2 {
                return Err(SamplerError::TooSmall { field, value });
            }
        }
        if u32::try_from(people.len()).is_err() {
            return Err(SamplerError::TooManyPeople(people.len()));
        }
        let eligible: Vec<usize> = (0..people.len())
            .filter(|&i| people[i].len() >= 2)
            .collect();
        if eligible.len() < p {
            return Err(SamplerError::TooFewPeople {
                eligible: eligible.len(),
                needed: p,
            });
        }
        let singleton_images: Vec<(usize, u32)> = (0..people.len())
            .filter(|&i| people[i].len() == 1)
            .map(|i| (people[i][0], i as u32))
            .collect();
        let needed = config.negatives_per_batch;
        if needed > 0 && singleton_images.len() < needed {
            return Err(SamplerError::TooFewSingletons {
                available: singleton_images.len(),
                needed,
            });
        }
        Ok(Self {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            images: people.iter().cloned().map(Cycle::new).collect(),
            eligible_images: eligible.iter().map(|&i| people[i].len()).sum(),
            short_people: eligible.iter().filter(|&&i| people[i].len() < k).count(),
            eligible: Cycle::new(eligible),
            singletons: Cycle::new((0..singleton_images.len()).collect()),
            singleton_images,
            stats: SamplerStats::default(),
        })
    }

    /// A sampler over a dataset's people (labels are [`Dataset::people`] indices).
    pub fn from_dataset(
        dataset: &Dataset,
        config: PkConfig,
        seed: u64,
    ) -> Result<Self, SamplerError> {
        Self::new(&dataset.images_by_person(), config, seed)
    }

    /// The batch shape.
    pub fn config(&self) -> PkConfig {
        self.config
    }
    /// People with at least two images (the possible anchors).
    pub fn eligible_people(&self) -> usize {
        self.eligible.items.len()
    }
    /// Eligible people with fewer than K images: always sampled with replacement.
    pub fn short_people(&self) -> usize {
        self.short_people
    }
    /// People with exactly one image.
    pub fn singleton_people(&self) -> usize {
        self.singletons.items.len()
    }
    /// Images of eligible people (`E` of the epoch definition).
    pub fn eligible_images(&self) -> usize {
        self.eligible_images
    }
    /// `ceil(E / (P × K))`.
    pub fn batches_per_epoch(&self) -> usize {
        let per_batch = self.config.people_per_batch * self.config.images_per_person;
        self.eligible_images.div_ceil(per_batch)
    }
    /// Counters since construction.
    pub fn stats(&self) -> SamplerStats {
        self.stats
    }

    /// Draws the next batch.
    pub fn next_batch(&mut self) -> Batch {
        let (p, k) = (self.config.people_per_batch, self.config.images_per_person);
        let mut people = Vec::with_capacity(p);
        self.eligible.take_distinct(p, &mut self.rng, &mut people);
        let mut indices = Vec::with_capacity(p * k + self.config.negatives_per_batch);
        let mut labels = Vec::with_capacity(indices.capacity());
        for person in people {
            let cycle = &mut self.images[person];
            let n = cycle.items.len();
            cycle.take_distinct(n.min(k), &mut self.rng, &mut indices);
            if n < k {
                self.stats.groups_with_replacement += 1;
                self.stats.images_with_replacement += (k - n) as u64;
                for _ in n..k {
                    indices.push(cycle.items[self.rng.random_range(0..n)]);
                }
            }
            labels.resize(indices.len(), person as u32);
        }
        let count = self.config.negatives_per_batch;
        let mut negatives = Vec::with_capacity(count);
        self.singletons
            .take_distinct(count, &mut self.rng, &mut negatives);
        for (image, label) in negatives.into_iter().map(|n| self.singleton_images[n]) {
            indices.push(image);
            labels.push(label);
        }
        self.stats.batches += 1;
        Batch { indices, labels }
    }

    /// Draws one epoch: [`PkSampler::batches_per_epoch`] batches.
    pub fn epoch(&mut self) -> Vec<Batch> {
        (0..self.batches_per_epoch())
            .map(|_| self.next_batch())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    /// Person `p` owns `sizes[p]` consecutive image indices.
    fn people(sizes: &[usize]) -> Vec<Vec<usize>> {
        let mut next = 0;
        sizes
            .iter()
            .map(|&n| {
                next += n;
                (next - n..next).collect()
            })
            .collect()
    }

    fn config(p: usize, k: usize, negatives: usize) -> PkConfig {
        PkConfig {
            people_per_batch: p,
            images_per_person: k,
            negatives_per_batch: negatives,
        }
    }

    const SIZES: &[usize] = &[1, 5, 2, 1, 9, 3, 0, 4, 1, 2, 6];

    #[test]
    fn every_batch_is_p_distinct_eligible_people_times_k() {
        let all = people(SIZES);
        let owner: HashMap<usize, usize> = all
            .iter()
            .enumerate()
            .flat_map(|(p, imgs)| imgs.iter().map(move |&i| (i, p)))
            .collect();
        let mut sampler = PkSampler::new(&all, config(4, 3, 2), 7).unwrap();
        for _ in 0..50 {
            let batch = sampler.next_batch();
            assert_eq!(
                (batch.indices.len(), batch.labels.len()),
                (4 * 3 + 2, 4 * 3 + 2)
            );
            for (&i, &label) in batch.indices.iter().zip(&batch.labels) {
                assert_eq!(owner[&i], label as usize, "image {i} labelled {label}");
            }
            let groups: Vec<u32> = batch.labels[..12].chunks(3).map(|g| g[0]).collect();
            assert_eq!(groups.iter().collect::<BTreeSet<_>>().len(), 4, "{batch:?}");
            for (g, &label) in batch.labels[..12].chunks(3).zip(&groups) {
                assert!(g.iter().all(|&l| l == label));
                assert!(SIZES[label as usize] >= 2, "person {label} is no anchor");
            }
            for group in batch.indices[..12].chunks(3) {
                if SIZES[owner[&group[0]]] >= 3 {
                    assert_eq!(group.iter().collect::<BTreeSet<_>>().len(), 3, "{group:?}");
                }
            }
            let negatives = &batch.labels[12..];
            assert!(negatives.iter().all(|&l| SIZES[l as usize] == 1));
            assert_ne!(negatives[0], negatives[1]);
        }
    }

    #[test]
    fn same_seed_same_batches_other_seed_other_batches() {
        let all = people(SIZES);
        let run = |seed| {
            let mut s = PkSampler::new(&all, config(3, 2, 1), seed).unwrap();
            (0..20).map(|_| s.next_batch()).collect::<Vec<_>>()
        };
        assert_eq!(run(11), run(11));
        assert_ne!(run(11), run(12));
    }

    #[test]
    fn short_people_are_drawn_with_replacement_and_counted() {
        let all = people(&[2, 2, 3]);
        let mut sampler = PkSampler::new(&all, config(3, 4, 0), 1).unwrap();
        assert_eq!((sampler.eligible_people(), sampler.short_people()), (3, 3));
        for _ in 0..10 {
            let batch = sampler.next_batch();
            for (group, labels) in batch.indices.chunks(4).zip(batch.labels.chunks(4)) {
                let distinct = group.iter().collect::<BTreeSet<_>>();
                let owned = all[labels[0] as usize].len();
                assert_eq!(distinct.len(), owned, "all of a short person's images");
            }
        }
        let stats = sampler.stats();
        assert_eq!(stats.batches, 10);
        assert_eq!(stats.groups_with_replacement, 30);
        assert_eq!(stats.images_with_replacement, 10 * (2 + 2 + 1));
    }

    #[test]
    fn epoch_length_and_balanced_people() {
        let all = people(SIZES);
        let mut sampler = PkSampler::new(&all, config(3, 2, 0), 3).unwrap();
        let eligible_images: usize = SIZES.iter().filter(|&&n| n >= 2).sum();
        assert_eq!(sampler.eligible_images(), eligible_images);
        assert_eq!(sampler.batches_per_epoch(), eligible_images.div_ceil(6));
        let epoch = sampler.epoch();
        assert_eq!(epoch.len(), sampler.batches_per_epoch());
        let mut picks: HashMap<u32, usize> = HashMap::new();
        for batch in &epoch {
            for g in batch.labels.chunks(2) {
                *picks.entry(g[0]).or_default() += 1;
            }
        }
        assert_eq!(picks.len(), sampler.eligible_people());
        let (lo, hi) = (picks.values().min().unwrap(), picks.values().max().unwrap());
        assert!(hi - lo <= 1, "{picks:?}");
    }

    #[test]
    fn each_persons_images_come_up_once_per_cycle() {
        let all = people(&[6, 6]);
        let mut sampler = PkSampler::new(&all, config(2, 2, 0), 5).unwrap();
        let seen: Vec<usize> = (0..3).flat_map(|_| sampler.next_batch().indices).collect();
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 12);
    }

    /// ((P, K, negatives), what the error says).
    const REFUSALS: &[((usize, usize, usize), &str)] = &[
        (
            (8, 2, 0),
            "7 people have two or more images, a batch needs 8",
        ),
        ((2, 1, 0), "images_per_person is 1, must be at least 2"),
        ((1, 2, 0), "people_per_batch is 1, must be at least 2"),
        (
            (2, 2, 4),
            "3 single-image people, a batch asks for 4 extra negatives",
        ),
    ];

    #[test]
    fn refuses_impossible_batches() {
        let all = people(SIZES);
        for &((p, k, n), want) in REFUSALS {
            let err = PkSampler::new(&all, config(p, k, n), 0).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }
}
