//! Float functions used by the distance and loss code.
//!
//! All of them come from `libm`, a pure-Rust port of musl's libm: the same code, and so the same
//! bits, on the host and on the Cortex-M4F. `sqrt` is correctly rounded (IEEE 754), `exp` and `ln`
//! are within 1 ulp. `micromath` trades accuracy for speed (its `sqrt` is a bit trick with errors
//! of several percent) and must never feed a distance, a threshold or a normalisation.

/// Correctly rounded square root. Negative input gives NaN, as IEEE 754 says; callers that take
/// outside data check for it.
#[inline]
pub fn sqrt(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// `e^x`, within 1 ulp.
#[inline]
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

/// Natural logarithm, within 1 ulp.
#[inline]
pub fn ln(x: f32) -> f32 {
    libm::logf(x)
}

/// `ln(1 + e^x)` without overflow for large `x` and without losing precision for very negative `x`.
#[inline]
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        // e^-20 ≈ 2e-9 is below half an ulp of x here.
        x + libm::log1pf(exp(-x))
    } else {
        libm::log1pf(exp(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Named cases, each with the exact expected value.
    const SQRT_TABLE: &[(&str, f32, f32)] = &[
        ("zero", 0.0, 0.0),
        ("one", 1.0, 1.0),
        ("perfect square", 144.0, 12.0),
        ("two", 2.0, core::f32::consts::SQRT_2),
        ("quarter", 0.25, 0.5),
        ("large", 1.0e30, 1.0e15),
        ("tiny", 1.0e-30, 1.0e-15),
    ];

    #[test]
    fn sqrt_table_is_correctly_rounded() {
        for &(name, x, want) in SQRT_TABLE {
            let got = sqrt(x);
            // 1e-30 and 1e15 are not exactly representable; allow one ulp of the rounded input.
            let ulp = f32::EPSILON * want.abs();
            assert!(
                (got - want).abs() <= ulp,
                "{name}: sqrt({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn micromath_sqrt_is_too_coarse_for_distances() {
        // Documents why `math::sqrt` exists: the fast approximation misses sqrt(2) by far more
        // than the 1e-6 relative error a distance threshold can tolerate.
        use micromath::F32Ext;
        let approx = F32Ext::sqrt(2.0f32);
        let exact = sqrt(2.0);
        assert!(
            (approx - exact).abs() / exact > 1.0e-3,
            "micromath sqrt(2) = {approx}"
        );
    }

    #[test]
    fn softplus_is_stable_at_the_extremes() {
        assert_eq!(softplus(100.0), 100.0);
        assert!(softplus(-100.0) > 0.0 && softplus(-100.0) < 1.0e-40);
        assert!((softplus(0.0) - core::f32::consts::LN_2).abs() < 1.0e-7);
        assert!(softplus(f32::MAX).is_finite());
    }
}
