//! Helpers for the end-to-end tests: build the firmware for the Cortex-M4F and boot it in QEMU,
//! either to read its boot report (`run_qemu`) or as a device served over its UART
//! ([`facegate::device::firmware::Qemu`], re-exported with the client as [`device`]).

pub use facegate::device;

pub mod power_cut;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds the firmware (release profile) with the given cargo features and returns the ELF path
/// ([`facegate::device::firmware::build_firmware`], which `facegate emulate` and `demo` use too).
///
/// Panics with a message that says what to install when the cross target is missing.
pub fn build_firmware(features: &[&str]) -> PathBuf {
    facegate::device::firmware::build_firmware(features).unwrap_or_else(|e| panic!("{e}"))
}

/// What a QEMU run printed and how it ended.
pub struct QemuRun {
    /// Everything the firmware wrote to UART0.
    pub uart: String,
    /// Semihosting output and QEMU's own messages.
    pub stderr: String,
    /// The exit status (the firmware's semihosting exit code).
    pub status: ExitStatus,
}

/// Boots `elf` on QEMU `mps2-an386` and waits for it to exit, at most `limit`.
pub fn run_qemu(elf: &Path, limit: Duration) -> QemuRun {
    let mut child = Command::new("qemu-system-arm")
        .args([
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args(["-semihosting-config", "enable=on,target=native", "-kernel"])
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm not found: install Debian's `qemu-system-arm` (see .ci/run)");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for qemu") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("QEMU did not exit within {limit:?}: the firmware hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut uart = String::new();
    let mut stderr = String::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut uart).expect("read qemu stdout");
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut stderr).expect("read qemu stderr");
    }
    QemuRun {
        uart,
        stderr,
        status,
    }
}

/// One `selftest <name> <value> 0x<bits>` line of the firmware's boot report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedValue {
    /// The value's name.
    pub name: String,
    /// The f32's bit pattern as the device computed it.
    pub bits: u32,
}

/// Parses the self-test lines of a boot report; returns them and the count the firmware claims.
pub fn parse_self_test(uart: &str) -> (Vec<ReportedValue>, Option<usize>) {
    let mut values = Vec::new();
    let mut done = None;
    for line in uart.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["selftest", "done", n] => done = n.parse().ok(),
            ["selftest", name, _value, bits] => {
                let bits = u32::from_str_radix(bits.trim_start_matches("0x"), 16)
                    .unwrap_or_else(|e| panic!("bad bit pattern in {line:?}: {e}"));
                values.push(ReportedValue {
                    name: name.to_string(),
                    bits,
                });
            }
            _ => {}
        }
    }
    (values, done)
}

/// The `golden <i> <hex>` lines of the boot report: each golden vector's int8 embedding.
pub fn parse_golden(uart: &str) -> Vec<Vec<i8>> {
    uart.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["golden", i, hex] if i.parse::<usize>().is_ok() => Some(
                    (0..hex.len() / 2)
                        .map(|k| {
                            u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).expect("hex byte") as i8
                        })
                        .collect(),
                ),
                _ => None,
            }
        })
        .collect()
}
