//! `facegate sign --key SECRET --in BLOB --out BLOB [--model-version N]`: signs a `.fgm` blob
//! with ed25519 over every byte before its signature block (header with the model version and
//! signer id included), fills the signature block and recomputes the CRC
//! ([`facegate_shared::device::trust::sign_blob`]). Written through a temporary file and a
//! rename.

use crate::device::keys;
use anyhow::{Context, Result};
use facegate_shared::blob::Model;
use facegate_shared::device::trust;
use std::path::PathBuf;

/// Arguments of `facegate sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The secret signing key (`model-signing.key` of `facegate keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// The blob to sign.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Where to write the signed blob (may be the input).
    #[arg(long)]
    pub out: PathBuf,
    /// The model version to stamp (monotonic: a device refuses a model older than the one it
    /// serves). Default: the blob's own.
    #[arg(long)]
    pub model_version: Option<u32>,
}

/// Runs `facegate sign`.
pub fn run(args: SignArgs) -> Result<()> {
    let seed = keys::read_key(&args.key, keys::KeyKind::SigningSecret)?;
    let mut blob =
        std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let version = match args.model_version {
        Some(v) => v,
        None => {
            Model::parse(&blob)
                .with_context(|| format!("{} is not a valid model", args.input.display()))?
                .header()
                .model_version
        }
    };
    trust::sign_blob(&mut blob, &seed, version)
        .with_context(|| format!("{} is not a valid model", args.input.display()))?;
    crate::run::write_atomic(&args.out, &blob)?;
    println!(
        "signed {} as model version {version} with key {}: {}",
        args.input.display(),
        keys::to_hex(&trust::public_key(&seed)),
        args.out.display()
    );
    Ok(())
}
