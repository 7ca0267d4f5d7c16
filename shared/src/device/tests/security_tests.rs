//! The rejection cases of issue 14, one named test each: model signatures (unsigned, tampered,
//! truncated, wrong key, downgrade), admin sessions (unauthenticated enrol / delete / update,
//! replayed and wrong answers, nonces across restarts), the attempt limit (and that it
//! survives a restart), and what responses may carry.

use super::harness::*;
use crate::device::attempts::{wait_seconds, BASE_WAIT_S, FREE_ATTEMPTS};
use crate::device::auth;
use crate::protocol::*;

const CHUNK: usize = CHUNK_MAX;

/// Sends `blob` as an update to a factory chip's device; returns the commit's answer and
/// checks that on a refusal the factory model still serves (also after a restart).
fn commit_on_factory(blob: &[u8]) -> Response {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let r = {
        let mut d = chip.device(None);
        send_model(&mut b, &mut d, blob, CHUNK)
    };
    if matches!(r, Response::Error(_)) {
        let mut d = chip.device(None);
        let m = info(&mut b, &mut d).model.unwrap();
        assert_eq!((m.slot, m.version, m.model_version), (Slot::A, 0, 0));
        let Response::SelfTest(t) = b.call(&mut d, &Request::SelfTest) else {
            panic!()
        };
        assert!(t.passed, "the old model still serves");
    }
    r
}

fn refused(code: ErrorCode) -> Response {
    Response::Error(code)
}

#[test]
fn a_signed_model_is_accepted_and_reports_its_version() {
    let Response::ModelCommitted(m) = commit_on_factory(&signed(RELEASE, 7)) else {
        panic!()
    };
    assert_eq!((m.slot, m.model_version, m.signed), (Slot::B, 7, true));
    assert!(m.check_cost > 0);
}

#[test]
fn rejects_an_unsigned_model() {
    assert_eq!(
        commit_on_factory(RELEASE),
        refused(ErrorCode::ModelUnsigned)
    );
    assert_eq!(
        commit_on_factory(&other_model_unsigned()),
        refused(ErrorCode::ModelUnsigned)
    );
}

/// A byte changed after signing, the CRC fixed up so that only the signature can tell.
fn tampered(blob: &[u8], at: usize) -> Vec<u8> {
    let mut out = blob.to_vec();
    out[at] ^= 0x01;
    let n = out.len();
    let crc = crate::blob::crc32::crc32(&out[..n - 4]);
    out[n - 4..].copy_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn rejects_a_tampered_model_at_any_byte() {
    let good = release_signed();
    let model = crate::blob::Model::parse(&good).unwrap();
    let h = *model.header();
    let sig = h.signature_offset as usize;
    let table = [
        ("model version", 104),
        ("threshold", 48),
        ("model id", 12),
        ("first weight", h.weights_offset as usize),
        (
            "last weight",
            (h.weights_offset + h.weights_len) as usize - 1,
        ),
        ("golden vector", h.golden_offset as usize + 3),
        ("last signed byte", sig - 1),
        ("signature R", sig + 4),
        ("signature S", sig + 4 + 63),
    ];
    for (name, at) in table {
        let r = commit_on_factory(&tampered(&good, at));
        // A changed byte the parser still accepts must fail the signature.
        assert!(
            r == refused(ErrorCode::ModelTampered) || r == refused(ErrorCode::ModelInvalid),
            "{name}: {r:?}"
        );
    }
    // Every byte of the signed part (strided: a full sweep is 158 K commits), checked against
    // the signature directly: no changed byte verifies.
    let key = test_keys().model_key;
    for at in (0..sig).step_by(97).chain([sig - 1]) {
        let bad = tampered(&good, at);
        if let Ok(m) = crate::blob::Model::parse(&bad) {
            assert!(
                crate::device::trust::check_update(&m, &key, 0).is_err(),
                "byte {at} changed and still verifies"
            );
        }
    }
    // The model-version byte: refused as tampered, not as a downgrade or accepted.
    assert_eq!(
        commit_on_factory(&tampered(&good, 104)),
        refused(ErrorCode::ModelTampered)
    );
}

#[test]
fn rejects_a_truncated_model() {
    let good = release_signed();
    for cut in [4, 68, 1000, good.len() / 2] {
        let short = &good[..good.len() - cut];
        assert_eq!(
            commit_on_factory(short),
            refused(ErrorCode::ModelTruncated),
            "{cut} bytes cut"
        );
    }
}

#[test]
fn rejects_a_model_signed_by_another_key() {
    let other = signed_with(RELEASE, &OTHER_SEED, 1);
    assert_eq!(commit_on_factory(&other), refused(ErrorCode::ModelWrongKey));
    // Another key's signature under our signer id: the signature is what fails.
    let mut forged = other.clone();
    let ours = crate::device::trust::signer_id(&test_keys().model_key);
    forged[108..116].copy_from_slice(&ours);
    let n = forged.len();
    let crc = crate::blob::crc32::crc32(&forged[..n - 4]);
    forged[n - 4..].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(
        commit_on_factory(&forged),
        refused(ErrorCode::ModelTampered)
    );
}

#[test]
fn rejects_a_downgrade() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    {
        let mut d = chip.device(None);
        let r = send_model(&mut b, &mut d, &signed(RELEASE, 5), CHUNK);
        assert!(matches!(r, Response::ModelCommitted(_)), "{r:?}");
        // The same version again is a re-install, allowed.
        let r = send_model(&mut b, &mut d, &signed(&other_model_unsigned(), 5), CHUNK);
        assert!(
            matches!(r, Response::ModelCommitted(m) if m.slot == Slot::A),
            "{r:?}"
        );
    }
    // After a restart too: the serving model's version is the floor.
    let mut d = chip.device(None);
    assert_eq!(
        send_model(&mut b, &mut d, &signed(RELEASE, 4), CHUNK),
        refused(ErrorCode::ModelDowngrade {
            installed: 5,
            offered: 4
        })
    );
    let m = info(&mut b, &mut d).model.unwrap();
    assert_eq!((m.slot, m.model_version, m.version), (Slot::A, 5, 2));
}

fn enroll_request(pixels: &[u8]) -> Request<'_> {
    Request::Enroll {
        id: pid("eve"),
        frame: frame(pixels),
    }
}

#[test]
fn rejects_unauthenticated_enrol() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut d = chip.open_device(None);
    let pixels = picture(1, 0);
    let requests = [
        enroll_request(&pixels),
        Request::EnrollCommit { id: pid("eve") },
    ];
    for r in &requests {
        assert_eq!(b.call(&mut d, r), refused(ErrorCode::Unauthenticated));
    }
    assert!(list_all(&mut b, &mut d).is_empty());
    assert!(!info(&mut b, &mut d).admin);
}

#[test]
fn rejects_unauthenticated_delete() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    {
        let mut d = chip.device(None);
        enrol(&mut b, &mut d, "ann", 1, 1);
    }
    let mut d = chip.open_device(None);
    assert_eq!(
        b.call(&mut d, &Request::Delete { id: pid("ann") }),
        refused(ErrorCode::Unauthenticated)
    );
    assert_eq!(list_all(&mut b, &mut d), ["ann"]);
}

#[test]
fn rejects_unauthenticated_model_update() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let blob = release_signed();
    let mut d = chip.open_device(None);
    let requests = [
        Request::ModelBegin {
            len: blob.len() as u32,
            crc: crate::blob::crc32::crc32(&blob),
        },
        Request::ModelChunk {
            offset: 0,
            bytes: &blob[..CHUNK],
        },
        Request::ModelCommit,
    ];
    for r in &requests {
        assert_eq!(b.call(&mut d, r), refused(ErrorCode::Unauthenticated));
    }
    // An update begun in a session cannot be finished after it ended.
    assert_eq!(
        login(&mut b, &mut d, &test_admin_key()),
        Response::Authenticated
    );
    assert!(matches!(
        b.call(&mut d, &requests[0]),
        Response::ModelBegun { .. }
    ));
    assert_eq!(b.call(&mut d, &Request::EndSession), Response::SessionEnded);
    assert_eq!(
        b.call(&mut d, &requests[1]),
        refused(ErrorCode::Unauthenticated)
    );
    assert_eq!(info(&mut b, &mut d).model.unwrap().slot, Slot::A);
}

#[test]
fn rejects_a_wrong_admin_key_and_uses_up_the_nonce() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut d = chip.open_device(None);
    assert_eq!(
        login(&mut b, &mut d, &[7; 32]),
        refused(ErrorCode::AuthFailed)
    );
    assert_eq!(
        b.call(&mut d, &Request::Authenticate { mac: [0; 32] }),
        refused(ErrorCode::NoChallenge)
    );
    let pixels = picture(1, 0);
    assert_eq!(
        b.call(&mut d, &enroll_request(&pixels)),
        refused(ErrorCode::Unauthenticated)
    );
}

#[test]
fn rejects_a_replayed_challenge_answer() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let key = test_admin_key();
    let recorded = {
        let mut d = chip.open_device(None);
        let Response::Challenge { nonce } = b.call(&mut d, &Request::Challenge) else {
            panic!()
        };
        let mac = auth::answer(&key, &nonce);
        assert_eq!(
            b.call(&mut d, &Request::Authenticate { mac }),
            Response::Authenticated
        );
        // The same answer again, in the same boot: the nonce is used up.
        assert_eq!(
            b.call(&mut d, &Request::Authenticate { mac }),
            refused(ErrorCode::NoChallenge)
        );
        // After a new challenge: a new nonce, the old answer is wrong.
        let Response::Challenge { nonce: next } = b.call(&mut d, &Request::Challenge) else {
            panic!()
        };
        assert_ne!(next, nonce);
        assert_eq!(
            b.call(&mut d, &Request::Authenticate { mac }),
            refused(ErrorCode::AuthFailed)
        );
        mac
    };
    // After a restart: the nonce counter was persisted, no nonce comes back.
    let mut d = chip.open_device(None);
    let Response::Challenge { nonce } = b.call(&mut d, &Request::Challenge) else {
        panic!()
    };
    assert_ne!(auth::answer(&key, &nonce), recorded);
    assert_eq!(
        b.call(&mut d, &Request::Authenticate { mac: recorded }),
        refused(ErrorCode::AuthFailed)
    );
}

#[test]
fn nonces_never_repeat_across_restarts() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let mut d = chip.open_device(None);
        for _ in 0..4 {
            let Response::Challenge { nonce } = b.call(&mut d, &Request::Challenge) else {
                panic!()
            };
            assert!(seen.insert(nonce), "nonce repeated");
        }
    }
    assert_eq!(seen.len(), 20);
}

fn verify(b: &mut Buffers, d: &mut TestDevice<'_>, id: &str, person: u32) -> Response {
    let pixels = picture(person, 9);
    b.call(
        d,
        &Request::Verify {
            id: pid(id),
            frame: frame(&pixels),
        },
    )
}

fn identify(b: &mut Buffers, d: &mut TestDevice<'_>, person: u32) -> Response {
    let pixels = picture(person, 9);
    b.call(
        d,
        &Request::Identify {
            frame: frame(&pixels),
        },
    )
}

fn rejected(r: &Response) -> bool {
    matches!(r, Response::Verify(v) if !v.accepted)
        || matches!(r, Response::Identify(v) if !v.accepted)
}

/// A chip with "ann" (person 1) enrolled, and the person whose pictures she is not.
fn chip_with_ann() -> (Chip, u32) {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut d = chip.device(None);
    enrol(&mut b, &mut d, "ann", 1, 3);
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
    let stranger = (2..20)
        .find(|&p| rejected(&verify(&mut b, &mut d, "ann", p)))
        .expect("someone is not ann");
    // Back to no rejections in a row.
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
    drop(d);
    (chip, stranger)
}

#[test]
fn attempt_limit_locks_an_id_with_exponential_back_off() {
    let (mut chip, stranger) = chip_with_ann();
    let mut b = Buffers::new();
    let mut d = chip.open_device(None);
    for i in 0..FREE_ATTEMPTS {
        assert!(
            rejected(&verify(&mut b, &mut d, "ann", stranger)),
            "attempt {i}"
        );
    }
    // Even the right face waits now.
    assert_eq!(
        verify(&mut b, &mut d, "ann", 1),
        refused(ErrorCode::LockedOut {
            retry_after: BASE_WAIT_S
        })
    );
    let attempts = info(&mut b, &mut d).attempts;
    assert_eq!(attempts.most_failures, FREE_ATTEMPTS as u16);
    assert_eq!(attempts.longest_wait, BASE_WAIT_S);
    // Another id is not affected.
    assert_eq!(
        verify(&mut b, &mut d, "bob", 1),
        refused(ErrorCode::UnknownId)
    );
    d.board_mut().wait(BASE_WAIT_S);
    assert!(rejected(&verify(&mut b, &mut d, "ann", stranger)));
    // One more rejection: twice the wait.
    let twice = wait_seconds(FREE_ATTEMPTS + 1);
    assert_eq!(twice, 2 * BASE_WAIT_S);
    assert_eq!(
        verify(&mut b, &mut d, "ann", 1),
        refused(ErrorCode::LockedOut { retry_after: twice })
    );
    d.board_mut().wait(twice);
    // The right face resets the count.
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
    assert_eq!(info(&mut b, &mut d).attempts, AttemptInfo::default());
    assert!(rejected(&verify(&mut b, &mut d, "ann", stranger)));
}

#[test]
fn attempt_limit_survives_a_restart() {
    let (mut chip, stranger) = chip_with_ann();
    let mut b = Buffers::new();
    {
        let mut d = chip.open_device(None);
        for _ in 0..FREE_ATTEMPTS {
            assert!(rejected(&verify(&mut b, &mut d, "ann", stranger)));
        }
        for _ in 0..FREE_ATTEMPTS {
            assert!(rejected(&identify(&mut b, &mut d, 40)));
        }
        d.board_mut().wait(BASE_WAIT_S - 1);
    }
    // Power cycle: the counts are in flash and the wait starts again from the boot.
    let mut d = chip.open_device(None);
    let locked = refused(ErrorCode::LockedOut {
        retry_after: BASE_WAIT_S,
    });
    assert_eq!(verify(&mut b, &mut d, "ann", 1), locked);
    assert_eq!(identify(&mut b, &mut d, 1), locked);
    let attempts = info(&mut b, &mut d).attempts;
    assert_eq!(
        (attempts.identify_failures, attempts.most_failures),
        (FREE_ATTEMPTS as u16, FREE_ATTEMPTS as u16)
    );
    d.board_mut().wait(BASE_WAIT_S);
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
    assert!(matches!(identify(&mut b, &mut d, 1), Response::Identify(v) if v.accepted));
}

#[test]
fn deleting_an_id_drops_its_attempts_and_admins_are_not_counted() {
    let (mut chip, stranger) = chip_with_ann();
    let mut b = Buffers::new();
    {
        let mut d = chip.open_device(None);
        for _ in 0..FREE_ATTEMPTS {
            assert!(rejected(&verify(&mut b, &mut d, "ann", stranger)));
        }
        assert!(matches!(
            verify(&mut b, &mut d, "ann", 1),
            Response::Error(ErrorCode::LockedOut { .. })
        ));
    }
    let mut d = chip.device(None);
    // In an admin session the limit neither holds back nor counts.
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
    assert!(rejected(&verify(&mut b, &mut d, "ann", stranger)));
    assert_eq!(
        info(&mut b, &mut d).attempts.most_failures,
        FREE_ATTEMPTS as u16
    );
    assert!(matches!(
        b.call(&mut d, &Request::Delete { id: pid("ann") }),
        Response::Deleted { .. }
    ));
    assert_eq!(info(&mut b, &mut d).attempts.most_failures, 0);
    enrol(&mut b, &mut d, "ann", 1, 3);
    assert_eq!(b.call(&mut d, &Request::EndSession), Response::SessionEnded);
    assert!(matches!(verify(&mut b, &mut d, "ann", 1), Response::Verify(v) if v.accepted));
}

#[test]
fn open_probes_learn_only_the_decision() {
    let (mut chip, stranger) = chip_with_ann();
    let mut b = Buffers::new();
    let mut d = chip.open_device(None);
    let Response::Verify(genuine) = verify(&mut b, &mut d, "ann", 1) else {
        panic!()
    };
    assert!(genuine.accepted);
    assert_eq!((genuine.distance, genuine.embedding.len()), (0, 0));
    let Response::Verify(impostor) = verify(&mut b, &mut d, "ann", stranger) else {
        panic!()
    };
    assert!(!impostor.accepted);
    assert_eq!((impostor.distance, impostor.embedding.len()), (0, 0));
    let Response::Identify(unknown) = identify(&mut b, &mut d, stranger) else {
        panic!()
    };
    assert_eq!(
        (unknown.accepted, unknown.best, unknown.embedding.len()),
        (false, None, 0)
    );
    let Response::Identify(known) = identify(&mut b, &mut d, 1) else {
        panic!()
    };
    assert!(known.accepted);
    assert_eq!(
        known.best.map(|c| (c.id, c.distance)),
        Some((pid("ann"), 0))
    );
    // An admin session gets the diagnostics.
    assert_eq!(
        login(&mut b, &mut d, &test_admin_key()),
        Response::Authenticated
    );
    let Response::Verify(full) = verify(&mut b, &mut d, "ann", stranger) else {
        panic!()
    };
    assert!(full.distance > 0 && full.embedding.len() == 128);
}
