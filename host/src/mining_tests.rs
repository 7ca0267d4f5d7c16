use super::*;
use crate::tensors::floats;

/// Labels [0, 0, 1, 1, 2] and a symmetric squared-distance matrix built so that, with α = 0.2:
/// - pair (0,1), d_ap = 0.5: negatives 2 (0.6) and 3 (0.65) are semi-hard, 4 (1.5) easy;
/// - pair (1,0), d_ap = 0.5: 2 (0.3) is hard, 3 (0.9) and 4 (2.0) easy → no semi-hard;
/// - pair (2,3), d_ap = 0.4: 1 (0.3) hard, 4 (0.5) semi-hard, 0 (0.6) exactly at the margin: easy;
/// - pair (3,2), d_ap = 0.4: 0 (0.65), 1 (0.9), 4 (1.0) all easy;
/// - item 4 has no positive.
const LABELS: [u32; 5] = [0, 0, 1, 1, 2];
#[rustfmt::skip]
const D: [f32; 25] = [
    0.0,  0.5, 0.6, 0.65, 1.5,
    0.5,  0.0, 0.3, 0.9,  2.0,
    0.6,  0.3, 0.0, 0.4,  0.5,
    0.65, 0.9, 0.4, 0.0,  1.0,
    1.5,  2.0, 0.5, 1.0,  0.0,
];

fn matrix() -> Tensor<2> {
    floats(D.to_vec(), [5, 5], &Device::flex())
}

fn triples(t: &Triplets) -> Vec<(usize, usize, usize)> {
    (0..t.len())
        .map(|i| (t.anchors[i], t.positives[i], t.negatives[i]))
        .collect()
}

#[test]
fn semi_hard_takes_the_closest_negative_in_the_band_with_documented_fallback() {
    let t = mine(Miner::SemiHard, matrix(), &LABELS, 0.2, 0);
    // (0,1): 2 is closer than 3 in the band. (1,0): fallback to its only hard negative, 2.
    // (2,3): 4 is the only semi-hard one. (3,2): all easy → dropped.
    assert_eq!(triples(&t), vec![(0, 1, 2), (1, 0, 2), (2, 3, 4)]);
    assert_eq!((t.fallbacks, t.dropped), (1, 1));
}

#[test]
fn batch_hard_takes_the_farthest_positive_and_closest_negative() {
    let t = mine(Miner::BatchHard, matrix(), &LABELS, 0.2, 0);
    assert_eq!(
        triples(&t),
        vec![(0, 1, 2), (1, 0, 2), (2, 3, 1), (3, 2, 0)]
    );
}

#[test]
fn batch_all_keeps_exactly_the_triplets_with_positive_hinge() {
    let t = mine(Miner::BatchAll, matrix(), &LABELS, 0.2, 0);
    assert_eq!(
        triples(&t),
        vec![(0, 1, 2), (0, 1, 3), (1, 0, 2), (2, 3, 1), (2, 3, 4)]
    );
    for (a, p, n) in triples(&t) {
        let hinge = facegate_shared::loss::triplet_hinge(D[a * 5 + p], D[a * 5 + n], 0.2);
        assert!(hinge > 0.0, "({a},{p},{n})");
    }
}

#[test]
fn random_picks_a_valid_negative_for_every_pair_deterministically() {
    let t = mine(Miner::Random, matrix(), &LABELS, 0.2, 7);
    assert_eq!(t.len(), 4);
    for (a, p, n) in triples(&t) {
        assert_eq!(LABELS[a], LABELS[p]);
        assert_ne!(LABELS[a], LABELS[n]);
    }
    assert_eq!(t, mine(Miner::Random, matrix(), &LABELS, 0.2, 7));
    let seen: std::collections::HashSet<usize> = (0..20)
        .flat_map(|s| mine(Miner::Random, matrix(), &LABELS, 0.2, s).negatives)
        .collect();
    assert!(
        seen.len() >= 4,
        "random negatives cover the batch: {seen:?}"
    );
}

#[test]
fn a_batch_without_positives_yields_nothing() {
    for miner in [
        Miner::SemiHard,
        Miner::BatchHard,
        Miner::BatchAll,
        Miner::Random,
    ] {
        let t = mine(miner, matrix(), &[0, 1, 2, 3, 4], 0.2, 0);
        assert!(t.is_empty(), "{miner:?}");
    }
}

#[test]
fn pair_view_classifies_every_negative_once() {
    let view = PairView::new(matrix(), &LABELS).unwrap();
    let hard = to_bool(view.hard());
    let semi = to_bool(view.semi_hard(0.2));
    let neg = to_bool(view.negative.clone());
    // Row 0 is pair (0,1): negatives 2, 3 semi-hard; 4 easy.
    assert_eq!(&semi[0..5], &[false, false, true, true, false]);
    assert_eq!(&hard[5..10], &[false, false, true, false, false]);
    assert!(hard.iter().zip(&semi).all(|(h, s)| !(h & s)));
    assert!(hard.iter().zip(&neg).all(|(h, n)| !h | n));
}
