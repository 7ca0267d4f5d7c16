//! `facegate embed` and `facegate compare`: an exported `.onnx` model on image files, through
//! tract. Images are decoded and preprocessed exactly as for training (`data::decode`, with the
//! crop and size the model's metadata records).

use crate::data::decode::decode_file;
use crate::inference::Embeddings;
use crate::onnx::tract_runner::TractEmbedder;
use crate::run::write_atomic;
use anyhow::{Context, Result};
use facegate_shared::distance::squared_l2;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The released model, relative to the repository root.
pub const DEFAULT_MODEL: &str = "models/facegate-v1.onnx";

/// Arguments of `facegate embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// The exported model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Image files (JPEG, PNG, PNM), any size: centre-cropped and resized as the model says.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Write the embeddings as JSON to this file instead of printing them.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Average each embedding with its mirror image's.
    #[arg(long)]
    pub flip_average: bool,
}

/// Arguments of `facegate compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The exported model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// First face image.
    pub a: PathBuf,
    /// Second face image.
    pub b: PathBuf,
}

/// One image's embedding.
#[derive(Debug, Serialize)]
pub struct ImageEmbedding {
    /// The file.
    pub image: PathBuf,
    /// Its L2-normalised embedding.
    pub embedding: Vec<f32>,
}

/// What `facegate embed --out` writes.
#[derive(Debug, Serialize)]
pub struct EmbedOutput {
    /// The model file.
    pub model: PathBuf,
    /// Whether embeddings are flip-averaged.
    pub flip_averaged: bool,
    /// One per image, in the order given.
    pub embeddings: Vec<ImageEmbedding>,
}

fn embed_files(model: &Path, images: &[PathBuf], flip_average: bool) -> Result<Embeddings> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tract = TractEmbedder::open(model, threads)
        .with_context(|| format!("loading {}", model.display()))?;
    let preprocess = tract.metadata().preprocess;
    let pixels = images
        .iter()
        .map(|p| decode_file(p, &preprocess).with_context(|| format!("{}", p.display())))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = pixels.iter().map(Vec::as_slice).collect();
    Ok(tract.embed(&refs, flip_average, |_| {})?)
}

/// Runs `facegate embed`.
pub fn run_embed(args: EmbedArgs) -> Result<EmbedOutput> {
    let e = embed_files(&args.model, &args.images, args.flip_average)?;
    let output = EmbedOutput {
        model: args.model.clone(),
        flip_averaged: args.flip_average,
        embeddings: args
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| ImageEmbedding {
                image: image.clone(),
                embedding: e.row(i).to_vec(),
            })
            .collect(),
    };
    match &args.out {
        Some(path) => {
            write_atomic(path, &serde_json::to_vec_pretty(&output)?)?;
            println!(
                "wrote {} embeddings of {} values to {}",
                output.embeddings.len(),
                e.dim,
                path.display()
            );
        }
        None => {
            for item in &output.embeddings {
                let values: Vec<String> = item.embedding.iter().map(|v| format!("{v}")).collect();
                println!("{}\t{}", item.image.display(), values.join(" "));
            }
        }
    }
    Ok(output)
}

/// The verdict of `facegate compare`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Squared L2 distance of the two embeddings.
    pub distance: f32,
    /// The model's threshold.
    pub threshold: f32,
    /// The FAR the threshold was chosen for.
    pub target_far: f64,
    /// `distance ≤ threshold`.
    pub same: bool,
}

/// Runs `facegate compare`. Embeddings are flip-averaged iff the model's threshold was
/// calibrated on flip-averaged ones, so distance and threshold are on the same scale.
pub fn run_compare(args: CompareArgs) -> Result<Comparison> {
    let meta = crate::onnx::read_model_file(&args.model)
        .with_context(|| format!("loading {}", args.model.display()))?
        .metadata;
    let e = embed_files(
        &args.model,
        &[args.a.clone(), args.b.clone()],
        meta.flip_averaged,
    )?;
    let distance = squared_l2(e.row(0), e.row(1))
        .map_err(|e| anyhow::anyhow!("embedding lengths differ: {e}"))?;
    let c = Comparison {
        distance,
        threshold: meta.threshold,
        target_far: meta.target_far,
        same: distance <= meta.threshold,
    };
    println!(
        "distance {:.4} (squared L2), threshold {:.4} (FAR {:.0e}): {}",
        c.distance,
        c.threshold,
        c.target_far,
        if c.same {
            "same person"
        } else {
            "different people"
        }
    );
    Ok(c)
}
