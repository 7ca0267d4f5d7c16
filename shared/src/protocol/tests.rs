//! Test vectors of the framing and the messages.

use super::cobs::{self, CobsError};
use super::*;
use proptest::prelude::*;

fn id(s: &str) -> PersonId {
    PersonId::try_from(s).unwrap()
}

fn frame_of(pixels: &[u8], width: u16, height: u16) -> Frame<'_> {
    Frame {
        width,
        height,
        face: FaceBox {
            x: 0,
            y: 0,
            w: width,
            h: height,
        },
        pixels,
    }
}

/// Encodes and decodes `message` through whole frames; returns the encoded frame length.
fn round_trip_request(request: &Request<'_>) -> usize {
    let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode_frame(request, &mut scratch, &mut out).unwrap();
    assert_eq!(out[n - 1], 0, "frame ends with the delimiter");
    assert!(!out[..n - 1].contains(&0), "no zero inside a frame");
    assert!(n - 1 <= MAX_FRAME, "{n} bytes exceed MAX_FRAME");
    let decoded: Request<'_> = decode_frame(&mut out[..n - 1]).unwrap();
    assert_eq!(&decoded, request);
    n
}

fn round_trip_response(response: &Response) {
    let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode_frame(response, &mut scratch, &mut out).unwrap();
    let decoded: Response = decode_frame(&mut out[..n - 1]).unwrap();
    assert_eq!(&decoded, response);
}

#[test]
fn cobs_vectors() {
    // (name, decoded, encoded) — the classic COBS examples.
    let long: Vec<u8> = (1..=254).collect();
    let mut long_enc = vec![0xFF];
    long_enc.extend(1..=254u8);
    long_enc.push(0x01);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("empty", vec![], vec![0x01]),
        ("one zero", vec![0x00], vec![0x01, 0x01]),
        ("two zeros", vec![0x00, 0x00], vec![0x01, 0x01, 0x01]),
        (
            "zero inside",
            vec![0x11, 0x22, 0x00, 0x33],
            vec![0x03, 0x11, 0x22, 0x02, 0x33],
        ),
        (
            "no zero",
            vec![0x11, 0x22, 0x33, 0x44],
            vec![0x05, 0x11, 0x22, 0x33, 0x44],
        ),
        ("trailing zero", vec![0x11, 0x00], vec![0x02, 0x11, 0x01]),
        ("254 non-zero bytes", long.clone(), long_enc),
    ];
    for (name, decoded, encoded) in cases {
        let mut out = vec![0u8; cobs::max_encoded_len(decoded.len())];
        let n = cobs::encode(&decoded, &mut out).unwrap();
        assert_eq!(&out[..n], &encoded[..], "{name}: encoding");
        assert_eq!(cobs::encoded_len(&decoded), n, "{name}: encoded_len");
        let mut buf = encoded.clone();
        let m = cobs::decode_in_place(&mut buf).unwrap();
        assert_eq!(&buf[..m], &decoded[..], "{name}: decoding");
    }
    // The shortest form of 254 non-zero bytes (no trailing 0x01 block) decodes too.
    let mut short = vec![0xFF];
    short.extend(1..=254u8);
    let m = cobs::decode_in_place(&mut short).unwrap();
    assert_eq!(&short[..m], &long[..]);
}

#[test]
fn cobs_errors() {
    let cases: &[(&str, &[u8], CobsError)] = &[
        ("zero code", &[0x00, 0x01], CobsError::ZeroByte { at: 0 }),
        (
            "zero in block",
            &[0x03, 0x11, 0x00],
            CobsError::ZeroByte { at: 2 },
        ),
        (
            "block past end",
            &[0x05, 0x11, 0x22],
            CobsError::Truncated { at: 0 },
        ),
        (
            "second block past end",
            &[0x02, 0x11, 0x04, 0x01],
            CobsError::Truncated { at: 2 },
        ),
    ];
    for (name, bytes, want) in cases {
        let mut buf = bytes.to_vec();
        assert_eq!(cobs::decode_in_place(&mut buf), Err(*want), "{name}");
    }
    let mut small = [0u8; 3];
    assert_eq!(
        cobs::encode(&[1, 2, 3], &mut small),
        Err(CobsError::OutputTooSmall { needed: 4 })
    );
}

#[test]
fn every_request_round_trips() {
    let pixels: Vec<u8> = (0..FRAME_MAX_PIXELS).map(|i| (i % 251) as u8).collect();
    let max = frame_of(&pixels, FRAME_MAX_WIDTH, FRAME_MAX_HEIGHT);
    let chunk = vec![0u8; CHUNK_MAX];
    let long_id = id("0123456789abcdef");
    let requests = [
        Request::Info,
        Request::SelfTest,
        Request::ModelBegin {
            len: 158_440,
            crc: 0xDEAD_BEEF,
        },
        Request::ModelChunk {
            offset: 4096,
            bytes: &chunk,
        },
        Request::ModelChunk {
            offset: 0,
            bytes: &[],
        },
        Request::ModelCommit,
        Request::Enroll {
            id: long_id.clone(),
            frame: max,
        },
        Request::EnrollCommit { id: id("ada") },
        Request::Delete { id: id("ada") },
        Request::List { start: 0 },
        Request::List { start: u16::MAX },
        Request::Verify {
            id: long_id.clone(),
            frame: max,
        },
        Request::Identify { frame: max },
        Request::Profile {
            frame: frame_of(&[7], 1, 1),
        },
        Request::Challenge,
        Request::Authenticate { mac: [0xA5; 32] },
        Request::EndSession,
    ];
    let mut longest = 0;
    for request in &requests {
        longest = longest.max(round_trip_request(request));
    }
    // The largest request (an Enroll/Verify of a full QQVGA frame with a 16-byte id) fits.
    assert!(
        longest - 1 <= MAX_FRAME && longest - 1 > MAX_FRAME - 120,
        "{longest}"
    );
}

#[test]
fn every_response_round_trips() {
    let embedding: Embedding = (0..128).map(|i| (i as i8).wrapping_mul(3)).collect();
    let mut ids = heapless::Vec::new();
    for i in 0..LIST_PAGE {
        ids.push(id(&format!("person-{i:09}"))).unwrap();
    }
    let model = ModelInfo {
        id: [9; 16],
        slot: Slot::B,
        version: 7,
        len: 158_440,
        arena: 32_832,
        macs: 6_219_776,
        layers: 22,
        input_side: 64,
        embedding_dim: 128,
        threshold: 4301,
        model_version: u32::MAX,
        signed: true,
        check_cost: 1_234_567,
    };
    let cost = Cost {
        preprocess: 1,
        embed: u32::MAX,
    };
    let responses = [
        Response::Info(DeviceInfo {
            protocol_version: PROTOCOL_VERSION,
            firmware_version: heapless::String::try_from("0.1.0").unwrap(),
            model: Some(model),
            memory: MemoryUse::default(),
            templates: 3,
            template_capacity: 100,
            max_frame: MAX_FRAME as u32,
            admin: true,
            attempts: AttemptInfo {
                identify_failures: 5,
                identify_wait: 30,
                most_failures: u16::MAX,
                longest_wait: 3600,
            },
        }),
        Response::SelfTest(SelfTestReport {
            passed: false,
            vectors: 4,
            mismatch: Some(GoldenMismatch {
                vector: 1,
                element: 2,
            }),
            cost: 5,
        }),
        Response::ModelBegun { slot: Slot::A },
        Response::ModelChunk { next: 4096 },
        Response::ModelCommitted(model),
        Response::Enrolled {
            frames: 2,
            embedding: embedding.clone(),
        },
        Response::EnrollCommitted {
            frames: 3,
            templates: 10,
        },
        Response::Deleted { templates: 0 },
        Response::List(IdPage { total: 100, ids }),
        Response::List(IdPage {
            total: 0,
            ids: heapless::Vec::new(),
        }),
        Response::Verify(VerifyReport {
            accepted: true,
            distance: -1,
            threshold: 4301,
            cost,
            embedding: embedding.clone(),
        }),
        Response::Identify(IdentifyReport {
            best: Some(Candidate {
                id: id("bob"),
                distance: 12,
            }),
            accepted: false,
            threshold: 4301,
            compared: 100,
            cost,
            embedding: embedding.clone(),
        }),
        Response::Identify(IdentifyReport {
            best: None,
            accepted: false,
            threshold: 0,
            compared: 0,
            cost,
            embedding: Embedding::new(),
        }),
        Response::Profile(ProfileReport {
            layers: (0..LAYERS_MAX as u32).collect(),
            cost,
            embedding,
        }),
        Response::Error(ErrorCode::OutOfOrder { expected: 8192 }),
        Response::Error(ErrorCode::Storage),
        Response::Error(ErrorCode::ModelDowngrade {
            installed: 9,
            offered: 3,
        }),
        Response::Error(ErrorCode::LockedOut { retry_after: 3600 }),
        Response::Challenge { nonce: [0xFF; 32] },
        Response::Authenticated,
        Response::SessionEnded,
    ];
    for response in &responses {
        round_trip_response(response);
    }
}

fn encoded_info() -> Vec<u8> {
    let mut scratch = [0u8; 64];
    let mut out = [0u8; 64];
    let n = encode_frame(&Request::Info, &mut scratch, &mut out).unwrap();
    out[..n - 1].to_vec()
}

#[test]
fn every_truncation_is_an_error() {
    let pixels = [1u8, 0, 2, 0, 3, 0];
    let request = Request::Verify {
        id: id("carol"),
        frame: frame_of(&pixels, 3, 2),
    };
    let mut scratch = [0u8; 128];
    let mut out = [0u8; 128];
    let n = encode_frame(&request, &mut scratch, &mut out).unwrap() - 1;
    for cut in 0..n {
        let mut buf = out[..cut].to_vec();
        assert!(
            decode_frame::<Request<'_>>(&mut buf).is_err(),
            "a frame cut to {cut} of {n} bytes decoded"
        );
    }
}

#[test]
fn every_bit_flip_is_an_error() {
    let frame = encoded_info();
    let pixels = [5u8; 40];
    let mut scratch = [0u8; 128];
    let mut out = [0u8; 128];
    let n = encode_frame(
        &Request::Enroll {
            id: id("dave"),
            frame: frame_of(&pixels, 8, 5),
        },
        &mut scratch,
        &mut out,
    )
    .unwrap()
        - 1;
    for encoded in [frame, out[..n].to_vec()] {
        for bit in 0..encoded.len() * 8 {
            let mut buf = encoded.clone();
            buf[bit / 8] ^= 1 << (bit % 8);
            assert!(
                decode_frame::<Request<'_>>(&mut buf).is_err(),
                "bit {bit} flipped still decodes"
            );
        }
    }
}

#[test]
fn named_frame_errors() {
    let crc_of_garbage = {
        // A valid COBS frame whose CRC is wrong.
        let mut payload = postcard::to_slice(&Request::List { start: 0 }, &mut [0u8; 8])
            .unwrap()
            .to_vec();
        payload.extend(0u32.to_le_bytes());
        let mut out = [0u8; 16];
        let n = cobs::encode(&payload, &mut out).unwrap();
        out[..n].to_vec()
    };
    let unknown_variant = {
        let mut payload = vec![200u8, 1];
        let crc = crate::blob::crc32::crc32(&payload);
        payload.extend(crc.to_le_bytes());
        let mut out = [0u8; 16];
        let n = cobs::encode(&payload, &mut out).unwrap();
        out[..n].to_vec()
    };
    let trailing = {
        let mut payload = vec![0u8, 0]; // Info, then one extra byte.
        let crc = crate::blob::crc32::crc32(&payload);
        payload.extend(crc.to_le_bytes());
        let mut out = [0u8; 16];
        let n = cobs::encode(&payload, &mut out).unwrap();
        out[..n].to_vec()
    };
    let id_too_long = {
        // Delete { id } with a 17-byte id.
        let mut payload = vec![7u8, 17];
        payload.extend([b'x'; 17]);
        let crc = crate::blob::crc32::crc32(&payload);
        payload.extend(crc.to_le_bytes());
        let mut out = [0u8; 64];
        let n = cobs::encode(&payload, &mut out).unwrap();
        out[..n].to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, FrameError)> = vec![
        ("empty", vec![], FrameError::TooShort),
        ("only a code byte", vec![0x01], FrameError::TooShort),
        (
            "zero inside",
            vec![0x02, 0x00, 0x01],
            FrameError::Cobs(CobsError::ZeroByte { at: 1 }),
        ),
        (
            "wrong CRC",
            crc_of_garbage,
            FrameError::Crc {
                stored: 0,
                computed: crate::blob::crc32::crc32(&[8, 0]),
            },
        ),
        ("unknown variant", unknown_variant, FrameError::Malformed),
        ("trailing byte", trailing, FrameError::TrailingBytes),
        ("id longer than ID_MAX", id_too_long, FrameError::Malformed),
    ];
    for (name, mut bytes, want) in cases {
        assert_eq!(decode_frame::<Request<'_>>(&mut bytes), Err(want), "{name}");
    }
    assert_eq!(FrameError::TooLong.code(), ErrorCode::FrameTooLong);
}

#[test]
fn frame_reader_splits_drops_and_resyncs() {
    let mut buf = [0u8; 8];
    let mut reader = FrameReader::new(&mut buf);
    // Empty frames are ignored.
    assert_eq!(reader.push(0), None);
    for b in [1, 2, 3] {
        assert_eq!(reader.push(b), None);
    }
    assert_eq!(reader.push(0), Some(Ok(3)));
    assert_eq!(&reader.buffer()[..3], &[1, 2, 3]);
    // Oversize: 9 bytes into 8 are dropped and reported at the delimiter, then it resyncs.
    for b in 1..=9 {
        assert_eq!(reader.push(b), None);
    }
    assert_eq!(reader.push(0), Some(Err(FrameError::TooLong)));
    assert_eq!(reader.push(5), None);
    assert_eq!(reader.push(0), Some(Ok(1)));
    // Exactly the buffer's size fits.
    for b in 1..=8 {
        reader.push(b);
    }
    assert_eq!(reader.push(0), Some(Ok(8)));
}

#[test]
fn oversized_encoding_is_refused_by_the_encoder() {
    let pixels = vec![1u8; FRAME_MAX_PIXELS];
    let request = Request::Identify {
        frame: frame_of(&pixels, FRAME_MAX_WIDTH, FRAME_MAX_HEIGHT),
    };
    let mut scratch = vec![0u8; 1000];
    let mut out = vec![0u8; MAX_FRAME + 1];
    assert_eq!(
        encode_frame(&request, &mut scratch, &mut out),
        Err(FrameError::BufferTooSmall)
    );
}

#[test]
fn id_pages_chain() {
    let page = |total, n: usize| IdPage {
        total,
        ids: (0..n).map(|i| id(&format!("p{i}"))).collect(),
    };
    let cases = [
        ("empty store", page(0, 0), 0, None),
        ("one short page", page(3, 3), 0, None),
        ("first of two", page(20, LIST_PAGE), 0, Some(16)),
        ("last of two", page(20, 4), 16, None),
        ("store shrank under the host", page(10, 0), 16, None),
    ];
    for (name, p, start, want) in cases {
        assert_eq!(p.next(start), want, "{name}");
    }
}

#[test]
fn frame_validation() {
    let pixels = [0u8; 12];
    let ok = frame_of(&pixels, 4, 3);
    assert_eq!(ok.validate(), Ok(()));
    let boxed = |x, y, w, h| Frame {
        face: FaceBox { x, y, w, h },
        ..ok
    };
    let cases: &[(&str, Frame<'_>, Result<(), ErrorCode>)] = &[
        ("inner box", boxed(1, 1, 2, 2), Ok(())),
        ("box to the edge", boxed(3, 2, 1, 1), Ok(())),
        (
            "box past the right",
            boxed(3, 0, 2, 1),
            Err(ErrorCode::FaceBox),
        ),
        (
            "box past the bottom",
            boxed(0, 2, 1, 2),
            Err(ErrorCode::FaceBox),
        ),
        ("empty box", boxed(0, 0, 0, 1), Err(ErrorCode::FaceBox)),
        (
            "huge box",
            boxed(u16::MAX, 0, u16::MAX, 1),
            Err(ErrorCode::FaceBox),
        ),
        (
            "pixels short",
            frame_of(&pixels[..11], 4, 3),
            Err(ErrorCode::FrameSize),
        ),
        ("zero width", frame_of(&[], 0, 3), Err(ErrorCode::FrameSize)),
        (
            "too wide",
            frame_of(&pixels, 161, 3),
            Err(ErrorCode::FrameSize),
        ),
    ];
    for (name, frame, want) in cases {
        assert_eq!(frame.validate(), *want, "{name}");
    }
}

#[test]
fn info_is_variant_zero_and_version_leads_device_info() {
    // The cross-version contract: `Info` encodes as the single byte 0, and `DeviceInfo`'s first
    // field is the protocol version.
    let mut buf = [0u8; 4];
    assert_eq!(postcard::to_slice(&Request::Info, &mut buf).unwrap(), &[0]);
    let info = Response::Info(DeviceInfo {
        protocol_version: 300,
        firmware_version: heapless::String::new(),
        model: None,
        memory: MemoryUse::default(),
        templates: 0,
        template_capacity: 0,
        max_frame: 0,
        admin: false,
        attempts: AttemptInfo::default(),
    });
    let mut buf = [0u8; 64];
    let bytes = postcard::to_slice(&info, &mut buf).unwrap();
    assert_eq!(&bytes[..3], &[0, 0xAC, 0x02], "tag 0, then varint 300");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut buf = bytes.clone();
        let _ = decode_frame::<Request<'_>>(&mut buf);
        let mut buf = bytes.clone();
        let _ = decode_frame::<Response>(&mut buf);
        let mut reader_buf = [0u8; 64];
        let mut reader = FrameReader::new(&mut reader_buf);
        for &b in &bytes {
            if let Some(Ok(n)) = reader.push(b) {
                let _ = decode_frame::<Request<'_>>(&mut reader.buffer()[..n]);
            }
        }
    }

    #[test]
    fn cobs_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let mut out = vec![0u8; cobs::max_encoded_len(bytes.len())];
        let n = cobs::encode(&bytes, &mut out).unwrap();
        prop_assert!(!out[..n].contains(&0));
        let m = cobs::decode_in_place(&mut out[..n]).unwrap();
        prop_assert_eq!(&out[..m], &bytes[..]);
    }

    #[test]
    fn valid_frames_with_random_payload_bytes_round_trip(
        offset in any::<u32>(), bytes in proptest::collection::vec(any::<u8>(), 0..CHUNK_MAX)
    ) {
        let request = Request::ModelChunk { offset, bytes: &bytes };
        round_trip_request(&request);
    }
}

#[test]
fn responses_stay_small_for_the_device_stack() {
    // The device builds one response at a time on its stack (the whole app peaked at about
    // 7.4 KB under QEMU); a 100-id List once made every Response 1.8 KB and overflowed it.
    let (response, request) = (size_of::<Response>(), size_of::<Request<'_>>());
    assert!(response <= 512, "Response is {response} bytes");
    assert!(request <= 96, "Request is {request} bytes");
}
