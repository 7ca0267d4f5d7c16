//! Enrol, verify, identify, delete, list, the store's limits, and bit-exactness with the host.

use super::harness::*;
use crate::device::{PowerCut, TEMPLATE_CAPACITY};
use crate::protocol::*;

#[test]
fn info_on_a_factory_chip() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    let info = info(&mut b, &mut d);
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    assert_eq!(info.firmware_version.as_str(), "test-firmware-ve");
    let model = info.model.expect("factory model serves");
    assert_eq!(
        (model.slot, model.version, model.len),
        (Slot::A, 0, RELEASE.len() as u32)
    );
    assert_eq!(
        (model.input_side, model.embedding_dim, model.layers),
        (64, 128, 22)
    );
    assert_eq!(
        (info.templates, info.template_capacity),
        (0, TEMPLATE_CAPACITY)
    );
    assert_eq!(info.memory.arena, ARENA as u32);
    assert_eq!(info.memory.rx_buffer, MAX_FRAME as u32);
    assert_eq!(info.memory.flash_slot, SLOT as u32);
    assert_eq!(info.memory.stack_peak, 2);
}

#[test]
fn a_blank_chip_has_no_model() {
    let mut chip = Chip::blank();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    assert_eq!(info(&mut b, &mut d).model, None);
    let pixels = picture(1, 0);
    for request in [
        Request::SelfTest,
        Request::Identify {
            frame: frame(&pixels),
        },
        Request::Enroll {
            id: pid("a"),
            frame: frame(&pixels),
        },
        Request::EnrollCommit { id: pid("a") },
    ] {
        assert_eq!(
            b.call(&mut d, &request),
            Response::Error(ErrorCode::NoModel),
            "{request:?}"
        );
    }
}

#[test]
fn self_test_passes_on_the_release_model() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    let Response::SelfTest(report) = b.call(&mut d, &Request::SelfTest) else {
        panic!()
    };
    let golden = crate::blob::Model::parse(RELEASE)
        .unwrap()
        .header()
        .golden_count;
    assert!(report.passed && report.mismatch.is_none());
    assert_eq!(report.vectors, golden);
}

#[test]
fn enrol_verify_identify_delete_list() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    let people = ["ada", "bob", "cy", "dee"];
    for (i, id) in people.iter().enumerate() {
        let r = enrol(&mut b, &mut d, id, i as u32, 3);
        assert_eq!(
            r,
            Response::EnrollCommitted {
                frames: 3,
                templates: i as u16 + 1
            }
        );
    }
    assert_eq!(list_all(&mut b, &mut d), people);

    // Genuine: a new shot of bob verifies as bob and is identified as bob.
    let probe = picture(1, 9);
    let Response::Verify(v) = b.call(
        &mut d,
        &Request::Verify {
            id: pid("bob"),
            frame: frame(&probe),
        },
    ) else {
        panic!()
    };
    assert!(
        v.accepted,
        "genuine distance {} > {}",
        v.distance, v.threshold
    );
    assert_eq!(
        v.embedding.as_slice(),
        host_embedding(RELEASE, &probe).as_slice(),
        "bit-exact"
    );
    assert_eq!(
        v.cost,
        Cost {
            preprocess: 1,
            embed: 1
        }
    );
    let Response::Identify(id) = b.call(
        &mut d,
        &Request::Identify {
            frame: frame(&probe),
        },
    ) else {
        panic!()
    };
    assert_eq!(id.best.as_ref().map(|c| c.id.as_str()), Some("bob"));
    assert_eq!(id.best.as_ref().map(|c| c.distance), Some(v.distance));
    assert!(id.accepted);
    assert_eq!(id.compared, 4);
    assert_eq!(id.embedding, v.embedding);

    // The distance is the host's: squared L2 to the host-side template of bob's three shots.
    let mut sum = [0i32; 128];
    for shot in 0..3 {
        crate::device::template::accumulate(&mut sum, &host_embedding(RELEASE, &picture(1, shot)));
    }
    let mut template = [0i8; 128];
    crate::device::template::mean_template(&sum, &mut template);
    let host_distance = crate::distance::squared_l2_i8(&v.embedding, &template).unwrap();
    assert_eq!(v.distance, host_distance);

    // Verifying against someone else is farther than against oneself.
    let Response::Verify(other) = b.call(
        &mut d,
        &Request::Verify {
            id: pid("dee"),
            frame: frame(&probe),
        },
    ) else {
        panic!()
    };
    assert!(other.distance > v.distance);

    // Delete, then bob is unknown and no longer identified.
    assert_eq!(
        b.call(&mut d, &Request::Delete { id: pid("bob") }),
        Response::Deleted { templates: 3 }
    );
    assert_eq!(
        b.call(
            &mut d,
            &Request::Verify {
                id: pid("bob"),
                frame: frame(&probe)
            }
        ),
        Response::Error(ErrorCode::UnknownId)
    );
    assert_eq!(
        b.call(&mut d, &Request::Delete { id: pid("bob") }),
        Response::Error(ErrorCode::UnknownId)
    );
    let Response::Identify(id) = b.call(
        &mut d,
        &Request::Identify {
            frame: frame(&probe),
        },
    ) else {
        panic!()
    };
    assert_ne!(id.best.map(|c| c.id), Some(pid("bob")));
    assert_eq!(id.compared, 3);

    // Templates survive a reboot.
    drop(d);
    let mut d = chip.device(None);
    assert_eq!(list_all(&mut b, &mut d), ["ada", "cy", "dee"]);
    // And bob can enrol again.
    assert_eq!(
        enrol(&mut b, &mut d, "bob", 1, 1),
        Response::EnrollCommitted {
            frames: 1,
            templates: 4
        }
    );
}

#[test]
fn duplicate_bad_and_unknown_ids() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    enrol(&mut b, &mut d, "eve", 4, 1);
    let pixels = picture(4, 1);
    let cases: Vec<(&str, Request<'_>, ErrorCode)> = vec![
        (
            "enrol an enrolled id",
            Request::Enroll {
                id: pid("eve"),
                frame: frame(&pixels),
            },
            ErrorCode::DuplicateId,
        ),
        (
            "enrol an empty id",
            Request::Enroll {
                id: pid(""),
                frame: frame(&pixels),
            },
            ErrorCode::BadId,
        ),
        (
            "commit without frames",
            Request::EnrollCommit { id: pid("zed") },
            ErrorCode::NoEnrollment,
        ),
        (
            "verify an unknown id",
            Request::Verify {
                id: pid("zed"),
                frame: frame(&pixels),
            },
            ErrorCode::UnknownId,
        ),
        (
            "delete an unknown id",
            Request::Delete { id: pid("zed") },
            ErrorCode::UnknownId,
        ),
        (
            "face box outside",
            Request::Verify {
                id: pid("eve"),
                frame: Frame {
                    face: FaceBox {
                        x: 100,
                        y: 0,
                        w: 120,
                        h: 120,
                    },
                    ..frame(&pixels)
                },
            },
            ErrorCode::FaceBox,
        ),
        (
            "pixels short",
            Request::Identify {
                frame: Frame {
                    height: 121,
                    ..frame(&pixels)
                },
            },
            ErrorCode::FrameSize,
        ),
    ];
    for (name, request, code) in cases {
        assert_eq!(b.call(&mut d, &request), Response::Error(code), "{name}");
    }
    // An enrolment of another id in between restarts the pending one.
    let p = picture(5, 0);
    b.call(
        &mut d,
        &Request::Enroll {
            id: pid("fay"),
            frame: frame(&p),
        },
    );
    b.call(
        &mut d,
        &Request::Enroll {
            id: pid("gus"),
            frame: frame(&p),
        },
    );
    assert_eq!(
        b.call(&mut d, &Request::EnrollCommit { id: pid("fay") }),
        Response::Error(ErrorCode::NoEnrollment)
    );
    assert_eq!(
        b.call(&mut d, &Request::EnrollCommit { id: pid("gus") }),
        Response::EnrollCommitted {
            frames: 1,
            templates: 2
        }
    );
}

#[test]
fn the_store_holds_its_capacity_and_refuses_one_more() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    for i in 0..u32::from(TEMPLATE_CAPACITY) {
        let r = enrol(&mut b, &mut d, &format!("person-{i:03}"), i, 1);
        assert_eq!(
            r,
            Response::EnrollCommitted {
                frames: 1,
                templates: i as u16 + 1
            }
        );
    }
    let pixels = picture(500, 0);
    assert_eq!(
        b.call(
            &mut d,
            &Request::Enroll {
                id: pid("one-too-many"),
                frame: frame(&pixels)
            }
        ),
        Response::Error(ErrorCode::StoreFull)
    );
    assert_eq!(info(&mut b, &mut d).templates, TEMPLATE_CAPACITY);
    let ids = list_all(&mut b, &mut d);
    let want: Vec<String> = (0..TEMPLATE_CAPACITY)
        .map(|i| format!("person-{i:03}"))
        .collect();
    assert_eq!(ids, want, "every id once, in enrolment order, over 7 pages");
    // Identify compares against all of them and finds the right one.
    let probe = picture(42, 0);
    let Response::Identify(id) = b.call(
        &mut d,
        &Request::Identify {
            frame: frame(&probe),
        },
    ) else {
        panic!()
    };
    assert_eq!(id.compared, TEMPLATE_CAPACITY);
    assert_eq!(id.best.map(|c| c.id), Some(pid("person-042")));
    // Deleting one makes room again, also after a reboot.
    b.call(
        &mut d,
        &Request::Delete {
            id: pid("person-007"),
        },
    );
    drop(d);
    let mut d = chip.device(None);
    assert_eq!(
        enrol(&mut b, &mut d, "newcomer", 300, 1),
        Response::EnrollCommitted {
            frames: 1,
            templates: TEMPLATE_CAPACITY
        }
    );
}

#[test]
fn profile_reports_every_layer_and_the_same_embedding() {
    let mut chip = Chip::factory();
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    let pixels = picture(3, 3);
    let Response::Profile(p) = b.call(
        &mut d,
        &Request::Profile {
            frame: frame(&pixels),
        },
    ) else {
        panic!()
    };
    assert_eq!(p.layers.len(), 22);
    // The test board's counter advances one tick per reading, so every timed run costs 1 tick
    // and each layer (k layers − (k − 1) layers) costs 0.
    assert!(p.layers.iter().all(|&c| c == 0), "{:?}", p.layers);
    assert_eq!(
        p.cost,
        Cost {
            preprocess: 1,
            embed: 1
        }
    );
    assert_eq!(
        p.embedding.as_slice(),
        host_embedding(RELEASE, &pixels).as_slice()
    );
}

/// A cut at every flash operation of an enrolment's commit and of a delete: the other
/// templates always survive, and the one being written is there whole or not at all.
#[test]
fn a_cut_while_storing_or_deleting_never_loses_another_template() {
    let mut base = Chip::factory();
    {
        let mut d = base.device(None);
        let mut b = Buffers::new();
        for (i, id) in ["ann", "ben", "cat"].iter().enumerate() {
            enrol(&mut b, &mut d, id, i as u32, 1);
        }
    }
    let probe = picture(1, 0);
    let check = |chip: &mut Chip, may: &[&str], name: &str| {
        let mut d = chip.device(None);
        let mut b = Buffers::new();
        let ids = list_all(&mut b, &mut d);
        for id in ["ann", "ben", "cat"] {
            assert!(
                ids.iter().any(|s| s == id) || may.contains(&id),
                "{name}: {id} lost: {ids:?}"
            );
        }
        // Every listed template verifies (none is half-written).
        for id in &ids {
            let r = b.call(
                &mut d,
                &Request::Verify {
                    id: pid(id),
                    frame: frame(&probe),
                },
            );
            assert!(matches!(r, Response::Verify(_)), "{name}: {id}: {r:?}");
        }
        ids
    };
    let mut stored_at = None;
    for ops in 0..40 {
        let mut chip = base.clone();
        let power = PowerCut::after(ops);
        {
            let mut d = chip.device(Some(&power));
            let mut b = Buffers::new();
            let pixels = picture(7, 0);
            b.call(
                &mut d,
                &Request::Enroll {
                    id: pid("dan"),
                    frame: frame(&pixels),
                },
            );
            b.call(&mut d, &Request::EnrollCommit { id: pid("dan") });
        }
        let ids = check(&mut chip, &[], &format!("enrol cut after {ops}"));
        if ids.iter().any(|s| s == "dan") {
            stored_at.get_or_insert(ops);
        } else {
            assert!(
                stored_at.is_none(),
                "dan stored at {stored_at:?} ops but not at {ops}"
            );
        }
    }
    assert!(
        stored_at.is_some(),
        "40 operations never completed an insert"
    );
    let mut deleted_at = None;
    for ops in 0..40 {
        let mut chip = base.clone();
        let power = PowerCut::after(ops);
        {
            let mut d = chip.device(Some(&power));
            let mut b = Buffers::new();
            b.call(&mut d, &Request::Delete { id: pid("ben") });
        }
        let ids = check(&mut chip, &["ben"], &format!("delete cut after {ops}"));
        if !ids.iter().any(|s| s == "ben") {
            deleted_at.get_or_insert(ops);
        }
    }
    assert!(
        deleted_at.is_some(),
        "40 operations never completed a delete"
    );
}
