//! Global average pooling (TFLite `AVERAGE_POOL_2D` over the whole image, int8): the output keeps
//! the input's scale and zero point; the mean rounds half away from zero, as TFLite's
//! `(acc ± count/2) / count`.

use super::{check_len, KernelError, OutputStage, Shape};

/// A global average pooling layer.
#[derive(Debug, Clone, Copy)]
pub struct GlobalAveragePool {
    /// Input shape; the output is `1 × 1 × channels`.
    pub input: Shape,
    /// Clamp range (its zero point is not added: input and output share it).
    pub stage: OutputStage,
}

impl GlobalAveragePool {
    /// Runs the pooling.
    pub fn run(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        let channels = self.input.channels as usize;
        let count = self.input.height as i32 * self.input.width as i32;
        check_len("input", self.input.len(), input.len())?;
        check_len("output", channels, output.len())?;
        if count == 0 {
            return Err(KernelError::Shape {
                what: "global pooling over an empty image",
            });
        }
        for (c, slot) in output.iter_mut().enumerate() {
            let acc: i32 = input
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|&x| i32::from(x))
                .sum();
            let mean = if acc > 0 {
                (acc + count / 2) / count
            } else {
                (acc - count / 2) / count
            };
            *slot = mean.clamp(i32::from(self.stage.min), i32::from(self.stage.max)) as i8;
        }
        Ok(())
    }
}
