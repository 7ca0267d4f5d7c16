use super::*;
use proptest::prelude::*;

/// Pairs in fold 0 from `(distance, same)`.
fn pairs(v: &[(f32, bool)]) -> Vec<ScoredPair> {
    v.iter().map(|&(d, s)| ScoredPair::new(d, s, 0)).collect()
}

const S: bool = true;
const D: bool = false;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn perfectly_separable() {
    let p = pairs(&[(0.1, S), (0.2, S), (0.8, D), (0.9, D)]);
    let best = best_threshold(&p).unwrap();
    assert_eq!(best.accuracy, 1.0);
    assert_eq!(best.threshold, 0.5);
    let roc = Roc::new(&p).unwrap();
    assert_eq!(roc.auc(), 1.0);
    let eer = roc.eer();
    assert_eq!(eer.rate, 0.0);
    assert!(eer.threshold >= 0.2 && eer.threshold < 0.8);
    let op = roc.at_far(0.0).unwrap();
    assert_eq!((op.tar, op.far, op.threshold), (Some(1.0), 0.0, 0.5));
}

#[test]
fn fully_inverted() {
    let p = pairs(&[(0.8, S), (0.9, S), (0.1, D), (0.2, D)]);
    let roc = Roc::new(&p).unwrap();
    assert_eq!(roc.auc(), 0.0);
    assert_eq!(roc.eer().rate, 1.0);
    // Nothing beats chance; the smallest such threshold (reject all) wins the tie.
    let best = best_threshold(&p).unwrap();
    assert_eq!(best.accuracy, 0.5);
    assert!(best.threshold < 0.1);
}

/// S 0.2, D 0.4, S 0.6, D 0.8, worked by hand.
#[test]
fn four_pair_example() {
    let p = pairs(&[(0.6, S), (0.2, S), (0.8, D), (0.4, D)]);
    // Thresholds: reject all 2/4; 0.3 → 3/4; 0.5 → 2/4; 0.7 → 3/4; accept all 2/4.
    let best = best_threshold(&p).unwrap();
    assert_eq!(best.accuracy, 0.75);
    assert_eq!(best.threshold, midpoint(0.2, 0.4));
    assert!((best.threshold - 0.3).abs() < 1e-7);
    for (t, want) in [(0.1, 0.5), (0.3, 0.75), (0.5, 0.5), (0.7, 0.75), (1.0, 0.5)] {
        assert_eq!(accuracy_at(&p, t).unwrap(), want, "threshold {t}");
    }
    // (S, D) orderings: (.2,.4) (.2,.8) (.6,.8) right, (.6,.4) wrong.
    let roc = Roc::new(&p).unwrap();
    assert_eq!(roc.auc(), 0.75);
    assert_eq!((roc.positives(), roc.negatives()), (2, 2));
    let tars: Vec<(f64, f64)> = roc.points().iter().map(|p| (p.far, p.tar)).collect();
    assert_eq!(
        tars,
        [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]
    );
    // At threshold 0.4: FAR = 1/2 (D 0.4 accepted) = FRR (S 0.6 rejected).
    assert_eq!(
        roc.eer(),
        Eer {
            rate: 0.5,
            threshold: 0.4
        }
    );
    let op = roc.at_far(0.0).unwrap();
    assert_eq!((op.tar, op.far, op.false_accepts), (Some(0.5), 0.0, 0));
    assert_eq!(op.threshold, midpoint(0.2, 0.4));
    assert!(op.too_few_negatives, "FAR 0 is never resolvable");
    let op = roc.at_far(0.5).unwrap();
    assert_eq!((op.tar, op.far, op.false_accepts), (Some(1.0), 0.5, 1));
    assert_eq!(op.threshold, midpoint(0.6, 0.8));
    assert!(!op.too_few_negatives, "2 negatives resolve FAR 1/2");
}

#[test]
fn ties_count_half() {
    let roc = Roc::new(&pairs(&[(0.5, S), (0.5, D)])).unwrap();
    assert_eq!(roc.auc(), 0.5);
    assert_eq!(roc.eer().rate, 0.5);
    // S .1, S .5, D .5, D .9: orderings 1 + 1 + ½ + 1 = 3.5 of 4.
    let p = pairs(&[(0.1, S), (0.5, S), (0.5, D), (0.9, D)]);
    let roc = Roc::new(&p).unwrap();
    assert_eq!(roc.auc(), 0.875);
    // The tie moves the curve diagonally from (0, ½) to (½, 1): FAR = FRR = ¼ halfway.
    let eer = roc.eer();
    assert_eq!(eer.rate, 0.25);
    assert!((eer.threshold - 0.3).abs() < 1e-6);
    // A threshold at the tied distance accepts both tied pairs.
    assert_eq!(accuracy_at(&p, 0.5).unwrap(), 0.75);
    let best = best_threshold(&p).unwrap();
    assert_eq!(best.accuracy, 0.75);
    assert_eq!(best.threshold, midpoint(0.1, 0.5));
    // -0.0 and +0.0 are one distance.
    assert_eq!(auc(&pairs(&[(-0.0, S), (0.0, D)])).unwrap(), 0.5);
}

#[test]
fn one_distinct_distance() {
    let p = pairs(&[(1.0, S), (1.0, S), (1.0, D)]);
    let best = best_threshold(&p).unwrap();
    assert_eq!((best.threshold, best.accuracy), (1.0, 2.0 / 3.0));
    let p = pairs(&[(1.0, D), (1.0, D), (1.0, S)]);
    let best = best_threshold(&p).unwrap();
    assert!(best.threshold < 1.0);
    assert_eq!(best.accuracy, 2.0 / 3.0);
}

#[test]
fn bad_input_is_a_typed_error() {
    for f in [
        |p: &[ScoredPair]| auc(p).map(|_| ()),
        |p: &[ScoredPair]| best_threshold(p).map(|_| ()),
        |p: &[ScoredPair]| accuracy_at(p, 1.0).map(|_| ()),
        |p: &[ScoredPair]| calibrate(p, 0.1).map(|_| ()),
    ] {
        assert_eq!(f(&[]), Err(MetricsError::Empty));
        let nan = pairs(&[(0.1, S), (f32::NAN, D)]);
        assert!(matches!(
            f(&nan),
            Err(MetricsError::NonFinite { index: 1, .. })
        ));
        let inf = pairs(&[(f32::INFINITY, S), (0.1, D)]);
        assert!(matches!(
            f(&inf),
            Err(MetricsError::NonFinite { index: 0, .. })
        ));
    }
    let same = pairs(&[(0.1, S), (0.2, S)]);
    let different = pairs(&[(0.1, D)]);
    assert_eq!(Roc::new(&same), Err(MetricsError::NoDifferentPairs));
    assert_eq!(Roc::new(&different), Err(MetricsError::NoSamePairs));
    assert_eq!(auc(&same), Err(MetricsError::NoDifferentPairs));
    assert_eq!(calibrate(&same, 0.1), Err(MetricsError::NoDifferentPairs));
    // Accuracy is defined for one class alone.
    assert_eq!(best_threshold(&same).unwrap().accuracy, 1.0);
    assert_eq!(best_threshold(&different).unwrap().accuracy, 1.0);
    let p = pairs(&[(0.1, S), (0.2, D)]);
    assert_eq!(
        accuracy_at(&p, f32::NAN),
        Err(MetricsError::InvalidThreshold)
    );
    let roc = Roc::new(&p).unwrap();
    for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(matches!(roc.at_far(bad), Err(MetricsError::InvalidFar(_))));
    }
}

#[test]
fn too_few_negatives_are_flagged() {
    let mut v: Vec<(f32, bool)> = (0..500).map(|i| (1.0 + i as f32, D)).collect();
    v.push((0.5, S));
    let roc = Roc::new(&pairs(&v)).unwrap();
    let at_2 = roc.at_far(1e-2).unwrap();
    let at_3 = roc.at_far(1e-3).unwrap();
    assert_eq!((at_2.negatives, at_2.too_few_negatives), (500, false));
    assert_eq!((at_3.negatives, at_3.too_few_negatives), (500, true));
    assert_eq!(at_2.false_accepts, 5);
    assert_eq!(at_3.false_accepts, 0);
    // Exactly 1/FAR negatives is enough.
    v.extend((0..500).map(|i| (1000.0 + i as f32, D)));
    let roc = Roc::new(&pairs(&v)).unwrap();
    assert!(!roc.at_far(1e-3).unwrap().too_few_negatives);
}

#[test]
fn calibration_by_hand() {
    // Negatives at 1..=10, positives at 0.5, 3.5, 20. FAR ≤ 0.2 allows two false accepts.
    let mut v: Vec<(f32, bool)> = (1..=10).map(|i| (i as f32, D)).collect();
    v.extend([(0.5, S), (3.5, S), (20.0, S)]);
    let c = calibrate(&pairs(&v), 0.2).unwrap();
    assert_eq!(c.threshold, 2.5);
    assert_eq!((c.far, c.false_accepts, c.negatives), (0.2, 2, 10));
    assert_eq!(c.tar, Some(1.0 / 3.0));
    assert!(!c.too_few_negatives);
    // Negatives only: a threshold and FAR, no TAR.
    let neg: Vec<(f32, bool)> = (1..=10).map(|i| (i as f32, D)).collect();
    let c = calibrate(&pairs(&neg), 0.35).unwrap();
    assert_eq!(
        (c.threshold, c.far, c.tar, c.positives),
        (3.5, 0.3, None, 0)
    );
    // FAR 1 accepts everything.
    let c = calibrate(&pairs(&v), 1.0).unwrap();
    assert_eq!((c.threshold, c.far, c.tar), (20.0, 1.0, Some(1.0)));
}

#[test]
fn threshold_helpers() {
    assert_eq!(midpoint(0.0, 1.0), 0.5);
    let up = f32::from_bits(1.0f32.to_bits() + 1);
    assert_eq!(midpoint(1.0, up), 1.0, "adjacent floats: the lower one");
    assert_eq!(next_down(1.0), f32::from_bits(1.0f32.to_bits() - 1));
    assert!(next_down(0.0) < 0.0);
    assert!(next_down(-1.0) < -1.0);
}

/// Trapezoidal area under the ROC points.
fn trapezoid(roc: &Roc) -> f64 {
    roc.points()
        .windows(2)
        .map(|w| (w[1].far - w[0].far) * (w[1].tar + w[0].tar) / 2.0)
        .sum()
}

fn arb_pairs() -> impl Strategy<Value = Vec<ScoredPair>> {
    // Few distinct values so that ties are common.
    prop::collection::vec((0u8..40, any::<bool>()), 1..80).prop_map(|v| {
        v.into_iter()
            .map(|(d, s)| ScoredPair::new(f32::from(d) / 8.0, s, 0))
            .collect()
    })
}

proptest! {
    #[test]
    fn rates_are_probabilities(p in arb_pairs()) {
        let best = best_threshold(&p).unwrap();
        prop_assert!((0.0..=1.0).contains(&best.accuracy));
        prop_assert_eq!(accuracy_at(&p, best.threshold).unwrap(), best.accuracy);
        // Optimal over every threshold at an observed distance.
        for q in &p {
            prop_assert!(accuracy_at(&p, q.distance).unwrap() <= best.accuracy);
        }
        if let Ok(roc) = Roc::new(&p) {
            let a = roc.auc();
            prop_assert!((0.0..=1.0).contains(&a));
            prop_assert!(close(a, trapezoid(&roc)), "rank AUC {} vs trapezoid {}", a, trapezoid(&roc));
            let e = roc.eer();
            prop_assert!((0.0..=1.0).contains(&e.rate));
        }
    }

    #[test]
    fn auc_of_negated_distances_is_complement(raw in prop::collection::vec((-1000i32..1000, any::<bool>()), 2..60)) {
        let mut raw = raw;
        raw.sort_by_key(|r| r.0);
        raw.dedup_by_key(|r| r.0);
        let p: Vec<ScoredPair> = raw.iter().map(|&(d, s)| ScoredPair::new(d as f32 / 7.0, s, 0)).collect();
        let n: Vec<ScoredPair> = p.iter().map(|q| ScoredPair { distance: -q.distance, ..*q }).collect();
        if let (Ok(a), Ok(b)) = (auc(&p), auc(&n)) {
            prop_assert!(close(a + b, 1.0), "{} + {}", a, b);
        }
    }

    #[test]
    fn calibration_meets_target_and_is_maximal(p in arb_pairs(), target in 0.0f64..=1.0) {
        let Ok(c) = calibrate(&p, target) else {
            prop_assert!(p.iter().all(|q| q.same));
            return Ok(());
        };
        prop_assert!(c.far <= target);
        let negatives = p.iter().filter(|q| !q.same).count();
        let fa = |t: f32| p.iter().filter(|q| !q.same && q.distance <= t).count();
        prop_assert_eq!(fa(c.threshold), c.false_accepts);
        prop_assert_eq!(c.false_accepts as f64 / negatives as f64, c.far);
        // The next observed distance above the threshold would break the target.
        if let Some(next) = p.iter().map(|q| q.distance).filter(|&d| d > c.threshold).reduce(f32::min) {
            prop_assert!(fa(next) as f64 / negatives as f64 > target);
        }
    }
}
