//! Activation ranges from a calibration set, and the int8 quantisation parameters they give.

use crate::folded::{Activations, FoldedEmbedder};
use facegate_shared::preprocess::input_f32;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How a tensor's float range is chosen from the values seen in calibration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, clap::ValueEnum, Default)]
pub enum RangeMethod {
    /// The smallest and largest value seen (TFLite's default post-training quantisation).
    #[default]
    MinMax,
    /// The `--percentile` and `100 − percentile` quantiles: clips rare outliers for a finer
    /// step on the bulk of the values.
    Percentile,
}

/// The float range of one activation tensor.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Lowest value represented.
    pub min: f32,
    /// Highest value represented.
    pub max: f32,
}

/// Per-tensor asymmetric int8 parameters: `real = scale · (q − zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantParams {
    /// Step.
    pub scale: f32,
    /// The int8 value of real 0.
    pub zero_point: i32,
}

impl Range {
    /// TFLite's choice: widen the range to include 0, `scale = (max − min) / 255`,
    /// `zero_point = round(−128 − min / scale)`, so real 0 is exactly representable.
    pub fn quant_params(&self) -> QuantParams {
        let min = self.min.min(0.0);
        let max = self.max.max(0.0);
        let scale = ((max - min) / 255.0).max(1e-8);
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
        QuantParams { scale, zero_point }
    }
}

/// Named ranges of every tap of [`FoldedEmbedder::forward`].
pub type TapRanges = Vec<(String, Range)>;

fn quantile(sorted: &[f32], q: f64) -> f32 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the float model on `images` (`side²` grey pixels each) and returns every tap's range.
pub fn tap_ranges(
    model: &FoldedEmbedder,
    images: &[&[u8]],
    method: RangeMethod,
    percentile: f64,
) -> TapRanges {
    let runs: Vec<Activations> = images
        .par_iter()
        .map(|image| {
            let input: Vec<f32> = image.iter().map(|&p| input_f32(p)).collect();
            model.forward(&input)
        })
        .collect();
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    (0..first.taps.len())
        .map(|t| {
            let name = first.taps[t].0.clone();
            let range = match method {
                RangeMethod::MinMax => {
                    let mut r = Range {
                        min: f32::INFINITY,
                        max: f32::NEG_INFINITY,
                    };
                    for run in &runs {
                        for &v in &run.taps[t].1 {
                            r.min = r.min.min(v);
                            r.max = r.max.max(v);
                        }
                    }
                    r
                }
                RangeMethod::Percentile => {
                    let mut all: Vec<f32> = runs
                        .iter()
                        .flat_map(|r| r.taps[t].1.iter().copied())
                        .collect();
                    all.sort_by(f32::total_cmp);
                    let lo = (100.0 - percentile) / 100.0;
                    Range {
                        min: quantile(&all, lo),
                        max: quantile(&all, percentile / 100.0),
                    }
                }
            };
            (name, range)
        })
        .collect()
}
