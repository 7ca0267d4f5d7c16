//! The device in QEMU on bad input: garbage, truncated, oversized and corrupted frames, frames
//! that break the protocol's limits, requests out of order, and a model update cut off by a
//! QEMU kill — each answered with a typed error (or survived), and the device keeps serving.

use facegate_e2e::build_firmware;
use facegate_e2e::device::client::Client;
use facegate_e2e::device::firmware::{release_model, Qemu, QemuConfig};
use facegate_e2e::device::frames::DeviceFrame;
use facegate_e2e::device::gallery::generated_people;
use facegate_shared::blob::crc32::crc32;
use facegate_shared::protocol::{
    encode_frame, ErrorCode, FaceBox, Frame, Request, Response, Slot, CHUNK_MAX, CRC_BYTES,
    MAX_FRAME, MAX_MESSAGE,
};

fn code(response: Response) -> ErrorCode {
    match response {
        Response::Error(code) => code,
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn frame_bytes(request: &Request<'_>) -> Vec<u8> {
    let mut scratch = vec![0u8; MAX_MESSAGE + CRC_BYTES];
    let mut out = vec![0u8; MAX_FRAME + 1];
    let n = encode_frame(request, &mut scratch, &mut out).unwrap();
    out.truncate(n);
    out
}

fn still_serving(client: &mut Client) {
    let info = client.info().expect("the device still answers Info");
    assert!(info.model.is_some());
}

#[test]
fn bad_frames_get_typed_errors_and_the_device_keeps_serving() {
    let elf = build_firmware(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    let (_qemu, mut client, _) = Qemu::start_and_connect(&cfg).unwrap();
    let person = &generated_people(1, 1, 4)[0];
    let frame = DeviceFrame::centre_crop(&person.images[0], 120).unwrap();
    let identify = frame_bytes(&Request::Identify {
        frame: frame.as_frame(),
    });
    assert_eq!(identify.last(), Some(&0));
    let body = &identify[..identify.len() - 1];

    // Garbage (no zero byte in it), then a delimiter.
    let mut garbage: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 255 + 1) as u8).collect();
    garbage.push(0);
    let c = code(client.send_bytes("garbage", &garbage).unwrap());
    assert!(
        matches!(c, ErrorCode::Cobs | ErrorCode::Crc | ErrorCode::Malformed),
        "{c:?}"
    );
    still_serving(&mut client);

    // Truncated: the first half of a valid Identify, delimited.
    let mut truncated = body[..body.len() / 2].to_vec();
    truncated.push(0);
    let c = code(client.send_bytes("truncated", &truncated).unwrap());
    assert!(
        matches!(
            c,
            ErrorCode::Cobs | ErrorCode::Crc | ErrorCode::FrameTooShort
        ),
        "{c:?}"
    );
    still_serving(&mut client);

    // One bit flipped in the pixels (kept non-zero): the CRC catches it.
    let mut flipped = identify.clone();
    let at = flipped.len() / 2;
    flipped[at] = if flipped[at] == 1 { 3 } else { flipped[at] ^ 1 };
    assert_ne!(flipped[at], 0);
    let c = code(client.send_bytes("bit flip", &flipped).unwrap());
    assert!(matches!(c, ErrorCode::Crc | ErrorCode::Cobs), "{c:?}");
    still_serving(&mut client);

    // Oversized: more bytes before the delimiter than the receive buffer holds.
    let mut big = vec![0x41u8; MAX_FRAME + 1000];
    big.push(0);
    assert_eq!(
        code(client.send_bytes("oversized", &big).unwrap()),
        ErrorCode::FrameTooLong
    );
    still_serving(&mut client);

    // Valid frames that break the limits: a 161-pixel-wide image, a box outside, a short image.
    let wide = vec![9u8; 161 * 10];
    let face = FaceBox {
        x: 0,
        y: 0,
        w: 10,
        h: 10,
    };
    let r = client.exchange(&Request::Identify {
        frame: Frame {
            width: 161,
            height: 10,
            face,
            pixels: &wide,
        },
    });
    assert_eq!(code(r.unwrap()), ErrorCode::FrameSize);
    let r = client.exchange(&Request::Identify {
        frame: Frame {
            width: 20,
            height: 20,
            face: FaceBox {
                x: 15,
                y: 15,
                w: 10,
                h: 10,
            },
            pixels: &wide[..400],
        },
    });
    assert_eq!(code(r.unwrap()), ErrorCode::FaceBox);
    let r = client.exchange(&Request::Identify {
        frame: Frame {
            width: 20,
            height: 20,
            face,
            pixels: &wide[..399],
        },
    });
    assert_eq!(code(r.unwrap()), ErrorCode::FrameSize);

    // Out of order and unknown (in an admin session): a chunk without ModelBegin, a commit
    // without one, an unknown id.
    client
        .authenticate(&facegate_e2e::device::keys::test_admin_key().unwrap())
        .unwrap();
    let r = client.exchange(&Request::ModelChunk {
        offset: 0,
        bytes: &[1, 2, 3],
    });
    assert_eq!(code(r.unwrap()), ErrorCode::NoUpdate);
    assert_eq!(
        code(client.exchange(&Request::ModelCommit).unwrap()),
        ErrorCode::NoUpdate
    );
    let err = client.verify("nobody", &frame).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::UnknownId), "{err}");
    assert!(err.to_string().starts_with("Verify:"), "{err}");

    // After all that, a real request still works and nothing was enrolled.
    let report = client.identify(&frame).unwrap();
    assert_eq!(report.compared, 0);
    assert!(client.self_test().unwrap().passed);
}

#[test]
fn a_model_update_cut_off_or_corrupt_leaves_the_old_model_serving() {
    let blob = std::fs::read(release_model()).unwrap();
    let elf = build_firmware(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    let (mut qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    let factory = info.model.unwrap();
    client
        .authenticate(&facegate_e2e::device::keys::test_admin_key().unwrap())
        .unwrap();

    // A corrupt model (one byte changed, announced with the right CRC of the original): the
    // device refuses the commit and keeps the old one.
    let mut bad = blob.clone();
    bad[blob.len() / 2] ^= 0x40;
    assert_eq!(
        client.model_begin(blob.len() as u32, crc32(&blob)).unwrap(),
        Slot::B
    );
    for (i, chunk) in bad.chunks(CHUNK_MAX).enumerate() {
        client.model_chunk((i * CHUNK_MAX) as u32, chunk).unwrap();
    }
    let err = client.model_commit().unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::ModelCrc), "{err}");
    assert_eq!(client.info().unwrap().model, Some(factory));

    // Chunks out of order and a commit before the end.
    client.model_begin(blob.len() as u32, crc32(&blob)).unwrap();
    let err = client
        .model_chunk(CHUNK_MAX as u32, &blob[..CHUNK_MAX])
        .unwrap_err();
    assert_eq!(
        err.device_code(),
        Some(ErrorCode::OutOfOrder { expected: 0 }),
        "{err}"
    );
    client.model_chunk(0, &blob[..CHUNK_MAX]).unwrap();
    let err = client.model_commit().unwrap_err();
    assert!(
        matches!(err.device_code(), Some(ErrorCode::ModelIncomplete { .. })),
        "{err}"
    );

    // Half a model, then the power goes (QEMU killed): the factory model serves after reboot.
    for (i, chunk) in blob.chunks(CHUNK_MAX).enumerate().skip(1).take(15) {
        client.model_chunk((i * CHUNK_MAX) as u32, chunk).unwrap();
    }
    drop(client);
    qemu.kill();
    let (_qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    assert_eq!(
        info.model,
        Some(factory),
        "the old model serves after a cut-off update"
    );
    assert!(client.self_test().unwrap().passed);
}
