//! The QEMU `mps2-an386` board: the only module that touches registers.
//!
//! It exposes the CMSDK APB UART0 as an [`embedded_io::Write`] and the semihosting exit as a plain
//! function; everything else in the firmware is generic over those traits and is tested on the host.

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};

/// CMSDK APB UART register block (ARM DDI 0479C, §4.3).
struct UartRegs {
    base: usize,
}

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;

impl UartRegs {
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base` is the UART's fixed, always-mapped MMIO block on this board and the
        // offsets are its documented 32-bit registers.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}

/// UART0 of the MPS2 FPGA image (QEMU: `-serial`, stdio under `-nographic`).
pub struct Uart0 {
    regs: UartRegs,
}

impl Uart0 {
    const BASE: usize = 0x4000_4000;

    /// Enables transmit and receive. QEMU ignores the baud rate; 16 is the minimum divider.
    pub fn new() -> Self {
        let regs = UartRegs { base: Self::BASE };
        regs.write(BAUDDIV, 16);
        regs.write(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE);
        Self { regs }
    }

    fn write_byte(&mut self, byte: u8) {
        while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
        self.regs.write(DATA, u32::from(byte));
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = Infallible;
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        buf.iter().for_each(|&b| self.write_byte(b));
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Ends the QEMU session with an exit status the host process sees (semihosting `SYS_EXIT`).
pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a debugger or emulator to catch the call.
    loop {
        cortex_m::asm::bkpt();
    }
}
