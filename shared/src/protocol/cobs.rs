//! Consistent Overhead Byte Stuffing (COBS): a frame's bytes with every `0x00` removed, so that
//! `0x00` can delimit frames on the wire.
//!
//! The payload is split at its zero bytes into segments; each segment is sent as blocks of a
//! code byte `c` (1..=255) followed by `c − 1` non-zero bytes. A block with `c < 255` stands for
//! its bytes and then a zero, except the last block of the frame, whose zero is implied by the
//! frame's end; a block with `c = 255` is 254 bytes with no zero after them. The encoder always
//! ends a segment with a block of `c < 255` (so a 254-byte segment costs one more byte than the
//! shortest encoding); the decoder accepts both forms.
//!
//! Decoding works **in place** ([`decode_in_place`]): the device's receive buffer is also the
//! buffer the decoded request borrows its pixels from, so a 19,200-byte frame is never copied.

/// What is wrong with COBS-encoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CobsError {
    /// A `0x00` inside the encoded bytes (only the delimiter may be zero).
    ZeroByte {
        /// Its index in the encoded bytes.
        at: usize,
    },
    /// A code byte promises more bytes than the frame holds.
    Truncated {
        /// Index of the code byte.
        at: usize,
    },
    /// The output buffer is too small for the encoding.
    OutputTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
    },
}

impl core::fmt::Display for CobsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ZeroByte { at } => write!(f, "COBS: zero byte inside the frame at {at}"),
            Self::Truncated { at } => write!(f, "COBS: block at {at} runs past the frame's end"),
            Self::OutputTooSmall { needed } => {
                write!(f, "COBS: output buffer too small, {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for CobsError {}

/// The longest encoding of `len` bytes: `len + len / 254 + 1` (delimiter not included).
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Encodes `src`, handing the encoded bytes to `emit` piece by piece (no buffer of its own: the
/// device streams a response from its receive buffer straight to the UART).
pub fn encode_with<E>(src: &[u8], mut emit: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    for mut segment in src.split(|&b| b == 0) {
        while segment.len() >= 254 {
            let (block, rest) = segment.split_at(254);
            emit(&[0xFF])?;
            emit(block)?;
            segment = rest;
        }
        // `segment.len() < 254`, so the code fits a byte.
        emit(&[segment.len() as u8 + 1])?;
        emit(segment)?;
    }
    Ok(())
}

/// Encodes `src` into `out`; returns the encoded length (at most [`max_encoded_len`]).
pub fn encode(src: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    let mut at = 0usize;
    let result = encode_with(src, |piece| {
        let slot = out.get_mut(at..at + piece.len()).ok_or(())?;
        slot.copy_from_slice(piece);
        at += piece.len();
        Ok(())
    });
    match result {
        Ok(()) => Ok(at),
        Err(()) => Err(CobsError::OutputTooSmall {
            needed: encoded_len(src),
        }),
    }
}

/// The exact length [`encode`] produces for `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let mut len = 0usize;
    let _ = encode_with::<()>(src, |piece| {
        len += piece.len();
        Ok(())
    });
    len
}

/// Decodes the encoded bytes of one frame (delimiter excluded) in place; returns the decoded
/// length `n`, the payload being `buf[..n]`. The bytes after `n` are left unspecified.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, CobsError> {
    let (mut read, mut write) = (0usize, 0usize);
    // Invariant: write ≤ read, so copying a block forward-to-backward never overwrites bytes not
    // yet read.
    while let Some(&code) = buf.get(read) {
        if code == 0 {
            return Err(CobsError::ZeroByte { at: read });
        }
        let start = read + 1;
        let end = start + usize::from(code) - 1;
        let block = buf
            .get(start..end)
            .ok_or(CobsError::Truncated { at: read })?;
        if let Some(zero) = block.iter().position(|&b| b == 0) {
            return Err(CobsError::ZeroByte { at: start + zero });
        }
        buf.copy_within(start..end, write);
        write += end - start;
        read = end;
        if code != 0xFF && read < buf.len() {
            // write ≤ read − 1 here (this block's code byte was dropped): in bounds.
            if let Some(slot) = buf.get_mut(write) {
                *slot = 0;
            }
            write += 1;
        }
    }
    Ok(write)
}
