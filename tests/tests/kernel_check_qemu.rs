//! The Cortex-M4 DSP int8 kernels (SMLAD / SXTB16 inline asm) against the portable kernels, on
//! the emulated Cortex-M4F itself: the `kernel-check` firmware runs both on the same random
//! shapes and data and compares every output byte, and the asm instructions and loops against
//! their Rust emulation (`facegate_shared::int8::dsp::emulated`).

use facegate_e2e::{build_firmware, run_qemu};
use std::time::Duration;

/// The kernel kinds the firmware reports.
const KINDS: [&str; 6] = [
    "instructions",
    "pointwise",
    "pointwise-in-place",
    "dense",
    "depthwise",
    "add",
];

/// `(cases, bytes, mismatches)` of one `kernel-check <kind> ...` line.
fn tally(uart: &str, kind: &str) -> Option<(u32, u32, u32)> {
    let line = uart
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(kind) && l.starts_with("kernel-check "))?;
    let field = |name: &str| -> Option<u32> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    Some((field("cases")?, field("bytes")?, field("mismatches")?))
}

#[test]
fn dsp_kernels_equal_the_portable_kernels_on_the_device() {
    let elf = build_firmware(&["kernel-check"]);
    let run = run_qemu(&elf, Duration::from_secs(120));
    assert!(
        run.status.success(),
        "kernel check failed ({:?}):\n{}\n{}",
        run.status,
        run.uart,
        run.stderr
    );
    for kind in KINDS {
        let (cases, bytes, mismatches) =
            tally(&run.uart, kind).unwrap_or_else(|| panic!("no {kind} line:\n{}", run.uart));
        assert!(
            cases >= 250 && bytes > 0,
            "{kind}: {cases} cases, {bytes} bytes"
        );
        assert_eq!(mismatches, 0, "{kind}:\n{}", run.uart);
    }
    assert!(run.uart.contains("kernel-check done ok"), "{}", run.uart);
}

#[test]
fn the_tally_parser_reads_its_fields() {
    let uart = "x\nkernel-check dense cases=3 bytes=40 mismatches=1\n";
    assert_eq!(tally(uart, "dense"), Some((3, 40, 1)));
    assert_eq!(tally(uart, "pointwise"), None);
}
