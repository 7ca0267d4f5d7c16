//! `facegate eval`: LFW-protocol verification accuracy of a trained model on a pairs file.

use super::model_source::ModelSource;
use super::{load_dataset, refuse_overlap};
use crate::backend::ComputeDevice;
use crate::data::{Dataset, PairsFile};
use crate::eval::{write_report, EvalReport, PlotInputs, ReportMeta, ScoredPair, TrainLogRow};
use crate::inference::score_pairs;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Arguments of `facegate eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// The model: a run folder (float, burn), an exported `.onnx` (float, tract) or an int8
    /// `.fgm` blob (device arithmetic).
    #[arg(long)]
    pub model: PathBuf,
    /// Dataset root holding the pairs' images (default: $FACEGATE_DATA).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// LFW-format pairs file: View 1 (`pairsDevTest.txt`) or View 2 (`pairs.txt`).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Evaluate only fold K (1-based) of a View 2 file: the View 2 protocol for a run trained with
    /// `--exclude-pairs pairs.txt --fold K`. The fold's 600 pairs are split into ten interleaved
    /// sub-folds, each scored with the threshold chosen on the other nine.
    #[arg(long)]
    pub fold: Option<usize>,
    /// Write report.json, report.md and PNG plots into this folder.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Average each embedding with its mirror image's (test-time augmentation).
    #[arg(long)]
    pub flip_average: bool,
    /// Compute backend.
    #[arg(long, value_enum, default_value = "flex")]
    pub device: ComputeDevice,
    /// Decode every image again instead of using the decoded-image cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// Embeds the images of `pairs` with the model and scores every pair.
pub fn score_model(
    source: &ModelSource,
    pairs: &PairsFile,
    dataset: &Dataset,
    flip_average: bool,
    device: ComputeDevice,
) -> Result<Vec<ScoredPair>> {
    let resolved = pairs.resolve_in(dataset)?;
    let mut rows: HashMap<usize, usize> = HashMap::new();
    let mut order = Vec::new();
    for &(a, b) in &resolved {
        for i in [a, b] {
            rows.entry(i).or_insert_with(|| {
                order.push(i);
                order.len() - 1
            });
        }
    }
    let images: Vec<&[u8]> = order
        .iter()
        .map(|&i| {
            dataset
                .pixels(i)
                .expect("resolved indices are in the dataset")
        })
        .collect();
    let embeddings = source.embed(&images, dataset.side(), flip_average, device)?;
    let row_pairs: Vec<(usize, usize)> = resolved.iter().map(|(a, b)| (rows[a], rows[b])).collect();
    Ok(score_pairs(
        &embeddings,
        &row_pairs,
        |i| pairs.pairs[i].same,
        |i| pairs.pairs[i].fold,
    ))
}

fn describe(pairs: &PairsFile, path: &Path) -> String {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    format!(
        "{name}: {} pairs in {} fold(s) of {}",
        pairs.pairs.len(),
        pairs.folds,
        pairs.per_fold
    )
}

/// Runs `facegate eval`; returns the report.
pub fn run(args: EvalArgs) -> Result<EvalReport> {
    let source = ModelSource::open(&args.model)?;
    let mut pairs = PairsFile::read(&args.pairs)?;
    if let Some(k) = args.fold {
        let folds = pairs.folds;
        pairs = k
            .checked_sub(1)
            .and_then(|k| pairs.only_fold(k))
            .with_context(|| {
                format!("--fold {k}: {} has folds 1..={folds}", args.pairs.display())
            })?;
    }
    refuse_overlap(source.people(), source.path(), &pairs, &args.pairs)?;
    let dataset = load_dataset(args.data.clone(), source.preprocess(), args.no_cache)?;
    let scored = score_model(&source, &pairs, &dataset, args.flip_average, args.device)?;
    let meta = ReportMeta {
        model: args.model.display().to_string(),
        pairs_description: match args.fold {
            Some(k) => format!("{} — fold {k} only", describe(&pairs, &args.pairs)),
            None => describe(&pairs, &args.pairs),
        },
        distance: "squared L2".into(),
        flip_averaged: args.flip_average,
    };
    let report = EvalReport::evaluate(&scored, meta)?;
    println!(
        "accuracy {:.2} % ± {:.2} (10-fold, threshold from the other folds), AUC {:.4}, EER {:.2} %, \
         threshold {:.4} (squared L2)",
        100.0 * report.accuracy_mean,
        100.0 * report.accuracy_se,
        report.auc,
        100.0 * report.eer,
        report.threshold
    );
    for point in &report.tar_at_far {
        match point.tar {
            Some(tar) => println!(
                "TAR {:.2} % at FAR {:.0e} ({} negatives)",
                100.0 * tar,
                point.target_far,
                point.negatives
            ),
            None => println!(
                "TAR at FAR {:.0e}: too few negatives ({})",
                point.target_far, point.negatives
            ),
        }
    }
    if let Some(dir) = &args.report {
        let training: Vec<TrainLogRow> = source.training_log();
        let written = write_report(
            dir,
            &report,
            &PlotInputs {
                pairs: &scored,
                training: &training,
            },
        )
        .with_context(|| format!("writing the report into {}", dir.display()))?;
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(report)
}
