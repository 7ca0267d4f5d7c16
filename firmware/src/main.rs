//! facegate firmware for the Cortex-M4F, run under QEMU `mps2-an386`.
//!
//! Today it boots, runs the known-answer self-test of `facegate-shared` and reports each value on
//! UART0 with its exact bit pattern, then runs the released int8 model's golden vectors (the blob
//! is linked into flash) and prints every embedding, so the host can check that the device
//! computes the very same bits; then it ends the emulation with a semihosting exit status
//! (failure on panic or on a golden mismatch).
#![no_std]
#![no_main]

mod board;
mod model_check;
mod report;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let mut uart = board::Uart0::new();
    let mut ok = report::self_test(&mut uart).is_ok();
    // The arena lives on the stack, inside the 64 KiB RAM budget the linker enforces.
    let mut arena = [0u8; model_check::ARENA_BYTES];
    ok &= model_check::run_golden(&mut uart, model_check::MODEL, &mut arena) == Ok(true);
    #[cfg(feature = "deliberate-panic")]
    report::deliberate_panic();
    board::exit(ok)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("firmware panic: {}", info);
    board::exit(false)
}
