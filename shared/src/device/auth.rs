//! Admin sessions: challenge-response with HMAC-SHA256 over a nonce that is never repeated.
//!
//! `Enroll`, `EnrollCommit`, `Delete` and the model update (`ModelBegin`/`Chunk`/`Commit`)
//! change the device and need a session; `Info`, `Verify`, `Identify` (and the read-only
//! `List`, `SelfTest`, `Profile`) do not. A session:
//! 1. `Challenge`: the device increments its nonce counter **in flash** (the template store's
//!    own record, power-safe), and only once that is written answers
//!    `nonce = HMAC-SHA256(admin key, "facegate-nonce-v1" ‖ counter as u64 LE)`. A counter
//!    value is never issued twice, not across reboots or power cuts either.
//! 2. `Authenticate { mac }` with `mac = HMAC-SHA256(admin key, "facegate-admin-v1" ‖ nonce)`
//!    ([`answer`]), compared in constant time. The nonce is used up either way: a recorded
//!    answer is worthless (replay), and a wrong one ends the attempt.
//! 3. The session lasts until `EndSession`, the next `Challenge`, a failed `Authenticate` or a
//!    restart; ending it drops a pending enrolment or model update.
//!
//! What it does not do: the requests of an open session are not MACed one by one, so someone
//! who can inject bytes on the wire *while* an admin session is open can ride on it. The link
//! is the device's own UART; a product with an exposed link would MAC every admin request.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the admin key (a shared secret provisioned with the device).
pub const ADMIN_KEY_LEN: usize = 32;
/// Bytes of a nonce and of an answer.
pub const NONCE_LEN: usize = 32;

const NONCE_CONTEXT: &[u8] = b"facegate-nonce-v1";
const ANSWER_CONTEXT: &[u8] = b"facegate-admin-v1";

fn mac(key: &[u8; ADMIN_KEY_LEN]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this cannot fail.
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// The answer to `nonce`: what the host sends in `Authenticate`.
pub fn answer(key: &[u8; ADMIN_KEY_LEN], nonce: &[u8; NONCE_LEN]) -> [u8; NONCE_LEN] {
    let mut m = mac(key);
    m.update(ANSWER_CONTEXT);
    m.update(nonce);
    m.finalize().into_bytes().into()
}

/// The nonce of counter value `counter`.
pub(super) fn nonce(key: &[u8; ADMIN_KEY_LEN], counter: u64) -> [u8; NONCE_LEN] {
    let mut m = mac(key);
    m.update(NONCE_CONTEXT);
    m.update(&counter.to_le_bytes());
    m.finalize().into_bytes().into()
}

/// Whether `mac` answers `nonce`, in constant time.
pub(super) fn is_answer(key: &[u8; ADMIN_KEY_LEN], nonce: &[u8; NONCE_LEN], mac_: &[u8]) -> bool {
    let mut m = mac(key);
    m.update(ANSWER_CONTEXT);
    m.update(nonce);
    m.verify_slice(mac_).is_ok()
}

/// A device's session state (RAM only: a restart ends any session).
#[derive(Debug, Clone, Default)]
pub(super) struct Sessions {
    /// The nonce of the last `Challenge`, until an `Authenticate` uses it up.
    pub pending: Option<[u8; NONCE_LEN]>,
    /// An admin session is open.
    pub admin: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 through the same HMAC: the construction is the standard one.
    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        let want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let got: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn answers_depend_on_key_and_nonce_and_nonces_on_the_counter() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let (n1, n2) = (nonce(&k1, 1), nonce(&k1, 2));
        assert_ne!(n1, n2);
        assert_ne!(nonce(&k1, 1), nonce(&k2, 1));
        assert!(is_answer(&k1, &n1, &answer(&k1, &n1)));
        assert!(!is_answer(&k1, &n2, &answer(&k1, &n1)));
        assert!(!is_answer(&k1, &n1, &answer(&k2, &n1)));
        assert!(!is_answer(&k1, &n1, &answer(&k1, &n1)[..31]));
    }
}
