//! facegate firmware for the Cortex-M4F, run under QEMU `mps2-an386`.
//!
//! Today it boots, runs the known-answer self-test of `facegate-shared` and reports each value on
//! UART0 with its exact bit pattern, so the host can check that the device computes the very same
//! bits; then it ends the emulation with a semihosting exit status (failure on panic).
#![no_std]
#![no_main]

mod board;
mod report;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let mut uart = board::Uart0::new();
    let ok = report::self_test(&mut uart).is_ok();
    #[cfg(feature = "deliberate-panic")]
    report::deliberate_panic();
    board::exit(ok)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("firmware panic: {}", info);
    board::exit(false)
}
