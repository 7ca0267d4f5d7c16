//! The models `eval` and `calibrate` accept, by the path's form: a run folder (burn, float), an
//! exported float `.onnx` (run by tract, the host's inference path) or an int8 `.fgm` blob (run
//! by the `facegate-shared` engine, exactly as on the device).
//!
//! Evaluation honesty needs the people a model trained on: a run folder has `people.txt`; an
//! exported file has a sidecar `NAME.people.txt` that the exporter copies beside it. An `.onnx`
//! also records the count and SHA-256 of its people list in its metadata, and the sidecar must
//! match them.

use super::{open_model, TrainedRun};
use crate::backend::ComputeDevice;
use crate::eval::TrainLogRow;
use crate::inference::{mirror, Embeddings};
use crate::onnx::tract_runner::TractEmbedder;
use crate::onnx::{read_model_file, CheckedModel};
use crate::quantize::embed_i8;
use anyhow::{Context, Result};
use facegate_shared::blob::Model;
use facegate_shared::preprocess::PreprocessConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// An int8 blob and the people its float model trained on.
pub struct BlobModel {
    /// Where it came from.
    pub path: PathBuf,
    /// The blob's bytes (validated on open).
    pub bytes: Vec<u8>,
    /// Training people, from the sidecar.
    pub people: BTreeSet<String>,
}

/// An exported float ONNX model and the people it trained on.
pub struct OnnxModel {
    /// Where it came from.
    pub path: PathBuf,
    /// The decoded, checked model.
    pub model: CheckedModel,
    /// Training people, from the sidecar (checked against the model's metadata).
    pub people: BTreeSet<String>,
}

/// A model to embed with.
pub enum ModelSource {
    /// A training run folder (float, burn).
    Run(TrainedRun),
    /// An exported float `.onnx` model (tract; boxed: it holds the whole protobuf).
    Onnx(Box<OnnxModel>),
    /// An int8 `.fgm` blob.
    Blob(BlobModel),
}

/// The sidecar list of training people of an exported model: `NAME.people.txt`.
pub fn people_sidecar(model_file: &Path) -> PathBuf {
    model_file.with_extension("people.txt")
}

fn read_people(path: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {}: the list of people the model trained on, needed to refuse evaluating it \
             on them (the exporter writes it beside the model)",
            path.display()
        )
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

impl ModelSource {
    /// Opens a run folder or a `.fgm` blob.
    pub fn open(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("fgm") => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                Model::parse(&bytes).with_context(|| format!("{}", path.display()))?;
                let people = read_people(&people_sidecar(path))?;
                Ok(Self::Blob(BlobModel {
                    path: path.to_path_buf(),
                    bytes,
                    people,
                }))
            }
            Some("onnx") => {
                let model = read_model_file(path)?;
                let sidecar = people_sidecar(path);
                let people = read_people(&sidecar)?;
                model
                    .metadata
                    .check_people(&people)
                    .with_context(|| format!("{} vs {}", sidecar.display(), path.display()))?;
                Ok(Self::Onnx(Box::new(OnnxModel {
                    path: path.to_path_buf(),
                    model,
                    people,
                })))
            }
            _ => Ok(Self::Run(open_model(path)?)),
        }
    }

    /// Where it came from.
    pub fn path(&self) -> &Path {
        match self {
            Self::Run(t) => t.run.path(),
            Self::Onnx(o) => &o.path,
            Self::Blob(b) => &b.path,
        }
    }

    /// The people it trained on.
    pub fn people(&self) -> &BTreeSet<String> {
        match self {
            Self::Run(t) => &t.people,
            Self::Onnx(o) => &o.people,
            Self::Blob(b) => &b.people,
        }
    }

    /// How images become its input.
    pub fn preprocess(&self) -> PreprocessConfig {
        match self {
            Self::Run(t) => t.config.preprocess(),
            Self::Onnx(o) => o.model.metadata.preprocess,
            Self::Blob(b) => {
                let h = *Model::parse(&b.bytes).expect("validated on open").header();
                PreprocessConfig {
                    crop: h.preprocess_crop,
                    out_side: h.input_height,
                }
            }
        }
    }

    /// Its training log (empty for exported models).
    pub fn training_log(&self) -> Vec<TrainLogRow> {
        match self {
            Self::Run(t) => t.run.log(),
            Self::Onnx(_) | Self::Blob(_) => Vec::new(),
        }
    }

    /// Embeds `images` (`side²` grey pixels each) with a progress bar. A blob's int8 embeddings
    /// are dequantised exactly (`q / 128`), so float squared-L2 distances are the device's
    /// integer distances divided by 128².
    pub fn embed(
        &self,
        images: &[&[u8]],
        side: usize,
        flip_average: bool,
        device: ComputeDevice,
    ) -> Result<Embeddings> {
        let bar = ProgressBar::new(images.len() as u64).with_style(
            ProgressStyle::with_template("embedding {pos}/{len} images [{bar:30}] {per_sec}")
                .expect("a valid progress template"),
        );
        let embeddings = match self {
            Self::Run(trained) => {
                let device = device.inference_device();
                let model = trained.run.load_model(&trained.config.model, &device)?;
                crate::inference::embed(&model, images, side, flip_average, &device, |n| {
                    bar.inc(n as u64)
                })
            }
            Self::Onnx(onnx) => {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                TractEmbedder::new(&onnx.model, threads)?
                    .embed(images, flip_average, |n| bar.inc(n as u64))?
            }
            Self::Blob(blob) => {
                let model = Model::parse(&blob.bytes).expect("validated on open");
                let q = embed_i8(&model, images, |n| bar.inc(n as u64))?;
                let dim = model.embedding_dim();
                let dequantize = |q: &[Vec<i8>]| -> Vec<f32> {
                    q.iter().flatten().map(|&v| f32::from(v) / 128.0).collect()
                };
                let mut values = dequantize(&q);
                if flip_average {
                    let mirrored: Vec<Vec<u8>> = images.iter().map(|i| mirror(i, side)).collect();
                    let refs: Vec<&[u8]> = mirrored.iter().map(Vec::as_slice).collect();
                    let m = dequantize(&embed_i8(&model, &refs, |_| {})?);
                    crate::inference::add_mirrored_and_normalize(&mut values, &m, dim);
                }
                Embeddings { values, dim }
            }
        };
        bar.finish_and_clear();
        Ok(embeddings)
    }
}
