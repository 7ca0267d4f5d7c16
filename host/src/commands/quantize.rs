//! `facegate quantize`: a trained run → an int8 `.fgm` blob for the device.
//!
//! Calibration images come from the people the run trained on (never from an evaluation set),
//! spread evenly over them. The verification threshold comes from a `calibration.json` written
//! by `facegate calibrate` (the run's own by default) and becomes the blob's integer threshold.

use super::{load_dataset, open_model};
use crate::folded::FoldedEmbedder;
use crate::quantize::calibrate::RangeMethod;
use crate::quantize::writer::BlobMeta;
use crate::quantize::{integer_threshold, quantize, QuantizeOptions};
use crate::run::write_atomic;
use anyhow::{bail, Result};
use facegate_shared::blob::Model;
use serde::Serialize;
use std::path::PathBuf;

/// Arguments of `facegate quantize`.
#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    /// The trained run folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the blob, e.g. `models/facegate-v1.fgm`.
    #[arg(long)]
    pub out: PathBuf,
    /// Dataset root for the calibration images (default: $FACEGATE_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Calibration images, taken evenly from the run's training people.
    #[arg(long, default_value_t = 500)]
    pub calibration_images: usize,
    /// How activation ranges are chosen.
    #[arg(long, value_enum, default_value = "min-max")]
    pub range: RangeMethod,
    /// Upper percentile for `--range percentile`.
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// Golden vectors stored in the blob.
    #[arg(long, default_value_t = 4)]
    pub golden: usize,
    /// `calibration.json` holding the threshold (default: the run's own).
    #[arg(long)]
    pub threshold_from: Option<PathBuf>,
    /// Images (other training images than the calibration ones) on which float and int8
    /// embeddings are compared (cosine similarity).
    #[arg(long, default_value_t = 500)]
    pub check_images: usize,
    /// Decode every image again instead of using the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// What `facegate quantize` reports and writes beside the blob (`NAME.fgm.json`).
#[derive(Debug, Serialize)]
pub struct QuantizeReport {
    /// Blob bytes.
    pub blob_bytes: usize,
    /// Activation arena bytes.
    pub arena_bytes: usize,
    /// Multiply-accumulates per embedding.
    pub macs: u64,
    /// Integer threshold on the squared L2 of int8 embeddings.
    pub threshold: i32,
    /// The float threshold and where it came from.
    pub float_threshold: f32,
    /// Its source.
    pub threshold_source: String,
    /// Calibration images used.
    pub calibration_images: usize,
    /// Range method.
    pub range: RangeMethod,
    /// Per-tensor float ranges.
    pub ranges: Vec<(String, crate::quantize::calibrate::Range)>,
    /// Model id (hex).
    pub model_id: String,
    /// Float vs dequantised int8 embeddings on the check images.
    pub agreement: Agreement,
}

/// How closely the int8 embeddings follow the float model's.
#[derive(Debug, Serialize)]
pub struct Agreement {
    /// Images compared.
    pub images: usize,
    /// Mean cosine similarity.
    pub mean_cosine: f64,
    /// Lowest cosine similarity.
    pub min_cosine: f64,
}

/// Cosine similarities between float embeddings and dequantised int8 ones.
fn agreement(float: &crate::inference::Embeddings, int8: &[Vec<i8>]) -> Agreement {
    let cosines: Vec<f64> = int8
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let e = float.row(i);
            let dot: f64 = e
                .iter()
                .zip(q)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let nq = q
                .iter()
                .map(|&b| f64::from(b) * f64::from(b))
                .sum::<f64>()
                .sqrt();
            let ne = e
                .iter()
                .map(|&a| f64::from(a) * f64::from(a))
                .sum::<f64>()
                .sqrt();
            dot / (nq * ne).max(1e-12)
        })
        .collect();
    Agreement {
        images: cosines.len(),
        mean_cosine: cosines.iter().sum::<f64>() / cosines.len().max(1) as f64,
        min_cosine: cosines.iter().copied().fold(1.0, f64::min),
    }
}

/// Runs `facegate quantize`.
pub fn run(args: QuantizeArgs) -> Result<QuantizeReport> {
    let trained = open_model(&args.model)?;
    let (calibration, threshold_path) =
        super::calibrate::read_calibration(&args.model, args.threshold_from.as_deref())?;
    if calibration.flip_averaged {
        eprintln!(
            "note: the threshold in {} was chosen on flip-averaged embeddings; the device embeds \
             once. Re-calibrate the blob with `facegate calibrate --model {}` for its own threshold.",
            threshold_path.display(),
            args.out.display()
        );
    }
    let dataset = load_dataset(
        args.data.clone(),
        trained.config.preprocess(),
        args.no_cache,
    )?;
    let mut pool: Vec<usize> = dataset
        .people()
        .iter()
        .filter(|p| trained.people.contains(&p.name))
        .flat_map(|p| p.images.iter().copied())
        .collect();
    if pool.is_empty() {
        bail!("none of the run's training people are in the dataset: no calibration images");
    }
    pool.sort_unstable();
    let n = args.calibration_images.clamp(1, pool.len());
    let chosen: Vec<&[u8]> = (0..n)
        .map(|i| {
            dataset
                .pixels(pool[i * pool.len() / n])
                .expect("index from the dataset")
        })
        .collect();
    let device = burn::prelude::Device::flex();
    let model = trained.run.load_model(&trained.config.model, &device)?;
    let folded = FoldedEmbedder::fold(&model, &trained.config.model);
    let options = QuantizeOptions {
        range_method: args.range,
        percentile: args.percentile,
        golden_count: args.golden,
        meta: BlobMeta {
            preprocess_crop: trained.config.preprocess().crop,
            threshold: integer_threshold(calibration.threshold),
            float_threshold: calibration.threshold,
            threshold_far: calibration.target_far as f32,
        },
    };
    eprintln!("calibrating activation ranges on {n} training images ...");
    let q = quantize(&folded, &chosen, &options)?;
    let parsed = Model::parse(&q.blob).expect("the quantiser checked the blob");
    let checks = args.check_images.min(pool.len());
    let check: Vec<&[u8]> = (0..checks)
        .map(|i| {
            let at = (i * pool.len() / checks.max(1) + pool.len() / (2 * n)) % pool.len();
            dataset.pixels(pool[at]).expect("index from the dataset")
        })
        .collect();
    let float = crate::inference::embed(&model, &check, dataset.side(), false, &device, |_| {});
    let int8 = crate::quantize::embed_i8(&parsed, &check, |_| {})?;
    let agreement = agreement(&float, &int8);
    eprintln!(
        "float vs int8 on {} other training images: mean cosine {:.4}, lowest {:.4}",
        agreement.images, agreement.mean_cosine, agreement.min_cosine
    );
    let model_id: String = parsed
        .header()
        .model_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let report = QuantizeReport {
        blob_bytes: q.blob.len(),
        arena_bytes: q.arena_size,
        macs: q.macs,
        threshold: options.meta.threshold,
        float_threshold: calibration.threshold,
        threshold_source: threshold_path.display().to_string(),
        calibration_images: n,
        range: args.range,
        ranges: q.ranges.clone(),
        model_id,
        agreement,
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    write_atomic(&args.out, &q.blob)?;
    let people: Vec<&str> = trained.people.iter().map(String::as_str).collect();
    let sidecar = super::model_source::people_sidecar(&args.out);
    write_atomic(&sidecar, (people.join("\n") + "\n").as_bytes())?;
    let json = args.out.with_extension("fgm.json");
    write_atomic(&json, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!(
        "wrote {} ({} bytes): arena {} bytes, {} MACs, threshold {} (squared L2 of int8 embeddings, from {:.4})",
        args.out.display(),
        report.blob_bytes,
        report.arena_bytes,
        report.macs,
        report.threshold,
        report.float_threshold
    );
    println!("wrote {}", json.display());
    Ok(report)
}
