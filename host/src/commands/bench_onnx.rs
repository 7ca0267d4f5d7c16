//! `facegate bench onnx`: embeddings per second of tract and of ONNX Runtime on the same exported
//! model, with one thread and with every core, on generated images of the model's input size.
//!
//! Both runtimes embed the same batches of [`crate::onnx::BATCH`] images; "all threads" means
//! ONNX Runtime's intra-op pool of that many threads, and for tract as many concurrent slices of
//! each batch (tract runs one graph on one thread).

use crate::data::synthetic::{synthetic_people, SyntheticConfig};
use crate::onnx::inputs_of;
use crate::onnx::ort_runner::OrtEmbedder;
use crate::onnx::tract_runner::TractEmbedder;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

/// One measurement.
#[derive(Debug, Clone)]
pub struct Throughput {
    /// `tract` or `ort`.
    pub runtime: &'static str,
    /// Threads.
    pub threads: usize,
    /// Median embeddings per second over the timed passes.
    pub per_second: f64,
}

/// Median embeddings/s of `run` over `repeat` passes of `batches` (after one untimed pass).
fn time(
    batches: &[(Vec<f32>, usize)],
    repeat: usize,
    mut run: impl FnMut(&[f32], usize) -> Result<()>,
) -> Result<f64> {
    let images: usize = batches.iter().map(|b| b.1).sum();
    let mut rates = Vec::new();
    for pass in 0..=repeat {
        let started = Instant::now();
        for (x, n) in batches {
            run(x, *n)?;
        }
        if pass > 0 {
            rates.push(images as f64 / started.elapsed().as_secs_f64());
        }
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}

/// Times tract and ONNX Runtime on `model` with 1 and `all` threads over `images` images.
pub fn bench_onnx(model: &Path, images: usize, repeat: usize) -> Result<Vec<Throughput>> {
    let bytes = std::fs::read(model).with_context(|| format!("reading {}", model.display()))?;
    let checked = crate::onnx::read_model(&bytes)?;
    let side = usize::from(checked.metadata.preprocess.out_side);
    let synth = SyntheticConfig {
        side,
        ..SyntheticConfig::default()
    };
    let pixels: Vec<Vec<u8>> = synthetic_people(&synth, images.div_ceil(8), 8, 1, 1)
        .into_iter()
        .flat_map(|(_, v)| v)
        .take(images)
        .collect();
    let refs: Vec<&[u8]> = pixels.iter().map(Vec::as_slice).collect();
    let batches: Vec<(Vec<f32>, usize)> = refs
        .chunks(crate::onnx::BATCH)
        .map(|c| (inputs_of(c), c.len()))
        .collect();
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    let mut results = Vec::new();
    for &t in &threads {
        let tract = TractEmbedder::new(&checked, t)?;
        let rate = time(&batches, repeat, |x, n| {
            tract.embed_inputs(x, n)?;
            Ok(())
        })?;
        results.push(Throughput {
            runtime: "tract",
            threads: t,
            per_second: rate,
        });
        let mut ort = OrtEmbedder::new(&checked, &bytes, t)?;
        let rate = time(&batches, repeat, |x, n| {
            ort.embed_inputs(x, n)?;
            Ok(())
        })?;
        results.push(Throughput {
            runtime: "ort",
            threads: t,
            per_second: rate,
        });
    }
    println!(
        "{} ({} images of {side}×{side} in batches of {}, median of {repeat} passes):",
        model.display(),
        refs.len(),
        crate::onnx::BATCH
    );
    for &t in &threads {
        let rate = |name| {
            results
                .iter()
                .find(|r| r.runtime == name && r.threads == t)
                .map_or(0.0, |r| r.per_second)
        };
        let (tract, ort) = (rate("tract"), rate("ort"));
        println!(
            "  {t} thread(s): tract {tract:.0} embeddings/s, ort {ort:.0} embeddings/s, \
             ort/tract {:.2}×",
            ort / tract
        );
    }
    Ok(results)
}
