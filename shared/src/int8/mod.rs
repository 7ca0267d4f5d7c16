//! The int8 inference engine's operators: TFLite-compatible integer kernels, one per file.
//!
//! Tensors are NHWC with batch 1, `i8`, per-tensor asymmetric (`real = scale · (q − zero_point)`).
//! Weights are `i8`, per output channel, symmetric (zero point 0, range −127..=127); biases are
//! `i32` at `input_scale · weight_scale[c]`. Every convolution-like kernel computes
//! `acc = bias[c] + Σ w·(x − zp_in)`, requantises with [`fixedpoint::QuantizedMultiplier::apply`]
//! (TFLite's `MultiplyByQuantizedMultiplier`), adds the output zero point and clamps to the fused
//! activation's range ([`activation::OutputStage`]). The results are bit-identical to TFLite's
//! reference integer kernels for the same parameters.
//!
//! These kernels are portable: plain Rust, no `unsafe`, no allocation. Every kernel checks the
//! lengths of the slices it is handed and returns a [`KernelError`] rather than indexing out of
//! bounds. The convolution-like kernels have a fast path (pixel pairs packed two to a word for
//! the pointwise and general convolutions, a zero-point-padded row ring for the 3×3 depthwise)
//! and keep their naive loop as the byte-exact reference (`run_reference`), which the tests
//! compare with and which runs whatever the fast path does not cover.

pub mod activation;
pub mod add;
pub mod channel;
pub mod conv2d;
pub mod dense;
pub mod depthwise;
pub mod dsp;
pub mod fixedpoint;
pub mod l2norm;
mod lanes;
pub mod pointwise;
pub mod pool;

#[cfg(test)]
mod fixedpoint_tests;
#[cfg(test)]
pub(crate) mod kernel_exact_tests;
#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod kernel_vectors;

pub use activation::OutputStage;
pub use channel::{ChannelParam, ChannelParams};
pub use fixedpoint::QuantizedMultiplier;

/// Height, width and channels of an NHWC tensor (batch 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Rows.
    pub height: u16,
    /// Columns.
    pub width: u16,
    /// Channels (innermost).
    pub channels: u16,
}

impl Shape {
    /// A shape.
    pub const fn new(height: u16, width: u16, channels: u16) -> Self {
        Self {
            height,
            width,
            channels,
        }
    }

    /// Number of elements, saturated at `usize::MAX`: `u16³` (up to 2⁴⁸) does not fit a 32-bit
    /// `usize`, and a wrapped product would let a hostile blob's shape pass the arena checks.
    pub const fn len(&self) -> usize {
        let n = self.height as u64 * self.width as u64 * self.channels as u64;
        if n as usize as u64 == n {
            n as usize
        } else {
            usize::MAX
        }
    }

    /// Whether the tensor has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The geometry of a square-kernel convolution or pooling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Kernel side.
    pub kernel: u8,
    /// Stride on both axes.
    pub stride: u8,
    /// Zero padding on every side (padding reads as the input zero point, i.e. real 0).
    pub padding: u8,
}

impl Window {
    /// Output side for an input side, or `None` when the window does not fit or the stride is 0.
    pub const fn output_side(&self, input: u16) -> Option<u16> {
        let padded = input as u32 + 2 * self.padding as u32;
        if self.stride == 0 || self.kernel == 0 || padded < self.kernel as u32 {
            return None;
        }
        let side = (padded - self.kernel as u32) / self.stride as u32 + 1;
        if side > u16::MAX as u32 {
            None
        } else {
            Some(side as u16)
        }
    }
}

/// A slice handed to a kernel has the wrong length for the operator's shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelError {
    /// A buffer's length does not match the shapes.
    Length {
        /// Which buffer (`"input"`, `"output"`, `"weights"`, `"channels"`, `"scratch"`, ...).
        buffer: &'static str,
        /// The length the shapes call for.
        expected: usize,
        /// The length handed in.
        actual: usize,
    },
    /// The shapes do not fit together (e.g. an output side that the window cannot produce).
    Shape {
        /// What does not fit.
        what: &'static str,
    },
}

/// Checks a buffer's length.
pub(crate) fn check_len(
    buffer: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), KernelError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KernelError::Length {
            buffer,
            expected,
            actual,
        })
    }
}

/// Checks that `output` is what `window` makes of `input` (spatially).
pub(crate) fn check_window(input: Shape, output: Shape, window: Window) -> Result<(), KernelError> {
    let ok = window.output_side(input.height) == Some(output.height)
        && window.output_side(input.width) == Some(output.width);
    if ok {
        Ok(())
    } else {
        Err(KernelError::Shape {
            what: "output side does not match the window",
        })
    }
}
