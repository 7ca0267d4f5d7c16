//! Key files: the model-signing key pair (ed25519) and the admin key (HMAC-SHA256).
//!
//! Each file is one line: the key's kind ([`KeyKind::label`]), a space and 64 lowercase hex
//! digits (32 bytes), so that one kind of key is never taken for another:
//! `model-signing.key` (`facegate-model-signing-secret`: the secret seed; keep it off the device
//! and out of the repository), `model-signing.pub` (`facegate-model-signing-public`: the public
//! key the firmware is built with) and `admin.key` (`facegate-admin-secret`: the shared secret of
//! admin sessions; the firmware is built with it and the host answers challenges with it).
//! Written through a temporary file and a rename, never over an existing file.
//!
//! The QEMU **test** keys are committed in `firmware/keys/test-*`: the firmware builds with
//! them unless told otherwise, and the tests sign models and open admin sessions with them.
//! They are public, so a device built with them trusts anyone: never ship them.

use facegate_shared::device::auth::ADMIN_KEY_LEN;
use facegate_shared::device::trust::{self, PUBLIC_KEY_LEN, SEED_LEN};
use rand::TryRngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the signing seed in a key folder.
pub const SIGNING_KEY_FILE: &str = "model-signing.key";
/// File name of the signing public key.
pub const PUBLIC_KEY_FILE: &str = "model-signing.pub";
/// File name of the admin key.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// What a key file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The ed25519 secret seed models are signed with.
    SigningSecret,
    /// The ed25519 public key a device trusts.
    SigningPublic,
    /// The admin sessions' HMAC key.
    Admin,
}

impl KeyKind {
    /// The first word of the file.
    pub const fn label(self) -> &'static str {
        match self {
            Self::SigningSecret => "facegate-model-signing-secret",
            Self::SigningPublic => "facegate-model-signing-public",
            Self::Admin => "facegate-admin-secret",
        }
    }

    /// Whether the file must be private (mode 0600).
    pub const fn is_secret(self) -> bool {
        !matches!(self, Self::SigningPublic)
    }
}

/// A key file that cannot be read, written or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a label and 64 hex digits.
    #[error("{path}: not a key file (expected one line: a label and 64 hex digits)")]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// The file holds another kind of key.
    #[error("{path}: holds a {found:?} key, this needs the {expected}")]
    Kind {
        /// The file.
        path: PathBuf,
        /// The label wanted.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// The file exists: keys are never overwritten.
    #[error("{path} exists: refusing to overwrite a key (move it away first)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// The folder of the committed QEMU test keys.
pub fn test_keys_dir() -> PathBuf {
    super::firmware::workspace_root().join("firmware/keys")
}

/// The QEMU test admin key (`firmware/keys/test-admin.key`).
pub fn test_admin_key() -> Result<[u8; ADMIN_KEY_LEN], KeyFileError> {
    read_key(
        &test_keys_dir().join(format!("test-{ADMIN_KEY_FILE}")),
        KeyKind::Admin,
    )
}

/// The QEMU test signing seed (`firmware/keys/test-model-signing.key`).
pub fn test_signing_key() -> Result<[u8; SEED_LEN], KeyFileError> {
    read_key(
        &test_keys_dir().join(format!("test-{SIGNING_KEY_FILE}")),
        KeyKind::SigningSecret,
    )
}

/// The keys of a device built with the QEMU test keys (what `firmware/build.rs` defaults to).
pub fn test_device_keys() -> Result<facegate_shared::device::DeviceKeys, KeyFileError> {
    Ok(facegate_shared::device::DeviceKeys {
        model_key: read_key(
            &test_keys_dir().join(format!("test-{PUBLIC_KEY_FILE}")),
            KeyKind::SigningPublic,
        )?,
        admin_key: test_admin_key()?,
    })
}

/// `blob` signed with the QEMU test signing key as model version `version` (for the demo and
/// the tests, whose firmware trusts the test key).
pub fn sign_with_test_key(blob: &[u8], version: u32) -> Result<Vec<u8>, KeyFileError> {
    let seed = test_signing_key()?;
    let mut out = blob.to_vec();
    let path = test_keys_dir().join(format!("test-{SIGNING_KEY_FILE}"));
    trust::sign_blob(&mut out, &seed, version).map_err(|_| KeyFileError::Format { path })?;
    Ok(out)
}

/// 32 bytes as 64 hex digits.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 64 hex digits (surrounding whitespace ignored).
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Reads a 32-byte key file of kind `kind`.
pub fn read_key(path: &Path, kind: KeyKind) -> Result<[u8; 32], KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.into(),
        source,
    })?;
    let format = || KeyFileError::Format { path: path.into() };
    let (label, hex) = text.trim().split_once(' ').ok_or_else(format)?;
    if label != kind.label() {
        return Err(KeyFileError::Kind {
            path: path.into(),
            expected: kind.label(),
            found: label.chars().take(40).collect(),
        });
    }
    parse_hex(hex).ok_or_else(format)
}

/// Writes `bytes` as a key file of kind `kind` at `path` (mode 0600 for secrets), through a
/// temporary file and a link that fails if `path` exists (no overwrite, even racing another
/// writer).
pub fn write_key(path: &Path, bytes: &[u8; 32], kind: KeyKind) -> Result<(), KeyFileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyFileError::Io { path, source }
    };
    if path.exists() {
        return Err(KeyFileError::Exists { path: path.into() });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    set_mode(tmp.as_file(), kind.is_secret()).map_err(io(tmp.path()))?;
    writeln!(tmp, "{} {}", kind.label(), to_hex(bytes))
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io(path))?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists { path: path.into() }
        } else {
            KeyFileError::Io {
                path: path.into(),
                source: e.error,
            }
        }
    })?;
    Ok(())
}

/// 0600 for a secret, 0644 for a public key.
#[cfg(unix)]
fn set_mode(file: &std::fs::File, secret: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if secret { 0o600 } else { 0o644 };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _secret: bool) -> std::io::Result<()> {
    Ok(())
}

/// The files [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedKeys {
    /// The signing seed.
    pub signing_key: PathBuf,
    /// The public key.
    pub public_key: PathBuf,
    /// The admin key.
    pub admin_key: PathBuf,
    /// The public key's bytes.
    pub public: [u8; PUBLIC_KEY_LEN],
}

/// Makes a new signing key pair and admin key from the system's random source and writes them
/// into `dir` (created if missing). Refuses if any of the three files exists.
pub fn generate(dir: &Path) -> Result<GeneratedKeys, KeyFileError> {
    std::fs::create_dir_all(dir).map_err(|source| KeyFileError::Io {
        path: dir.into(),
        source,
    })?;
    let paths = [SIGNING_KEY_FILE, PUBLIC_KEY_FILE, ADMIN_KEY_FILE].map(|f| dir.join(f));
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        return Err(KeyFileError::Exists { path: p.clone() });
    }
    let mut seed = [0u8; SEED_LEN];
    let mut admin = [0u8; ADMIN_KEY_LEN];
    let mut os = rand::rngs::OsRng;
    os.try_fill_bytes(&mut seed)
        .and_then(|_| os.try_fill_bytes(&mut admin))
        .map_err(|e| KeyFileError::Random(e.to_string()))?;
    let public = trust::public_key(&seed);
    let [signing_key, public_key, admin_key] = paths;
    write_key(&signing_key, &seed, KeyKind::SigningSecret)?;
    write_key(&public_key, &public, KeyKind::SigningPublic)?;
    write_key(&admin_key, &admin, KeyKind::Admin)?;
    Ok(GeneratedKeys {
        signing_key,
        public_key,
        admin_key,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_three_files_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let keys = generate(dir.path()).unwrap();
        let seed = read_key(&keys.signing_key, KeyKind::SigningSecret).unwrap();
        let public = read_key(&keys.public_key, KeyKind::SigningPublic).unwrap();
        assert_eq!(public, trust::public_key(&seed));
        assert_eq!(keys.public, public);
        assert_ne!(read_key(&keys.admin_key, KeyKind::Admin).unwrap(), seed);
        // One kind of key is never taken for another.
        assert!(matches!(
            read_key(&keys.public_key, KeyKind::SigningSecret),
            Err(KeyFileError::Kind { .. })
        ));
        assert!(matches!(
            read_key(&keys.signing_key, KeyKind::Admin),
            Err(KeyFileError::Kind { .. })
        ));
        let before = std::fs::read(&keys.signing_key).unwrap();
        assert!(matches!(
            generate(dir.path()),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&keys.signing_key).unwrap(), before);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&keys.admin_key)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn key_files_must_be_64_hex_digits() {
        let table = [
            ("short", "abcd"),
            ("not hex", &"zz".repeat(32)),
            ("one digit long", &"0".repeat(65)),
            ("multibyte", &"é".repeat(32)),
        ];
        for (name, text) in table {
            assert_eq!(parse_hex(text), None, "{name}");
        }
        assert_eq!(
            parse_hex(&format!("  {}\n", "0f".repeat(32))),
            Some([0x0f; 32])
        );
    }

    #[test]
    fn the_committed_test_keys_are_a_pair() {
        let seed = test_signing_key().unwrap();
        let keys = test_device_keys().unwrap();
        assert_eq!(trust::public_key(&seed), keys.model_key);
        assert_eq!(test_admin_key().unwrap(), keys.admin_key);
        // A blob signed with the test key passes the device's check against the test key.
        let blob = std::fs::read(super::super::firmware::release_model()).unwrap();
        let signed = sign_with_test_key(&blob, 2).unwrap();
        let model = facegate_shared::blob::Model::parse(&signed).unwrap();
        assert_eq!(trust::check_update(&model, &keys.model_key, 2), Ok(()));
    }
}
