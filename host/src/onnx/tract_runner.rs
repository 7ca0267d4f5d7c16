//! Embedding with an exported model through tract (pure Rust; the product's inference path).
//!
//! The graph is optimised once for one image (`N = 1`) and run image by image: measured on the
//! release model, tract embeds 2.0× faster that way than with `N = 128` (whose layout changes and
//! broadcast adds cost more than the larger matrix products save), and several times faster than
//! with the batch left symbolic (BENCHMARKS.md). Its convolutions run channel-last
//! ([`optimized_plan`]). With more than one thread, the images of a batch
//! are split into equal slices run concurrently on a private rayon pool: data parallelism, which
//! suits a small CNN better than splitting each convolution.

use super::metadata::OnnxMetadata;
use super::{embed_batched, read_model, CheckedModel, OnnxError, OUTPUT};
use crate::inference::Embeddings;
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use tract_onnx::prelude::*;

fn tract_err(e: impl std::fmt::Display) -> OnnxError {
    OnnxError::Tract(format!("{e:#}"))
}

/// tract's runnable plan of an exported embedder for `batch` images at a time.
///
/// Every convolution runs channel-last: tract's `conv_nhwc` transform moves each `Conv` to NHWC
/// before optimisation (its depthwise kernel has a vectorised channel-last path; measured on the
/// release model, BENCHMARKS.md).
pub fn optimized_plan(model: &CheckedModel, batch: usize) -> TractResult<Arc<TypedRunnableModel>> {
    let side = usize::from(model.metadata.preprocess.out_side);
    let mut typed = tract_onnx::onnx()
        .model_for_proto_model(&model.proto)?
        .with_input_fact(0, f32::fact([batch, 1, side, side]).into())?
        .into_typed()?
        .into_decluttered()?;
    tract_onnx::tract_core::transform::get_transform("conv_nhwc")?
        .ok_or_else(|| anyhow::anyhow!("tract has no conv_nhwc transform"))?
        .transform(&mut typed)?;
    typed.into_optimized()?.into_runnable()
}

/// An exported embedder loaded into tract.
pub struct TractEmbedder {
    plan: Arc<TypedRunnableModel>,
    metadata: OnnxMetadata,
    pool: Option<rayon::ThreadPool>,
}

impl std::fmt::Debug for TractEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractEmbedder")
            .field("metadata", &self.metadata)
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

impl TractEmbedder {
    /// Loads a checked model for `threads` concurrent slices of a batch (1: the calling thread).
    pub fn new(model: &CheckedModel, threads: usize) -> Result<Self, OnnxError> {
        let plan = optimized_plan(model, 1).map_err(tract_err)?;
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("facegate-tract-{i}"))
                    .build()
                    .map_err(tract_err)?,
            )
        } else {
            None
        };
        Ok(Self {
            plan,
            metadata: model.metadata.clone(),
            pool,
        })
    }

    /// Decodes, checks and loads ONNX bytes.
    pub fn from_bytes(bytes: &[u8], threads: usize) -> Result<Self, OnnxError> {
        Self::new(&read_model(bytes)?, threads)
    }

    /// Reads, checks and loads an ONNX file.
    pub fn open(path: &Path, threads: usize) -> Result<Self, OnnxError> {
        Self::new(&super::read_model_file(path)?, threads)
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &OnnxMetadata {
        &self.metadata
    }

    /// Concurrent slices per batch.
    pub fn threads(&self) -> usize {
        self.pool.as_ref().map_or(1, |p| p.current_num_threads())
    }

    /// Embeddings of `n` images, one run of the plan each.
    fn run_images(&self, inputs: &[f32], n: usize) -> Result<Vec<f32>, OnnxError> {
        let len = inputs.len() / n.max(1);
        let mut out = Vec::with_capacity(n * self.metadata.embedding_dim);
        let mut state = self.plan.spawn().map_err(tract_err)?;
        for image in inputs.chunks(len) {
            out.extend(self.run_one(&mut state, image)?);
        }
        Ok(out)
    }

    fn run_one(&self, state: &mut TypedSimpleState, input: &[f32]) -> Result<Vec<f32>, OnnxError> {
        let side = usize::from(self.metadata.preprocess.out_side);
        let dim = self.metadata.embedding_dim;
        let n = 1;
        let x = Tensor::from_shape(&[n, 1, side, side], input).map_err(tract_err)?;
        let out = state.run(tvec!(x.into())).map_err(tract_err)?;
        let y = out
            .first()
            .ok_or_else(|| OnnxError::Tract(format!("the graph produced no {OUTPUT}")))?;
        if y.shape() != [n, dim] {
            return Err(OnnxError::Tract(format!(
                "{OUTPUT} has shape {:?}, expected [{n}, {dim}]",
                y.shape()
            )));
        }
        let view = y.try_as_plain_ram().map_err(tract_err)?;
        Ok(view.as_slice::<f32>().map_err(tract_err)?.to_vec())
    }

    /// Embeddings of `n` images given as model inputs (`n × 1 × S × S`, NCHW).
    pub fn embed_inputs(&self, inputs: &[f32], n: usize) -> Result<Vec<f32>, OnnxError> {
        let side = usize::from(self.metadata.preprocess.out_side);
        let len = side * side;
        if inputs.len() != n * len {
            return Err(OnnxError::Input(format!(
                "{} input values for {n} images of {side}×{side}",
                inputs.len()
            )));
        }
        match &self.pool {
            Some(pool) if n > 1 => {
                let per = n.div_ceil(pool.current_num_threads());
                let parts: Vec<Vec<f32>> = pool.install(|| {
                    inputs
                        .par_chunks(per * len)
                        .map(|c| self.run_images(c, c.len() / len))
                        .collect::<Result<_, _>>()
                })?;
                Ok(parts.concat())
            }
            _ => self.run_images(inputs, n),
        }
    }

    /// Embeds `images` (`S²` grey pixels each, preprocessed as the metadata says).
    pub fn embed(
        &self,
        images: &[&[u8]],
        flip_average: bool,
        progress: impl FnMut(usize),
    ) -> Result<Embeddings, OnnxError> {
        let side = usize::from(self.metadata.preprocess.out_side);
        embed_batched(
            images,
            side,
            self.metadata.embedding_dim,
            flip_average,
            progress,
            |x, n| self.embed_inputs(x, n),
        )
    }
}
