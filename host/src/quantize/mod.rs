//! Post-training int8 quantisation of a trained embedder into a `.fgm` blob (TFLite int8
//! specification: per-channel symmetric weights, per-tensor asymmetric activations, `i32`
//! biases, fixed-point requantisation), run by exactly the `facegate-shared` engine the device
//! runs.
//!
//! Pipeline: fold BatchNorm ([`crate::folded`]) → activation ranges from calibration images
//! ([`calibrate`]) → int8 graph ([`graph`]) → static arena plan ([`memory_plan`]) → blob
//! ([`writer`]), then the blob is parsed back, golden vectors are computed by the shared engine
//! and written in.

pub mod calibrate;
pub mod graph;
pub mod memory_plan;
pub mod weights;
pub mod writer;

use crate::folded::FoldedEmbedder;
use calibrate::{tap_ranges, RangeMethod, TapRanges};
use facegate_shared::blob::{BlobError, EngineError, Model};
use facegate_shared::preprocess::input_i8;
use graph::QGraph;
use rayon::prelude::*;
use writer::{write_blob, BlobMeta, GoldenVector};

/// What went wrong quantising or running an int8 model.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// No calibration images.
    #[error("quantisation needs at least one calibration image")]
    NoCalibrationImages,
    /// A calibration image is not `side²` pixels.
    #[error("calibration image {index} has {actual} pixels, the model takes {expected}")]
    ImageSize {
        /// Image index.
        index: usize,
        /// Expected pixels.
        expected: usize,
        /// Actual pixels.
        actual: usize,
    },
    /// The float model has no tap of this name (a model this quantiser does not know).
    #[error("no calibration range for tensor {0}")]
    MissingRange(String),
    /// A requantisation multiplier cannot be represented (a degenerate range or weight scale).
    #[error("requantisation multiplier out of range at {0}")]
    Multiplier(String),
    /// The written blob does not parse (a bug in the writer).
    #[error("the written blob does not parse: {0}")]
    Blob(BlobError),
    /// The engine failed.
    #[error("int8 engine: {0}")]
    Engine(EngineError),
}

/// Quantisation settings.
#[derive(Debug, Clone, Copy)]
pub struct QuantizeOptions {
    /// How activation ranges are chosen.
    pub range_method: RangeMethod,
    /// Percentile for [`RangeMethod::Percentile`] (e.g. 99.99).
    pub percentile: f64,
    /// Golden vectors to embed in the blob (taken from the first calibration images).
    pub golden_count: usize,
    /// Header fields: preprocessing and threshold.
    pub meta: BlobMeta,
}

/// A quantised model and what was learnt making it.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The `.fgm` bytes.
    pub blob: Vec<u8>,
    /// The calibrated float ranges.
    pub ranges: TapRanges,
    /// Activation arena bytes.
    pub arena_size: usize,
    /// Multiply-accumulates per embedding.
    pub macs: u64,
}

/// The squared-L2 threshold on int8 embeddings (scale 1/128) for a float squared-L2 threshold
/// on unit embeddings: `round(t · 128²)`.
pub fn integer_threshold(float_threshold: f32) -> i32 {
    (f64::from(float_threshold) * 16384.0).round() as i32
}

/// Quantises `model` with `calibration` images (`side²` grey pixels each).
pub fn quantize(
    model: &FoldedEmbedder,
    calibration: &[&[u8]],
    options: &QuantizeOptions,
) -> Result<Quantized, QuantizeError> {
    let side = model.input_side;
    if calibration.is_empty() {
        return Err(QuantizeError::NoCalibrationImages);
    }
    if let Some((index, image)) = calibration
        .iter()
        .enumerate()
        .find(|(_, i)| i.len() != side * side)
    {
        return Err(QuantizeError::ImageSize {
            index,
            expected: side * side,
            actual: image.len(),
        });
    }
    let ranges = tap_ranges(model, calibration, options.range_method, options.percentile);
    let graph = QGraph::build(model, &ranges)?;
    let (offsets, arena_size) = memory_plan::plan(&graph.buffers);
    let unsigned = write_blob(&graph, &offsets, arena_size, &options.meta, &[]);
    let parsed = Model::parse(&unsigned).map_err(QuantizeError::Blob)?;
    let golden: Vec<GoldenVector> = calibration
        .iter()
        .take(options.golden_count)
        .map(|image| {
            let input: Vec<i8> = image.iter().map(|&p| input_i8(p)).collect();
            let embedding = run_one(&parsed, &input)?;
            Ok(GoldenVector { input, embedding })
        })
        .collect::<Result<_, QuantizeError>>()?;
    let blob = write_blob(&graph, &offsets, arena_size, &options.meta, &golden);
    Model::parse(&blob).map_err(QuantizeError::Blob)?;
    Ok(Quantized {
        blob,
        ranges,
        arena_size,
        macs: graph.macs(),
    })
}

/// Runs one int8 input through a parsed blob.
pub fn run_one(model: &Model<'_>, input: &[i8]) -> Result<Vec<i8>, QuantizeError> {
    let mut arena = vec![0u8; model.arena_size()];
    let mut embedding = vec![0i8; model.embedding_dim()];
    model
        .run(input, &mut arena, &mut embedding)
        .map_err(QuantizeError::Engine)?;
    Ok(embedding)
}

/// Int8 embeddings of grey images (`side²` pixels each) through the shared engine, in parallel.
pub fn embed_i8(
    model: &Model<'_>,
    images: &[&[u8]],
    progress: impl Fn(usize) + Sync,
) -> Result<Vec<Vec<i8>>, QuantizeError> {
    images
        .par_iter()
        .map_init(
            || {
                (
                    vec![0u8; model.arena_size()],
                    vec![0i8; model.embedding_dim()],
                    Vec::new(),
                )
            },
            |(arena, embedding, input), image| {
                input.clear();
                input.extend(image.iter().map(|&p| input_i8(p)));
                model
                    .run(input, arena, embedding)
                    .map_err(QuantizeError::Engine)?;
                progress(1);
                Ok(embedding.clone())
            },
        )
        .collect()
}
