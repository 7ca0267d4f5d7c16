//! `facegate train`: the training loop.
//!
//! Every hyper-parameter is in [`TrainingConfig`], saved as `config.json` in the run folder beside
//! the weights. One step: sample a P×K batch, augment, embed, compute the batch's squared-distance
//! matrix, mine triplets on it (detached), compute the loss on the mined distances, back-propagate
//! and update. A checkpoint is written at the end of every epoch (temp file, then rename) and
//! `--resume` continues from it.

use crate::backend::ComputeDevice;
use crate::data::augment::{apply, AugmentConfig, AugmentError, AugmentParams};
use crate::diagnostics::{batch_stats, FailureWatch, StepStats};
use crate::loss::{self, LossKind, TripletDistances};
use crate::mining::{mine, Miner, Triplets};
use crate::model::{Embedder, EmbedderConfig};
use crate::offline_mining::{OfflineMiningConfig, TripletPool};
use crate::run::{Checkpoint, RunDir, RunError};
use crate::sampler::{PkConfig, PkSampler, SamplerError};
use crate::tensors::{floats, pairwise_squared_distances, to_f32};
use burn::optim::{AdaGradConfig, AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba).
    Adam,
    /// Plain stochastic gradient descent.
    Sgd,
    /// AdaGrad, as FaceNet used.
    AdaGrad,
}

/// Learning-rate schedule over the whole run, after a linear warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// Cosine decay from the base rate to `base × final_fraction`.
    Cosine {
        /// Fraction of the base rate reached at the last step.
        final_fraction: f64,
    },
    /// Multiply by `factor` every `every_epochs` epochs.
    Step {
        /// Epochs between decays.
        every_epochs: usize,
        /// Multiplier at each decay.
        factor: f64,
    },
}

/// Every hyper-parameter of a run.
#[derive(Config, Debug)]
pub struct TrainingConfig {
    /// The embedder's shapes.
    pub model: EmbedderConfig,
    /// Side of the centre crop taken from each source image before resizing to the model input
    /// (see `facegate_shared::preprocess`); 120 suits LFW deep-funneled 250×250 images.
    #[config(default = 120)]
    pub preprocess_crop: u16,
    /// Augmentation amounts (host only).
    #[config(default = "AugmentConfig::default()")]
    pub augment: AugmentConfig,
    /// Batch shape: P people × K images (+ optional single-image negatives).
    #[config(default = "PkConfig::default()")]
    pub batch: PkConfig,
    /// Passes over the training images (see [`PkSampler`] for the definition of an epoch).
    #[config(default = 20)]
    pub epochs: usize,
    /// The loss.
    #[config(default = "LossKind::Triplet")]
    pub loss: LossKind,
    /// The triplet miner (unused by the contrastive loss, which takes every pair).
    #[config(default = "Miner::SemiHard")]
    pub miner: Miner,
    /// FaceNet's margin α on squared distances.
    #[config(default = 0.2)]
    pub alpha: f32,
    /// DrLIM's margin m on Euclidean distances.
    #[config(default = 1.0)]
    pub contrastive_margin: f32,
    /// The optimiser.
    #[config(default = "OptimizerKind::Adam")]
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// The schedule.
    #[config(default = "LrSchedule::Cosine { final_fraction: 0.02 }")]
    pub schedule: LrSchedule,
    /// Linear warm-up steps.
    #[config(default = 100)]
    pub warmup_steps: usize,
    /// L2 weight decay.
    #[config(default = 5e-5)]
    pub weight_decay: f32,
    /// Seed of every random choice (init, sampling, augmentation, mining).
    #[config(default = 42)]
    pub seed: u64,
    /// FaceNet's offline triplet generation instead of online mining (see
    /// [`crate::offline_mining`]); `None` mines online in every batch.
    #[config(default = "None")]
    pub offline_mining: Option<OfflineMiningConfig>,
    /// Steps between log lines (and `log.jsonl` rows).
    #[config(default = 20)]
    pub log_every: usize,
}

impl TrainingConfig {
    /// The preprocessing this run trains (and must be evaluated) with.
    pub fn preprocess(&self) -> facegate_shared::preprocess::PreprocessConfig {
        facegate_shared::preprocess::PreprocessConfig {
            crop: self.preprocess_crop,
            out_side: self.model.input_side as u16,
        }
    }

    /// The configured optimiser.
    pub fn build_optimizer(&self) -> ModuleOptimizer {
        let decay = burn::optim::decay::WeightDecayConfig::new(self.weight_decay);
        match self.optimizer {
            OptimizerKind::Adam => AdamConfig::new().with_weight_decay(Some(decay)).init(),
            OptimizerKind::Sgd => SgdConfig::new()
                .with_weight_decay(Some(decay))
                .with_momentum(Some(burn::optim::momentum::MomentumConfig::new()))
                .init(),
            OptimizerKind::AdaGrad => AdaGradConfig::new().with_weight_decay(Some(decay)).init(),
        }
    }

    /// The learning rate at `step` of `total_steps`.
    pub fn learning_rate_at(&self, step: usize, steps_per_epoch: usize, total_steps: usize) -> f64 {
        let base = self.learning_rate;
        if step < self.warmup_steps {
            return base * (step + 1) as f64 / self.warmup_steps as f64;
        }
        match self.schedule {
            LrSchedule::Constant => base,
            LrSchedule::Cosine { final_fraction } => {
                let span = total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let t = ((step - self.warmup_steps) as f64 / span).min(1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                base * (final_fraction + (1.0 - final_fraction) * cos)
            }
            LrSchedule::Step {
                every_epochs,
                factor,
            } => {
                let epoch = step / steps_per_epoch.max(1);
                base * factor.powi((epoch / every_epochs.max(1)) as i32)
            }
        }
    }
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading or writing the run folder failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The data cannot fill the configured batches.
    #[error("cannot build P×K batches: {0}")]
    Sampler(#[from] SamplerError),
    /// The augmentation settings are invalid.
    #[error("augmentation: {0}")]
    Augment(#[from] AugmentError),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: loss = {loss}; lower the learning rate")]
    Diverged {
        /// Global step.
        step: usize,
        /// The loss value.
        loss: f32,
    },
}

/// The images a run trains on: `side × side` grey pixels per image, and each person's images.
pub struct TrainImages<'a> {
    /// All pixels, image after image.
    pub pixels: &'a [u8],
    /// Image side.
    pub side: usize,
    /// `people[p]` = indices of person `p`'s images (label `p`).
    pub people: Vec<Vec<usize>>,
}

impl TrainImages<'_> {
    /// The pixels of image `index`.
    pub fn image(&self, index: usize) -> &[u8] {
        let n = self.side * self.side;
        &self.pixels[index * n..(index + 1) * n]
    }
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Steps run in total.
    pub steps: usize,
    /// Loss of the last log step.
    pub final_loss: f32,
    /// Mean images per second over this session's part of the run.
    pub images_per_second: f32,
}

/// Builds the input tensor `[b, 1, side, side]` from batch images, augmented with `rng`.
pub fn batch_tensor(
    images: &TrainImages,
    batch: &[usize],
    cfg: &AugmentConfig,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Tensor<4>, AugmentError> {
    use rayon::prelude::*;
    let side = images.side;
    cfg.validate()?;
    // The draws in batch order from the one generator (as one `augment` call per image would
    // make them), then the images warped in parallel: the same pixels on any thread count.
    let params: Vec<AugmentParams> = batch
        .iter()
        .map(|_| AugmentParams::draw(cfg, side, rng))
        .collect();
    let mut values = vec![0.0f32; batch.len() * side * side];
    values
        .par_chunks_mut((side * side).max(1))
        .zip(batch.par_iter().zip(&params))
        .try_for_each_init(
            || vec![0u8; side * side],
            |scratch, (out, (&i, params))| {
                apply(images.image(i), side, params, scratch)?;
                for (o, &p) in out.iter_mut().zip(scratch.iter()) {
                    *o = facegate_shared::preprocess::input_f32(p);
                }
                Ok::<(), AugmentError>(())
            },
        )?;
    Ok(floats(values, [batch.len(), 1, side, side], device))
}

/// Computes the configured loss on a batch; returns the loss, the mined triplets and the
/// squared-distance matrix.
pub fn batch_loss(
    cfg: &TrainingConfig,
    embeddings: Tensor<2>,
    labels: &[u32],
    seed: u64,
    mined: Option<Triplets>,
) -> (Tensor<1>, Triplets, Tensor<2>) {
    let squared = pairwise_squared_distances(embeddings);
    let triplets =
        mined.unwrap_or_else(|| mine(cfg.miner, squared.clone().detach(), labels, cfg.alpha, seed));
    let loss = if cfg.loss == LossKind::Contrastive {
        loss::contrastive(squared.clone(), labels, cfg.contrastive_margin)
    } else if let Some(d) = TripletDistances::gather(squared.clone(), &triplets) {
        match cfg.loss {
            LossKind::Triplet => loss::triplet_hinge(&d, cfg.alpha),
            LossKind::SoftmaxRatioMse => loss::softmax_ratio_mse(&d),
            LossKind::SoftmaxRatioNll => loss::softmax_ratio_nll(&d),
            _ => loss::soft_margin(&d),
        }
    } else {
        // No triplet in this batch: a zero loss still attached to the graph, so the step is a
        // no-op for the gradients instead of a backward pass on an untracked tensor.
        squared.clone().sum() * 0.0
    };
    (loss, triplets, squared)
}

/// The seed of epoch `epoch`'s sampler and augmentation: each epoch is reproducible on its
/// own, which is what makes `--resume` continue exactly where a run stopped.
fn epoch_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream
}

/// Steps per epoch for this data and configuration.
pub fn steps_per_epoch(cfg: &TrainingConfig, images: &TrainImages) -> Result<usize, TrainError> {
    Ok(PkSampler::new(&images.people, cfg.batch, cfg.seed)?.batches_per_epoch())
}

/// Trains (or resumes) a run. `on_log` receives every log row and any warning.
pub fn train(
    cfg: &TrainingConfig,
    images: &TrainImages,
    run: &RunDir,
    compute: ComputeDevice,
    resume: bool,
    mut on_log: impl FnMut(&StepStats, Option<&str>),
) -> Result<(Embedder, TrainSummary), TrainError> {
    cfg.augment.validate()?;
    let device = compute.training_device();
    device.seed(cfg.seed);
    let mut model = cfg.model.init(&device);
    let mut optim = cfg.build_optimizer();
    let mut start = Checkpoint::default();
    if resume {
        if let Some(ckpt) = run.load_checkpoint()? {
            model = run.load_model_weights(model, &run.checkpoint_model())?;
            model = run.restore_param_ids(model)?;
            optim = run.load_optimizer(optim)?;
            run.truncate_log(ckpt.step)?;
            start = ckpt;
        }
    }
    let steps_per_epoch = steps_per_epoch(cfg, images)?;
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut step = start.step;
    let mut watch = FailureWatch::default();
    // Re-mined at the first step of a (resumed) run, so resuming stays exact only at refresh
    // boundaries; checkpoints fall on epoch ends.
    let mut pool = TripletPool::default();
    let (mut last_loss, mut images_seen) = (0.0f32, 0usize);
    let started = Instant::now();
    let mut interval = Instant::now();
    for epoch in start.epoch..cfg.epochs {
        let mut sampler =
            PkSampler::new(&images.people, cfg.batch, epoch_seed(cfg.seed, epoch, 1))?;
        let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed(cfg.seed, epoch, 2));
        for _ in 0..steps_per_epoch {
            let (batch, mined) = match &cfg.offline_mining {
                Some(offline) => {
                    if step % offline.every_steps.max(1) == 0 || pool.is_empty() {
                        let seed = cfg.seed ^ 0x0FF ^ (step as u64).rotate_left(20);
                        pool =
                            TripletPool::mine(offline, cfg.miner, cfg.alpha, &model, images, seed)?;
                    }
                    match pool.next_batch(offline.triplets_per_batch) {
                        Some((batch, triplets)) => (batch, Some(triplets)),
                        None => (sampler.next_batch(), None),
                    }
                }
                None => (sampler.next_batch(), None),
            };
            let x = batch_tensor(images, &batch.indices, &cfg.augment, &mut rng, &device)?;
            let seed = cfg.seed ^ step as u64;
            let (loss, triplets, squared) =
                batch_loss(cfg, model.forward(x), &batch.labels, seed, mined);
            let lr = cfg.learning_rate_at(step, steps_per_epoch, total_steps);
            let loss_value = to_f32(loss.clone())[0];
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    step,
                    loss: loss_value,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            images_seen += batch.indices.len();
            step += 1;
            if step % cfg.log_every == 0 || step == total_steps {
                let mut stats = batch_stats(squared.detach(), &batch.labels, &triplets, cfg.alpha);
                stats.step = step;
                stats.epoch = epoch;
                stats.loss = loss_value;
                stats.learning_rate = lr;
                let logged = cfg.log_every.min(step - start.step) * batch.indices.len();
                stats.images_per_second = logged as f32 / interval.elapsed().as_secs_f32();
                interval = Instant::now();
                let warning = watch.check(&stats, cfg.alpha, cfg.loss == LossKind::Triplet);
                run.append_log(&stats)?;
                on_log(&stats, warning.as_deref());
                last_loss = loss_value;
            }
        }
        let ckpt = Checkpoint {
            epoch: epoch + 1,
            step,
        };
        run.save_checkpoint(&model, &optim, &ckpt)?;
    }
    run.save_final_model(&model)?;
    let summary = TrainSummary {
        steps: step,
        final_loss: last_loss,
        images_per_second: images_seen as f32 / started.elapsed().as_secs_f32().max(1e-6),
    };
    Ok((model, summary))
}
