use super::*;
use crate::distance::{l2, squared_l2};
use proptest::prelude::*;

/// (name, d_ap², d_an², α, hinge, kind), by hand.
const HINGE_TABLE: &[(&str, f32, f32, f32, f32, NegativeKind)] = &[
    (
        "identical embeddings",
        0.0,
        0.0,
        0.2,
        0.2,
        NegativeKind::Hard,
    ),
    ("negative closer", 0.5, 0.25, 0.25, 0.5, NegativeKind::Hard),
    ("semi-hard", 0.5, 0.625, 0.25, 0.125, NegativeKind::SemiHard),
    (
        "exactly at the margin",
        0.5,
        0.75,
        0.25,
        0.0,
        NegativeKind::Easy,
    ),
    ("easy", 0.25, 2.0, 0.25, 0.0, NegativeKind::Easy),
    ("antipodal negative", 0.0, 4.0, 0.2, 0.0, NegativeKind::Easy),
    ("antipodal positive", 4.0, 0.0, 0.2, 4.2, NegativeKind::Hard),
    ("very large", 1.0e30, 0.0, 0.2, 1.0e30, NegativeKind::Hard),
];

#[test]
fn hinge_table() {
    for &(name, d_ap, d_an, alpha, want, kind) in HINGE_TABLE {
        let got = triplet_hinge(d_ap, d_an, alpha);
        assert!(
            (got - want).abs() <= 1e-6 * want.max(1.0),
            "{name}: hinge {got}, want {want}"
        );
        assert_eq!(classify_negative(d_ap, d_an, alpha), kind, "{name}");
    }
}

#[test]
fn the_margin_boundary_is_exact_for_any_alpha() {
    // d_an computed as d_ap + α in f32, for α = FaceNet's 0.2 which has no exact binary form.
    for &d_ap in &[0.0f32, 0.1, 0.3, 0.7, 1.3, 3.9] {
        let d_an = d_ap + FACENET_ALPHA;
        assert_eq!(
            triplet_hinge(d_ap, d_an, FACENET_ALPHA),
            0.0,
            "d_ap = {d_ap}"
        );
        assert!(is_easy(d_ap, d_an, FACENET_ALPHA));
        assert!(!is_semi_hard(d_ap, d_an, FACENET_ALPHA));
    }
}

#[test]
fn hinge_on_embeddings() {
    // a = (1, 0), p = (0.6, 0.8), n = (0, 1): d_ap² = 0.16 + 0.64 = 0.8, d_an² = 2.
    let (a, p, n) = ([1.0f32, 0.0], [0.6f32, 0.8], [0.0f32, 1.0]);
    let d_ap = squared_l2(&a, &p).unwrap();
    let d_an = squared_l2(&a, &n).unwrap();
    assert!((d_ap - 0.8).abs() < 1e-6);
    assert_eq!(triplet_hinge(d_ap, d_an, FACENET_ALPHA), 0.0);
    assert!((triplet_hinge(d_an, d_ap, FACENET_ALPHA) - 1.4).abs() < 1e-6);
}

/// (name, D, label, m, loss), by hand.
const CONTRASTIVE_TABLE: &[(&str, f32, PairLabel, f32, f32)] = &[
    ("similar, identical", 0.0, PairLabel::Similar, 1.0, 0.0),
    ("similar, apart", 2.0, PairLabel::Similar, 1.0, 2.0),
    (
        "dissimilar, identical",
        0.0,
        PairLabel::Dissimilar,
        1.0,
        0.5,
    ),
    (
        "dissimilar, inside margin",
        0.5,
        PairLabel::Dissimilar,
        1.5,
        0.5,
    ),
    (
        "dissimilar, exactly at margin",
        1.5,
        PairLabel::Dissimilar,
        1.5,
        0.0,
    ),
    (
        "dissimilar, beyond margin",
        3.0,
        PairLabel::Dissimilar,
        1.5,
        0.0,
    ),
    (
        "similar, very large",
        1.0e18,
        PairLabel::Similar,
        1.0,
        5.0e35,
    ),
];

#[test]
fn contrastive_table() {
    for &(name, d, label, m, want) in CONTRASTIVE_TABLE {
        let got = contrastive(d, label, m);
        assert!(
            (got - want).abs() <= 1e-6 * want.max(1.0),
            "{name}: {got}, want {want}"
        );
    }
}

/// (name, d₊, d₋, MSE, NLL), computed with e = 2.718281828...
const SOFTMAX_RATIO_TABLE: &[(&str, f32, f32, f32, f32)] = &[
    // Equal distances: d₊* = d₋* = ½ → ¼ + ¼; −ln ½.
    ("equal distances", 0.7, 0.7, 0.5, core::f32::consts::LN_2),
    // d₋ − d₊ = 1: d₊* = 1/(1+e) = 0.268941, MSE = 2·0.268941² = 0.144659; NLL = ln(1+e^-1).
    ("one apart", 0.0, 1.0, 0.144_659_4, 0.313_261_7),
    // The wrong way round: d₊* = e/(1+e) = 0.731059, MSE = 1.068893, NLL = ln(1+e) = 1.313262.
    ("negative closer", 1.0, 0.0, 1.068_893_2, 1.313_261_7),
    // Far apart: loss vanishes, NLL ≈ e^-30.
    ("far apart", 0.0, 30.0, 0.0, 9.357_623e-14),
    ("huge gap, wrong way", 100.0, 0.0, 2.0, 100.0),
];

#[test]
fn softmax_ratio_table() {
    for &(name, dp, dn, mse, nll) in SOFTMAX_RATIO_TABLE {
        let (got_mse, got_nll) = (softmax_ratio_mse(dp, dn), softmax_ratio_nll(dp, dn));
        assert!(
            (got_mse - mse).abs() <= 1e-6,
            "{name}: MSE {got_mse}, want {mse}"
        );
        assert!(
            (got_nll - nll).abs() <= 1e-6 * nll.max(1.0),
            "{name}: NLL {got_nll}"
        );
        let r = SoftmaxRatio::new(dp, dn);
        assert!(
            (r.positive + r.negative - 1.0).abs() <= 1e-6,
            "{name}: softmax sums to 1"
        );
    }
}

#[test]
fn soft_margin_is_softplus_of_the_gap() {
    assert!((soft_margin_triplet(0.5, 0.5) - core::f32::consts::LN_2).abs() < 1e-7);
    assert!(soft_margin_triplet(0.0, 50.0) < 1e-20);
    assert_eq!(soft_margin_triplet(80.0, 0.0), 80.0);
}

fn unit_vec(n: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-1.0f32..1.0, n).prop_filter_map("non-zero", |mut v| {
        crate::distance::l2_normalize(&mut v).ok().map(|_| v)
    })
}

proptest! {
    #[test]
    fn hinge_is_never_negative(d_ap in 0.0f32..4.0, d_an in 0.0f32..4.0, alpha in 0.0f32..1.0) {
        prop_assert!(triplet_hinge(d_ap, d_an, alpha) >= 0.0);
    }

    #[test]
    fn hinge_on_normalised_triplets_is_bounded(
        (a, p, n) in (1usize..32).prop_flat_map(|k| (unit_vec(k), unit_vec(k), unit_vec(k)))
    ) {
        let d_ap = squared_l2(&a, &p).unwrap();
        let d_an = squared_l2(&a, &n).unwrap();
        let h = triplet_hinge(d_ap, d_an, FACENET_ALPHA);
        // Unit vectors are at most 2 apart: squared distances lie in [0, 4].
        prop_assert!((0.0..=4.0 + FACENET_ALPHA + 1e-5).contains(&h));
        // The hinge is positive exactly when the negative is hard or semi-hard.
        prop_assert_eq!(h > 0.0, !is_easy(d_ap, d_an, FACENET_ALPHA));
    }

    #[test]
    fn contrastive_is_half_d_squared_for_similar_pairs(
        (a, b) in (1usize..32).prop_flat_map(|k| (
            prop::collection::vec(-10.0f32..10.0, k), prop::collection::vec(-10.0f32..10.0, k)))
    ) {
        let d = l2(&a, &b).unwrap();
        let sq = squared_l2(&a, &b).unwrap();
        let got = contrastive(d, PairLabel::Similar, 1.0);
        prop_assert!((got - 0.5 * sq).abs() <= 1e-5 * sq.max(1.0));
    }

    #[test]
    fn contrastive_is_never_negative(d in 0.0f32..10.0, m in 0.0f32..5.0) {
        prop_assert!(contrastive(d, PairLabel::Dissimilar, m) >= 0.0);
        prop_assert!(contrastive(d, PairLabel::Similar, m) >= 0.0);
    }

    #[test]
    fn softmax_ratio_losses_fall_as_the_negative_moves_away(
        d_ap in 0.0f32..2.0, d_an in 0.0f32..2.0, step in 0.01f32..1.0
    ) {
        prop_assert!(softmax_ratio_mse(d_ap, d_an + step) <= softmax_ratio_mse(d_ap, d_an));
        prop_assert!(softmax_ratio_nll(d_ap, d_an + step) <= softmax_ratio_nll(d_ap, d_an));
    }

    #[test]
    fn negative_classes_partition_the_line(d_ap in 0.0f32..4.0, d_an in 0.0f32..4.0) {
        let flags = [
            is_hard(d_ap, d_an),
            is_semi_hard(d_ap, d_an, FACENET_ALPHA),
            is_easy(d_ap, d_an, FACENET_ALPHA),
        ];
        prop_assert_eq!(flags.iter().filter(|&&f| f).count(), 1);
    }
}
