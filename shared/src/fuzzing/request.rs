//! Fuzz body: the message decoders ([`Request`], [`Response`]) behind a valid frame.
//!
//! The input is a postcard payload. The body appends its CRC-32 and COBS-encodes it, so that
//! every input reaches the message decoders through the device's own receive path
//! ([`decode_frame`]) instead of stopping at the CRC, and checks:
//!
//! - [`decode_frame`] agrees with postcard on the bare payload: a message with nothing after it
//!   decodes, one with bytes left over is [`FrameError::TrailingBytes`], anything else is
//!   [`FrameError::Malformed`];
//! - a message that decodes re-encodes (into buffers sized for the input), and the re-encoded
//!   frame decodes to an equal message;
//! - the re-encoded payload is never longer than the one received and, when as long, is the
//!   same bytes (the only non-minimal form postcard reads is an over-long varint, which
//!   makes the received payload longer);
//! - the decoded message's own checks ([`Frame::validate`], [`IdPage::next`]) do not panic.
//!
//! Inputs longer than [`MAX_INPUT`] are truncated to it.

use crate::protocol::cobs;
use crate::protocol::{
    decode_frame, encode_frame, encode_payload, Frame, FrameError, Request, Response, CRC_BYTES,
};
use core::fmt::Debug;
use serde::{Deserialize, Serialize};

/// Longest payload the body looks at (longer inputs are truncated).
pub const MAX_INPUT: usize = 4096;
/// A payload and its CRC.
pub(crate) const PAYLOAD_BUF: usize = MAX_INPUT + CRC_BYTES;
/// The COBS encoding of a payload and its CRC, and the delimiter.
pub(crate) const FRAME_BUF: usize = cobs::max_encoded_len(PAYLOAD_BUF) + 1;

/// Runs one input through the request and the response decoders.
pub fn request(data: &[u8]) {
    let payload = data.get(..MAX_INPUT).unwrap_or(data);
    let mut framed = [0u8; FRAME_BUF];
    let n = frame_payload(payload, &mut framed);
    let mut copy = framed;
    let decoded = decode_frame::<Request<'_>>(&mut copy[..n]);
    agrees_with_postcard::<Request<'_>>(payload, &decoded);
    if let Ok(message) = &decoded {
        check_request(message, payload);
    }
    let mut copy = framed;
    let decoded = decode_frame::<Response>(&mut copy[..n]);
    agrees_with_postcard::<Response>(payload, &decoded);
    if let Ok(message) = &decoded {
        check_response(message, payload);
    }
}

/// `COBS(payload ‖ CRC)` into `out`, delimiter excluded; returns its length.
fn frame_payload(payload: &[u8], out: &mut [u8; FRAME_BUF]) -> usize {
    let mut with_crc = [0u8; PAYLOAD_BUF];
    with_crc[..payload.len()].copy_from_slice(payload);
    let crc = crate::blob::crc32::crc32(payload).to_le_bytes();
    with_crc[payload.len()..payload.len() + CRC_BYTES].copy_from_slice(&crc);
    cobs::encode(&with_crc[..payload.len() + CRC_BYTES], out)
        .expect("FRAME_BUF holds the longest encoding")
}

fn agrees_with_postcard<'a, T: Deserialize<'a> + PartialEq + Debug>(
    payload: &'a [u8],
    decoded: &Result<T, FrameError>,
) {
    match (postcard::take_from_bytes::<T>(payload), decoded) {
        (Ok((direct, [])), Ok(framed)) => assert_eq!(&direct, framed),
        (Ok(_), Err(FrameError::TrailingBytes)) | (Err(_), Err(FrameError::Malformed)) => {}
        (direct, framed) => panic!(
            "decode_frame {framed:?} disagrees with postcard {:?}",
            direct.map(|(_, rest)| rest.len())
        ),
    }
}

/// Checks a decoded request: its frame's validation runs, it re-encodes to no more than the
/// `received` payload (the same bytes when as long), and the re-encoded frame decodes equal.
pub(crate) fn check_request(message: &Request<'_>, received: &[u8]) {
    let frame: Option<&Frame<'_>> = match message {
        Request::Enroll { frame, .. }
        | Request::Verify { frame, .. }
        | Request::Identify { frame }
        | Request::Profile { frame } => Some(frame),
        _ => None,
    };
    if let Some(frame) = frame {
        let _ = frame.validate();
    }
    check_payload(message, received);
    let mut scratch = [0u8; PAYLOAD_BUF];
    let mut out = [0u8; FRAME_BUF];
    let len = encode_frame(message, &mut scratch, &mut out).expect("a decoded request re-encodes");
    let again: Request<'_> = decode_frame(&mut out[..len - 1]).expect("re-encoded frame decodes");
    assert_eq!(&again, message, "request round trip");
}

/// [`check_request`] for a response.
pub(crate) fn check_response(message: &Response, received: &[u8]) {
    if let Response::List(page) = message {
        let _ = page.next(0);
        let _ = page.next(u16::MAX);
    }
    check_payload(message, received);
    let mut scratch = [0u8; PAYLOAD_BUF];
    let mut out = [0u8; FRAME_BUF];
    let len = encode_frame(message, &mut scratch, &mut out).expect("a decoded response re-encodes");
    let again: Response = decode_frame(&mut out[..len - 1]).expect("re-encoded frame decodes");
    assert_eq!(&again, message, "response round trip");
}

/// The payload `message` encodes to is no longer than the `received` one, and the same bytes
/// when as long.
fn check_payload<T: Serialize>(message: &T, received: &[u8]) {
    let mut out = [0u8; PAYLOAD_BUF];
    let n =
        encode_payload(message, &mut out).expect("a decoded message fits the buffer it came in");
    let encoded = &out[..n - CRC_BYTES];
    assert!(
        encoded.len() <= received.len(),
        "re-encoded payload {} bytes, received {}",
        encoded.len(),
        received.len()
    );
    if encoded.len() == received.len() {
        assert_eq!(encoded, received, "same length, other bytes");
    }
}
