//! What a metric-learning run needs to see at every log step, and the warnings for the two
//! classic failures: collapsed embeddings and a triplet loss stuck at the margin.

use crate::loss::TripletDistances;
use crate::mining::{PairView, Triplets};
use crate::tensors::{to_bool, to_f32};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// Batch statistics at one log step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Global step (batches seen).
    pub step: usize,
    /// Epoch, counted from 0.
    pub epoch: usize,
    /// The loss value.
    pub loss: f32,
    /// Share of mined triplets with a positive hinge `d_ap² + α − d_an² > 0`.
    pub active_fraction: f32,
    /// Mean squared anchor–positive distance of the mined triplets.
    pub mean_d_ap: f32,
    /// Mean squared anchor–negative distance of the mined triplets.
    pub mean_d_an: f32,
    /// Shares of all (anchor–positive pair, negative) candidates that are easy, semi-hard, hard.
    pub easy_share: f32,
    /// See `easy_share`.
    pub semi_hard_share: f32,
    /// See `easy_share`.
    pub hard_share: f32,
    /// Mean squared distance between distinct batch items (≈ 2 for spread-out unit vectors).
    pub spread: f32,
    /// Triplets mined in this batch.
    pub triplets: usize,
    /// Learning rate used for this step.
    pub learning_rate: f64,
    /// Images per second over the last log interval.
    pub images_per_second: f32,
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

fn share(flags: &[bool], among: &[bool]) -> f32 {
    let total = among.iter().filter(|&&x| x).count();
    let hits = flags.iter().zip(among).filter(|(&f, &a)| f && a).count();
    if total == 0 {
        0.0
    } else {
        hits as f32 / total as f32
    }
}

/// Computes the batch statistics from the detached squared-distance matrix and the triplets.
pub fn batch_stats(
    squared: Tensor<2>,
    labels: &[u32],
    triplets: &Triplets,
    alpha: f32,
) -> StepStats {
    let squared = squared.detach();
    let b = labels.len();
    let mut stats = StepStats {
        triplets: triplets.len(),
        ..StepStats::default()
    };
    if b > 1 {
        let all = to_f32(squared.clone());
        let off_diagonal: f32 = all.iter().sum(); // the diagonal is 0
        stats.spread = off_diagonal / (b * (b - 1)) as f32;
    }
    if let Some(d) = TripletDistances::gather(squared.clone(), triplets) {
        let ap = to_f32(d.ap_squared);
        let an = to_f32(d.an_squared);
        stats.mean_d_ap = mean(&ap);
        stats.mean_d_an = mean(&an);
        let active = ap
            .iter()
            .zip(&an)
            .filter(|(p, n)| (**p + alpha) - **n > 0.0)
            .count();
        stats.active_fraction = active as f32 / ap.len() as f32;
    }
    if let Some(view) = PairView::new(squared, labels) {
        let negative = to_bool(view.negative.clone());
        let hard = to_bool(view.hard());
        let semi = to_bool(view.semi_hard(alpha));
        stats.hard_share = share(&hard, &negative);
        stats.semi_hard_share = share(&semi, &negative);
        stats.easy_share = (1.0 - stats.hard_share - stats.semi_hard_share).max(0.0);
    }
    stats
}

/// Watches the log for failures and says what it sees, once per episode.
#[derive(Debug, Default)]
pub struct FailureWatch {
    stuck_at_margin: usize,
    collapsed: bool,
}

/// Spread below which the embeddings are taken to have collapsed onto one point.
pub const COLLAPSE_SPREAD: f32 = 0.01;
/// Consecutive log steps with the loss within 1e-3 of α before the "stuck" warning.
pub const STUCK_LOGS: usize = 3;

impl FailureWatch {
    /// Returns a warning for this step, if any.
    pub fn check(&mut self, stats: &StepStats, alpha: f32, triplet_hinge: bool) -> Option<String> {
        if stats.spread < COLLAPSE_SPREAD {
            // Once per episode: again only after the spread has recovered in between.
            if std::mem::replace(&mut self.collapsed, true) {
                return None;
            }
            return Some(format!(
                "WARNING: embeddings have collapsed (mean squared distance {:.2e} < {COLLAPSE_SPREAD}): \
                 lower the learning rate or use semi-hard instead of hard negatives",
                stats.spread
            ));
        }
        self.collapsed = false;
        if triplet_hinge && (stats.loss - alpha).abs() < 1e-3 {
            self.stuck_at_margin += 1;
            if self.stuck_at_margin == STUCK_LOGS {
                return Some(format!(
                    "WARNING: the loss has stuck at α = {alpha} for {STUCK_LOGS} log steps: \
                     every triplet has d_ap ≈ d_an (collapse); lower the learning rate"
                ));
            }
        } else {
            self.stuck_at_margin = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::{mine, Miner};
    use crate::tensors::floats;

    #[test]
    fn collapsed_embeddings_raise_the_warning() {
        let device = Device::flex();
        let squared = floats(vec![0.0; 16], [4, 4], &device);
        let labels = [0, 0, 1, 1];
        let t = mine(Miner::BatchAll, squared.clone(), &labels, 0.2, 0);
        let mut stats = batch_stats(squared, &labels, &t, 0.2);
        assert_eq!(stats.spread, 0.0);
        assert_eq!(stats.active_fraction, 1.0);
        assert_eq!(stats.hard_share, 1.0);
        stats.loss = 0.2;
        let mut watch = FailureWatch::default();
        let warning = watch.check(&stats, 0.2, true).unwrap();
        assert!(warning.contains("collapsed"));
        assert!(
            watch.check(&stats, 0.2, true).is_none(),
            "once per episode, not at every log step"
        );
        let recovered = StepStats {
            spread: 1.0,
            ..stats.clone()
        };
        assert!(watch.check(&recovered, 0.2, true).is_none());
        assert!(
            watch.check(&stats, 0.2, true).is_some(),
            "a new episode warns again"
        );
    }

    #[test]
    fn a_loss_stuck_at_alpha_warns_once_after_three_logs() {
        let stats = StepStats {
            loss: 0.2,
            spread: 1.0,
            ..StepStats::default()
        };
        let mut watch = FailureWatch::default();
        let warnings: Vec<_> = (0..5).map(|_| watch.check(&stats, 0.2, true)).collect();
        assert_eq!(warnings.iter().filter(|w| w.is_some()).count(), 1);
        assert!(warnings[2].as_ref().unwrap().contains("stuck"));
    }

    #[test]
    fn shares_partition_the_negatives() {
        let device = Device::flex();
        #[rustfmt::skip]
        let d = vec![
            0.0, 0.5, 0.6, 1.5,
            0.5, 0.0, 0.3, 2.0,
            0.6, 0.3, 0.0, 0.4,
            1.5, 2.0, 0.4, 0.0,
        ];
        let labels = [0, 0, 1, 1];
        let squared = floats(d, [4, 4], &device);
        let t = mine(Miner::SemiHard, squared.clone(), &labels, 0.2, 0);
        let s = batch_stats(squared, &labels, &t, 0.2);
        let total = s.easy_share + s.semi_hard_share + s.hard_share;
        assert!((total - 1.0).abs() < 1e-6);
        // Pairs (0,1), (1,0), (2,3), (3,2) × 2 negatives: semi 0→2 (0.6 in (0.5,0.7)), 3→... :
        // hard: 1→2 (0.3 ≤ 0.5), 2→1 (0.3 ≤ 0.4); semi: 0→2; easy: the rest (5 of 8).
        assert!((s.hard_share - 0.25).abs() < 1e-6, "{s:?}");
        assert!((s.semi_hard_share - 0.125).abs() < 1e-6, "{s:?}");
    }
}
