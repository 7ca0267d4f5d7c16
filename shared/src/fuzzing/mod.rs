//! The bodies of the fuzz targets (`shared/fuzz/`, `cargo fuzz`) and of their smoke test.
//!
//! Each body takes any bytes and must never panic on them; where the code has an invariant
//! beyond "no panic", the body asserts it, so a violated invariant is a crash too:
//!
//! - [`frame`]: the receive path of the framing (the stream splitter, COBS, CRC, the message
//!   decoders) on raw wire bytes;
//! - [`request`]: the message decoders behind a valid frame (the bytes are a postcard payload;
//!   the body adds the CRC and the COBS itself so that the fuzzer reaches postcard);
//! - [`blob`]: the model blob parser and, for a blob that parses and is small enough, the engine;
//! - [`store`]: the template store over a corrupted flash image.
//!
//! Built only for tests and with the `fuzzing` feature; not part of the device's API.
//! `no_std` and no `alloc` like the rest of the crate: the buffers are fixed arrays on the stack,
//! and inputs longer than a body's limit are truncated to it.

pub mod blob;
pub mod frame;
pub mod nor;
pub mod request;
pub mod store;

#[cfg(test)]
pub(crate) mod seeds;
#[cfg(test)]
mod tests;

/// A [`core::fmt::Write`] that discards what it is given: for running an error's `Display`
/// (which must not panic either) without an allocator.
pub(crate) struct Discard;

impl core::fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> core::fmt::Result {
        Ok(())
    }
}

/// Formats `value` into nothing (its `Display` must not panic).
pub(crate) fn display(value: &impl core::fmt::Display) {
    let _ = core::fmt::write(&mut Discard, format_args!("{value}"));
}
