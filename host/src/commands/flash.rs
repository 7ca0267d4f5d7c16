//! `facegate flash --model FILE --port ...`: writes a `.fgm` model into the device's inactive
//! slot over the protocol (ModelBegin, ModelChunk…, ModelCommit), then runs its self-test. The
//! device switches slots only once the whole model checked out (length, CRC, parser); an
//! interrupted update leaves the old model serving. The model must be signed with the key the
//! device trusts (`facegate sign`) and the update needs an admin session (`--admin-key`).

use super::device::{model_id_hex, PortArgs};
use crate::device::Client;
use anyhow::{Context, Result};
use facegate_shared::blob::{Model, SIGNATURE_ED25519};
use facegate_shared::protocol::ModelInfo;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

/// Arguments of `facegate flash`.
#[derive(Debug, clap::Args)]
pub struct FlashArgs {
    /// The int8 `.fgm` model.
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub port: PortArgs,
}

/// A progress bar over `len` bytes (hidden when standard error is not a terminal).
pub fn bytes_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{bytes}}/{{total_bytes}}  {{bytes_per_sec}}  eta {{eta}}"
    )) {
        bar.set_style(style);
    }
    bar
}

/// Sends `blob` to the device behind `client` with a progress bar.
pub fn send_model(client: &mut Client, blob: &[u8]) -> Result<ModelInfo> {
    let bar = bytes_bar(blob.len() as u64, "model");
    let info = client.flash_model(blob, |done| bar.set_position(done as u64));
    bar.finish_and_clear();
    Ok(info?)
}

/// Runs `facegate flash`.
pub fn run(args: FlashArgs) -> Result<()> {
    let blob =
        std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    // Refuse a broken or unsigned file here rather than after sending it.
    let model = Model::parse(&blob)
        .with_context(|| format!("{} is not a valid model", args.model.display()))?;
    anyhow::ensure!(
        model.signature().is_some_and(|(a, _)| a == SIGNATURE_ED25519),
        "{} is not signed: a device accepts only signed models (facegate sign --key KEY --in {0} --out SIGNED)",
        args.model.display()
    );
    let (mut client, before) = args.port.open_admin()?;
    if let Some(m) = &before.model {
        println!("serving: model {} in slot {:?}", model_id_hex(m), m.slot);
    }
    let info = send_model(&mut client, &blob)?;
    println!(
        "committed: model {} version {} in slot {:?} (update #{}), {} bytes; signature checked in {} ticks",
        model_id_hex(&info),
        info.model_version,
        info.slot,
        info.version,
        info.len,
        info.check_cost
    );
    let r = client.self_test()?;
    println!(
        "self-test {}: {} golden vectors",
        if r.passed { "passed" } else { "FAILED" },
        r.vectors
    );
    anyhow::ensure!(r.passed, "the new model's self-test failed on the device");
    Ok(())
}
