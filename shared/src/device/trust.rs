//! Signed models: which blobs a device accepts as an update, and how the host signs one.
//!
//! A blob is signed with ed25519 ([`SIGNATURE_ED25519`], `ed25519-compact`, no_std) over every
//! byte before its signature block ([`Model::signed_bytes`]): the header (with its model
//! version and signer id), the tables, the weights and the golden vectors. The trailing CRC is
//! not covered (it is recomputed after signing). The device holds one trusted public key
//! ([`super::DeviceKeys::model_key`], set at build or provisioning time) and refuses, each with
//! its own [`ErrorCode`], a blob that is unsigned, signed by another key, tampered with after
//! signing, or older than the model it serves ([`check_update`]).
//!
//! The factory model linked into slot A is part of the firmware image and is trusted as the
//! image is: it may be unsigned (the release blob is: version 0).

use crate::blob::{crc32::crc32, BlobError, Model, SIGNATURE_ED25519, SIGNATURE_NONE};
use crate::blob::{CRC_LEN, SIGNATURE_LEN, SIGNER_ID_LEN};
use crate::protocol::ErrorCode;
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};

/// Bytes of an ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an ed25519 secret seed (what `facegate keygen` writes).
pub const SEED_LEN: usize = 32;

/// The signer id of a public key: its first [`SIGNER_ID_LEN`] bytes.
pub fn signer_id(public_key: &[u8; PUBLIC_KEY_LEN]) -> [u8; SIGNER_ID_LEN] {
    let mut id = [0u8; SIGNER_ID_LEN];
    id.copy_from_slice(&public_key[..SIGNER_ID_LEN]);
    id
}

/// The ed25519 public key of a secret seed.
pub fn public_key(seed: &[u8; SEED_LEN]) -> [u8; PUBLIC_KEY_LEN] {
    *KeyPair::from_seed(Seed::new(*seed)).pk
}

/// Whether `candidate`, a blob that parsed, may replace a model of version `installed` on a
/// device trusting `key`. The checks, in order, and their codes:
/// - no signature, or an algorithm this firmware cannot check → [`ErrorCode::ModelUnsigned`];
/// - the header's signer id is not the trusted key's → [`ErrorCode::ModelWrongKey`];
/// - the signature does not verify → [`ErrorCode::ModelTampered`] (a changed byte, or a forged
///   signer id: both mean the bytes are not what the key holder signed);
/// - `model_version < installed` → [`ErrorCode::ModelDowngrade`] (checked only on verified
///   bytes, so the version is the signer's). The same version again is allowed (re-install).
#[inline(never)]
pub fn check_update(
    candidate: &Model<'_>,
    key: &[u8; PUBLIC_KEY_LEN],
    installed: u32,
) -> Result<(), ErrorCode> {
    let (algorithm, signature) = candidate.signature().ok_or(ErrorCode::ModelInvalid)?;
    if algorithm != SIGNATURE_ED25519 {
        return Err(ErrorCode::ModelUnsigned);
    }
    let header = candidate.header();
    if header.signer != signer_id(key) {
        return Err(ErrorCode::ModelWrongKey);
    }
    let signature = Signature::from_slice(signature).map_err(|_| ErrorCode::ModelTampered)?;
    PublicKey::new(*key)
        .verify(candidate.signed_bytes(), &signature)
        .map_err(|_| ErrorCode::ModelTampered)?;
    if header.model_version < installed {
        return Err(ErrorCode::ModelDowngrade {
            installed,
            offered: header.model_version,
        });
    }
    Ok(())
}

/// Signs `blob` in place with `seed`'s key as model version `model_version`: sets the header's
/// version and signer id, fills the signature block and recomputes the CRC. The blob must
/// parse first (any signature it had is replaced).
pub fn sign_blob(
    blob: &mut [u8],
    seed: &[u8; SEED_LEN],
    model_version: u32,
) -> Result<(), BlobError> {
    let (signature_at, total) = {
        let model = Model::parse(blob)?;
        let h = model.header();
        (h.signature_offset as usize, h.total_len as usize)
    };
    let pair = KeyPair::from_seed(Seed::new(*seed));
    let truncated = BlobError::Truncated {
        needed: total,
        actual: blob.len(),
    };
    let body = blob.get_mut(..total).ok_or(truncated)?;
    body[104..108].copy_from_slice(&model_version.to_le_bytes());
    body[108..108 + SIGNER_ID_LEN].copy_from_slice(&signer_id(&pair.pk));
    let signature = pair.sk.sign(&body[..signature_at], None);
    let block = &mut body[signature_at..signature_at + SIGNATURE_LEN];
    block[..4].copy_from_slice(&SIGNATURE_ED25519.to_le_bytes());
    block[4..].copy_from_slice(signature.as_ref());
    let crc = crc32(&body[..total - CRC_LEN]);
    body[total - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    Model::parse(blob).map(|_| ())
}

/// Removes `blob`'s signature in place (algorithm [`SIGNATURE_NONE`], zero signature and
/// signer id, CRC recomputed): the unsigned form of a signed blob.
pub fn unsign_blob(blob: &mut [u8]) -> Result<(), BlobError> {
    let (signature_at, total) = {
        let model = Model::parse(blob)?;
        let h = model.header();
        (h.signature_offset as usize, h.total_len as usize)
    };
    let body = &mut blob[..total];
    body[108..108 + SIGNER_ID_LEN].fill(0);
    body[signature_at..signature_at + 4].copy_from_slice(&SIGNATURE_NONE.to_le_bytes());
    body[signature_at + 4..signature_at + SIGNATURE_LEN].fill(0);
    let crc = crc32(&body[..total - CRC_LEN]);
    body[total - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}
