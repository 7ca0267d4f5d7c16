//! Fuzz body: the receive path of the framing on raw wire bytes.
//!
//! The input is what arrives on the UART. The body checks:
//!
//! - [`FrameReader`] splits it at delimiters into frames no longer than its buffer, reports an
//!   overlong one only as [`FrameError::TooLong`], never holds more than its buffer;
//! - every frame it yields, and the whole input taken as one frame: COBS decodes to fewer bytes
//!   than it was given, and only from zero-free bytes; the decoded bytes re-encode (canonical
//!   form, no zero inside, at most [`cobs::max_encoded_len`]) and decode back to themselves;
//! - [`decode_frame`] as a [`Request`] and as a [`Response`]: an error names a cause consistent
//!   with the COBS layer (too short, CRC, malformed, trailing bytes), and a message that decodes
//!   passes [`super::request`]'s re-encoding checks against the decoded payload.
//!
//! Inputs longer than [`super::request::MAX_INPUT`] are truncated to it.

use super::display;
use super::request::{check_request, check_response, FRAME_BUF, MAX_INPUT};
use crate::protocol::cobs::{self, CobsError};
use crate::protocol::{decode_frame, FrameError, FrameReader, Request, Response, CRC_BYTES};

/// The stream splitter's buffer (short, so that overlong frames are exercised).
const READER_BUF: usize = 256;

/// Runs one input through the stream splitter and the frame decoders.
pub fn frame(data: &[u8]) {
    let data = data.get(..MAX_INPUT).unwrap_or(data);
    let mut rx = [0u8; READER_BUF];
    let mut reader = FrameReader::new(&mut rx);
    let mut since_delimiter = 0usize;
    for &byte in data {
        let result = reader.push(byte);
        if byte != 0 {
            since_delimiter += 1;
            assert!(result.is_none(), "a frame ends only at a delimiter");
            assert!(reader.pending() <= READER_BUF.min(since_delimiter));
            continue;
        }
        match result {
            None => assert_eq!(since_delimiter, 0, "only an empty frame is skipped"),
            Some(Ok(n)) => {
                assert_eq!(
                    n, since_delimiter,
                    "the frame is every byte since the delimiter"
                );
                let mut copy = [0u8; READER_BUF];
                copy[..n].copy_from_slice(&reader.buffer()[..n]);
                check_encoded(&copy[..n]);
            }
            Some(Err(FrameError::TooLong)) => assert!(since_delimiter > READER_BUF),
            Some(Err(e)) => panic!("the reader reported {e:?}"),
        }
        assert_eq!(reader.pending(), 0);
        since_delimiter = 0;
    }
    check_encoded(data);
}

/// Checks one frame's encoded bytes (delimiter excluded).
fn check_encoded(encoded: &[u8]) {
    let mut buf = [0u8; FRAME_BUF];
    let buf = &mut buf[..encoded.len()];
    buf.copy_from_slice(encoded);
    let cobs_result = cobs::decode_in_place(buf);
    match cobs_result {
        Ok(n) => {
            assert!(
                n < encoded.len().max(1),
                "decoded {n} of {} bytes",
                encoded.len()
            );
            assert!(!encoded.contains(&0), "decoded bytes with a zero inside");
            check_cobs_round_trip(&buf[..n]);
        }
        Err(CobsError::ZeroByte { at }) => assert_eq!(encoded.get(at), Some(&0)),
        Err(CobsError::Truncated { at }) => assert!(at < encoded.len()),
        Err(e) => panic!("decoding reported {e:?}"),
    }
    if let Err(e) = &cobs_result {
        display(e);
    }
    let payload = match cobs_result {
        Ok(n) => &buf[..n],
        Err(_) => &[][..],
    };
    let mut copy = [0u8; FRAME_BUF];
    let copy = &mut copy[..encoded.len()];
    copy.copy_from_slice(encoded);
    let request = decode_frame::<Request<'_>>(copy);
    check_decoded(&request, cobs_result, payload);
    if let Ok(message) = &request {
        check_request(message, &payload[..payload.len() - CRC_BYTES]);
    }
    let mut copy = [0u8; FRAME_BUF];
    let copy = &mut copy[..encoded.len()];
    copy.copy_from_slice(encoded);
    let response = decode_frame::<Response>(copy);
    check_decoded(&response, cobs_result, payload);
    if let Ok(message) = &response {
        check_response(message, &payload[..payload.len() - CRC_BYTES]);
    }
}

/// The decoded bytes re-encode to a zero-free encoding that decodes back to them.
fn check_cobs_round_trip(decoded: &[u8]) {
    let mut out = [0u8; FRAME_BUF];
    let n = cobs::encode(decoded, &mut out).expect("FRAME_BUF holds the encoding");
    assert_eq!(n, cobs::encoded_len(decoded));
    assert!(n <= cobs::max_encoded_len(decoded.len()));
    assert!(!out[..n].contains(&0), "zero inside an encoding");
    let m = cobs::decode_in_place(&mut out[..n]).expect("an encoding decodes");
    assert_eq!(&out[..m], decoded, "COBS round trip");
}

/// `decode_frame`'s error is the one the COBS layer and the payload's length call for.
fn check_decoded<T>(
    decoded: &Result<T, FrameError>,
    cobs_result: Result<usize, CobsError>,
    payload: &[u8],
) {
    match (decoded, cobs_result) {
        (Err(FrameError::Cobs(e)), Err(c)) => assert_eq!(*e, c),
        (Err(FrameError::TooShort), Ok(n)) => assert!(n < CRC_BYTES),
        (Ok(_), Ok(_))
        | (Err(FrameError::Crc { .. }), Ok(_))
        | (Err(FrameError::Malformed), Ok(_))
        | (Err(FrameError::TrailingBytes), Ok(_)) => assert!(payload.len() >= CRC_BYTES),
        (other, c) => panic!(
            "decode_frame gave {:?} after COBS {c:?}",
            other.as_ref().err()
        ),
    }
    if let Err(e) = decoded {
        display(e);
        let _ = e.code();
    }
}
