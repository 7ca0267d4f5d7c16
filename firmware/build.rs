//! Puts the memory map for QEMU `mps2-an386` and the budget checks on the linker's search path and
//! links `link.x` (cortex-m-rt) followed by `budgets.x` (ours, it uses link.x's symbols).
//!
//! The map lives in `memory/mps2-an386.x`, not as `memory.x` in the package root, where the
//! linker would find it before this one.
//!
//! It also writes `keys.rs` (included by src/app.rs): the model-signing public key and the admin
//! key the device trusts, read from the files named by `FACEGATE_MODEL_PUBKEY` and
//! `FACEGATE_ADMIN_KEY` (as `facegate keygen` writes them), by default the
//! committed QEMU **test** keys in keys/ (public: never ship a firmware built with them).
use std::{env, fs, path::PathBuf};

/// A key file's 32 bytes, as Rust array syntax. The file is one line: `label`, a space and 64
/// hex digits (what `facegate keygen` writes).
fn key_literal(path: &str, label: &str) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("reading key file {path}: {e}"));
    let hex = match text.trim().split_once(' ') {
        Some((found, hex)) if found == label => hex,
        _ => panic!("{path}: not a {label} key file (one line: {label} and 64 hex digits)"),
    };
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{path}: not a key file (one line: {label} and 64 hex digits)"
    );
    let bytes: Vec<String> = (0..32)
        .map(|i| format!("0x{}", &hex[2 * i..2 * i + 2]))
        .collect();
    format!("[{}]", bytes.join(", "))
}

fn keys(out: &std::path::Path) {
    let model = env::var("FACEGATE_MODEL_PUBKEY").unwrap_or("keys/test-model-signing.pub".into());
    let admin = env::var("FACEGATE_ADMIN_KEY").unwrap_or("keys/test-admin.key".into());
    let test = model.starts_with("keys/test-") || admin.starts_with("keys/test-");
    let code = format!(
        "/// The ed25519 public key model updates must be signed with ({model}).\n\
         pub const MODEL_KEY: [u8; 32] = {};\n\
         /// The admin sessions' HMAC key ({admin}).\n\
         pub const ADMIN_KEY: [u8; 32] = {};\n\
         /// Built with a committed QEMU test key.\n\
         #[allow(dead_code)]\n\
         pub const TEST_KEYS: bool = {test};\n",
        key_literal(&model, "facegate-model-signing-public"),
        key_literal(&admin, "facegate-admin-secret")
    );
    fs::write(out.join("keys.rs"), code).expect("write keys.rs");
    for path in [&model, &admin] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-env-changed=FACEGATE_MODEL_PUBKEY");
    println!("cargo:rerun-if-env-changed=FACEGATE_ADMIN_KEY");
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory/mps2-an386.x", out.join("memory.x")).expect("copy memory map");
    fs::copy("memory/budgets.x", out.join("budgets.x")).expect("copy budget checks");
    println!("cargo:rustc-link-search={}", out.display());
    keys(&out);
    for path in [
        "memory/mps2-an386.x",
        "memory/budgets.x",
        "build.rs",
        "../models/facegate-v1.fgm",
    ] {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tbudgets.x");
}
