//! Embedding with an exported model through ONNX Runtime: the independent cross-check of the
//! exporter and of tract.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, and the shared library is
//! loaded at run time from `ORT_DYLIB_PATH` — the `libonnxruntime.so.1.32.0` that PyPI's
//! `onnxruntime==1.32.0` wheel ships in `onnxruntime/capi/` (ort 2.0.0-rc.15 speaks ONNX Runtime's
//! API 31 and accepts any library ≥ 1.31). The path is checked before `ort` is touched, because
//! `ort` panics on a missing library.

use super::metadata::OnnxMetadata;
use super::qdq::{from_u8, to_u8};
use super::qdq_layers::{LayerModel, Y, YQ};
use super::{embed_batched, read_model, CheckedModel, OnnxError, INPUT, OUTPUT};
use crate::inference::Embeddings;
use ort::session::Session;
use ort::session::SessionInputValue;
use ort::value::{Tensor, TensorRef};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";

fn ort_err(e: impl std::fmt::Display) -> OnnxError {
    OnnxError::Ort(e.to_string())
}

/// The ONNX Runtime library named by `ORT_DYLIB_PATH`, if it is set and exists.
pub fn ort_library() -> Result<PathBuf, OnnxError> {
    ort_library_from(std::env::var_os(ORT_DYLIB_PATH))
}

/// The library a value of `ORT_DYLIB_PATH` names, if it is set, non-empty and exists.
pub fn ort_library_from(value: Option<std::ffi::OsString>) -> Result<PathBuf, OnnxError> {
    let path = value
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| OnnxError::OrtLibrary(format!("unknown: {ORT_DYLIB_PATH} is not set")))?;
    if !path.is_file() {
        return Err(OnnxError::OrtLibrary(format!(
            "{} (from {ORT_DYLIB_PATH}) does not exist",
            path.display()
        )));
    }
    Ok(path)
}

/// The process's ONNX Runtime environment (ONNX Runtime allows one per process): the library is
/// loaded and the environment created on first use.
fn environment(library: &Path) -> Result<ort::environment::Environment, OnnxError> {
    static ENVIRONMENT: Mutex<Option<ort::environment::Environment>> = Mutex::new(None);
    let mut env = ENVIRONMENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(env) = env.as_ref() {
        return Ok(env.clone());
    }
    let created = ort::init_from(library)
        .map_err(|e| OnnxError::OrtLibrary(format!("{}: {e}", library.display())))?
        .with_name("facegate")
        .with_telemetry(false)
        .build()
        .map_err(ort_err)?;
    *env = Some(created.clone());
    Ok(created)
}

/// A session on `bytes` with `threads` intra-op threads (one inter-op thread); `optimize = false`
/// turns ONNX Runtime's graph optimisations off.
fn session(bytes: &[u8], threads: usize, optimize: bool) -> Result<Session, OnnxError> {
    use ort::session::builder::GraphOptimizationLevel;
    let env = environment(&ort_library()?)?;
    let level = if optimize {
        GraphOptimizationLevel::Level3
    } else {
        GraphOptimizationLevel::Disable
    };
    Session::builder(&env)
        .map_err(ort_err)?
        .with_optimization_level(level)
        .map_err(ort_err)?
        .with_intra_threads(threads)
        .map_err(ort_err)?
        .with_inter_threads(1)
        .map_err(ort_err)?
        .commit_from_memory(bytes)
        .map_err(ort_err)
}

/// An exported embedder loaded into ONNX Runtime (CPU).
pub struct OrtEmbedder {
    session: Session,
    metadata: OnnxMetadata,
}

impl OrtEmbedder {
    /// Loads a checked model with `threads` intra-op threads (one inter-op thread).
    pub fn new(model: &CheckedModel, bytes: &[u8], threads: usize) -> Result<Self, OnnxError> {
        Self::with_optimization(model, bytes, threads, true)
    }

    /// As [`Self::new`]; `optimize = false` turns ONNX Runtime's graph optimisations off, so a
    /// QDQ graph runs as written (float operators between `DequantizeLinear` and
    /// `QuantizeLinear`) instead of being fused into its int8 kernels.
    pub fn with_optimization(
        model: &CheckedModel,
        bytes: &[u8],
        threads: usize,
        optimize: bool,
    ) -> Result<Self, OnnxError> {
        Ok(Self {
            session: session(bytes, threads, optimize)?,
            metadata: model.metadata.clone(),
        })
    }

    /// Decodes, checks and loads ONNX bytes.
    pub fn from_bytes(bytes: &[u8], threads: usize) -> Result<Self, OnnxError> {
        Self::new(&read_model(bytes)?, bytes, threads)
    }

    /// Reads, checks and loads an ONNX file.
    pub fn open(path: &Path, threads: usize) -> Result<Self, OnnxError> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, threads)
    }

    /// The model's metadata.
    pub fn metadata(&self) -> &OnnxMetadata {
        &self.metadata
    }

    /// Embeddings of `n` images given as model inputs (`n × 1 × S × S`, NCHW).
    pub fn embed_inputs(&mut self, inputs: &[f32], n: usize) -> Result<Vec<f32>, OnnxError> {
        let side = usize::from(self.metadata.preprocess.out_side);
        let dim = self.metadata.embedding_dim;
        if inputs.len() != n * side * side {
            return Err(OnnxError::Input(format!(
                "{} input values for {n} images of {side}×{side}",
                inputs.len()
            )));
        }
        let x = TensorRef::from_array_view(([n, 1, side, side], inputs)).map_err(ort_err)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT => x])
            .map_err(ort_err)?;
        let (shape, values) = outputs[OUTPUT]
            .try_extract_tensor::<f32>()
            .map_err(ort_err)?;
        if **shape != [n as i64, dim as i64] {
            return Err(OnnxError::Ort(format!(
                "{OUTPUT} has shape {shape:?}, expected [{n}, {dim}]"
            )));
        }
        Ok(values.to_vec())
    }

    /// Embeds `images` (`S²` grey pixels each, preprocessed as the metadata says).
    pub fn embed(
        &mut self,
        images: &[&[u8]],
        flip_average: bool,
        progress: impl FnMut(usize),
    ) -> Result<Embeddings, OnnxError> {
        let side = usize::from(self.metadata.preprocess.out_side);
        let dim = self.metadata.embedding_dim;
        embed_batched(images, side, dim, flip_average, progress, |x, n| {
            self.embed_inputs(x, n)
        })
    }
}

/// One layer of the QDQ export ([`super::qdq_layers::layer_model`]) in ONNX Runtime (one thread).
pub struct OrtLayer {
    session: Session,
    layer: LayerModel,
}

/// What a layer model computed: the int8 output and, if the model has it, the float value it
/// rounded (both NCHW).
#[derive(Debug, Clone)]
pub struct LayerOutput {
    /// [`YQ`].
    pub quantized: Vec<i8>,
    /// [`Y`].
    pub real: Option<Vec<f32>>,
}

impl OrtLayer {
    /// Loads a layer model; `optimize` as in [`OrtEmbedder::with_optimization`].
    pub fn new(layer: LayerModel, optimize: bool) -> Result<Self, OnnxError> {
        let bytes = super::export::encode(&layer.proto);
        Ok(Self {
            session: session(&bytes, 1, optimize)?,
            layer,
        })
    }

    /// Runs the layer on its int8 inputs (NCHW, in the order of [`LayerModel::inputs`]); they are
    /// fed, and the output read, as the export's `uint8` + 128.
    pub fn run(&mut self, inputs: &[Vec<i8>]) -> Result<LayerOutput, OnnxError> {
        if inputs.len() != self.layer.inputs.len() {
            return Err(OnnxError::Input(format!(
                "{} inputs for a layer that takes {}",
                inputs.len(),
                self.layer.inputs.len()
            )));
        }
        let mut feed: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::new();
        for (t, values) in self.layer.inputs.iter().zip(inputs) {
            let offset: Vec<u8> = values.iter().map(|&v| to_u8(v)).collect();
            let tensor = Tensor::from_array((t.dims.clone(), offset)).map_err(ort_err)?;
            feed.push((Cow::Borrowed(t.name), tensor.into()));
        }
        let outputs = self.session.run(feed).map_err(ort_err)?;
        let output = |name: &str| {
            outputs
                .get(name)
                .ok_or_else(|| OnnxError::Ort(format!("the layer model produced no {name}")))
        };
        let (_, q) = output(YQ)?.try_extract_tensor::<u8>().map_err(ort_err)?;
        let real = if self.layer.float_output {
            let (_, y) = output(Y)?.try_extract_tensor::<f32>().map_err(ort_err)?;
            Some(y.to_vec())
        } else {
            None
        };
        Ok(LayerOutput {
            quantized: q.iter().map(|&v| from_u8(v)).collect(),
            real,
        })
    }
}
