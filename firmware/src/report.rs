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

/// Prints `memory ...`: the flash and RAM map as linked and the stack's high-water mark so far,
/// and `golden ticks=<n>`, the cost counter across the golden run (instructions under
/// `-icount shift=6`: ×5/8).
pub fn memory<W: Write>(out: &mut W, golden_ticks: u32) -> Result<(), W::Error> {
    use crate::board::timer;
    use crate::layout::{self, Layout};
    let l = Layout::get();
    writeln!(
        out,
        "golden ticks={golden_ticks} instructions_at_shift6={}",
        timer::ticks_to_instructions(u64::from(golden_ticks), timer::ICOUNT_SHIFT)
    )
    .map_err(fmt_error)?;
    writeln!(
        out,
        "memory code_used={} code_capacity={} slot={} store={} boot={} factory_model={} \
         ram={} statics={} stack={} stack_peak={}",
        l.code_used.len(),
        l.code.len(),
        l.slot_a.len(),
        l.store.len(),
        l.boot.len(),
        l.factory_model.len(),
        l.ram.len(),
        l.statics.len(),
        l.stack.len(),
        layout::stack_peak()
    )
    .map_err(fmt_error)?;
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
