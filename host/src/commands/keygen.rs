//! `facegate keygen --out DIR`: a new model-signing key pair and admin key (see
//! [`crate::device::keys`]); refuses to overwrite any existing key file.

use crate::device::keys;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Arguments of `facegate keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// The folder to write `model-signing.key`, `model-signing.pub` and `admin.key` into.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `facegate keygen`.
pub fn run(args: KeygenArgs) -> Result<()> {
    let generated = keys::generate(&args.out)
        .with_context(|| format!("generating keys in {}", args.out.display()))?;
    println!(
        "secret signing key: {} (keep it off the device)",
        generated.signing_key.display()
    );
    println!(
        "public key:         {} ({})",
        generated.public_key.display(),
        keys::to_hex(&generated.public)
    );
    println!(
        "admin key:          {} (secret, provisioned with the device)",
        generated.admin_key.display()
    );
    println!(
        "build a firmware that trusts them: FACEGATE_MODEL_PUBKEY={} FACEGATE_ADMIN_KEY={} cargo build --release (in firmware/)",
        generated.public_key.display(),
        generated.admin_key.display()
    );
    Ok(())
}
