//! Verification metrics, reports and plots, independent of any model.
//!
//! The input is one [`ScoredPair`] per face pair: its distance (smaller = more alike), whether the
//! two faces are the same person, and its LFW fold. Everything downstream is a pure function of
//! those triples:
//!
//! - [`metrics`]: ROC curve, ROC AUC, EER, TAR at a FAR, threshold calibration, the
//!   accuracy-maximising threshold. A pair is *accepted* (predicted "same") iff
//!   `distance <= threshold`, as on the device (`facegate_shared::verify`).
//! - [`folds`]: LFW's 10-fold protocol (threshold chosen on nine folds, accuracy measured on the
//!   tenth), and the deterministic interleaved split used when the pairs come as one fold (View 1).
//! - [`report`]: [`EvalReport`](report::EvalReport), and
//!   [`write_report`](report::write_report) which writes `report.json`, `report.md` and the plots.
//! - [`plots`]: PNG plots (ROC, distance histograms, training curves) with an embedded font.
//!
//! Bad input (no pairs, one class only, NaN or infinite distances) is a typed error, never a panic.

pub mod folds;
mod font;
pub mod metrics;
pub mod plots;
pub mod report;

use serde::{Deserialize, Serialize};

pub use folds::{ten_fold, FoldError, FoldResult, TenFold};
pub use metrics::{MetricsError, OperatingPoint, Roc, RocPoint};
pub use plots::{PlotError, TrainLogRow};
pub use report::{write_report, EvalReport, PlotInputs, ReportError, ReportMeta};

/// One evaluated face pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredPair {
    /// Distance between the two embeddings; smaller means more alike.
    pub distance: f32,
    /// Whether both faces show the same person (a positive, "genuine" pair).
    pub same: bool,
    /// LFW fold index (`0..10` for View 2; all `0` for View 1).
    pub fold: usize,
}

impl ScoredPair {
    /// A pair in fold `fold`.
    pub fn new(distance: f32, same: bool, fold: usize) -> Self {
        Self {
            distance,
            same,
            fold,
        }
    }
}
