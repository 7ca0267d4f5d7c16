//! ONNX: export of the float embedder, and inference on an exported file with tract (the
//! product's path) or ONNX Runtime (the independent cross-check).
//!
//! - [`export`]: a [`crate::folded::FoldedEmbedder`] → an ONNX `ModelProto` (prost types of
//!   `tract_onnx::pb`), input `[N,1,S,S]`, output the L2-normalised embedding `[N,D]`.
//! - [`metadata`]: the `metadata_props` a consumer needs (preprocessing, distance, threshold,
//!   provenance), read back with typed errors.
//! - [`read_model`]: decodes a file and checks its declared interface against its metadata
//!   before any runtime sees it; [`tract_runner`] and [`ort_runner`] then embed with it.

pub mod export;
pub mod metadata;
pub mod ort_runner;
pub mod proto;
pub mod qdq;
pub mod qdq_bound;
pub mod qdq_layers;
pub mod tract_runner;

#[cfg(test)]
mod tests;

use crate::inference::{mirror, Embeddings};
use facegate_shared::preprocess::input_f32;
use metadata::OnnxMetadata;
use prost::Message;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;

/// `producer_name` of exported models.
pub const PRODUCER: &str = "facegate";
/// Name of the graph input.
pub const INPUT: &str = "input";
/// Name of the graph output.
pub const OUTPUT: &str = "embedding";
/// Name of the dynamic batch dimension.
pub const BATCH_DIM: &str = "N";
/// Images per run of the graph.
pub const BATCH: usize = crate::inference::BATCH;

/// What is wrong with an ONNX file or its use.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not an ONNX protobuf (malformed or truncated).
    #[error("not a valid ONNX model (malformed or truncated protobuf): {0}")]
    Decode(#[from] prost::DecodeError),
    /// The model has no graph, or not exactly one float input and one float output.
    #[error("not a facegate embedder graph: {0}")]
    NotAnEmbedder(String),
    /// A declared input or output shape does not match the metadata.
    #[error("{name} is declared as {found}, expected {expected}")]
    Shape {
        /// The input or output.
        name: String,
        /// What the metadata calls for.
        expected: String,
        /// What the graph declares.
        found: String,
    },
    /// A `metadata_props` key the consumer needs is absent.
    #[error("metadata key {0} is missing (was the model exported by `facegate export`?)")]
    MissingMetadata(&'static str),
    /// A `metadata_props` value is malformed or unsupported.
    #[error("metadata key {key} is {value:?}, expected {expected}")]
    BadMetadata {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The training-people list does not match the model's recorded count and hash.
    #[error(
        "the people list does not belong to this model: the model trained on {expected_count} \
         people, the list names {found_count} (or different ones: hash mismatch)"
    )]
    PeopleMismatch {
        /// Count recorded in the model.
        expected_count: usize,
        /// Count in the list.
        found_count: usize,
    },
    /// Input buffers of the wrong size.
    #[error("{0}")]
    Input(String),
    /// tract could not load or run the graph.
    #[error("tract: {0}")]
    Tract(String),
    /// The ONNX Runtime library is not where `ORT_DYLIB_PATH` says (or it is unset).
    #[error(
        "ONNX Runtime library {0}: set ORT_DYLIB_PATH to libonnxruntime.so.1.32.0 of PyPI's \
         onnxruntime==1.32.0 (`python3 -c 'import onnxruntime, os; print(os.path.dirname(\
         onnxruntime.__file__))'`/capi), or run through scripts/test, which sets it"
    )]
    OrtLibrary(String),
    /// ONNX Runtime failed.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
}

/// A decoded model whose declared interface matches its metadata.
#[derive(Debug, Clone)]
pub struct CheckedModel {
    /// The protobuf.
    pub proto: pb::ModelProto,
    /// Its metadata.
    pub metadata: OnnxMetadata,
}

fn dims_of(info: &pb::ValueInfoProto) -> Option<Vec<Option<i64>>> {
    let Some(pb::type_proto::Value::TensorType(t)) = info.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    if t.elem_type != pb::tensor_proto::DataType::Float as i32 {
        return None;
    }
    Some(
        t.shape
            .as_ref()?
            .dim
            .iter()
            .map(|d| match d.value {
                Some(Dim::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect(),
    )
}

fn show(dims: &[Option<i64>]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".into(), |v| v.to_string()))
        .collect();
    format!("[{}]", d.join(","))
}

fn check_shape(
    info: &pb::ValueInfoProto,
    expected: &[Option<i64>],
    what: &str,
) -> Result<(), OnnxError> {
    let dims = dims_of(info).ok_or_else(|| {
        OnnxError::NotAnEmbedder(format!("{what} {} is not a float tensor", info.name))
    })?;
    let ok = dims.len() == expected.len()
        && dims
            .iter()
            .zip(expected)
            .all(|(d, e)| e.is_none() || d == e);
    if ok {
        Ok(())
    } else {
        Err(OnnxError::Shape {
            name: format!("{what} {}", info.name),
            expected: show(expected),
            found: show(&dims),
        })
    }
}

/// Decodes an ONNX file and checks it is an embedder as its metadata describes: one float input
/// `[N,1,S,S]`, one float output `[N,D]`, every metadata key present.
pub fn read_model(bytes: &[u8]) -> Result<CheckedModel, OnnxError> {
    let proto = pb::ModelProto::decode(bytes)?;
    let props: BTreeMap<String, String> = proto
        .metadata_props
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| OnnxError::NotAnEmbedder("the model has no graph".into()))?;
    let metadata = OnnxMetadata::from_props(&props)?;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .collect();
    if inputs.len() != 1 || graph.output.len() != 1 {
        return Err(OnnxError::NotAnEmbedder(format!(
            "{} inputs and {} outputs, expected one of each",
            inputs.len(),
            graph.output.len()
        )));
    }
    let side = i64::from(metadata.preprocess.out_side);
    check_shape(inputs[0], &[None, Some(1), Some(side), Some(side)], "input")?;
    let dim = metadata.embedding_dim as i64;
    check_shape(&graph.output[0], &[None, Some(dim)], "output")?;
    Ok(CheckedModel { proto, metadata })
}

/// Reads and checks an ONNX file.
pub fn read_model_file(path: &std::path::Path) -> Result<CheckedModel, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_model(&bytes)
}

/// Model inputs of `images` (`side²` pixels each), NCHW.
pub fn inputs_of(images: &[&[u8]]) -> Vec<f32> {
    images
        .iter()
        .flat_map(|i| i.iter().map(|&p| input_f32(p)))
        .collect()
}

/// Embeds `images` in batches of [`BATCH`] through `run` (model inputs of `n` images → `n × dim`
/// embeddings). With `flip_average`, each embedding is the L2-normalised sum of the image's and
/// its mirror image's, as [`crate::inference::embed`] does.
pub fn embed_batched(
    images: &[&[u8]],
    side: usize,
    dim: usize,
    flip_average: bool,
    mut progress: impl FnMut(usize),
    mut run: impl FnMut(&[f32], usize) -> Result<Vec<f32>, OnnxError>,
) -> Result<Embeddings, OnnxError> {
    if let Some(bad) = images.iter().find(|i| i.len() != side * side) {
        return Err(OnnxError::Input(format!(
            "an image has {} pixels, the model takes {side}×{side}",
            bad.len()
        )));
    }
    let mut values = Vec::with_capacity(images.len() * dim);
    for chunk in images.chunks(BATCH) {
        let mut out = run(&inputs_of(chunk), chunk.len())?;
        if flip_average {
            let mirrored: Vec<Vec<u8>> = chunk.iter().map(|i| mirror(i, side)).collect();
            let refs: Vec<&[u8]> = mirrored.iter().map(Vec::as_slice).collect();
            let m = run(&inputs_of(&refs), chunk.len())?;
            crate::inference::add_mirrored_and_normalize(&mut out, &m, dim);
        }
        values.extend(out);
        progress(chunk.len());
    }
    Ok(Embeddings { values, dim })
}
