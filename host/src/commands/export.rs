//! `facegate export`: a trained run → a float ONNX model (BatchNorm folded) with the metadata a
//! consumer needs, plus the `NAME.people.txt` sidecar the honesty check of `eval` reads.
//!
//! The threshold comes from a `calibration.json` written by `facegate calibrate`: the run's own,
//! or `--threshold-from`; without one the export fails. Before writing, the file is read back,
//! checked and run by tract against the plain-Rust folded reference.

use super::calibrate::read_calibration;
use super::model_source::people_sidecar;
use super::open_model;
use crate::folded::FoldedEmbedder;
use crate::onnx::export::{encode, export_float};
use crate::onnx::metadata::{hex, people_sha256, OnnxMetadata};
use crate::onnx::tract_runner::TractEmbedder;
use crate::run::{write_atomic, RunInfo};
use anyhow::{bail, Context, Result};
use burn::prelude::Device;
use facegate_shared::preprocess::input_f32;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Arguments of `facegate export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The trained run folder.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the model, e.g. `models/facegate-v1.onnx`.
    #[arg(long)]
    pub out: PathBuf,
    /// `calibration.json` holding the threshold (default: the run's own).
    #[arg(long)]
    pub threshold_from: Option<PathBuf>,
    /// Write the int8 QDQ graph of this `.fgm` blob (quantised from the same run) instead of
    /// the float graph: the device's scales, zero points, int8 weights and int32 biases.
    #[arg(long, value_name = "FGM")]
    pub int8: Option<PathBuf>,
}

/// What was exported.
#[derive(Debug)]
pub struct Exported {
    /// The `.onnx` file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// Its metadata.
    pub metadata: OnnxMetadata,
    /// Largest |tract − folded reference| over the self-check inputs.
    pub self_check_max_abs_diff: f32,
}

/// Deterministic test patterns for the export self-check (`count` images of `side²` pixels).
fn check_inputs(count: usize, side: usize) -> Vec<f32> {
    (0..count * side * side)
        .map(|i| input_f32(((i * 37 + (i / side) * 11 + i / 97) % 256) as u8))
        .collect()
}

/// Writes the QDQ graph of a blob, checks that it decodes as an embedder, and writes the sidecar.
fn export_int8(
    args: &ExportArgs,
    blob_path: &std::path::Path,
    metadata: &OnnxMetadata,
    people: &std::collections::BTreeSet<String>,
) -> Result<Exported> {
    let blob =
        std::fs::read(blob_path).with_context(|| format!("reading {}", blob_path.display()))?;
    let model = facegate_shared::blob::Model::parse(&blob)
        .with_context(|| blob_path.display().to_string())?;
    if usize::from(model.header().embedding_dim) != metadata.embedding_dim
        || model.header().input_height != metadata.preprocess.out_side
    {
        bail!(
            "{} is not a quantisation of {}: its input or embedding size differs",
            blob_path.display(),
            args.model.display()
        );
    }
    let bytes = encode(&crate::onnx::qdq::export_qdq(&model, metadata)?);
    crate::onnx::read_model(&bytes).context("the exported QDQ model does not decode")?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(&args.out, &bytes)?;
    let names: Vec<&str> = people.iter().map(String::as_str).collect();
    write_atomic(
        &people_sidecar(&args.out),
        format!("{}\n", names.join("\n")).as_bytes(),
    )?;
    println!(
        "wrote {} ({} bytes): int8 QDQ of {} (model id {}), output = int8 embedding / 128",
        args.out.display(),
        bytes.len(),
        blob_path.display(),
        hex(&model.header().model_id)
    );
    Ok(Exported {
        path: args.out.clone(),
        bytes: bytes.len(),
        metadata: metadata.clone(),
        self_check_max_abs_diff: 0.0,
    })
}

/// Runs `facegate export`.
pub fn run(args: ExportArgs) -> Result<Exported> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("onnx") {
        bail!(
            "--out {}: the file name must end in .onnx",
            args.out.display()
        );
    }
    let trained = open_model(&args.model)?;
    let (calibration, calibration_path) =
        read_calibration(&args.model, args.threshold_from.as_deref())?;
    let info: RunInfo = trained.run.read_json("run.json")?;
    let config_bytes = std::fs::read(args.model.join("config.json"))?;
    let device = Device::flex();
    let model = trained.run.load_model(&trained.config.model, &device)?;
    let folded = FoldedEmbedder::fold(&model, &trained.config.model);
    let preprocess = trained.config.preprocess();
    if usize::from(preprocess.out_side) != folded.input_side {
        bail!(
            "the run's preprocessing makes {0}×{0} images but its model takes {1}×{1}",
            preprocess.out_side,
            folded.input_side
        );
    }
    let metadata = OnnxMetadata {
        preprocess,
        embedding_dim: folded.embedding_dim(),
        threshold: calibration.threshold,
        target_far: calibration.target_far,
        measured_far: calibration.far,
        flip_averaged: calibration.flip_averaged,
        calibration_set: calibration.calibration_set.clone(),
        config_sha256: hex(&Sha256::digest(&config_bytes)),
        git_revision: info.git_revision.clone(),
        people_count: trained.people.len(),
        people_sha256: people_sha256(&trained.people),
    };
    if let Some(blob_path) = &args.int8 {
        return export_int8(&args, blob_path, &metadata, &trained.people);
    }
    let bytes = encode(&export_float(&folded, &metadata));

    // Self-check: the written bytes load, declare what they should, and compute the model.
    let tract = TractEmbedder::from_bytes(&bytes, 1).context("the exported model does not load")?;
    let side = folded.input_side;
    let n = 4;
    let inputs = check_inputs(n, side);
    let got = tract.embed_inputs(&inputs, n)?;
    let mut worst = 0.0f32;
    for (i, row) in got.chunks(metadata.embedding_dim).enumerate() {
        let reference = folded.forward(&inputs[i * side * side..(i + 1) * side * side]);
        for (a, b) in row.iter().zip(&reference.embedding) {
            worst = worst.max((a - b).abs());
        }
    }
    if worst > 1e-4 {
        bail!("self-check failed: tract differs from the folded reference by {worst:e}");
    }

    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(&args.out, &bytes)?;
    let people: Vec<&str> = trained.people.iter().map(String::as_str).collect();
    let sidecar = people_sidecar(&args.out);
    write_atomic(&sidecar, format!("{}\n", people.join("\n")).as_bytes())?;
    println!(
        "wrote {} ({} bytes, opset {}): input [N,1,{side},{side}], embedding [N,{}], threshold \
         {} (squared L2, FAR {:.0e}, from {}); tract vs folded reference max |Δ| {worst:.1e}",
        args.out.display(),
        bytes.len(),
        crate::onnx::proto::OPSET,
        metadata.embedding_dim,
        metadata.threshold,
        metadata.target_far,
        calibration_path.display()
    );
    println!(
        "wrote {} ({} training people, checked against the model's hash by eval)",
        sidecar.display(),
        people.len()
    );
    Ok(Exported {
        path: args.out,
        bytes: bytes.len(),
        metadata,
        self_check_max_abs_diff: worst,
    })
}
