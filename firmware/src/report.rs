//! The boot report, generic over any `embedded_io::Write` (the board's UART on the device).

use embedded_io::Write;
use facegate_shared::selftest;

/// Prints `selftest <name> <value> 0x<bits>` for every known answer, then `selftest done <n>`.
pub fn self_test<W: Write>(out: &mut W) -> Result<(), W::Error> {
    writeln!(out, "facegate firmware {}", env!("CARGO_PKG_VERSION")).map_err(fmt_error)?;
    let answers = selftest::known_answers();
    for a in &answers {
        writeln!(
            out,
            "selftest {} {} 0x{:08x}",
            a.name,
            a.value,
            a.value.to_bits()
        )
        .map_err(fmt_error)?;
    }
    writeln!(out, "selftest done {}", answers.len()).map_err(fmt_error)?;
    out.flush()
}

/// The writer's own error from a formatting error.
pub fn fmt_error<E: embedded_io::Error>(e: embedded_io::WriteFmtError<E>) -> E {
    match e {
        embedded_io::WriteFmtError::Other(e) => e,
        // Only reachable through a bug in a `Display` impl; keep the report's error type.
        _ => unreachable_fmt(),
    }
}

fn unreachable_fmt<E>() -> E {
    panic!("formatting failed")
}

/// Proves to the end-to-end test that a panic reaches the host as a failure exit status.
#[cfg(feature = "deliberate-panic")]
pub fn deliberate_panic() -> ! {
    panic!("deliberate panic requested at build time")
}
