//! The command loop over a byte pipe: garbage, truncated, oversized and CRC-failing frames are
//! answered with errors, and the device keeps serving.

use super::harness::*;
use crate::protocol::*;
use proptest::prelude::*;
use std::collections::VecDeque;

fn encoded(request: &Request<'_>) -> Vec<u8> {
    let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode_frame(request, &mut scratch, &mut out).unwrap();
    out.truncate(n);
    out
}

fn serve(chip: &mut Chip, input: Vec<u8>) -> Vec<Response> {
    let mut d = chip.device(None);
    let mut pipe = Pipe {
        input: VecDeque::from(input),
        output: Vec::new(),
    };
    let mut rx = vec![0u8; MAX_FRAME];
    let mut arena = vec![0u8; ARENA];
    d.serve(&mut pipe, &mut rx, &mut arena).unwrap();
    if pipe.output.is_empty() {
        return Vec::new();
    }
    responses(&pipe.output)
}

#[test]
fn garbage_is_answered_and_serving_goes_on() {
    let info = encoded(&Request::Info);
    let mut flipped = encoded(&Request::List { start: 0 });
    flipped[1] ^= 0x10;
    let pixels = picture(1, 1);
    let verify = encoded(&Request::Verify {
        id: pid("nobody"),
        frame: frame(&pixels),
    });
    // (bytes sent, the answer they complete: None = no answer, Some(None) = Info, Some(code)).
    let pieces: Vec<(Vec<u8>, Option<Option<ErrorCode>>)> = vec![
        (vec![0, 0, 0], None), // empty frames: ignored
        (info.clone(), Some(None)),
        (vec![0x55, 0x01, 0x00], Some(Some(ErrorCode::Cobs))),
        (vec![0x01, 0x00], Some(Some(ErrorCode::FrameTooShort))),
        (flipped, Some(Some(ErrorCode::Crc))),
        // A frame cut short, then the next frame: the two run together into one invalid frame
        // (here a COBS block of the first runs past the end; otherwise the CRC would fail).
        (verify[..verify.len() / 2].to_vec(), None),
        (info.clone(), Some(Some(ErrorCode::Cobs))),
        // Oversized: more than MAX_FRAME bytes without a delimiter.
        (vec![0x42; MAX_FRAME + 100], None),
        (vec![0], Some(Some(ErrorCode::FrameTooLong))),
        (verify, Some(Some(ErrorCode::UnknownId))),
        (info, Some(None)),
    ];
    let stream: Vec<u8> = pieces.iter().flat_map(|(bytes, _)| bytes.clone()).collect();
    let expected: Vec<Option<ErrorCode>> =
        pieces.into_iter().filter_map(|(_, want)| want).collect();
    let got = serve(&mut Chip::factory(), stream);
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (i, (response, want)) in got.iter().zip(&expected).enumerate() {
        match want {
            Some(code) => assert_eq!(response, &Response::Error(*code), "response {i}"),
            None => assert!(
                matches!(response, Response::Info(_)),
                "response {i}: {response:?}"
            ),
        }
    }
}

#[test]
fn a_full_size_frame_fits_the_receive_buffer() {
    let pixels = picture(2, 0);
    let stream = encoded(&Request::Enroll {
        id: pid("0123456789abcdef"),
        frame: frame(&pixels),
    });
    assert!(stream.len() - 1 <= MAX_FRAME);
    let got = serve(&mut Chip::factory(), stream);
    assert!(
        matches!(got.as_slice(), [Response::Enrolled { frames: 1, .. }]),
        "{got:?}"
    );
}

#[test]
fn a_too_small_receive_buffer_is_refused() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut pipe = Pipe {
        input: VecDeque::new(),
        output: Vec::new(),
    };
    let (mut rx, mut arena) = (vec![0u8; MAX_FRAME - 1], vec![0u8; ARENA]);
    assert_eq!(
        d.serve(&mut pipe, &mut rx, &mut arena),
        Err(crate::device::ServeError::RxBuffer)
    );
}

#[test]
fn a_small_arena_is_an_unsupported_model_not_a_panic() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let pixels = picture(2, 0);
    let mut b = Buffers::new();
    b.arena.truncate(ARENA - 1);
    assert_eq!(
        b.call(
            &mut d,
            &Request::Identify {
                frame: frame(&pixels)
            }
        ),
        Response::Error(ErrorCode::UnsupportedModel)
    );
}

/// A frame with a valid CRC around arbitrary payload bytes: it gets past the framing, so it
/// exercises the request decoder and the handlers.
fn crc_framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = payload.to_vec();
    bytes.extend(crate::blob::crc32::crc32(payload).to_le_bytes());
    let mut out = vec![0u8; crate::protocol::cobs::max_encoded_len(bytes.len()) + 1];
    let n = crate::protocol::cobs::encode(&bytes, &mut out).unwrap();
    out.truncate(n);
    out.push(0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary payloads with valid CRCs (tag bytes biased to real variants): every one is
    /// answered, nothing panics, and the enrolled template is still there afterwards.
    #[test]
    fn crc_valid_garbage_is_answered_and_loses_nothing(
        payloads in proptest::collection::vec(
            (0u8..14, proptest::collection::vec(any::<u8>(), 0..40)), 1..12)
    ) {
        let mut chip = Chip::factory();
        {
            let mut d = chip.device(None);
            let mut b = Buffers::new();
            enrol(&mut b, &mut d, "keeper", 3, 1);
        }
        let mut stream = Vec::new();
        for (tag, rest) in &payloads {
            let mut payload = vec![*tag];
            payload.extend(rest);
            stream.extend(crc_framed(&payload));
        }
        stream.extend(encoded(&Request::List { start: 0 }));
        let got = serve(&mut chip, stream);
        prop_assert_eq!(got.len(), payloads.len() + 1);
        let Some(Response::List(page)) = got.last() else {
            return Err(TestCaseError::fail(format!("{:?}", got.last())));
        };
        // Only a well-formed Delete { id: "keeper" } may remove it; a random payload that is
        // one would have to spell it out, which these 40-byte strings do not.
        prop_assert!(page.ids.iter().any(|id| id.as_str() == "keeper"), "{:?}", page);
    }

    /// Random bytes: every non-empty frame gets exactly one error response, nothing panics,
    /// and the device still answers `Info` afterwards with its templates intact.
    #[test]
    fn random_streams_never_break_the_device(
        garbage in proptest::collection::vec(any::<u8>(), 0..3000)
    ) {
        let mut stream = garbage.clone();
        stream.push(0);
        let frames = garbage.split(|&b| b == 0).filter(|f| !f.is_empty()).count();
        stream.extend(encoded(&Request::Info));
        let got = serve(&mut Chip::factory(), stream);
        prop_assert_eq!(got.len(), frames + 1);
        for r in &got[..frames] {
            prop_assert!(matches!(r, Response::Error(_)), "{:?}", r);
        }
        prop_assert!(matches!(got.last(), Some(Response::Info(_))), "{:?}", got.last());
    }
}
