//! Building the firmware and booting it in QEMU.
//!
//! The firmware is its own cargo workspace (`firmware/`, thumbv7em-none-eabihf); it is built in
//! release with one target folder per feature set. QEMU runs the `mps2-an386` board (Cortex-M4)
//! with semihosting on — the firmware's arguments `facegate --flash FILE` name the file that
//! backs its NOR flash (created as a fresh chip with the factory model in slot A when missing,
//! kept across runs) — and UART0 on a TCP socket on the loopback interface. [`Qemu`] kills its
//! child when dropped, so a failing test or an interrupted command leaves no emulator behind.

use super::client::{Client, ClientError};
use super::port::{self, Link, PortSpec};
use facegate_shared::protocol::DeviceInfo;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The cross target the firmware builds for.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// Why the firmware could not be built or booted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FirmwareError {
    /// cargo could not be started.
    #[error("cannot run cargo to build the firmware: {0}")]
    Cargo(std::io::Error),
    /// The build failed.
    #[error(
        "firmware build failed (is the target installed? `rustup target add {TARGET}`):\n{stderr}"
    )]
    Build {
        /// cargo's output.
        stderr: String,
    },
    /// QEMU could not be started.
    #[error("cannot start qemu-system-arm (install Debian's `qemu-system-arm`): {0}")]
    Spawn(std::io::Error),
    /// QEMU exited before the device answered.
    #[error("QEMU exited ({status}) before the device answered:\n{log}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// What it printed.
        log: String,
    },
    /// No free loopback port.
    #[error("no free loopback port: {0}")]
    Port(std::io::Error),
    /// The device did not answer `Info` over the UART.
    #[error("the device in QEMU does not answer: {source}\nQEMU printed:\n{log}")]
    NoAnswer {
        /// The client's error.
        source: Box<ClientError>,
        /// What QEMU printed.
        log: String,
    },
}

/// The repository root (this crate lives in `host/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The release model shipped in the repository.
pub fn release_model() -> PathBuf {
    workspace_root().join("models/facegate-v1.fgm")
}

/// Builds the firmware (release) with `features` and returns the ELF's path. Cargo rebuilds
/// only what changed, so this is quick when the firmware is up to date.
pub fn build_firmware(features: &[&str]) -> Result<PathBuf, FirmwareError> {
    let firmware = workspace_root().join("firmware");
    // One target folder per feature set: two builds never overwrite each other's ELF.
    let flavour = if features.is_empty() {
        "default".to_string()
    } else {
        features.join("-")
    };
    let target_dir = firmware.join("target").join(&flavour);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&firmware)
        .args(["build", "--release", "--target-dir"])
        .arg(&target_dir);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    // Variables of an outer cargo (a `cargo test` or `cargo run`) describe the host build.
    for var in [
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_ENCODED_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().map_err(FirmwareError::Cargo)?;
    if !out.status.success() {
        return Err(FirmwareError::Build {
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(target_dir.join(TARGET).join("release/facegate-firmware"))
}

/// How to boot QEMU.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The firmware ELF.
    pub elf: PathBuf,
    /// The file backing the NOR flash.
    pub flash: PathBuf,
    /// `-icount shift=N` (deterministic instruction counting: TIMER0 then counts
    /// 25 MHz × 2^N ns per instruction), or free-running.
    pub icount_shift: Option<u8>,
    /// The loopback TCP port of the UART (`None`: a free one).
    pub port: Option<u16>,
    /// `--cut-after N`: a simulated power cut (the emulation stops) when a flash operation
    /// would start after `N` completed ones since boot.
    pub cut_after: Option<u32>,
    /// Serve the protocol over two FIFOs created in this folder (`--pipe-in/--pipe-out`: the
    /// emulator-only fast stream) instead of UART0 on TCP.
    pub pipe_dir: Option<PathBuf>,
}

impl QemuConfig {
    /// `elf` on `flash`, free-running, any free port.
    pub fn new(elf: PathBuf, flash: PathBuf) -> Self {
        Self {
            elf,
            flash,
            icount_shift: None,
            port: None,
            cut_after: None,
            pipe_dir: None,
        }
    }
}

/// A free TCP port on 127.0.0.1 (free when asked: QEMU binds it a moment later).
pub fn free_port() -> Result<u16, FirmwareError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(FirmwareError::Port)
}

/// A running QEMU; killed when dropped.
pub struct Qemu {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    /// The FIFOs `(input, output)` when it serves over [`QemuConfig::pipe_dir`].
    fifos: Option<(PathBuf, PathBuf)>,
}

/// The firmware's input and output FIFOs in `dir`.
fn fifo_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("facegate-in"), dir.join("facegate-out"))
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut log) = into.lock() {
                log.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
}

impl Qemu {
    /// The QEMU command line for `cfg` with the UART on `port`.
    pub fn command(cfg: &QemuConfig, port: u16) -> Command {
        let mut cmd = Command::new("qemu-system-arm");
        if let Some(shift) = cfg.icount_shift {
            cmd.args(["-icount", &format!("shift={shift}")]);
        }
        let mut semihosting = format!(
            "enable=on,target=native,arg=facegate,arg=--flash,arg={}",
            cfg.flash.display()
        );
        if let Some(n) = cfg.cut_after {
            semihosting.push_str(&format!(",arg=--cut-after,arg={n}"));
        }
        let serial = match &cfg.pipe_dir {
            Some(dir) => {
                let (input, output) = fifo_paths(dir);
                semihosting.push_str(&format!(
                    ",arg=--pipe-in,arg={},arg=--pipe-out,arg={}",
                    input.display(),
                    output.display()
                ));
                "null".to_string()
            }
            None => format!("tcp:127.0.0.1:{port},server=on,wait=off"),
        };
        cmd.args(["-machine", "mps2-an386", "-cpu", "cortex-m4"])
            .args(["-nographic", "-monitor", "none"])
            .args(["-semihosting-config", &semihosting])
            .args(["-serial", &serial])
            .arg("-kernel")
            .arg(&cfg.elf);
        cmd
    }

    /// Starts QEMU (its output is collected for [`Qemu::log`]).
    pub fn start(cfg: &QemuConfig) -> Result<Self, FirmwareError> {
        let port = match cfg.port {
            Some(p) => p,
            None => free_port()?,
        };
        let fifos = match &cfg.pipe_dir {
            Some(dir) => Some(fifo::create(dir).map_err(FirmwareError::Spawn)?),
            None => None,
        };
        let mut cmd = Self::command(cfg, port);
        // Its own process group: a Ctrl-C in the terminal reaches only facegate, which then
        // stops QEMU itself (instead of QEMU dying first and looking like a crash).
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(FirmwareError::Spawn)?;
        let log = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            drain(out, log.clone());
        }
        if let Some(err) = child.stderr.take() {
            drain(err, log.clone());
        }
        Ok(Self {
            child,
            port,
            log,
            fifos,
        })
    }

    /// Starts QEMU and connects a client (retrying while QEMU opens its socket; a port taken
    /// in between is retried on another), checking the device's protocol version.
    pub fn start_and_connect(
        cfg: &QemuConfig,
    ) -> Result<(Self, Client, DeviceInfo), FirmwareError> {
        let mut last = None;
        for _ in 0..3 {
            let mut qemu = Self::start(cfg)?;
            match qemu.connect() {
                Ok((client, info)) => return Ok((qemu, client, info)),
                Err(e @ FirmwareError::Exited { .. }) if cfg.port.is_none() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| FirmwareError::Port(std::io::ErrorKind::AddrInUse.into())))
    }

    /// Connects to the UART (or opens the FIFOs) and sends `Info`.
    pub fn connect(&mut self) -> Result<(Client, DeviceInfo), FirmwareError> {
        let link: Box<dyn Link> = match self.fifos.clone() {
            Some((input, output)) => match fifo::open(&input, &output, &mut self.child) {
                Ok(link) => Box::new(link),
                Err(e) => {
                    return Err(self.failure(ClientError::Io {
                        command: "Info",
                        source: e,
                    }))
                }
            },
            None => match port::connect_tcp("127.0.0.1", self.port, Duration::from_secs(10)) {
                Ok(link) => Box::new(link),
                Err(e) => return Err(self.failure(e.into())),
            },
        };
        let mut client = Client::new(link);
        // The first answer can take a while: the firmware may be formatting a fresh store.
        client.set_timeout(Duration::from_secs(30));
        match client.handshake() {
            Ok(info) => {
                client.set_timeout(super::client::DEFAULT_TIMEOUT);
                Ok((client, info))
            }
            Err(e) => Err(self.failure(e)),
        }
    }

    fn failure(&mut self, source: ClientError) -> FirmwareError {
        std::thread::sleep(Duration::from_millis(100));
        match self.child.try_wait() {
            Ok(Some(status)) => FirmwareError::Exited {
                status,
                log: self.log(),
            },
            _ => FirmwareError::NoAnswer {
                source: Box::new(source),
                log: self.log(),
            },
        }
    }

    /// The UART's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where to connect: `tcp:127.0.0.1:PORT`.
    pub fn spec(&self) -> PortSpec {
        PortSpec::Tcp {
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything QEMU and the firmware's semihosting printed so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The exit status, if QEMU has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `limit` for QEMU to exit (a `--cut-after` run stops by itself).
    pub fn wait_timeout(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills QEMU at once (SIGKILL: what a power cut does to the device) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `--pipe-in/--pipe-out` FIFOs as a [`Link`].
mod fifo;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_has_the_flash_file_the_port_and_icount() {
        let mut cfg = QemuConfig::new("fw.elf".into(), "/tmp/x/flash.img".into());
        cfg.icount_shift = Some(6);
        let cmd = Qemu::command(&cfg, 4555);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.starts_with("-icount shift=6 "), "{joined}");
        assert!(
            joined.contains("arg=--flash,arg=/tmp/x/flash.img"),
            "{joined}"
        );
        assert!(
            joined.contains("tcp:127.0.0.1:4555,server=on,wait=off"),
            "{joined}"
        );
        assert_eq!(args.last().map(String::as_str), Some("fw.elf"));
    }

    #[test]
    fn a_cut_and_the_fifos_reach_the_firmware_command_line() {
        let mut cfg = QemuConfig::new("fw.elf".into(), "/tmp/x/flash.img".into());
        cfg.cut_after = Some(17);
        cfg.pipe_dir = Some("/tmp/p".into());
        let args: Vec<String> = Qemu::command(&cfg, 4555)
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("arg=--cut-after,arg=17"), "{joined}");
        assert!(
            joined.contains(
                "arg=--pipe-in,arg=/tmp/p/facegate-in,arg=--pipe-out,arg=/tmp/p/facegate-out"
            ),
            "{joined}"
        );
        assert!(joined.contains("-serial null"), "{joined}");
        assert!(!joined.contains("tcp:"), "{joined}");
    }
}
