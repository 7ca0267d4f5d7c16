//! A whole training run on data this test generates itself (not LFW): the loss must fall and
//! the people must separate, on images the model never saw, within the normal test suite's time.

use burn::prelude::*;
use facegate::backend::ComputeDevice;
use facegate::data::synthetic::{synthetic_people, SyntheticConfig};
use facegate::data::{AugmentConfig, Dataset};
use facegate::inference::embed;
use facegate::model::EmbedderConfig;
use facegate::offline_mining::OfflineMiningConfig;
use facegate::run::RunDir;
use facegate::sampler::PkConfig;
use facegate::training::{train, LrSchedule, TrainImages, TrainingConfig};
use facegate_shared::distance::squared_l2;
use facegate_shared::preprocess::PreprocessConfig;
use std::time::Instant;

const PEOPLE: usize = 16;

/// burn's random initialisation draws from one process-wide generator per backend, so two
/// trainings that run at once interleave their draws: the tests here take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn config() -> TrainingConfig {
    TrainingConfig::new(EmbedderConfig::tiny())
        .with_augment(AugmentConfig::IDENTITY)
        .with_batch(PkConfig {
            people_per_batch: 8,
            images_per_person: 4,
            negatives_per_batch: 0,
        })
        .with_epochs(60)
        .with_warmup_steps(10)
        .with_learning_rate(3e-3)
        .with_schedule(LrSchedule::Constant)
        .with_log_every(25)
        .with_seed(7)
}

#[test]
fn training_on_generated_people_lowers_the_loss_and_separates_them() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let train_set = synthetic_set(PEOPLE, 10, 1);
    let cfg = config();
    let images = train_images(&train_set);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), false).unwrap();
    let mut logged = 0;
    let fresh = fresh_images();
    let refs: Vec<&[u8]> = fresh.iter().map(Vec::as_slice).collect();
    let device = Device::flex();
    let before = untrained_loss(&cfg, &refs, &device);
    let (model, summary) = train(&cfg, &images, &run, ComputeDevice::Flex, false, |_, _| {
        logged += 1
    })
    .unwrap();
    assert!(logged > 0);

    // Fresh images of the same people: the loss over every triplet must fall, and same-person
    // distances must sit well below different-person ones.
    let model = model.valid();
    let e = embed(&model, &refs, 32, false, &device, |_| {});
    let after = all_triplet_loss(&e, cfg.alpha);
    assert!(
        after < 0.5 * before,
        "mean triplet hinge over all triplets fell from {before:.4} to {after:.4} only"
    );
    let (mut same, mut diff) = (Vec::new(), Vec::new());
    for i in 0..refs.len() {
        for j in i + 1..refs.len() {
            let d = squared_l2(e.row(i), e.row(j)).unwrap();
            if i / 4 == j / 4 {
                same.push(d)
            } else {
                diff.push(d)
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    // Verification accuracy at the best single threshold over all pairs, balanced by class.
    let mut best = 0.0f32;
    for &t in same.iter().chain(&diff) {
        let tar = same.iter().filter(|&&d| d <= t).count() as f32 / same.len() as f32;
        let trr = diff.iter().filter(|&&d| d > t).count() as f32 / diff.len() as f32;
        best = best.max(0.5 * (tar + trr));
    }
    assert!(
        mean(&same) * 2.0 < mean(&diff),
        "mean same {:.3} vs different {:.3}",
        mean(&same),
        mean(&diff)
    );
    assert!(best > 0.9, "balanced verification accuracy {best:.3}");
    assert!(run.path().join("model.bpk").is_file());
    assert!(summary.steps > 0);
    let elapsed = started.elapsed().as_secs_f32();
    assert!(elapsed < 60.0, "took {elapsed:.1} s");
    eprintln!(
        "all-triplet loss {before:.4} → {after:.4}; same {:.3} diff {:.3}; balanced accuracy {best:.3}; {elapsed:.1} s",
        mean(&same),
        mean(&diff)
    );
}

/// `people` generated people with `images` images each, as 32 × 32 in-memory data.
fn synthetic_set(people: usize, images: usize, seed: u64) -> Dataset {
    let preprocess = PreprocessConfig {
        crop: 32,
        out_side: 32,
    };
    let synth = SyntheticConfig::default();
    Dataset::in_memory(
        preprocess,
        synthetic_people(&synth, people, images, seed, seed),
    )
    .unwrap()
}

fn train_images(set: &Dataset) -> TrainImages<'_> {
    TrainImages {
        pixels: set.all_pixels(),
        side: 32,
        people: set.images_by_person(),
    }
}

/// Four fresh images of each of the `PEOPLE` training people (the seed-1 identities).
fn fresh_images() -> Vec<Vec<u8>> {
    let fresh = synthetic_people(&SyntheticConfig::default(), PEOPLE, 4, 1, 99);
    fresh.into_iter().flat_map(|(_, v)| v).collect()
}

/// The all-triplet loss of `images` under the model `cfg` initialises, seeded as `train` seeds it.
fn untrained_loss(cfg: &TrainingConfig, images: &[&[u8]], device: &Device) -> f32 {
    device.seed(cfg.seed);
    let untrained = cfg.model.init(device);
    all_triplet_loss(
        &embed(&untrained, images, 32, false, device, |_| {}),
        cfg.alpha,
    )
}

/// Mean FaceNet hinge over every (anchor, positive, negative) of 4-image groups, zeros included.
fn all_triplet_loss(e: &facegate::inference::Embeddings, alpha: f32) -> f32 {
    let (mut sum, mut n) = (0.0f32, 0usize);
    for a in 0..e.len() {
        for p in 0..e.len() {
            if p == a || p / 4 != a / 4 {
                continue;
            }
            for neg in (0..e.len()).filter(|&k| k / 4 != a / 4) {
                let d_ap = squared_l2(e.row(a), e.row(p)).unwrap();
                let d_an = squared_l2(e.row(a), e.row(neg)).unwrap();
                sum += facegate_shared::loss::triplet_hinge(d_ap, d_an, alpha);
                n += 1;
            }
        }
    }
    sum / n as f32
}

#[test]
fn offline_mining_trains_too() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let set = synthetic_set(PEOPLE, 10, 1);
    let images = train_images(&set);
    let cfg = config().with_offline_mining(Some(OfflineMiningConfig {
        every_steps: 20,
        people: PEOPLE,
        images_per_person: 10,
        triplets_per_batch: 12,
    }));
    let fresh = fresh_images();
    let refs: Vec<&[u8]> = fresh.iter().map(Vec::as_slice).collect();
    let device = Device::flex();
    let before = untrained_loss(&cfg, &refs, &device);
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::create(dir.path(), false).unwrap();
    let (model, _) = train(&cfg, &images, &run, ComputeDevice::Flex, false, |_, _| {}).unwrap();
    let after = all_triplet_loss(
        &embed(&model.valid(), &refs, 32, false, &device, |_| {}),
        cfg.alpha,
    );
    assert!(
        after < 0.5 * before,
        "offline mining: {before:.4} → {after:.4}"
    );
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn resuming_from_a_checkpoint_gives_the_uninterrupted_run() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let set = synthetic_set(10, 6, 3);
    let images = train_images(&set);
    let probe: Vec<&[u8]> = (0..set.len()).map(|i| set.pixels(i).unwrap()).collect();
    let device = Device::flex();
    let embeddings = |m: &facegate::model::Embedder| {
        embed(&m.valid(), &probe, 32, false, &device, |_| {}).values
    };
    let cfg = config()
        .with_epochs(4)
        .with_augment(AugmentConfig::default());
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = RunDir::create(straight_dir.path(), false).unwrap();
    let (a, _) = train(
        &cfg,
        &images,
        &straight,
        ComputeDevice::Flex,
        false,
        |_, _| {},
    )
    .unwrap();

    // Stop after two epochs; "resuming" a finished run reloads it unchanged (weights, BatchNorm
    // running statistics), and resuming with more epochs continues it exactly.
    let split_dir = tempfile::tempdir().unwrap();
    let split = RunDir::create(split_dir.path(), false).unwrap();
    let first_half = cfg.clone().with_epochs(2);
    let (h, _) = train(
        &first_half,
        &images,
        &split,
        ComputeDevice::Flex,
        false,
        |_, _| {},
    )
    .unwrap();
    let split = RunDir::create(split_dir.path(), true).unwrap();
    let (reloaded, _) = train(
        &first_half,
        &images,
        &split,
        ComputeDevice::Flex,
        true,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(max_abs_diff(&embeddings(&h), &embeddings(&reloaded)), 0.0);
    let (b, summary) = train(&cfg, &images, &split, ComputeDevice::Flex, true, |_, _| {}).unwrap();
    // 60 images in batches of 8 × 4 = 32: two steps per epoch.
    assert_eq!(summary.steps, 4 * 2);
    let diff = max_abs_diff(&embeddings(&a), &embeddings(&b));
    assert!(diff < 1e-6, "resumed run differs by {diff}");
}
