//! Issue 14 on the device in QEMU, over its UART: models that are unsigned, signed by another
//! key, tampered with or older than the serving one are refused with their own error codes and
//! the old model keeps serving; a signed one is switched to, and what its signature check cost
//! is measured under `-icount` (printed: `signature_check_ticks=… instructions=…`); changes
//! without an admin session are refused; a replayed challenge answer is refused, and the attempt
//! limit survives QEMU being killed and restarted.
//!
//! Every case, and more (replayed answers, the attempt limit across restarts), is also tested on
//! the host against the same `Device` code: `shared/src/device/tests/` (`signature_tests.rs`,
//! `session_tests.rs`, `attempt_tests.rs`).

use facegate_e2e::build_firmware;
use facegate_e2e::device::firmware::{release_model, Qemu, QemuConfig};
use facegate_e2e::device::frames::DeviceFrame;
use facegate_e2e::device::gallery::generated_people;
use facegate_e2e::device::keys;
use facegate_shared::device::attempts::FREE_ATTEMPTS;
use facegate_shared::device::trust::sign_blob;
use facegate_shared::protocol::{ErrorCode, Request, Response, Slot};

/// QEMU's `-icount shift` for the measurement: 64 ns per instruction, TIMER0 at 25 MHz.
const SHIFT: u8 = 6;

#[test]
fn qemu_refuses_unsigned_foreign_tampered_and_older_models_and_unauthenticated_changes() {
    let release = std::fs::read(release_model()).unwrap();
    let elf = build_firmware(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    cfg.icount_shift = Some(SHIFT);
    let (_qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    client.set_timeout(std::time::Duration::from_secs(900));
    let factory = info.model.unwrap();
    assert!(!info.admin);

    // No session: enrolment and model updates are refused.
    let person = &generated_people(1, 1, 5)[0];
    let frame = DeviceFrame::centre_crop(&person.images[0], 120).unwrap();
    let err = client.enroll_frame("mallory", &frame).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::Unauthenticated), "{err}");
    let err = client.model_begin(release.len() as u32, 0).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::Unauthenticated), "{err}");
    let err = client.authenticate(&[0x5A; 32]).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::AuthFailed), "{err}");
    assert_eq!(client.info().unwrap().templates, 0);

    client
        .authenticate(&keys::test_admin_key().unwrap())
        .unwrap();
    let refuse = |client: &mut facegate_e2e::device::Client, blob: &[u8], want: ErrorCode| {
        let err = client.flash_model(blob, |_| {}).unwrap_err();
        assert_eq!(err.device_code(), Some(want), "{err}");
        assert_eq!(
            client.info().unwrap().model,
            Some(factory),
            "the old model serves"
        );
    };
    refuse(&mut client, &release, ErrorCode::ModelUnsigned);
    let mut foreign = release.clone();
    sign_blob(&mut foreign, &[0x42; 32], 3).unwrap();
    refuse(&mut client, &foreign, ErrorCode::ModelWrongKey);
    let signed = keys::sign_with_test_key(&release, 3).unwrap();
    let mut tampered = signed.clone();
    tampered[release.len() / 2] ^= 0x01;
    let n = tampered.len();
    let crc = facegate_shared::blob::crc32::crc32(&tampered[..n - 4]);
    tampered[n - 4..].copy_from_slice(&crc.to_le_bytes());
    refuse(&mut client, &tampered, ErrorCode::ModelTampered);

    // Signed by the trusted key: switched to. The check's cost, in instructions.
    let committed = client.flash_model(&signed, |_| {}).unwrap();
    assert_eq!((committed.slot, committed.model_version), (Slot::B, 3));
    assert!(committed.signed && committed.check_cost > 0);
    let instructions = (u64::from(committed.check_cost) * 40) >> SHIFT;
    println!(
        "signature_check_ticks={} instructions={instructions} bytes_hashed={}",
        committed.check_cost,
        release.len() - 72
    );
    assert!(client.self_test().unwrap().passed);

    // Older than the serving one: refused, version 3 still serves.
    let older = keys::sign_with_test_key(&release, 2).unwrap();
    let err = client.flash_model(&older, |_| {}).unwrap_err();
    assert_eq!(
        err.device_code(),
        Some(ErrorCode::ModelDowngrade {
            installed: 3,
            offered: 2
        }),
        "{err}"
    );
    let info = client.info().unwrap();
    let serving = info.model.unwrap();
    assert_eq!((serving.slot, serving.model_version), (Slot::B, 3));
    // The stack the signature checks took stays within the RAM budget.
    let m = info.memory;
    println!(
        "ram_static={} stack_peak={} ram_total={}",
        m.ram_static, m.stack_peak, m.ram_total
    );
    assert!(m.ram_static + m.stack_peak <= m.ram_total, "{m:?}");
}

#[test]
fn qemu_refuses_replayed_answers_and_keeps_the_attempt_limit_across_a_restart() {
    let elf = build_firmware(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = QemuConfig::new(elf, dir.path().join("flash.img"));
    let key = keys::test_admin_key().unwrap();
    let (mut qemu, mut client, _) = Qemu::start_and_connect(&cfg).unwrap();

    // A recorded answer: refused again in the same boot and after a restart.
    let nonce = client.challenge().unwrap();
    let mac = facegate_shared::device::auth::answer(&key, &nonce);
    let authenticate = Request::Authenticate { mac };
    assert_eq!(client.call(&authenticate).unwrap(), Response::Authenticated);
    let err = client.call(&authenticate).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::NoChallenge), "{err}");
    client.end_session().unwrap();

    // Identify on an empty store is a rejection: after 5 in a row, a wait.
    let person = &generated_people(1, 1, 6)[0];
    let frame = DeviceFrame::centre_crop(&person.images[0], 120).unwrap();
    for i in 0..FREE_ATTEMPTS {
        let r = client.identify(&frame).unwrap();
        assert!(!r.accepted && r.best.is_none(), "attempt {i}: {r:?}");
    }
    let locked = |client: &mut facegate_e2e::device::Client| {
        let err = client.identify(&frame).unwrap_err();
        assert!(
            matches!(err.device_code(), Some(ErrorCode::LockedOut { retry_after }) if retry_after > 0),
            "{err}"
        );
    };
    locked(&mut client);

    // Power cut: the count is in flash, the wait starts again from the boot.
    drop(client);
    qemu.kill();
    let (_qemu, mut client, info) = Qemu::start_and_connect(&cfg).unwrap();
    assert_eq!(info.attempts.identify_failures, FREE_ATTEMPTS as u16);
    assert!(info.attempts.identify_wait > 0, "{:?}", info.attempts);
    locked(&mut client);
    client.challenge().unwrap();
    let err = client.call(&authenticate).unwrap_err();
    assert_eq!(err.device_code(), Some(ErrorCode::AuthFailed), "{err}");
}
