//! Cortex-M4 DSP-extension kernels: the device path of the convolution-like operators.
//!
//! The Cortex-M4's `SMLAD` multiplies two pairs of signed 16-bit halves and adds both products
//! to a 32-bit accumulator in one instruction, and `SXTB16` sign-extends bytes 0 and 2 (or, with
//! `ROR #8`, bytes 1 and 3) of a word into two halves. So one word of four int8 values becomes
//! two words of halves, `[x0, x2]` and `[x1, x3]`, and two `SMLAD`s against a weight word widened
//! the same way give the four products' sum — the lanes pair up without any re-ordering of the
//! weights, so the blob format is unchanged.
//!
//! Layout of this folder:
//! - `arm`: the instructions, as stable inline `asm!` (the only `unsafe` in the crate), and the
//!   two multiply-accumulate loops of the pointwise and dense kernels. Built only for
//!   targets with the DSP extension (`cfg(facegate_dsp)`, set by `build.rs` for `thumbv7em-*`).
//! - [`emulated`]: the same functions in plain Rust, bit for bit the instructions' definitions
//!   (ARMv7-M Architecture Reference Manual, A7.7). The host builds the DSP kernels on these, so
//!   every test of the kernels' structure (widening, tails, in-place order, requantisation) runs
//!   on the host too; the firmware's `kernel-check` compares both sets on the device.
//! - [`pointwise`] (with the dense layer), [`depthwise`] and [`conv`] (the first layer): the
//!   kernels. The residual add keeps its portable (table) kernel on the device.
//!
//! [`ENABLED`] says whether the engine dispatches to these kernels: on the device, unless the
//! `portable-kernels` feature asks for the portable ones (to measure one against the other).
//! Every DSP kernel is bit-identical to the portable kernel it replaces (proptests on the host,
//! `kernel-check` on QEMU).

#[cfg(facegate_dsp)]
pub mod arm;
pub mod conv;
pub mod depthwise;
pub mod emulated;
pub mod pointwise;

#[cfg(test)]
mod tests;

/// The instruction set the kernels use: the real instructions on the device, their emulation
/// elsewhere.
#[cfg(facegate_dsp)]
pub(crate) use arm as instr;
#[cfg(not(facegate_dsp))]
pub(crate) use emulated as instr;

/// Whether the engine runs the DSP kernels (the device, without the `portable-kernels` feature).
pub const ENABLED: bool = cfg!(all(facegate_dsp, not(feature = "portable-kernels")));

/// Two signed 16-bit halves in one word: `lo` in bits 0..16, `hi` in 16..32.
#[inline(always)]
pub const fn halves(lo: i32, hi: i32) -> u32 {
    (lo as u16 as u32) | ((hi as u16 as u32) << 16)
}

/// Bytes as int8 (for callers that keep tensors in a `u8` arena).
pub fn as_i8_mut(bytes: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(bytes)
}

/// Int8 values as bytes.
pub fn as_u8_mut(values: &mut [i8]) -> &mut [u8] {
    bytemuck::cast_slice_mut(values)
}
