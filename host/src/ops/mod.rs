//! Local burn operations that the CPU backends run slowly, each with its own forward and
//! backward kernels (BENCHMARKS.md, "Training step vs PyTorch").
//!
//! - [`depthwise3x3_op::depthwise3x3`]: the depthwise layers and the one-channel stem.
//! - [`pointwise_op::pointwise`]: the 1×1 layers.
//! - [`batch_norm_op::batch_norm_forward`]: training-mode BatchNorm with the residual add and
//!   the ReLU that follow it.

mod batch_norm_autodiff;
pub mod batch_norm_op;
pub mod depthwise3x3_op;
mod flex_values;
pub mod pointwise_op;

#[cfg(test)]
mod tests;

use burn::prelude::Device;

/// The environment variable that, set to `0`, makes the model use burn's own modules on every
/// device (to compare against, or to rule the local operations out when something looks wrong).
pub const LOCAL_OPS_ENV: &str = "FACEGATE_LOCAL_OPS";

/// Whether `device` is one the local operations are built for (the CPU backends, with or
/// without autodiff) and [`LOCAL_OPS_ENV`] does not turn them off; elsewhere the model uses
/// burn's own modules.
pub fn runs_local_ops(device: &Device) -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let enabled = *ENABLED.get_or_init(|| std::env::var(LOCAL_OPS_ENV).map_or(true, |v| v != "0"));
    #[allow(deprecated)]
    let cpu = [Device::flex(), Device::ndarray()];
    enabled && cpu.contains(device)
}
