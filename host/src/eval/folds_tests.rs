use super::*;
use proptest::prelude::*;

const S: bool = true;
const D: bool = false;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn standard_error_is_sample_std_over_root_n() {
    // Two folds: mean .95, s = √(2 × .05² / 1) = .0707…, SE = s / √2 = .05.
    let (m, se) = mean_se(&[0.9, 1.0]).unwrap();
    assert!(close(m, 0.95) && close(se, 0.05), "{m} {se}");
    // Ten folds, five at .9 and five at 1: s² = 10 × .05² / 9, SE = √(s² / 10) = 1/60.
    let ten = [0.9, 1.0, 0.9, 1.0, 0.9, 1.0, 0.9, 1.0, 0.9, 1.0];
    let (m, se) = mean_se(&ten).unwrap();
    assert!(close(m, 0.95) && close(se, 1.0 / 60.0), "{m} {se}");
    let (m, se) = mean_se(&[0.7; 10]).unwrap();
    assert!(close(m, 0.7) && close(se, 0.0), "{m} {se}");
    assert_eq!(mean_se(&[0.9]), None);
    assert_eq!(mean_se(&[]), None);
}

/// Fold 0: S 1, D 3. Fold 1: S 2, D 6.
#[test]
fn held_out_thresholds_by_hand() {
    let p = [
        ScoredPair::new(1.0, S, 0),
        ScoredPair::new(3.0, D, 0),
        ScoredPair::new(2.0, S, 1),
        ScoredPair::new(6.0, D, 1),
    ];
    let r = ten_fold(&p).unwrap();
    assert!(!r.split_interleaved);
    // Fold 0 is judged by fold 1's threshold 4: D 3 is accepted → ½.
    // Fold 1 is judged by fold 0's threshold 2: S 2 accepted, D 6 rejected → 1.
    let got: Vec<(usize, f32, f64, f64)> = r
        .folds
        .iter()
        .map(|f| (f.fold, f.threshold, f.train_accuracy, f.accuracy))
        .collect();
    assert_eq!(got, [(0, 4.0, 1.0, 0.5), (1, 2.0, 1.0, 1.0)]);
    assert_eq!(r.accuracy_mean, 0.75);
    assert!(close(r.accuracy_se, 0.25));
    // All pairs: S 1, S 2 | D 3, D 6 → threshold 2.5, accuracy 1.
    assert_eq!(r.all_pairs.threshold, 2.5);
    assert_eq!(r.all_pairs.accuracy, 1.0);
    assert_eq!(r.folds[0].pairs, 2);
    assert_eq!(r.folds[0].same_pairs, 1);
}

#[test]
fn separable_ten_folds_are_perfect() {
    let p: Vec<ScoredPair> = (0..600)
        .map(|i| {
            let same = i % 2 == 0;
            let d = if same { 0.1 } else { 1.0 } + (i as f32) * 1e-4;
            ScoredPair::new(d, same, i / 60)
        })
        .collect();
    let r = ten_fold(&p).unwrap();
    assert_eq!(r.folds.len(), 10);
    assert!(r.folds.iter().all(|f| f.accuracy == 1.0 && f.pairs == 60));
    assert_eq!((r.accuracy_mean, r.accuracy_se), (1.0, 0.0));
}

#[test]
fn one_fold_is_split_into_ten() {
    let p: Vec<ScoredPair> = (0..20)
        .map(|i| ScoredPair::new(i as f32, i < 10, 3))
        .collect();
    let r = ten_fold(&p).unwrap();
    assert!(r.split_interleaved);
    assert_eq!(r.folds.len(), LFW_FOLDS);
    assert!(r.folds.iter().all(|f| f.pairs == 2 && f.same_pairs == 1));
}

#[test]
fn interleaved_split_by_hand() {
    // 7 same then 5 different, 10 folds: same → 0..=6, different → 7, 8, 9, 0, 1.
    let p: Vec<ScoredPair> = (0..12)
        .map(|i| ScoredPair::new(i as f32, i < 7, 0))
        .collect();
    let folds: Vec<usize> = split_interleaved(&p, 10)
        .unwrap()
        .iter()
        .map(|q| q.fold)
        .collect();
    assert_eq!(folds, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    // LFW View 1 style: 1100 same then 1100 different → 110 + 110 in every fold.
    let view1: Vec<ScoredPair> = (0..2200)
        .map(|i| ScoredPair::new(0.0, i < 1100, 0))
        .collect();
    let split = split_interleaved(&view1, 10).unwrap();
    for fold in 0..10 {
        let in_fold: Vec<_> = split.iter().filter(|q| q.fold == fold).collect();
        assert_eq!(in_fold.len(), 220);
        assert_eq!(in_fold.iter().filter(|q| q.same).count(), 110);
    }
    assert_eq!(split_interleaved(&p, 1), Err(FoldError::TooFewFolds(1)));
}

#[test]
fn bad_folds_are_typed_errors() {
    assert_eq!(ten_fold(&[]), Err(FoldError::Metrics(MetricsError::Empty)));
    let gap = [
        ScoredPair::new(0.1, S, 0),
        ScoredPair::new(0.2, D, 2),
        ScoredPair::new(0.3, D, 2),
    ];
    assert_eq!(
        ten_fold(&gap),
        Err(FoldError::EmptyFold { fold: 1, folds: 3 })
    );
    let huge = [
        ScoredPair::new(0.1, S, 0),
        ScoredPair::new(0.2, D, usize::MAX),
    ];
    assert_eq!(
        ten_fold(&huge),
        Err(FoldError::EmptyFold {
            fold: 1,
            folds: usize::MAX
        })
    );
    let nan = [ScoredPair::new(0.1, S, 0), ScoredPair::new(f32::NAN, D, 1)];
    assert!(matches!(
        ten_fold(&nan),
        Err(FoldError::Metrics(MetricsError::NonFinite { index: 1, .. }))
    ));
    // Fewer than 10 pairs from one fold leave some of the 10 folds empty.
    let few: Vec<ScoredPair> = (0..5)
        .map(|i| ScoredPair::new(i as f32, i < 2, 0))
        .collect();
    assert!(matches!(ten_fold(&few), Err(FoldError::EmptyFold { .. })));
}

proptest! {
    #[test]
    fn interleaved_split_is_balanced(labels in prop::collection::vec(any::<bool>(), 0..300), k in 2usize..15) {
        let p: Vec<ScoredPair> = labels.iter().enumerate().map(|(i, &s)| ScoredPair::new(i as f32, s, 0)).collect();
        let split = split_interleaved(&p, k).unwrap();
        prop_assert_eq!(split.len(), p.len());
        let spread = |f: &dyn Fn(&ScoredPair) -> bool| {
            let counts: Vec<usize> = (0..k).map(|fold| split.iter().filter(|q| q.fold == fold && f(q)).count()).collect();
            counts.iter().max().unwrap() - counts.iter().min().unwrap()
        };
        prop_assert!(spread(&|q| q.same) <= 1);
        prop_assert!(spread(&|q| !q.same) <= 1);
        prop_assert!(spread(&|_| true) <= 1);
        for (a, b) in p.iter().zip(&split) {
            prop_assert_eq!((a.distance, a.same), (b.distance, b.same));
        }
    }

    #[test]
    fn fold_accuracies_are_probabilities(v in prop::collection::vec((0u8..30, any::<bool>()), 20..120)) {
        let p: Vec<ScoredPair> = v.iter().map(|&(d, s)| ScoredPair::new(f32::from(d), s, 0)).collect();
        let r = ten_fold(&p).unwrap();
        prop_assert!((0.0..=1.0).contains(&r.accuracy_mean));
        prop_assert!(r.accuracy_se >= 0.0);
        for f in &r.folds {
            prop_assert!((0.0..=1.0).contains(&f.accuracy));
        }
    }
}
