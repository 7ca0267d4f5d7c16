//! `facegate calibrate`: the deployment threshold for a target false-accept rate, chosen on a
//! calibration set whose people the run never trained on, stored with the model.

use super::evaluate::score_model;
use super::model_source::ModelSource;
use super::{load_dataset, refuse_overlap};
use crate::backend::ComputeDevice;
use crate::data::{PairsFile, Person};
use crate::eval::metrics::calibrate;
use crate::eval::ScoredPair;
use anyhow::{bail, Context, Result};
use facegate_shared::distance::squared_l2;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// File name of the stored calibration inside a run folder.
pub const CALIBRATION_JSON: &str = "calibration.json";

/// Arguments of `facegate calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// The model to calibrate: a run folder (the threshold is written into it), or an exported
    /// `.onnx` (written beside it as `NAME.onnx.calibration.json`) or `.fgm`
    /// (`NAME.calibration.json`).
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset root (default: $FACEGATE_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Pairs file naming the calibration people (none of them may be in the run's training set).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Target false-accept rate.
    #[arg(long, default_value_t = 1e-3)]
    pub far: f64,
    /// Score every pair of every image of the calibration people, not only the listed pairs
    /// (far more impostor pairs, so small FARs are measured rather than extrapolated).
    #[arg(long)]
    pub exhaustive: bool,
    /// Average each embedding with its mirror image's.
    #[arg(long)]
    pub flip_average: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: ComputeDevice,
}

/// The stored threshold and how it was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Which distance the threshold applies to.
    pub distance: String,
    /// Accept iff distance ≤ threshold.
    pub threshold: f32,
    /// The FAR asked for.
    pub target_far: f64,
    /// The FAR measured at the threshold on the calibration set.
    pub far: f64,
    /// The TAR measured there.
    pub tar: Option<f64>,
    /// Different-person pairs behind the FAR.
    pub negatives: usize,
    /// Same-person pairs behind the TAR.
    pub positives: usize,
    /// What the calibration set was.
    pub calibration_set: String,
    /// Whether embeddings were flip-averaged.
    pub flip_averaged: bool,
}

/// Runs `facegate calibrate`.
pub fn run(args: CalibrateArgs) -> Result<Calibration> {
    if !(args.far > 0.0 && args.far < 1.0) {
        bail!("--far must be in (0, 1), got {}", args.far);
    }
    let source = ModelSource::open(&args.model)?;
    let pairs = PairsFile::read(&args.pairs)?;
    refuse_overlap(source.people(), source.path(), &pairs, &args.pairs)?;
    let dataset = load_dataset(args.data.clone(), source.preprocess(), false)?;
    let (scored, set) = if args.exhaustive {
        let people = pairs.people();
        let subset = dataset.retain_people(|p: &Person| people.contains(&p.name));
        let labels: Vec<usize> = subset.images().iter().map(|i| i.person).collect();
        let images: Vec<&[u8]> = (0..subset.len())
            .map(|i| subset.pixels(i).unwrap())
            .collect();
        let e = source.embed(&images, subset.side(), args.flip_average, args.device)?;
        let mut scored = Vec::with_capacity(images.len() * images.len() / 2);
        for i in 0..images.len() {
            for j in i + 1..images.len() {
                let d = squared_l2(e.row(i), e.row(j)).expect("equal embedding lengths");
                scored.push(ScoredPair::new(d, labels[i] == labels[j], 0));
            }
        }
        let set = format!(
            "every pair of the {} images of the {} people of {}",
            images.len(),
            subset.people().len(),
            args.pairs.display()
        );
        (scored, set)
    } else {
        let scored = score_model(&source, &pairs, &dataset, args.flip_average, args.device)?;
        (scored, format!("the pairs of {}", args.pairs.display()))
    };
    let point = calibrate(&scored, args.far)?;
    if point.too_few_negatives {
        eprintln!(
            "warning: {} impostor pairs cannot measure a FAR of {:.0e}; use --exhaustive or a \
             larger calibration set",
            point.negatives, args.far
        );
    }
    let calibration = Calibration {
        distance: "squared-l2".into(),
        threshold: point.threshold,
        target_far: args.far,
        far: point.far,
        tar: point.tar,
        negatives: point.negatives,
        positives: point.positives,
        calibration_set: set,
        flip_averaged: args.flip_average,
    };
    let written = match &source {
        ModelSource::Run(trained) => {
            trained.run.write_json(CALIBRATION_JSON, &calibration)?;
            trained.run.path().join(CALIBRATION_JSON)
        }
        // An exported model's calibration sits beside it: NAME.onnx.calibration.json,
        // NAME.fgm.calibration.json (a blob and an ONNX of the same NAME do not collide).
        ModelSource::Onnx(_) | ModelSource::Blob(_) => {
            let mut name = source.path().to_path_buf().into_os_string();
            name.push(".calibration.json");
            let path = PathBuf::from(name);
            crate::run::write_atomic(
                &path,
                serde_json::to_string_pretty(&calibration)?.as_bytes(),
            )?;
            path
        }
    };
    println!(
        "threshold {:.4} (squared L2): FAR {:.2e} over {} impostor pairs, TAR {} over {} genuine \
         pairs; written to {}",
        calibration.threshold,
        calibration.far,
        calibration.negatives,
        calibration
            .tar
            .map_or("n/a".into(), |t| format!("{:.2} %", 100.0 * t)),
        calibration.positives,
        written.display()
    );
    Ok(calibration)
}

/// The calibration a model is exported with: `threshold_from` if given, else the run's own
/// `calibration.json`; a clear error when neither exists (a model without a threshold cannot
/// verify anyone).
pub fn read_calibration(
    run: &std::path::Path,
    threshold_from: Option<&std::path::Path>,
) -> Result<(Calibration, PathBuf)> {
    let path = threshold_from.map_or_else(|| run.join(CALIBRATION_JSON), PathBuf::from);
    if !path.is_file() {
        bail!(
            "no threshold: {} does not exist. Run `facegate calibrate --model {}` on held-out \
             people first, or pass --threshold-from <calibration.json>",
            path.display(),
            run.display()
        );
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let calibration: Calibration = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{}: not a calibration written by `facegate calibrate`",
            path.display()
        )
    })?;
    if calibration.distance != "squared-l2" {
        bail!(
            "{}: threshold for distance {:?}; facegate models use squared-l2",
            path.display(),
            calibration.distance
        );
    }
    Ok((calibration, path))
}
