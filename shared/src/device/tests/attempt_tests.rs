//! The attempt limit (exponential back-off, surviving a restart and a power cut) and what open
//! probes may learn.

use super::harness::*;
use crate::device::attempts::{wait_seconds, BASE_WAIT_S, FREE_ATTEMPTS};
use crate::protocol::*;

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

#[test]
fn a_power_cut_never_answers_a_rejection_it_did_not_count() {
    let (base, stranger) = chip_with_ann();
    let mut answered_at = None;
    for ops in 0..60 {
        let mut chip = base.clone();
        let power = crate::device::PowerCut::after(ops);
        let mut b = Buffers::new();
        let r = {
            let mut d = chip.open_device(Some(&power));
            verify(&mut b, &mut d, "ann", stranger)
        };
        let mut d = chip.open_device(None);
        let counted = info(&mut b, &mut d).attempts.most_failures;
        if rejected(&r) {
            assert_eq!(counted, 1, "cut after {ops}: answered but not counted");
            answered_at.get_or_insert(ops);
        } else {
            assert_eq!(r, refused(ErrorCode::Storage), "cut after {ops}");
            assert!(counted <= 1, "cut after {ops}");
        }
        assert_eq!(list_all(&mut b, &mut d), ["ann"], "cut after {ops}");
    }
    assert!(
        answered_at.is_some(),
        "60 operations never counted a rejection"
    );
}
