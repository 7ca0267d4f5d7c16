//! The device protocol: requests and responses between a host and the device.
//!
//! Each message is an enum ([`Request`], [`Response`]) serialised with `postcard`, followed by
//! its CRC-32 ([`crate::blob::crc32`], little-endian), COBS-encoded ([`cobs`]) and ended with a
//! `0x00` delimiter ([`frame`]). One request, one response; the host waits for the answer.
//!
//! Limits: a request's encoded frame is at most [`MAX_FRAME`] bytes (delimiter excluded) —
//! enough for a [`FRAME_MAX_WIDTH`] × [`FRAME_MAX_HEIGHT`] grey frame. The device decodes **in
//! place** in its receive buffer, which is also the frame buffer: the pixels a request carries
//! are borrowed from it, never copied.
//!
//! Versioning: [`PROTOCOL_VERSION`] is in [`DeviceInfo`]; a host sends `Info` first and refuses
//! a device with another version. `Info` is variant 0 of [`Request`] and `DeviceInfo` starts with
//! the version, so every version can read at least that much of the other's answer.

pub mod cobs;
pub mod error;
pub mod frame;
pub mod messages;

#[cfg(test)]
mod tests;

pub use error::ErrorCode;
pub use frame::{
    decode_frame, encode_frame, encode_payload, write_frame, write_payload, FrameError,
    FrameReader, WriteError, CRC_BYTES,
};
pub use messages::*;

/// The protocol version this code speaks. Bump on any change to the messages' wire form.
pub const PROTOCOL_VERSION: u16 = 2;
/// Widest frame, pixels (QQVGA).
pub const FRAME_MAX_WIDTH: u16 = 160;
/// Tallest frame, pixels (QQVGA).
pub const FRAME_MAX_HEIGHT: u16 = 120;
/// Most pixels in a frame: 19,200.
pub const FRAME_MAX_PIXELS: usize = FRAME_MAX_WIDTH as usize * FRAME_MAX_HEIGHT as usize;
/// Longest id, bytes of UTF-8.
pub const ID_MAX: usize = 16;
/// Longest embedding the protocol carries.
pub const EMBEDDING_MAX: usize = 128;
/// Most layers a [`ProfileReport`] lists.
pub const LAYERS_MAX: usize = 64;
/// Most ids one [`Response::List`] page carries (a host pages through the store with
/// [`Request::List`]'s `start`); keeps every response small on the device's stack.
pub const LIST_PAGE: usize = 16;
/// Largest `bytes` of a [`Request::ModelChunk`].
pub const CHUNK_MAX: usize = 4096;
/// Largest postcard message (CRC excluded): a frame's pixels and 64 bytes for the rest.
pub const MAX_MESSAGE: usize = FRAME_MAX_PIXELS + 64;
/// Largest encoded frame, delimiter excluded: COBS of message + CRC. The device's receive
/// buffer must hold this many bytes (19,344).
pub const MAX_FRAME: usize = cobs::max_encoded_len(MAX_MESSAGE + CRC_BYTES);
