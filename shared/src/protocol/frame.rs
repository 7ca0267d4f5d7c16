//! Framing: `COBS(postcard(message) ‖ CRC-32(postcard(message)) as u32 LE) ‖ 0x00`.
//!
//! An empty frame (two delimiters in a row) is not a message: the device ignores it, so a host
//! may send a `0x00` before each request to flush whatever a broken sender left on the line.

use super::cobs::{self, CobsError};
use super::error::ErrorCode;
use super::MAX_FRAME;
use crate::blob::crc32::crc32;
use serde::{Deserialize, Serialize};

/// Bytes of the CRC-32 after the postcard payload.
pub const CRC_BYTES: usize = 4;

/// A frame that cannot be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// Invalid COBS.
    Cobs(CobsError),
    /// More than [`MAX_FRAME`] bytes before the delimiter (the frame was dropped).
    TooLong,
    /// Decoded to fewer bytes than the CRC.
    TooShort,
    /// The CRC does not match.
    Crc {
        /// CRC in the frame.
        stored: u32,
        /// CRC of the payload.
        computed: u32,
    },
    /// The payload is not a message of the expected type.
    Malformed,
    /// The payload decoded but bytes are left after it.
    TrailingBytes,
    /// The buffer handed to the encoder is too small for the message.
    BufferTooSmall,
}

impl FrameError {
    /// The error code the device answers this with.
    pub const fn code(self) -> ErrorCode {
        match self {
            Self::Cobs(_) => ErrorCode::Cobs,
            Self::TooLong => ErrorCode::FrameTooLong,
            Self::TooShort => ErrorCode::FrameTooShort,
            Self::Crc { .. } => ErrorCode::Crc,
            Self::Malformed | Self::TrailingBytes | Self::BufferTooSmall => ErrorCode::Malformed,
        }
    }
}

impl From<CobsError> for FrameError {
    fn from(e: CobsError) -> Self {
        Self::Cobs(e)
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Cobs(e) => write!(f, "{e}"),
            Self::TooLong => write!(f, "frame longer than {MAX_FRAME} bytes"),
            Self::TooShort => f.write_str("frame shorter than its CRC"),
            Self::Crc { stored, computed } => {
                write!(f, "frame CRC {stored:#010x}, computed {computed:#010x}")
            }
            Self::Malformed => f.write_str("frame payload is not a valid message"),
            Self::TrailingBytes => f.write_str("bytes left after the message"),
            Self::BufferTooSmall => f.write_str("buffer too small for the message"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Serialises `message` into `buf` and appends its CRC; returns the payload length (message +
/// CRC), ready for COBS.
pub fn encode_payload<T: Serialize>(message: &T, buf: &mut [u8]) -> Result<usize, FrameError> {
    let len = postcard::to_slice(message, buf)
        .map_err(|_| FrameError::BufferTooSmall)?
        .len();
    let crc = crc32(&buf[..len]).to_le_bytes();
    buf.get_mut(len..len + CRC_BYTES)
        .ok_or(FrameError::BufferTooSmall)?
        .copy_from_slice(&crc);
    Ok(len + CRC_BYTES)
}

/// Encodes `message` as a whole frame into `out`, delimiter included; `scratch` holds the
/// payload on the way. Returns the bytes of `out` used.
pub fn encode_frame<T: Serialize>(
    message: &T,
    scratch: &mut [u8],
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let len = encode_payload(message, scratch)?;
    let n = cobs::encode(&scratch[..len], out).map_err(|_| FrameError::BufferTooSmall)?;
    *out.get_mut(n).ok_or(FrameError::BufferTooSmall)? = 0;
    Ok(n + 1)
}

/// Writes `message` as a whole frame (delimiter included) to `w`, using `scratch` for the
/// payload: no buffer for the encoded bytes, they are streamed.
pub fn write_frame<T: Serialize, W: embedded_io::Write>(
    w: &mut W,
    message: &T,
    scratch: &mut [u8],
) -> Result<(), WriteError<W::Error>> {
    let len = encode_payload(message, scratch).map_err(WriteError::Frame)?;
    write_payload(w, &scratch[..len]).map_err(WriteError::Io)
}

/// COBS-encodes a payload from [`encode_payload`] to `w` and ends it with the delimiter.
pub fn write_payload<W: embedded_io::Write>(w: &mut W, payload: &[u8]) -> Result<(), W::Error> {
    cobs::encode_with(payload, |piece| w.write_all(piece))?;
    w.write_all(&[0])?;
    w.flush()
}

/// [`write_frame`]'s failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError<E> {
    /// The message did not fit the scratch buffer.
    Frame(FrameError),
    /// The writer failed.
    Io(E),
}

/// Decodes one frame's encoded bytes (delimiter excluded) **in place** and deserialises the
/// message, which may borrow byte slices from `encoded`.
pub fn decode_frame<'a, T: Deserialize<'a>>(encoded: &'a mut [u8]) -> Result<T, FrameError> {
    let n = cobs::decode_in_place(encoded)?;
    let decoded: &'a [u8] = encoded;
    let payload_len = n.checked_sub(CRC_BYTES).ok_or(FrameError::TooShort)?;
    let (payload, crc) = decoded[..n].split_at(payload_len);
    let stored = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let computed = crc32(payload);
    if stored != computed {
        return Err(FrameError::Crc { stored, computed });
    }
    let (message, rest) = postcard::take_from_bytes(payload).map_err(|_| FrameError::Malformed)?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::TrailingBytes)
    }
}

/// Collects bytes into a caller-provided buffer until a delimiter; the receive half of the
/// framing, for the device and the host alike.
#[derive(Debug)]
pub struct FrameReader<'b> {
    buf: &'b mut [u8],
    len: usize,
    overflow: bool,
}

impl<'b> FrameReader<'b> {
    /// A reader over `buf`; frames longer than `buf` are reported as [`FrameError::TooLong`].
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            overflow: false,
        }
    }

    /// Feeds one byte. At a delimiter that ends a non-empty frame returns `Some(Ok(n))`: the
    /// encoded frame is `buffer()[..n]`, valid until the next `push`. An overlong frame is
    /// dropped and reported at its delimiter as `Some(Err(TooLong))`. Empty frames give `None`.
    pub fn push(&mut self, byte: u8) -> Option<Result<usize, FrameError>> {
        if byte != 0 {
            if self.overflow {
                return None;
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            } else {
                self.overflow = true;
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = false;
        if overflow {
            Some(Err(FrameError::TooLong))
        } else if len == 0 {
            None
        } else {
            Some(Ok(len))
        }
    }

    /// The receive buffer (after `push` returned a frame: the frame's bytes, then free space).
    pub fn buffer(&mut self) -> &mut [u8] {
        self.buf
    }

    /// Bytes of the frame being received.
    pub fn pending(&self) -> usize {
        self.len
    }
}
