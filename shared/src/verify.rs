//! The verification decision: accept iff the distance between a probe and an enrolled template is
//! at most a threshold.
//!
//! A threshold is only meaningful for the distance it was calibrated on, so each kind of distance
//! has its own threshold type and the type picks the distance function: a squared-L2 threshold can
//! never be compared with a cosine distance by mistake.

use crate::distance::{self, DistanceError};

/// Why a threshold or a comparison was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The threshold is NaN, infinite, negative, or above the distance's range.
    InvalidThreshold,
    /// The embeddings could not be compared.
    Distance(DistanceError),
}

impl From<DistanceError> for VerifyError {
    fn from(e: DistanceError) -> Self {
        Self::Distance(e)
    }
}

impl core::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidThreshold => f.write_str("threshold is not a valid distance"),
            Self::Distance(e) => write!(f, "cannot compare embeddings: {e}"),
        }
    }
}

/// A threshold on one kind of distance between one kind of embedding.
pub trait Threshold {
    /// The embedding element type (`f32` or `i8`).
    type Elem;
    /// The distance type (`f32` or an exact `i32`).
    type Distance: Copy + PartialOrd;
    /// The distance this threshold is calibrated on.
    fn distance(
        probe: &[Self::Elem],
        template: &[Self::Elem],
    ) -> Result<Self::Distance, DistanceError>;
    /// The largest accepted distance.
    fn limit(&self) -> Self::Distance;
}

/// The outcome of one comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<D> {
    /// `distance ≤ threshold`: the probe is taken to be the enrolled person.
    pub accepted: bool,
    /// The measured distance, for logs and calibration.
    pub distance: D,
}

/// Compares `probe` with `template` by the distance `threshold` is defined on.
pub fn verify<T: Threshold>(
    threshold: &T,
    probe: &[T::Elem],
    template: &[T::Elem],
) -> Result<Verdict<T::Distance>, VerifyError> {
    let distance = T::distance(probe, template)?;
    Ok(Verdict {
        accepted: distance <= threshold.limit(),
        distance,
    })
}

fn checked(limit: f32, max: f32) -> Result<f32, VerifyError> {
    if limit.is_finite() && (0.0..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(VerifyError::InvalidThreshold)
    }
}

/// Threshold on the squared Euclidean distance `‖a − b‖²` of `f32` embeddings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SquaredL2Threshold(f32);

impl SquaredL2Threshold {
    /// A finite, non-negative limit.
    pub fn new(limit: f32) -> Result<Self, VerifyError> {
        checked(limit, f32::MAX).map(Self)
    }
}

impl Threshold for SquaredL2Threshold {
    type Elem = f32;
    type Distance = f32;
    fn distance(probe: &[f32], template: &[f32]) -> Result<f32, DistanceError> {
        distance::squared_l2(probe, template)
    }
    fn limit(&self) -> f32 {
        self.0
    }
}

/// Threshold on the cosine distance `1 − cos(a, b)` (range `[0, 2]`) of `f32` embeddings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineDistanceThreshold(f32);

impl CosineDistanceThreshold {
    /// A limit in `[0, 2]`.
    pub fn new(limit: f32) -> Result<Self, VerifyError> {
        checked(limit, 2.0).map(Self)
    }
}

impl Threshold for CosineDistanceThreshold {
    type Elem = f32;
    type Distance = f32;
    fn distance(probe: &[f32], template: &[f32]) -> Result<f32, DistanceError> {
        distance::cosine_distance(probe, template)
    }
    fn limit(&self) -> f32 {
        self.0
    }
}

/// Threshold on the exact squared Euclidean distance of `i8` embeddings (the device's check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquaredL2I8Threshold(i32);

impl SquaredL2I8Threshold {
    /// A non-negative limit.
    pub fn new(limit: i32) -> Result<Self, VerifyError> {
        if limit >= 0 {
            Ok(Self(limit))
        } else {
            Err(VerifyError::InvalidThreshold)
        }
    }
}

impl Threshold for SquaredL2I8Threshold {
    type Elem = i8;
    type Distance = i32;
    fn distance(probe: &[i8], template: &[i8]) -> Result<i32, DistanceError> {
        distance::squared_l2_i8(probe, template)
    }
    fn limit(&self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_at_and_below_the_threshold_only() {
        let t = SquaredL2Threshold::new(1.0).unwrap();
        let cases: &[(&str, [f32; 2], bool)] = &[
            ("identical", [0.0, 0.0], true),
            ("exactly at threshold", [1.0, 0.0], true),
            ("just beyond", [1.0, 0.001], false),
            ("far", [3.0, 4.0], false),
        ];
        for (name, probe, want) in cases {
            let v = verify(&t, probe, &[0.0, 0.0]).unwrap();
            assert_eq!(v.accepted, *want, "{name}: distance {}", v.distance);
        }
    }

    #[test]
    fn cosine_threshold_uses_cosine_distance() {
        let t = CosineDistanceThreshold::new(0.5).unwrap();
        // Scaled copies are at cosine distance 0 even though their L2 distance is large.
        let v = verify(&t, &[10.0, 0.0], &[1.0, 0.0]).unwrap();
        assert!(v.accepted);
        assert_eq!(v.distance, 0.0);
        assert!(!verify(&t, &[0.0, 1.0], &[1.0, 0.0]).unwrap().accepted);
    }

    #[test]
    fn i8_threshold_is_exact() {
        let t = SquaredL2I8Threshold::new(25).unwrap();
        assert_eq!(
            verify(&t, &[3, 4], &[0, 0]),
            Ok(Verdict {
                accepted: true,
                distance: 25
            })
        );
        assert!(!verify(&t, &[3, 5], &[0, 0]).unwrap().accepted);
    }

    #[test]
    fn invalid_thresholds_and_inputs_are_refused() {
        for bad in [f32::NAN, f32::INFINITY, -0.1] {
            assert_eq!(
                SquaredL2Threshold::new(bad),
                Err(VerifyError::InvalidThreshold)
            );
        }
        assert_eq!(
            CosineDistanceThreshold::new(2.5),
            Err(VerifyError::InvalidThreshold)
        );
        assert_eq!(
            SquaredL2I8Threshold::new(-1),
            Err(VerifyError::InvalidThreshold)
        );
        let t = CosineDistanceThreshold::new(0.5).unwrap();
        assert_eq!(
            verify(&t, &[0.0, 0.0], &[1.0, 0.0]),
            Err(VerifyError::Distance(DistanceError::ZeroVector))
        );
        assert_eq!(
            verify(&SquaredL2I8Threshold::new(1).unwrap(), &[1], &[1, 2]),
            Err(VerifyError::Distance(DistanceError::LengthMismatch {
                left: 1,
                right: 2
            }))
        );
    }
}
