//! `facegate train`: configuration, identity-disjoint split, run folder, progress bar.

use super::load_dataset;
use crate::backend::ComputeDevice;
use crate::data::{held_out_people, Holdout, PairsFile};
use crate::diagnostics::StepStats;
use crate::eval::plots::{plot_training, TrainLogRow};
use crate::loss::LossKind;
use crate::mining::Miner;
use crate::model::EmbedderConfig;
use crate::run::{git_revision, RunDir, RunInfo};
use crate::training::{self, OptimizerKind, TrainImages, TrainingConfig};
use anyhow::{bail, Context, Result};
use burn::config::Config;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Arguments of `facegate train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Dataset root, one folder per person (default: $FACEGATE_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to create (or continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    /// A config.json to start from (defaults otherwise); the flags below override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Leave out of training every person named in this LFW pairs file.
    #[arg(long)]
    pub exclude_pairs: Option<PathBuf>,
    /// With --exclude-pairs on a View 2 file: leave out only fold K's people (1-based, 1..=10).
    #[arg(long, requires = "exclude_pairs")]
    pub fold: Option<usize>,
    /// Continue the run in --out from its last checkpoint (its config.json wins, but --epochs).
    #[arg(long)]
    pub resume: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: ComputeDevice,
    /// Decode every image again instead of using the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Epochs (passes over the training images).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// The loss.
    #[arg(long, value_enum)]
    pub loss: Option<LossKind>,
    /// The triplet miner.
    #[arg(long, value_enum)]
    pub miner: Option<Miner>,
    /// The optimiser.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// People per batch (P).
    #[arg(long)]
    pub people_per_batch: Option<usize>,
    /// Images per person (K).
    #[arg(long)]
    pub images_per_person: Option<usize>,
    /// FaceNet's margin α.
    #[arg(long)]
    pub alpha: Option<f32>,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// FaceNet's offline triplet generation: every 50 steps mine 300 people × 4 images with the
    /// current model and train on those triplets (the config file sets other amounts).
    #[arg(long)]
    pub offline_mining: bool,
}

impl TrainArgs {
    fn config(&self) -> Result<TrainingConfig> {
        let mut cfg = match &self.config {
            Some(path) => TrainingConfig::load(path)
                .with_context(|| format!("reading config {}", path.display()))?,
            None => TrainingConfig::new(EmbedderConfig::default_device()),
        };
        if let Some(v) = self.epochs {
            cfg.epochs = v;
        }
        if let Some(v) = self.loss {
            cfg.loss = v;
        }
        if let Some(v) = self.miner {
            cfg.miner = v;
        }
        if let Some(v) = self.optimizer {
            cfg.optimizer = v;
        }
        if let Some(v) = self.lr {
            cfg.learning_rate = v;
        }
        if let Some(v) = self.people_per_batch {
            cfg.batch.people_per_batch = v;
        }
        if let Some(v) = self.images_per_person {
            cfg.batch.images_per_person = v;
        }
        if let Some(v) = self.alpha {
            cfg.alpha = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if self.offline_mining && cfg.offline_mining.is_none() {
            cfg.offline_mining = Some(Default::default());
        }
        Ok(cfg)
    }
}

/// Runs `facegate train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let mut cfg = args.config()?;
    if args.resume && args.out.join("config.json").is_file() {
        let epochs = cfg.epochs;
        cfg = TrainingConfig::load(args.out.join("config.json"))
            .context("reading the run's config.json")?;
        if args.epochs.is_some() {
            cfg.epochs = epochs;
        }
    }
    let dataset = load_dataset(args.data.clone(), cfg.preprocess(), args.no_cache)?;
    let mut excluded = Vec::new();
    let dataset = match &args.exclude_pairs {
        Some(path) => {
            let pairs = PairsFile::read(path)?;
            let holdout = match args.fold {
                Some(0) => bail!("--fold counts from 1 (LFW's folds are 1..=10)"),
                Some(k) => Holdout::Fold(k - 1),
                None => Holdout::AllPairs,
            };
            let people = held_out_people(&pairs, holdout)?;
            let kept = crate::data::exclude_people(&dataset, &people);
            let label = match args.fold {
                Some(k) => format!("{} (fold {k})", path.display()),
                None => path.display().to_string(),
            };
            eprintln!(
                "excluding the {} people of {label}: training on {}",
                people.len(),
                kept.summary()
            );
            excluded.push(label);
            kept
        }
        None => dataset,
    };
    let images = TrainImages {
        pixels: dataset.all_pixels(),
        side: dataset.side(),
        people: dataset.images_by_person(),
    };
    // Checked before the run folder exists: a dataset that cannot be trained on leaves nothing.
    let steps_per_epoch = training::steps_per_epoch(&cfg, &images).with_context(|| {
        format!(
            "dataset {} cannot be trained on ({})",
            dataset.root().display(),
            dataset.summary()
        )
    })?;
    let run = RunDir::create(&args.out, args.resume)?;
    run.write_json("config.json", &cfg)?;
    let names: Vec<String> = dataset.people().iter().map(|p| p.name.clone()).collect();
    run.write_people(&names)?;
    run.write_json(
        "run.json",
        &RunInfo {
            git_revision: git_revision(),
            dataset: dataset.root().to_path_buf(),
            dataset_fingerprint: dataset.fingerprint().hex(),
            excluded,
            images: dataset.len(),
            people: dataset.people().len(),
            skipped_images: dataset.failures().len(),
            seed: cfg.seed,
        },
    )?;
    let total = (steps_per_epoch * cfg.epochs) as u64;
    eprintln!(
        "{} epochs × {steps_per_epoch} steps of {}×{} images, {:?} loss, {:?} miner, on {:?}",
        cfg.epochs,
        cfg.batch.people_per_batch,
        cfg.batch.images_per_person,
        cfg.loss,
        cfg.miner,
        args.device
    );
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps (eta {eta}) {msg}",
        )
        .expect("a valid progress template")
        .progress_chars("=> "),
    );
    let on_log = |s: &StepStats, warning: Option<&str>| {
        bar.set_position(s.step as u64);
        bar.set_message(format!(
            "ep {} loss {:.4} active {:.2} d_ap {:.3} d_an {:.3} {:.0} img/s",
            s.epoch + 1,
            s.loss,
            s.active_fraction,
            s.mean_d_ap,
            s.mean_d_an,
            s.images_per_second
        ));
        if let Some(w) = warning {
            // Not `bar.println`: that is dropped when the bar is hidden (stderr not a terminal),
            // and a collapse warning must reach logs too.
            bar.suspend(|| eprintln!("step {}: {w}", s.step));
        }
    };
    let (_, summary) = training::train(&cfg, &images, &run, args.device, args.resume, on_log)?;
    bar.finish();
    run.write_json("summary.json", &summary)?;
    let rows: Vec<TrainLogRow> = run.log();
    if !rows.is_empty() {
        plot_training(&run.path().join("training.png"), &rows, "Training")?;
    }
    eprintln!(
        "done: {} steps, final loss {:.4}, {:.0} images/s; weights in {}",
        summary.steps,
        summary.final_loss,
        summary.images_per_second,
        run.path().join("model.bpk").display()
    );
    Ok(())
}
