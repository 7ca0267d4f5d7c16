//! facegate firmware for the Cortex-M4F: QEMU `mps2-an386` (src/board/), or an nRF52840 with
//! `--features board-nrf52840` (src/board_nrf52840.rs, the same board API).
//!
//! The board module ([`board`]) is the only code that touches registers or semihosting; it hands
//! the rest UART0 as an `embedded-io` stream, TIMER0 as the cost counter and the NOR flash's
//! partitions as `embedded-storage` `NorFlash`es. What `main` does with them depends on the
//! build:
//! - `boot-report`: the boot report of the end-to-end boot tests: the known-answer self-test of
//!   `facegate-shared` with each value's exact bit pattern, then the golden vectors of the model
//!   in slot A (the factory model) with every embedding, then a semihosting exit status.
//! - `board-check`: the board's own checks, driven over the UART (scripts/board_check.py).
//! - `kernel-check`: the DSP int8 kernels against the portable ones on random shapes
//!   ([`kernel_check`]), then a semihosting exit status.
//! - neither (the product): the device application of `facegate-shared` ([`app`]) serving the
//!   protocol on UART0 for ever.
#![no_std]
#![no_main]

#[cfg(not(any(
    feature = "boot-report",
    feature = "board-check",
    feature = "kernel-check"
)))]
mod app;
// The kernel check uses only the UART and the exit status of the board.
#[cfg(not(feature = "board-nrf52840"))]
#[cfg_attr(feature = "kernel-check", allow(dead_code, unused_imports))]
mod board;
#[cfg(feature = "board-nrf52840")]
#[path = "board_nrf52840.rs"]
mod board;
#[cfg(feature = "board-check")]
mod checks;
mod factory;
#[cfg(feature = "kernel-check")]
mod kernel_check;
mod layout;
#[cfg(feature = "boot-report")]
mod model_check;
#[cfg(feature = "boot-report")]
mod report;
mod statics;

use cortex_m_rt::entry;

/// Activation arena bytes: what the release model states it needs (`arena 32,832` in its
/// header); a model that needs more is refused with an error, never run. A static: counted in
/// the RAM statics, not the stack, whose room (64 KiB − statics) is what is left.
pub const ARENA_BYTES: usize = 32_832;
static ARENA: statics::StaticBuffer<ARENA_BYTES> = statics::StaticBuffer::new();

#[entry]
fn main() -> ! {
    let board = match board::Board::take() {
        Ok(board) => board,
        Err(e) => {
            board::log(format_args!("facegate: board start failed: {e}"));
            board::exit(false)
        }
    };
    let Some(arena) = ARENA.take() else {
        board::exit(false)
    };
    run(board, arena)
}

#[cfg(feature = "board-check")]
fn run(board: board::Board, arena: &'static mut [u8]) -> ! {
    checks::run(board, arena)
}

#[cfg(feature = "kernel-check")]
fn run(board: board::Board, arena: &'static mut [u8]) -> ! {
    let mut uart = board.uart;
    let ok = kernel_check::run(&mut uart, arena);
    board::exit(ok)
}

#[cfg(not(any(
    feature = "boot-report",
    feature = "board-check",
    feature = "kernel-check"
)))]
#[inline(always)]
fn run(board: board::Board, arena: &'static mut [u8]) -> ! {
    app::run(board, arena)
}

#[cfg(all(
    feature = "boot-report",
    not(any(feature = "board-check", feature = "kernel-check"))
))]
fn run(board: board::Board, arena: &'static mut [u8]) -> ! {
    let board::Board {
        mut uart,
        timer,
        flash,
        ..
    } = board;
    let mut ok = report::self_test(&mut uart).is_ok();
    let start = timer.ticks();
    ok &= model_check::run_golden(&mut uart, flash.slot_a.mapped(), arena) == Ok(true);
    let ticks = timer.ticks().wrapping_sub(start);
    ok &= report::memory(&mut uart, ticks).is_ok();
    #[cfg(feature = "deliberate-panic")]
    report::deliberate_panic();
    board::exit(ok)
}

#[cfg(all(
    feature = "board-nrf52840",
    any(
        feature = "boot-report",
        feature = "board-check",
        feature = "kernel-check"
    )
))]
compile_error!(
    "boot-report, board-check and kernel-check are QEMU builds: not with board-nrf52840"
);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    board::panic_report(info);
    board::exit(false)
}
