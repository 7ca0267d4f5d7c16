//! `facegate emulate`: the device in QEMU, on a persistent flash file, with its UART on a
//! loopback TCP port for `facegate device ... --port tcp:127.0.0.1:PORT`. Ctrl-C stops it.

use crate::device::firmware::{build_firmware, workspace_root, Qemu, QemuConfig};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `facegate emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// The file backing the device's NOR flash (created as a fresh chip with the factory model
    /// when missing; models and templates written to it stay across runs).
    #[arg(long, default_value_os_t = workspace_root().join("target/emulator/flash.img"))]
    pub flash: PathBuf,
    /// Loopback TCP port of the UART (0: any free port).
    #[arg(long, default_value_t = 4555)]
    pub port: u16,
    /// Run under `-icount shift=N` (deterministic instruction counting; slower).
    #[arg(long)]
    pub icount: Option<u8>,
    /// A firmware ELF to boot instead of building `firmware/`.
    #[arg(long)]
    pub elf: Option<PathBuf>,
}

/// Runs `facegate emulate` until Ctrl-C.
pub fn run(args: EmulateArgs) -> Result<()> {
    let elf = match args.elf {
        Some(elf) => elf,
        None => {
            eprintln!("building the firmware (cargo build --release in firmware/) ...");
            build_firmware(&[])?
        }
    };
    if let Some(dir) = args.flash.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut cfg = QemuConfig::new(elf, args.flash.clone());
    cfg.icount_shift = args.icount;
    cfg.port = (args.port != 0).then_some(args.port);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let (mut qemu, client, info) = Qemu::start_and_connect(&cfg)?;
    // Free the socket for the user's client (QEMU accepts one connection at a time).
    drop(client);
    super::device::print_info(&info);
    println!();
    println!(
        "QEMU (pid {}) serves the device on tcp:127.0.0.1:{}; flash file {}",
        qemu.pid(),
        qemu.port(),
        args.flash.display()
    );
    println!(
        "try: facegate device info --port tcp:127.0.0.1:{}    (Ctrl-C stops the emulator)",
        qemu.port()
    );
    let keys = crate::device::keys::test_keys_dir();
    println!(
        "built with the QEMU test keys: enrol/delete/flash with --admin-key {}; sign models with --key {} (README: Security and provisioning keys)",
        keys.join("test-admin.key").display(),
        keys.join("test-model-signing.key").display()
    );
    loop {
        if stop.load(Ordering::SeqCst) {
            qemu.kill();
            println!("stopped QEMU; the flash file keeps the device's models and templates");
            return Ok(());
        }
        if let Some(status) = qemu.try_wait() {
            bail!("QEMU exited ({status}):\n{}", qemu.log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
