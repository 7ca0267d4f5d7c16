//! The evaluation report: figures in a serde struct, written as JSON, markdown and PNG plots.

use super::folds::{ten_fold, FoldError, FoldResult};
use super::metrics::{Eer, MetricsError, OperatingPoint, Roc};
use super::plots::{plot_histogram, plot_roc, plot_training, PlotError, TrainLogRow};
use super::ScoredPair;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// FARs at which the report gives the TAR.
pub const REPORT_FARS: [f64; 2] = [1e-2, 1e-3];
/// Bins of the distance histogram.
pub const HISTOGRAM_BINS: usize = 50;
/// The machine-readable report.
pub const REPORT_JSON: &str = "report.json";
/// The human-readable report.
pub const REPORT_MD: &str = "report.md";
/// The ROC plot.
pub const ROC_PNG: &str = "roc.png";
/// The same/different distance histogram.
pub const DISTANCES_PNG: &str = "distances.png";
/// The training curves.
pub const TRAINING_PNG: &str = "training.png";

/// Why a report could not be built or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The k-fold protocol failed.
    #[error(transparent)]
    Fold(#[from] FoldError),
    /// A metric could not be computed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// What was being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Free-text description of what was evaluated; copied into the report as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMeta {
    /// The model (name, checkpoint, hash, ...).
    pub model: String,
    /// The pairs (e.g. "LFW View 2, 6000 pairs, 10 folds").
    pub pairs_description: String,
    /// The distance the numbers are on (e.g. "squared L2", "cosine").
    pub distance: String,
    /// Embeddings were averaged with those of the horizontally flipped images.
    pub flip_averaged: bool,
}

/// Everything the evaluation found, ready to serialise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// See [`ReportMeta::model`].
    pub model: String,
    /// See [`ReportMeta::pairs_description`].
    pub pairs_description: String,
    /// See [`ReportMeta::distance`].
    pub distance: String,
    /// See [`ReportMeta::flip_averaged`].
    pub flip_averaged: bool,
    /// Number of pairs evaluated.
    pub pairs: usize,
    /// Same-person pairs among them.
    pub same_pairs: usize,
    /// Different-person pairs among them.
    pub different_pairs: usize,
    /// Mean k-fold accuracy (threshold chosen on the other folds).
    pub accuracy_mean: f64,
    /// Standard error of `accuracy_mean` (sample std / √folds).
    pub accuracy_se: f64,
    /// Per-fold results.
    pub folds: Vec<FoldResult>,
    /// The pairs came as one fold and were split into 10 interleaved, class-balanced folds.
    pub folds_split_interleaved: bool,
    /// Deployment default: the accuracy-maximising threshold on all pairs.
    pub threshold: f32,
    /// Accuracy of `threshold` on all pairs (not held out, so optimistic).
    pub threshold_accuracy: f64,
    /// ROC AUC (ties count ½).
    pub auc: f64,
    /// Equal error rate.
    pub eer: f64,
    /// Threshold at the equal error rate.
    pub eer_threshold: f32,
    /// TAR at each FAR of [`REPORT_FARS`].
    pub tar_at_far: Vec<OperatingPoint>,
}

impl EvalReport {
    /// Evaluates `pairs` (both classes, finite distances; folds as in [`ten_fold`]).
    pub fn evaluate(pairs: &[ScoredPair], meta: ReportMeta) -> Result<Self, ReportError> {
        let roc = Roc::new(pairs)?;
        let folds = ten_fold(pairs)?;
        let Eer { rate, threshold } = roc.eer();
        let tar_at_far = REPORT_FARS
            .iter()
            .map(|&far| roc.at_far(far))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            model: meta.model,
            pairs_description: meta.pairs_description,
            distance: meta.distance,
            flip_averaged: meta.flip_averaged,
            pairs: pairs.len(),
            same_pairs: roc.positives(),
            different_pairs: roc.negatives(),
            accuracy_mean: folds.accuracy_mean,
            accuracy_se: folds.accuracy_se,
            folds: folds.folds,
            folds_split_interleaved: folds.split_interleaved,
            threshold: folds.all_pairs.threshold,
            threshold_accuracy: folds.all_pairs.accuracy,
            auc: roc.auc(),
            eer: rate,
            eer_threshold: threshold,
            tar_at_far,
        })
    }
}

/// The raw inputs of the plots.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlotInputs<'a> {
    /// The scored pairs (ROC, histogram); empty to skip those plots.
    pub pairs: &'a [ScoredPair],
    /// The training log; empty to skip the training plot.
    pub training: &'a [TrainLogRow],
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// A free string made safe for one markdown table cell.
fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace(['\n', '\r'], " ");
    if s.trim().is_empty() {
        "—".to_owned()
    } else {
        s
    }
}

/// The markdown report; `plots` are `(alt text, file name)` of the images written beside it.
pub fn markdown(report: &EvalReport, plots: &[(&str, &str)]) -> String {
    let r = report;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(s, "# Face verification report\n");
    let _ = writeln!(s, "| | |\n| --- | --- |");
    let _ = writeln!(s, "| Model | {} |", cell(&r.model));
    let _ = writeln!(s, "| Pairs | {} |", cell(&r.pairs_description));
    let _ = writeln!(
        s,
        "| Pair counts | {} ({} same, {} different) |",
        r.pairs, r.same_pairs, r.different_pairs
    );
    let _ = writeln!(s, "| Distance | {} |", cell(&r.distance));
    let flip = if r.flip_averaged { "yes" } else { "no" };
    let _ = writeln!(s, "| Flip-averaged embeddings | {flip} |\n");
    let _ = writeln!(s, "## Results\n\n| Metric | Value |\n| --- | --- |");
    let _ = writeln!(
        s,
        "| Accuracy ({}-fold, mean ± SE) | {} ± {} |",
        r.folds.len(),
        percent(r.accuracy_mean),
        percent(r.accuracy_se)
    );
    let _ = writeln!(s, "| ROC AUC | {:.4} |", r.auc);
    let _ = writeln!(
        s,
        "| EER | {} (threshold {:.4}) |",
        percent(r.eer),
        r.eer_threshold
    );
    let _ = writeln!(
        s,
        "| Deployment threshold (all pairs) | {:.4} (accuracy {} on all pairs) |\n",
        r.threshold,
        percent(r.threshold_accuracy)
    );
    let _ = writeln!(s, "Accept a pair iff distance ≤ threshold.\n");
    let _ = writeln!(s, "## TAR at FAR\n");
    let _ = writeln!(
        s,
        "| Target FAR | TAR | Achieved FAR | False accepts / negatives | Threshold | Note |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    for p in &r.tar_at_far {
        let tar = p.tar.map_or_else(|| "—".to_owned(), percent);
        let note = if p.too_few_negatives {
            format!(
                "too few negatives: FAR {:.0e} needs ≥ {:.0}",
                p.target_far,
                (1.0 / p.target_far).ceil()
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {:.0e} | {tar} | {:.2e} | {} / {} | {:.4} | {note} |",
            p.target_far, p.far, p.false_accepts, p.negatives, p.threshold
        );
    }
    let _ = writeln!(s, "\n## Folds\n");
    if r.folds_split_interleaved {
        let _ = writeln!(
            s,
            "The pairs came as a single fold and were split into {} interleaved folds, \
             balanced in same and different pairs.\n",
            r.folds.len()
        );
    }
    let _ = writeln!(
        s,
        "| Fold | Pairs | Same | Threshold (other folds) | Accuracy (other folds) | Accuracy |"
    );
    let _ = writeln!(s, "| --- | --- | --- | --- | --- | --- |");
    for f in &r.folds {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {} | {} |",
            f.fold,
            f.pairs,
            f.same_pairs,
            f.threshold,
            percent(f.train_accuracy),
            percent(f.accuracy)
        );
    }
    if !plots.is_empty() {
        let _ = writeln!(s, "\n## Plots\n");
        for (alt, file) in plots {
            let _ = writeln!(s, "![{alt}]({file})\n");
        }
    }
    s
}

fn write_file(path: PathBuf, contents: &str) -> Result<PathBuf, ReportError> {
    match crate::atomic::write(&path, contents.as_bytes()) {
        Ok(()) => Ok(path),
        Err(source) => Err(ReportError::Io { path, source }),
    }
}

/// Writes `report.json`, `report.md` and the PNG plots into `dir` (created if missing); returns
/// the paths written. The ROC and histogram need `plots.pairs` (skipped when empty), the
/// training plot `plots.training` (skipped when empty).
pub fn write_report(
    dir: &Path,
    report: &EvalReport,
    plots: &PlotInputs<'_>,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut images: Vec<(&str, &str)> = Vec::new();
    if !plots.pairs.is_empty() {
        let roc = Roc::new(plots.pairs)?;
        let eer = Eer {
            rate: report.eer,
            threshold: report.eer_threshold,
        };
        let title = format!("ROC — AUC {:.4}, EER {}", report.auc, percent(report.eer));
        let path = dir.join(ROC_PNG);
        plot_roc(&path, &roc, &report.tar_at_far, Some(eer), &title)?;
        written.push(path);
        images.push(("ROC curve", ROC_PNG));
        let path = dir.join(DISTANCES_PNG);
        let title = format!("Pair distances ({})", report.distance);
        plot_histogram(&path, plots.pairs, report.threshold, HISTOGRAM_BINS, &title)?;
        written.push(path);
        images.push(("Same and different pair distances", DISTANCES_PNG));
    }
    if !plots.training.is_empty() {
        let path = dir.join(TRAINING_PNG);
        plot_training(&path, plots.training, "Training")?;
        written.push(path);
        images.push(("Training curves", TRAINING_PNG));
    }
    let json = serde_json::to_string_pretty(report)?;
    written.push(write_file(dir.join(REPORT_JSON), &json)?);
    written.push(write_file(dir.join(REPORT_MD), &markdown(report, &images))?);
    Ok(written)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
