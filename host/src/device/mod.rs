//! The host side of the device product: talk to a facegate device (a board on a serial port, or
//! QEMU's UART on a TCP socket) with the protocol of [`facegate_shared::protocol`].
//!
//! - [`port`]: where the device is (`/dev/ttyACM0` or `tcp:127.0.0.1:4555`) and the byte link;
//! - [`client`]: one request, one response, with a timeout; typed methods per command and
//!   [`ClientError`]s that name the command;
//! - [`frames`]: image files → device frames (≤ 160×120 grey + a face box) such that the
//!   device's crop and resize gives exactly the host's preprocessed model input;
//! - [`reference`]: the host engine's answer for the same frame (embedding, distance, decision),
//!   to check every device answer against;
//! - [`checked`]: device operations each checked against the host engine (what `facegate demo`
//!   and the QEMU end-to-end tests run); [`gallery`]: the people they enrol and probe;
//! - [`keys`]: the model-signing and admin key files (`facegate keygen`), the QEMU test keys;
//! - [`layers`]: each layer's MACs and activation bytes from the blob's tables;
//! - [`firmware`]: building the firmware and booting it in QEMU (`mps2-an386`) with a persistent
//!   flash file and the UART on a loopback TCP socket;
//! - [`sim`]: the device application run in-process (the same `Device::serve` the firmware
//!   runs, on an in-memory NOR flash), for tests that need no QEMU.

pub mod checked;
pub mod client;
pub mod firmware;
pub mod frames;
pub mod gallery;
pub mod keys;
pub mod layers;
pub mod port;
pub mod reference;
pub mod sim;

#[cfg(test)]
mod client_tests;

pub use client::{Client, ClientError};
pub use frames::{DeviceFrame, FrameBuildError};
pub use port::{Link, PortError, PortSpec};
