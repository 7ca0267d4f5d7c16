//! Known-answer self-test of the math the device relies on.
//!
//! The firmware runs [`known_answers`] at boot and prints every value with its bit pattern; the
//! host computes the same list and the end-to-end test demands identical bits. The tests below pin
//! each value to a hand-computed number, so the list checks the arithmetic, not only its
//! repeatability.

use crate::distance::{self, DistanceError};
use crate::loss::{self, PairLabel, FACENET_ALPHA};

/// One named value of the self-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownAnswer {
    /// What was computed.
    pub name: &'static str,
    /// The result; NaN if the computation returned an error (which the tests rule out).
    pub value: f32,
}

/// How many values [`known_answers`] yields.
pub const KNOWN_ANSWER_COUNT: usize = 12;

const A: [f32; 8] = [0.5, -1.25, 2.0, 0.0, 3.5, -0.75, 1.0, 0.25];
const B: [f32; 8] = [1.5, -0.25, 0.0, 2.0, 3.0, 0.25, -1.0, 0.75];
const A_I8: [i8; 8] = [127, -128, 5, 0, -7, 100, -100, 1];
const B_I8: [i8; 8] = [-128, 127, 5, 1, 7, -100, 100, -1];

fn or_nan(r: Result<f32, DistanceError>) -> f32 {
    r.unwrap_or(f32::NAN)
}

fn unit(v: [f32; 8]) -> [f32; 8] {
    let mut u = v;
    if distance::l2_normalize(&mut u).is_err() {
        u = [f32::NAN; 8];
    }
    u
}

/// Computes the self-test values, in a fixed order.
pub fn known_answers() -> [KnownAnswer; KNOWN_ANSWER_COUNT] {
    let (ua, ub) = (unit(A), unit(B));
    let mut un = B;
    un.reverse();
    let un = unit(un);
    let d_ap = or_nan(distance::squared_l2(&ua, &ub));
    let d_an = or_nan(distance::squared_l2(&ua, &un));
    let l2 = or_nan(distance::l2(&A, &B));
    let i8_sq = distance::squared_l2_i8(&A_I8, &B_I8).map(|d| d as f32);
    let values = [
        ("squared_l2", or_nan(distance::squared_l2(&A, &B))),
        ("l2", l2),
        ("cosine_distance", or_nan(distance::cosine_distance(&A, &B))),
        ("normalized_a0", ua[0]),
        ("squared_l2_i8", or_nan(i8_sq)),
        (
            "cosine_distance_i8",
            or_nan(distance::cosine_distance_i8(&A_I8, &B_I8)),
        ),
        (
            "triplet_hinge",
            loss::triplet_hinge(d_ap, d_an, FACENET_ALPHA),
        ),
        (
            "triplet_hinge_swapped",
            loss::triplet_hinge(d_an, d_ap, FACENET_ALPHA),
        ),
        (
            "contrastive_similar",
            loss::contrastive(l2, PairLabel::Similar, 1.0),
        ),
        (
            "contrastive_dissimilar",
            loss::contrastive(0.25, PairLabel::Dissimilar, 1.0),
        ),
        (
            "softmax_ratio_mse",
            loss::softmax_ratio_mse(l2 / 4.0, l2 / 2.0),
        ),
        (
            "softmax_ratio_nll",
            loss::softmax_ratio_nll(l2 / 4.0, l2 / 2.0),
        ),
    ];
    values.map(|(name, value)| KnownAnswer { name, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values, worked out in double precision from the definitions:
    /// a·b = 10.5625, ‖a‖² = 19.6875, ‖b‖² = 16.125; the i8 vectors give a·b = −52537,
    /// ‖a‖² = 52588, ‖b‖² = 52589; for the unit vectors d_ap = ‖â−b̂‖² = 0.843151 and
    /// d_an = ‖â−rev(b)^‖² = 0.986901 (a·rev(b) = 9.25).
    const EXPECTED: [(&str, f64); KNOWN_ANSWER_COUNT] = [
        // (−1)² + (−1)² + 2² + (−2)² + 0.5² + (−1)² + 2² + (−0.5)²
        ("squared_l2", 15.5),
        ("l2", 3.937_003_937_005_906),
        ("cosine_distance", 0.421_575_363_563_830_85),
        ("normalized_a0", 0.112_687_233_963_802_2),
        // 255² + 255² + 0 + 1 + 14² + 200² + 200² + 2²
        ("squared_l2_i8", 210_251.0),
        ("cosine_distance_i8", 1.999_020_698_486_829),
        // d_ap + 0.2 − d_an, and d_an + 0.2 − d_ap
        ("triplet_hinge", 0.056_249_498_637_165),
        ("triplet_hinge_swapped", 0.343_750_501_362_835_1),
        // ½·15.5, and ½·(1 − 0.25)²
        ("contrastive_similar", 7.75),
        ("contrastive_dissimilar", 0.281_25),
        // d₊ = l2/4, d₋ = l2/2: d₊* = 1/(1 + e^{l2/4}) = 0.272049
        ("softmax_ratio_mse", 0.148_021_436_807_321_58),
        ("softmax_ratio_nll", 0.317_521_692_235_538_94),
    ];

    #[test]
    fn known_answers_match_hand_computed_values() {
        for (got, (name, want)) in known_answers().iter().zip(EXPECTED) {
            assert_eq!(got.name, name);
            let err = (f64::from(got.value) - want).abs();
            assert!(
                err <= 2e-6 * want.abs().max(1.0),
                "{name}: {} vs {want}",
                got.value
            );
        }
    }

    #[test]
    fn the_hinge_inputs_are_active_triplets() {
        // Both hinge values are positive, so the self-test exercises the non-zero branch.
        let answers = known_answers();
        assert!(answers[6].value > 0.0 && answers[7].value > 0.0);
    }
}
