//! Model updates refused on their signature, one named test per case of issue 14: unsigned,
//! tampered (any byte), truncated, signed by another key, older than the serving model; each
//! leaves the old model serving.

use super::harness::*;
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
