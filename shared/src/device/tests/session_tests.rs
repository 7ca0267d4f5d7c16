//! Admin sessions, one named test per case of issue 14: unauthenticated enrol, delete and model
//! update, a wrong key, a replayed challenge answer, nonces across restarts and power cuts.

use super::harness::*;
use crate::device::auth;
use crate::protocol::*;

const CHUNK: usize = CHUNK_MAX;

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

#[test]
fn a_power_cut_never_answers_a_nonce_it_did_not_persist() {
    let base = Chip::factory();
    let key = test_admin_key();
    let mut answered_any = false;
    for ops in 0..40 {
        let mut chip = base.clone();
        let power = crate::device::PowerCut::after(ops);
        let mut b = Buffers::new();
        let answered = {
            let mut d = chip.open_device(Some(&power));
            match b.call(&mut d, &Request::Challenge) {
                Response::Challenge { nonce } => Some(nonce),
                other => {
                    assert_eq!(other, refused(ErrorCode::Storage), "cut after {ops}");
                    None
                }
            }
        };
        let mut d = chip.open_device(None);
        let Response::Challenge { nonce } = b.call(&mut d, &Request::Challenge) else {
            panic!("cut after {ops}: no challenge after the restart")
        };
        if let Some(old) = answered {
            answered_any = true;
            assert_ne!(nonce, old, "cut after {ops}: a nonce came back");
            let replay = auth::answer(&key, &old);
            assert_eq!(
                b.call(&mut d, &Request::Authenticate { mac: replay }),
                refused(ErrorCode::AuthFailed)
            );
        }
    }
    assert!(answered_any, "40 operations never issued a nonce");
}
