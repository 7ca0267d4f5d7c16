//! The client against the device application running in-process ([`super::sim`]): the same
//! `Device::serve` as the firmware, over a loopback socket, on an in-memory NOR flash.

use super::checked::Checked;
use super::client::{Client, ClientError};
use super::frames::DeviceFrame;
use super::gallery::generated_people;
use super::keys;
use super::port;
use super::reference::HostEngine;
use super::sim::{SimChip, SimDevice};
use facegate_shared::blob::Model;
use facegate_shared::protocol::{ErrorCode, FaceBox, Frame, Request, Response, Slot, MAX_FRAME};
use std::time::Duration;

static RELEASE: &[u8] = include_bytes!("../../../models/facegate-v1.fgm");

fn connect(sim: &SimDevice) -> Client {
    let (client, info) = Client::open(&sim.spec()).unwrap();
    assert_eq!(
        info.protocol_version,
        facegate_shared::protocol::PROTOCOL_VERSION
    );
    client
}

/// Connects and opens an admin session with the test key.
fn connect_admin(sim: &SimDevice) -> Client {
    let mut client = connect(sim);
    client
        .authenticate(&keys::test_admin_key().unwrap())
        .unwrap();
    assert!(client.info().unwrap().admin);
    client
}

#[test]
fn enrol_verify_identify_agree_with_the_host_engine() {
    let sim = SimDevice::spawn(SimChip::new(Some(RELEASE))).unwrap();
    let mut client = connect_admin(&sim);
    assert!(client.self_test().unwrap().passed);
    let people = generated_people(4, 3, 5);
    let mut checked = Checked::new(
        &mut client,
        HostEngine::new(Model::parse(RELEASE).unwrap()),
        120,
    );
    for p in &people {
        checked.enroll(&p.name, &p.images[..2]).unwrap();
    }
    for (i, p) in people.iter().enumerate() {
        let other = &people[(i + 1) % people.len()].name;
        checked.verify(&p.name, &p.name, &p.images[2]).unwrap();
        checked.verify(other, &p.name, &p.images[2]).unwrap();
        checked.identify(&p.name, &p.images[2]).unwrap();
    }
    let agreement = checked.agreement.clone();
    assert!(agreement.all_equal(), "{:?}", agreement.mismatches);
    assert_eq!(agreement.embeddings, 4 * 2 + 4 * 3);
    assert_eq!(agreement.decisions, 4 * 3);
    let mut ids = client.list().unwrap();
    ids.sort();
    assert_eq!(
        ids,
        people.iter().map(|p| p.name.clone()).collect::<Vec<_>>()
    );
    assert_eq!(client.delete(&people[0].name).unwrap(), 3);
    let err = client.verify(
        &people[0].name,
        &DeviceFrame::centre_crop(&people[0].images[2], 120).unwrap(),
    );
    assert_eq!(err.unwrap_err().device_code(), Some(ErrorCode::UnknownId));
}

#[test]
fn a_model_sent_over_the_link_is_switched_to_and_survives_a_reconnect() {
    let sim = SimDevice::spawn(SimChip::new(None)).unwrap();
    let mut client = connect_admin(&sim);
    let err = client.self_test().unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::NoModel), "{err}");
    assert!(
        err.to_string().starts_with("SelfTest:"),
        "the error names the command: {err}"
    );
    // Unsigned: refused, with the command named.
    let err = client.flash_model(RELEASE, |_| {}).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::ModelUnsigned), "{err}");
    let signed = keys::sign_with_test_key(RELEASE, 1).unwrap();
    let mut progress = Vec::new();
    let info = client
        .flash_model(&signed, |done| progress.push(done))
        .unwrap();
    assert_eq!((info.model_version, info.signed), (1, true));
    assert_eq!(progress.last(), Some(&RELEASE.len()));
    assert_eq!(info.len as usize, RELEASE.len());
    drop(client);
    // A new connection is a reboot of the simulated device.
    let mut client = connect(&sim);
    let info = client.info().unwrap();
    let model = info.model.expect("the model survives");
    assert_eq!(model.id, Model::parse(RELEASE).unwrap().header().model_id);
    assert!(matches!(model.slot, Slot::A | Slot::B));
    assert!(client.self_test().unwrap().passed);
}

#[test]
fn malformed_input_gets_typed_errors_and_the_device_keeps_serving() {
    let sim = SimDevice::spawn(SimChip::new(Some(RELEASE))).unwrap();
    let mut client = connect(&sim);
    // Without a session, enrolment is refused with the command named; with a wrong key too.
    let frame = DeviceFrame::centre_crop(&generated_people(1, 1, 3)[0].images[0], 120).unwrap();
    let err = client.enroll_frame("mallory", &frame).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::Unauthenticated), "{err}");
    assert!(err.to_string().starts_with("Enroll:"), "{err}");
    let err = client.authenticate(&[9; 32]).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::AuthFailed), "{err}");
    let error = |r: Response| match r {
        Response::Error(code) => code,
        other => panic!("expected an error, got {other:?}"),
    };
    // Garbage without a zero, then a delimiter.
    let garbage: Vec<u8> = (1..=200u8).collect();
    let mut bytes = garbage.clone();
    bytes.push(0);
    let code = error(client.send_bytes("garbage", &bytes).unwrap());
    assert!(
        matches!(
            code,
            ErrorCode::Cobs | ErrorCode::Crc | ErrorCode::Malformed
        ),
        "{code:?}"
    );
    // Oversized: more than MAX_FRAME bytes before the delimiter.
    let mut big = vec![0x55u8; MAX_FRAME + 10];
    big.push(0);
    assert_eq!(
        error(client.send_bytes("oversized", &big).unwrap()),
        ErrorCode::FrameTooLong
    );
    // A frame whose pixels do not match its size, and a face box outside the image.
    let pixels = vec![7u8; 100];
    let bad_size = Request::Identify {
        frame: Frame {
            width: 20,
            height: 20,
            face: FaceBox {
                x: 0,
                y: 0,
                w: 5,
                h: 5,
            },
            pixels: &pixels,
        },
    };
    assert_eq!(
        error(client.exchange(&bad_size).unwrap()),
        ErrorCode::FrameSize
    );
    let bad_box = Request::Identify {
        frame: Frame {
            width: 10,
            height: 10,
            face: FaceBox {
                x: 8,
                y: 0,
                w: 5,
                h: 5,
            },
            pixels: &pixels,
        },
    };
    assert_eq!(
        error(client.exchange(&bad_box).unwrap()),
        ErrorCode::FaceBox
    );
    assert!(client.info().is_ok(), "the device still serves");
}

#[test]
fn a_silent_device_times_out_with_the_commands_name() {
    // A listener that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            std::thread::sleep(Duration::from_secs(2));
            drop(stream);
        }
    });
    let link = port::connect_tcp("127.0.0.1", port, Duration::from_secs(2)).unwrap();
    let mut client = Client::new(Box::new(link));
    client.set_timeout(Duration::from_millis(200));
    match client.list() {
        Err(ClientError::Timeout {
            command: "List", ..
        }) => {}
        other => panic!("expected a List timeout, got {other:?}"),
    }
}
