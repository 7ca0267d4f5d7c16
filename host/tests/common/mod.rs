//! Set-up shared by the ONNX tests. (Each test binary uses a part of it.)
#![allow(dead_code)]

use burn::prelude::*;
use facegate::backend::ComputeDevice;
use facegate::data::synthetic::{synthetic_people, SyntheticConfig};
use facegate::data::AugmentConfig;
use facegate::model::{Embedder, EmbedderConfig};
use facegate::run::{RunDir, RunInfo};
use facegate::sampler::PkConfig;
use facegate::training::{train, LrSchedule, TrainImages, TrainingConfig};
use std::path::Path;

/// Writes a run folder holding a small model with every operator of the device model, trained
/// briefly (36 steps, under a second) on 12 generated people named `trainee_NN` — other people
/// than any test's evaluation ones — so that its BatchNorm statistics are its own and distances
/// between different images spread. Returns its configuration and the model as loaded back.
pub fn write_trained_run(dir: &Path) -> (TrainingConfig, Embedder) {
    let config = TrainingConfig::new(EmbedderConfig::tiny_residual())
        .with_preprocess_crop(32)
        .with_augment(AugmentConfig::IDENTITY)
        .with_batch(PkConfig {
            people_per_batch: 8,
            images_per_person: 4,
            negatives_per_batch: 0,
        })
        .with_epochs(12)
        .with_warmup_steps(5)
        .with_learning_rate(3e-3)
        .with_schedule(LrSchedule::Constant)
        .with_seed(3);
    let trainees = synthetic_people(&SyntheticConfig::default(), 12, 8, 77, 77);
    let names: Vec<String> = (0..trainees.len())
        .map(|p| format!("trainee_{p:02}"))
        .collect();
    let pixels: Vec<u8> = trainees.iter().flat_map(|(_, v)| v.concat()).collect();
    let images = TrainImages {
        pixels: &pixels,
        side: 32,
        people: (0..12).map(|p| (p * 8..p * 8 + 8).collect()).collect(),
    };
    let run = RunDir::create(dir, false).unwrap();
    config.save(dir.join("config.json")).unwrap();
    run.write_json(
        "run.json",
        &RunInfo {
            git_revision: "test123".into(),
            ..RunInfo::default()
        },
    )
    .unwrap();
    run.write_people(&names).unwrap();
    let (model, _) = train(
        &config,
        &images,
        &run,
        ComputeDevice::Flex,
        false,
        |_, _| {},
    )
    .unwrap();
    run.save_final_model(&model).unwrap();
    let loaded = run.load_model(&config.model, &Device::flex()).unwrap();
    (config, loaded)
}

/// Whether ONNX Runtime is available (`ORT_DYLIB_PATH`); under CI (`CI` set) its absence is a
/// failure, elsewhere the caller skips its ONNX Runtime part with a message.
pub fn ort_available() -> bool {
    match facegate::onnx::ort_runner::ort_library() {
        Ok(_) => true,
        Err(e) if std::env::var_os("CI").is_some() => panic!("CI needs ONNX Runtime: {e}"),
        Err(e) => {
            println!("SKIPPED the ONNX Runtime part: {e}");
            false
        }
    }
}

/// Metadata for a test export of a `side`² model with `dim`-long embeddings.
pub fn test_metadata(
    side: u16,
    dim: usize,
    threshold: f32,
) -> facegate::onnx::metadata::OnnxMetadata {
    facegate::onnx::metadata::OnnxMetadata {
        preprocess: facegate_shared::preprocess::PreprocessConfig {
            crop: side,
            out_side: side,
        },
        embedding_dim: dim,
        threshold,
        target_far: 1e-3,
        measured_far: 1e-3,
        flip_averaged: false,
        calibration_set: "test".into(),
        config_sha256: String::new(),
        git_revision: String::new(),
        people_count: 0,
        people_sha256: facegate::onnx::metadata::people_sha256(&Default::default()),
    }
}

/// The LFW images folder, or `None` with a "SKIPPED" message when it is absent.
pub fn lfw_root() -> Option<std::path::PathBuf> {
    facegate::data::lfw_for_tests()
}
