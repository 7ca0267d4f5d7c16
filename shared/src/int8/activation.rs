//! The output stage every requantising kernel ends with: add the output zero point and clamp to
//! the fused activation's range (TFLite's `output_activation_min/max`).

/// Output zero point and clamp range of a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputStage {
    /// The output tensor's zero point.
    pub zero_point: i32,
    /// Lowest output value (the zero point for a fused ReLU, −128 for none).
    pub min: i8,
    /// Highest output value (`zp + round(6 / scale)` for a fused ReLU6, 127 for none).
    pub max: i8,
}

impl OutputStage {
    /// No activation: the full int8 range.
    pub const fn linear(zero_point: i32) -> Self {
        Self {
            zero_point,
            min: i8::MIN,
            max: i8::MAX,
        }
    }

    /// Fused ReLU: clamp below at the zero point (real 0).
    pub const fn relu(zero_point: i32) -> Self {
        Self {
            zero_point,
            min: clamp_i8(zero_point),
            max: i8::MAX,
        }
    }

    /// Fused ReLU6: clamp to real `[0, 6]` (TFLite `CalculateActivationRangeQuantized`).
    pub fn relu6(zero_point: i32, scale: f32) -> Self {
        let six = zero_point as f32 + libm::roundf(6.0 / scale);
        Self {
            zero_point,
            min: clamp_i8(zero_point),
            max: if six >= 127.0 { i8::MAX } else { six as i8 },
        }
    }

    /// Whether the range is non-empty.
    pub const fn is_valid(&self) -> bool {
        self.min <= self.max
    }

    /// `clamp(requantised + zero_point, min, max)`.
    #[inline]
    pub const fn finish(&self, requantised: i32) -> i8 {
        let v = requantised.saturating_add(self.zero_point);
        if v < self.min as i32 {
            self.min
        } else if v > self.max as i32 {
            self.max
        } else {
            v as i8
        }
    }
}

const fn clamp_i8(v: i32) -> i8 {
    if v < i8::MIN as i32 {
        i8::MIN
    } else if v > i8::MAX as i32 {
        i8::MAX
    } else {
        v as i8
    }
}
