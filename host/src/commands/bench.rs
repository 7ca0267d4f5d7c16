//! `facegate bench`: the figures of BENCHMARKS.md that need no dataset — training step time per
//! backend, mining time per batch size, ONNX inference throughput of tract and ONNX Runtime — on
//! generated images and random embeddings.

use crate::backend::ComputeDevice;
use crate::data::synthetic::{synthetic_people, SyntheticConfig};
use crate::mining::{mine, Miner};
use crate::model::EmbedderConfig;
use crate::tensors::{pairwise_squared_distances, to_f32};
use crate::training::{batch_loss, batch_tensor, TrainImages, TrainingConfig};
use anyhow::Result;
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::SeedableRng;
use std::time::Instant;

/// Arguments of `facegate bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to time.
    #[arg(value_enum)]
    pub what: BenchKind,
    /// Backends for `step` (all CPU backends by default).
    #[arg(long, value_enum)]
    pub device: Vec<ComputeDevice>,
    /// Timed repetitions (after 3 untimed warm-up ones; 1 for `onnx`).
    #[arg(long, default_value_t = 20)]
    pub repeat: usize,
    /// The exported model for `onnx`.
    #[arg(long, default_value = super::embed::DEFAULT_MODEL)]
    pub model: std::path::PathBuf,
    /// Images per timed pass for `onnx`.
    #[arg(long, default_value_t = 1024)]
    pub images: usize,
}

/// What `facegate bench` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchKind {
    /// One training step of the default set-up (45 × 2 images of 64×64, semi-hard triplet).
    Step,
    /// Mining on a batch's distance matrix, B = 128 (32 × 4) and B = 1,800 (45 × 40, FaceNet).
    Mining,
    /// Embeddings/s of an exported model in tract and in ONNX Runtime, 1 thread and all cores.
    Onnx,
    /// Embeddings/s of the int8 `.fgm` engine (`--model`'s `.fgm`), 1 thread and all cores.
    Int8,
    /// The `.fgm` (`--model`'s) on the device in QEMU under `-icount`: instructions per layer
    /// and per embedding, memory (bench_device.rs).
    Device,
}

fn median_ms(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2] * 1e3
}

fn bench_step(compute: ComputeDevice, repeat: usize) -> Result<()> {
    let cfg = TrainingConfig::new(EmbedderConfig::default_device());
    let synth = SyntheticConfig {
        side: 64,
        ..SyntheticConfig::default()
    };
    let people = synthetic_people(&synth, 60, 4, 1, 1);
    let pixels: Vec<u8> = people.iter().flat_map(|(_, v)| v.concat()).collect();
    let images = TrainImages {
        pixels: &pixels,
        side: 64,
        people: (0..60).map(|p| (p * 4..p * 4 + 4).collect()).collect(),
    };
    let device = compute.training_device();
    let mut model = cfg.model.init(&device);
    let mut optim = cfg.build_optimizer();
    let mut sampler = crate::sampler::PkSampler::new(&images.people, cfg.batch, 1)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    // Whole steps, and the same steps split into phases (flex and ndarray run each op when it
    // is called, so a phase's time is its own; the forward's time includes the autodiff graph).
    let mut samples = Vec::new();
    let mut phases: [Vec<f64>; 5] = Default::default();
    for i in 0..repeat + 3 {
        let batch = sampler.next_batch();
        let started = Instant::now();
        let x = batch_tensor(&images, &batch.indices, &cfg.augment, &mut rng, &device)?;
        let t_batch = started.elapsed().as_secs_f64();
        let embeddings = model.forward(x);
        let t_forward = started.elapsed().as_secs_f64();
        let (loss, _, _) = batch_loss(&cfg, embeddings, &batch.labels, i as u64, None);
        let _ = to_f32(loss.clone());
        let t_loss = started.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t_backward = started.elapsed().as_secs_f64();
        model = optim.step(1e-3, model, grads);
        let elapsed = started.elapsed().as_secs_f64();
        if i >= 3 {
            samples.push(elapsed);
            let ends = [t_batch, t_forward, t_loss, t_backward, elapsed];
            for (k, phase) in phases.iter_mut().enumerate() {
                phase.push(ends[k] - if k == 0 { 0.0 } else { ends[k - 1] });
            }
        }
    }
    let b = cfg.batch.people_per_batch * cfg.batch.images_per_person;
    let ms = median_ms(samples);
    println!(
        "step {compute:?}: batch {b}, median {ms:.1} ms/step = {:.0} images/s over {repeat} steps ({} threads, {})",
        b as f64 / ms * 1e3,
        rayon::current_num_threads(),
        if crate::ops::runs_local_ops(&device) {
            "local ops"
        } else {
            "burn's modules"
        }
    );
    let names = [
        "batch (augment + tensor)",
        "forward",
        "mining + loss + read-back",
        "backward",
        "Adam",
    ];
    let split: Vec<String> = names
        .iter()
        .zip(phases)
        .map(|(name, samples)| format!("{name} {:.1}", median_ms(samples)))
        .collect();
    println!("  phases, median ms: {}", split.join(", "));
    Ok(())
}

fn bench_mining(repeat: usize) {
    let device = Device::flex();
    for (p, k) in [(32usize, 4usize), (45, 40)] {
        let b = p * k;
        let labels: Vec<u32> = (0..b).map(|i| (i / k) as u32).collect();
        device.seed(1);
        let e = crate::model::l2_normalize_rows(Tensor::<2>::random(
            [b, 128],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        ));
        let distances = pairwise_squared_distances(e);
        for miner in [
            Miner::SemiHard,
            Miner::BatchHard,
            Miner::BatchAll,
            Miner::Random,
        ] {
            let mut samples = Vec::new();
            let mut count = 0;
            for i in 0..repeat.min(if b > 1000 { 5 } else { repeat }) + 1 {
                let started = Instant::now();
                let t = mine(miner, distances.clone(), &labels, 0.2, i as u64);
                if i > 0 {
                    samples.push(started.elapsed().as_secs_f64());
                }
                count = t.len();
            }
            println!(
                "mining {miner:?}: B = {b} ({p} × {k}), {count} triplets, median {:.1} ms",
                median_ms(samples)
            );
        }
    }
}

/// Runs `facegate bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchKind::Step => {
            let devices = if args.device.is_empty() {
                vec![ComputeDevice::Flex, ComputeDevice::Ndarray]
            } else {
                args.device.clone()
            };
            for d in devices {
                bench_step(d, args.repeat)?;
            }
        }
        BenchKind::Mining => bench_mining(args.repeat),
        BenchKind::Int8 => super::bench_int8::bench_int8(&args.model, args.images)?,
        BenchKind::Device => super::bench_device::run(&args.model.with_extension("fgm"))?,
        BenchKind::Onnx => {
            super::bench_onnx::bench_onnx(&args.model, args.images, args.repeat)?;
        }
    }
    Ok(())
}
