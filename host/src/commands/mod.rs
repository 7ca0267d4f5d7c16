//! The `facegate` subcommands, as library functions over clap-parsed arguments (the binary only
//! parses and dispatches). Errors are `anyhow` here: these are the outermost layer.

pub mod bench;
pub mod bench_device;
pub mod bench_int8;
pub mod bench_onnx;
pub mod calibrate;
pub mod demo;
pub mod device;
pub mod embed;
pub mod emulate;
pub mod evaluate;
pub mod export;
pub mod flash;
pub mod keygen;
pub mod model_source;
pub mod quantize;
pub mod sign;
pub mod train;

use crate::data::{dataset_root, CacheSetting, Dataset, LoadOptions, PairsFile, Progress};
use crate::run::RunDir;
use crate::training::TrainingConfig;
use anyhow::{bail, Context, Result};
use burn::config::Config;
use facegate_shared::preprocess::PreprocessConfig;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Loads the dataset at `--data` / `FACEGATE_DATA` with `preprocess`, reporting skipped files.
pub fn load_dataset(
    data: Option<PathBuf>,
    preprocess: PreprocessConfig,
    no_cache: bool,
) -> Result<Dataset> {
    let root = dataset_root(data)?;
    let options = LoadOptions {
        config: preprocess,
        cache: if no_cache {
            CacheSetting::Off
        } else {
            CacheSetting::UserFolder
        },
        progress: Progress::Bar,
    };
    let dataset = Dataset::load(&root, &options)
        .with_context(|| format!("loading the dataset at {}", root.display()))?;
    eprintln!("dataset {}: {}", root.display(), dataset.summary());
    for failure in dataset.failures().iter().take(5) {
        eprintln!("  skipped {}: {}", failure.path.display(), failure.reason);
    }
    Ok(dataset)
}

/// A finished training run: its folder, configuration and the people it saw.
pub struct TrainedRun {
    /// The folder.
    pub run: RunDir,
    /// Its `config.json`.
    pub config: TrainingConfig,
    /// Its `people.txt`.
    pub people: BTreeSet<String>,
}

/// Opens a training run folder.
pub fn open_model(path: &Path) -> Result<TrainedRun> {
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("onnx") | Some("fgm")
    ) {
        bail!(
            "{}: this command needs a training run folder, not an exported model",
            path.display()
        );
    }
    let run = RunDir::open(path)?;
    let config_path = path.join("config.json");
    let config = TrainingConfig::load(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let people = run.people()?.into_iter().collect();
    Ok(TrainedRun {
        run,
        config,
        people,
    })
}

/// Refuses pairs whose people the model trained on: such an accuracy would not be honest.
pub fn refuse_overlap(
    people: &BTreeSet<String>,
    model: &Path,
    pairs: &PairsFile,
    pairs_path: &Path,
) -> Result<()> {
    let overlap = crate::data::overlapping_people(people, pairs);
    if !overlap.is_empty() {
        let shown: Vec<&str> = overlap.iter().take(5).map(String::as_str).collect();
        bail!(
            "refusing to evaluate: the model {} trained on {} of the people in {} (e.g. {}); \
             train with --exclude-pairs {} to hold them out",
            model.display(),
            overlap.len(),
            pairs_path.display(),
            shown.join(", "),
            pairs_path.display()
        );
    }
    Ok(())
}
