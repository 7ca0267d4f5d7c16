//! Model updates over the protocol: A/B switching, bad blobs, and power cuts at every chunk
//! and at every flash operation of the commit.

use super::harness::*;
use crate::device::PowerCut;
use crate::protocol::*;

const CHUNK: usize = CHUNK_MAX;

fn active(chip: &mut Chip) -> Option<(Slot, u32)> {
    let d = chip.device(None);
    d.boot_state().active.map(|a| (a.slot, a.version))
}

#[test]
fn updates_alternate_slots_and_survive_reboots() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let v2 = other_model();
    {
        let mut d = chip.device(None);
        let Response::ModelCommitted(m) = send_model(&mut b, &mut d, &v2, CHUNK) else {
            panic!()
        };
        assert_eq!((m.slot, m.version, m.id[0]), (Slot::B, 1, v2[12]));
    }
    assert_eq!(active(&mut chip), Some((Slot::B, 1)));
    {
        // Odd chunk sizes (not a multiple of the 4-byte word) and back to slot A.
        let mut d = chip.device(None);
        let Response::ModelCommitted(m) = send_model(&mut b, &mut d, &release_signed(), 1001)
        else {
            panic!()
        };
        assert_eq!((m.slot, m.version), (Slot::A, 2));
        let pixels = picture(6, 0);
        let r = b.call(
            &mut d,
            &Request::Identify {
                frame: frame(&pixels),
            },
        );
        let Response::Identify(id) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            id.embedding.as_slice(),
            host_embedding(RELEASE, &pixels).as_slice()
        );
    }
    assert_eq!(active(&mut chip), Some((Slot::A, 2)));
    let mut d = chip.device(None);
    let Response::ModelCommitted(m) = send_model(&mut b, &mut d, &v2, 3) else {
        panic!()
    };
    assert_eq!((m.slot, m.version), (Slot::B, 3));
}

#[test]
fn a_blank_chip_takes_its_first_model_into_slot_a() {
    let mut chip = Chip::blank();
    let mut b = Buffers::new();
    let mut d = chip.device(None);
    let Response::ModelCommitted(m) = send_model(&mut b, &mut d, &release_signed(), CHUNK) else {
        panic!()
    };
    assert_eq!((m.slot, m.version), (Slot::A, 1));
}

#[test]
fn templates_of_another_model_are_stale() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut d = chip.device(None);
    enrol(&mut b, &mut d, "old", 1, 1);
    send_model(&mut b, &mut d, &other_model(), CHUNK);
    let pixels = picture(1, 0);
    assert_eq!(
        b.call(
            &mut d,
            &Request::Verify {
                id: pid("old"),
                frame: frame(&pixels)
            }
        ),
        Response::Error(ErrorCode::StaleTemplate)
    );
    let Response::Identify(id) = b.call(
        &mut d,
        &Request::Identify {
            frame: frame(&pixels),
        },
    ) else {
        panic!()
    };
    assert_eq!((id.best, id.compared), (None, 0));
}

#[test]
fn protocol_errors_of_an_update() {
    let mut chip = Chip::factory();
    let mut b = Buffers::new();
    let mut d = chip.device(None);
    let crc = crate::blob::crc32::crc32(RELEASE);
    let len = RELEASE.len() as u32;
    let chunk = &RELEASE[..CHUNK];
    let cases: Vec<(&str, Request<'_>, Response)> = vec![
        (
            "chunk before begin",
            Request::ModelChunk {
                offset: 0,
                bytes: chunk,
            },
            Response::Error(ErrorCode::NoUpdate),
        ),
        (
            "commit before begin",
            Request::ModelCommit,
            Response::Error(ErrorCode::NoUpdate),
        ),
        (
            "too long",
            Request::ModelBegin {
                len: SLOT as u32 + 1,
                crc,
            },
            Response::Error(ErrorCode::ModelSize { max: SLOT as u32 }),
        ),
        (
            "too short",
            Request::ModelBegin { len: 10, crc },
            Response::Error(ErrorCode::ModelSize { max: SLOT as u32 }),
        ),
        (
            "begin",
            Request::ModelBegin { len, crc },
            Response::ModelBegun { slot: Slot::B },
        ),
        (
            "gap",
            Request::ModelChunk {
                offset: 4,
                bytes: chunk,
            },
            Response::Error(ErrorCode::OutOfOrder { expected: 0 }),
        ),
        (
            "first",
            Request::ModelChunk {
                offset: 0,
                bytes: chunk,
            },
            Response::ModelChunk { next: CHUNK as u32 },
        ),
        (
            "repeat",
            Request::ModelChunk {
                offset: 0,
                bytes: chunk,
            },
            Response::Error(ErrorCode::OutOfOrder {
                expected: CHUNK as u32,
            }),
        ),
        (
            "early commit",
            Request::ModelCommit,
            Response::Error(ErrorCode::ModelIncomplete {
                received: CHUNK as u32,
            }),
        ),
        (
            "past the end",
            Request::ModelChunk {
                offset: CHUNK as u32,
                bytes: &[0; CHUNK_MAX + 1],
            },
            Response::Error(ErrorCode::ChunkSize),
        ),
    ];
    for (name, request, want) in cases {
        assert_eq!(b.call(&mut d, &request), want, "{name}");
    }
    // Wrong CRC announced: refused at the commit, the factory model still serves.
    let r = b.call(&mut d, &Request::ModelBegin { len, crc: crc ^ 1 });
    assert_eq!(r, Response::ModelBegun { slot: Slot::B });
    for (i, bytes) in RELEASE.chunks(CHUNK).enumerate() {
        b.call(
            &mut d,
            &Request::ModelChunk {
                offset: (i * CHUNK) as u32,
                bytes,
            },
        );
    }
    assert_eq!(
        b.call(&mut d, &Request::ModelCommit),
        Response::Error(ErrorCode::ModelCrc)
    );
    // A corrupt blob with its (corrupt) CRC announced: the parser refuses it.
    let mut corrupt = RELEASE.to_vec();
    corrupt[5000] ^= 0xFF;
    assert_eq!(
        send_model(&mut b, &mut d, &corrupt, CHUNK),
        Response::Error(ErrorCode::ModelInvalid)
    );
    assert_eq!(
        info(&mut b, &mut d).model.map(|m| (m.slot, m.version)),
        Some((Slot::A, 0))
    );
    drop(d);
    assert_eq!(active(&mut chip), Some((Slot::A, 0)));
}

/// Runs a whole update of `blob` on `chip` with the power failing after `ops` flash operations;
/// returns whether the commit answered success.
fn update_with_cut(chip: &mut Chip, blob: &[u8], ops: u32) -> bool {
    let power = PowerCut::after(ops);
    let mut d = chip.device(Some(&power));
    let mut b = Buffers::new();
    let crc = crate::blob::crc32::crc32(blob);
    b.call(
        &mut d,
        &Request::ModelBegin {
            len: blob.len() as u32,
            crc,
        },
    );
    for (i, bytes) in blob.chunks(CHUNK).enumerate() {
        let r = b.call(
            &mut d,
            &Request::ModelChunk {
                offset: (i * CHUNK) as u32,
                bytes,
            },
        );
        if r == Response::Error(ErrorCode::Storage) {
            assert!(power.is_off());
            return false;
        }
    }
    matches!(
        b.call(&mut d, &Request::ModelCommit),
        Response::ModelCommitted(_)
    )
}

#[test]
fn a_cut_at_every_chunk_keeps_the_old_model() {
    let v2 = other_model();
    // Operations per chunk: a page erase and 1024 word programs.
    let per_chunk = 1 + (CHUNK / 4) as u32;
    let chunks = v2.len().div_ceil(CHUNK) as u32;
    for k in 0..chunks {
        for extra in [0, 1, per_chunk / 2] {
            let mut chip = Chip::factory();
            assert!(!update_with_cut(&mut chip, &v2, k * per_chunk + extra));
            // Power back: the factory model serves, and the device works.
            assert_eq!(
                active(&mut chip),
                Some((Slot::A, 0)),
                "cut in chunk {k} + {extra}"
            );
        }
    }
    // And the interrupted update can simply be redone.
    let mut chip = Chip::factory();
    update_with_cut(&mut chip, &v2, 5000);
    let mut d = chip.device(None);
    let mut b = Buffers::new();
    assert!(matches!(
        send_model(&mut b, &mut d, &v2, CHUNK),
        Response::ModelCommitted(_)
    ));
}

#[test]
fn a_cut_at_every_operation_of_the_commit_is_all_or_nothing() {
    let v2 = other_model();
    let power = PowerCut::never();
    let ops_before_commit = {
        let mut chip = Chip::factory();
        let mut d = chip.device(Some(&power));
        let mut b = Buffers::new();
        let crc = crate::blob::crc32::crc32(&v2);
        b.call(
            &mut d,
            &Request::ModelBegin {
                len: v2.len() as u32,
                crc,
            },
        );
        for (i, bytes) in v2.chunks(CHUNK).enumerate() {
            b.call(
                &mut d,
                &Request::ModelChunk {
                    offset: (i * CHUNK) as u32,
                    bytes,
                },
            );
        }
        power.operations()
    };
    // The commit: the last partial word, the boot page erase, the record's 8 words.
    let mut switched_at = None;
    for j in 0..=12 {
        let mut chip = Chip::factory();
        let ok = update_with_cut(&mut chip, &v2, ops_before_commit + j);
        let now = active(&mut chip);
        if ok {
            assert_eq!(
                now,
                Some((Slot::B, 1)),
                "success reported at +{j} but not on flash"
            );
            switched_at.get_or_insert(j);
        } else {
            assert_eq!(now, Some((Slot::A, 0)), "cut at +{j} of the commit");
        }
    }
    let last_word = u32::from(v2.len() % 4 != 0);
    assert_eq!(
        switched_at,
        Some(last_word + 1 + 8),
        "the switch is the record's last word"
    );
}
