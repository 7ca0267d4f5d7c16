//! Plain-slice f32 kernels (NCHW, contiguous) of the training operations that burn's CPU
//! backends run slowly, forward and backward: the host's `ops` module wraps each one as a burn
//! operation with its autodiff backward (BENCHMARKS.md, "Training step vs PyTorch").
//!
//! A crate of its own so that the dev profile, which the tests and `scripts/facegate` use,
//! compiles these loops at opt-level 3 (root Cargo.toml) while the rest of the host stays fast
//! to build. Every reduction sums in a fixed order: results do not depend on the thread count.
//!
//! - [`depthwise3x3`]: 3×3 convolutions with one input channel per output channel (the depthwise
//!   layers and the one-channel stem).
//! - [`pointwise`]: 1×1 convolutions as per-image matrix products (the only `unsafe`: the call
//!   into the `gemm` crate, behind bounds checks).
//! - [`batch_norm`]: training-mode BatchNorm with the residual add and ReLU that follow it.

#![deny(unsafe_code)]

pub mod batch_norm;
pub mod depthwise3x3;
pub mod pointwise;

#[cfg(test)]
mod tests;
