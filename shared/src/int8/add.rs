//! Elementwise addition of two int8 tensors with different scales (TFLite `ADD`, int8): both
//! inputs are brought to a common scale with 20 bits of headroom, summed, and requantised.
//!
//! Parameters, as TFLite's `Prepare` computes them (`twice_max = 2·max(s₁, s₂)`):
//! `input1 = s₁ / twice_max`, `input2 = s₂ / twice_max`, `output = twice_max / (2^20 · s_out)`,
//! each a [`QuantizedMultiplier`] with a non-positive shift.

use super::fixedpoint::Requantizer;
use super::{check_len, dsp, KernelError, OutputStage, QuantizedMultiplier};

/// TFLite's `left_shift` for int8 addition.
pub const LEFT_SHIFT: i32 = 20;

/// An addition's three requantisation multipliers, as a model blob stores them: three
/// (multiplier, shift) pairs of little-endian `i32`, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddMultipliers {
    /// First input's rescaling.
    pub input1: QuantizedMultiplier,
    /// Second input's rescaling.
    pub input2: QuantizedMultiplier,
    /// Rescaling of the sum to the output.
    pub output: QuantizedMultiplier,
}

impl AddMultipliers {
    /// Encoded length.
    pub const BYTES: usize = 24;

    /// The encoding.
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        for (slot, m) in out
            .chunks_exact_mut(8)
            .zip([self.input1, self.input2, self.output])
        {
            slot[..4].copy_from_slice(&m.multiplier.to_le_bytes());
            slot[4..].copy_from_slice(&m.shift.to_le_bytes());
        }
        out
    }

    /// Decodes exactly [`Self::BYTES`] bytes (`None` for any other length); the fields are not
    /// range-checked ([`QuantizedMultiplier::is_valid`]).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let i32_at = |at: usize| {
            i32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let pair = |at: usize| QuantizedMultiplier {
            multiplier: i32_at(at),
            shift: i32_at(at + 4),
        };
        Some(Self {
            input1: pair(0),
            input2: pair(8),
            output: pair(16),
        })
    }
}

/// An addition's constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Add {
    /// First input's zero point.
    pub input1_zero_point: i32,
    /// First input's rescaling.
    pub input1: QuantizedMultiplier,
    /// Second input's zero point.
    pub input2_zero_point: i32,
    /// Second input's rescaling.
    pub input2: QuantizedMultiplier,
    /// Rescaling of the sum to the output.
    pub output: QuantizedMultiplier,
    /// Output zero point and fused activation.
    pub stage: OutputStage,
}

impl Add {
    /// The parameters for input scales `s1`, `s2` and output scale `s_out`, or `None` when a
    /// scale is not positive and finite.
    pub fn from_scales(
        s1: f64,
        zp1: i32,
        s2: f64,
        zp2: i32,
        s_out: f64,
        stage: OutputStage,
    ) -> Option<Self> {
        if !(s1 > 0.0 && s2 > 0.0 && s_out > 0.0) {
            return None;
        }
        let twice_max = 2.0 * s1.max(s2);
        Some(Self {
            input1_zero_point: zp1,
            input1: QuantizedMultiplier::from_real(s1 / twice_max)?,
            input2_zero_point: zp2,
            input2: QuantizedMultiplier::from_real(s2 / twice_max)?,
            output: QuantizedMultiplier::from_real(
                twice_max / ((1u32 << LEFT_SHIFT) as f64 * s_out),
            )?,
            stage,
        })
    }

    /// One output element.
    #[inline]
    pub fn element(&self, a: i8, b: i8) -> i8 {
        let a = (i32::from(a) - self.input1_zero_point) << LEFT_SHIFT;
        let b = (i32::from(b) - self.input2_zero_point) << LEFT_SHIFT;
        let sum = self.input1.apply(a).wrapping_add(self.input2.apply(b));
        self.stage.finish(self.output.apply(sum))
    }

    /// `output = a + b`.
    pub fn run(&self, a: &[i8], b: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        check_len("input2", a.len(), b.len())?;
        check_len("output", a.len(), output.len())?;
        let tables = Tables::new(self);
        for ((o, &x), &y) in output.iter_mut().zip(a).zip(b) {
            *o = tables.element(x, y);
        }
        Ok(())
    }

    /// `b_and_output = a + b_and_output`: on the device with the DSP loop
    /// ([`crate::int8::dsp`]) where it applies.
    pub fn run_in_place(&self, a: &[i8], b_and_output: &mut [i8]) -> Result<(), KernelError> {
        if dsp::ENABLED {
            self.run_in_place_dsp(a, b_and_output)
        } else {
            self.run_in_place_portable(a, b_and_output)
        }
    }

    /// The portable in-place add.
    pub fn run_in_place_portable(
        &self,
        a: &[i8],
        b_and_output: &mut [i8],
    ) -> Result<(), KernelError> {
        check_len("input2", a.len(), b_and_output.len())?;
        let tables = Tables::new(self);
        for (o, &x) in b_and_output.iter_mut().zip(a) {
            *o = tables.element(x, *o);
        }
        Ok(())
    }

    /// The in-place add on the DSP loop (emulated off the device) when the output multiplier
    /// shifts right by 2 or more and the clamp is the int8 range or a ReLU; the portable loop
    /// otherwise.
    pub fn run_in_place_dsp(&self, a: &[i8], b_and_output: &mut [i8]) -> Result<(), KernelError> {
        check_len("input2", a.len(), b_and_output.len())?;
        let tables = Tables::new(self);
        let lean = dsp::pointwise::lean_clamp(self.stage);
        match (tables.output.right_shift_parts(), lean) {
            (Some(parts), Some(relu)) => {
                let both = [&tables.input1, &tables.input2];
                let zp = self.stage.zero_point;
                dsp::instr::add_lean(a, b_and_output, both, parts, zp, relu);
            }
            _ => {
                for (o, &x) in b_and_output.iter_mut().zip(a) {
                    *o = tables.element(x, *o);
                }
            }
        }
        Ok(())
    }
}

/// Both inputs' rescaled values for every int8 value (each input's term depends on its own byte
/// only: `input_k.apply((x − zp_k)·2^20)`), so an element costs two table reads, an add and the
/// output requantisation. 2 KiB on the stack, built in 512 requantisations per run (a residual
/// add of the embedder has 16,384 or 32,768 elements).
struct Tables {
    input1: [i32; 256],
    input2: [i32; 256],
    output: Requantizer,
    right: bool,
    stage: OutputStage,
}

impl Tables {
    fn new(add: &Add) -> Self {
        let table = |m: QuantizedMultiplier, zp: i32| -> [i32; 256] {
            let rq = Requantizer::new(m);
            core::array::from_fn(|i| rq.apply(((i as i32 - 128) - zp) << LEFT_SHIFT))
        };
        let output = Requantizer::new(add.output);
        Self {
            input1: table(add.input1, add.input1_zero_point),
            input2: table(add.input2, add.input2_zero_point),
            right: output.shifts_right(),
            output,
            stage: add.stage,
        }
    }

    #[inline(always)]
    fn element(&self, a: i8, b: i8) -> i8 {
        let sum = self.input1[(i32::from(a) + 128) as usize & 255]
            .wrapping_add(self.input2[(i32::from(b) + 128) as usize & 255]);
        let v = if self.right {
            self.output.apply_right_shift(sum)
        } else {
            self.output.apply(sum)
        };
        self.stage.finish(v)
    }
}
