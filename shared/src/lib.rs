//! `facegate-shared`: the part of facegate that runs identically on the host and on the device.
//!
//! `no_std`, no `alloc`, no `unsafe`, and no panics on any input: every function that takes
//! slices from outside checks them and returns a typed error.
//!
//! - [`math`]: the few float functions we need (`sqrt`, `exp`, `ln`), correctly rounded or
//!   within 1 ulp, from `libm`. `micromath`'s fast approximations are *not* used where a result
//!   feeds a distance or a normalisation: its `sqrt(2.0)` is off by several percent.
//! - [`distance`]: squared L2, L2, cosine for `f32` and `i8` vectors; L2 normalisation.
//! - [`loss`]: scalar reference forms of the losses the host trainer implements with tensors.
//! - [`verify`]: the accept/reject decision against a typed threshold.
//! - [`int8`]: TFLite-compatible int8 kernels (one file per operator) and their fixed-point math.
//! - [`blob`]: the `.fgm` model blob (format, validating zero-copy parser) and the int8 engine.
//! - [`protocol`]: the host ↔ device messages and their framing (postcard, CRC-32, COBS).
//! - [`device`]: the portable device application (command loop, template store, A/B model slots).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod blob;
pub mod device;
pub mod distance;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod int8;
pub mod loss;
pub mod math;
pub mod preprocess;
pub mod protocol;
pub mod selftest;
pub mod verify;

pub use distance::DistanceError;
