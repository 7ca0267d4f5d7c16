//! CMSDK APB UART0 (ARM DDI 0479C, §4.3) as an `embedded-io` byte stream, both directions.
//!
//! QEMU's model has a one-byte receive buffer and takes the next byte from its chardev (stdio, a
//! TCP socket) only once the firmware has read the previous one, so a fast host is throttled by
//! back-pressure instead of losing bytes (measured: firmware/README.md). Real silicon would set
//! the overrun flag instead; [`UartError::Overrun`] reports it.

use super::mmio::Regs;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
/// A receive error of the UART.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UartError {
    /// A byte arrived while the previous one was still unread: at least one byte was lost.
    Overrun,
}

impl core::fmt::Display for UartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Overrun => f.write_str("UART receive overrun: a byte was lost"),
        }
    }
}

impl core::error::Error for UartError {}

impl embedded_io::Error for UartError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

/// UART0 of the MPS2 FPGA image (QEMU: `-serial`, stdio under `-nographic`).
pub struct Uart0 {
    regs: Regs,
}

impl Uart0 {
    /// Base address of UART0's register block.
    pub const BASE: usize = 0x4000_4000;

    /// Enables transmit and receive. QEMU ignores the baud rate; 16 is the minimum divider.
    pub(super) fn new() -> Self {
        let regs = Regs::new(Self::BASE);
        regs.write(BAUDDIV, 16);
        regs.write(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE);
        Self { regs }
    }

    fn write_byte(&mut self, byte: u8) {
        while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
        self.regs.write(DATA, u32::from(byte));
    }

    /// The next received byte if one is waiting; an overrun is reported (and cleared) first.
    fn try_read_byte(&mut self) -> Result<Option<u8>, UartError> {
        let state = self.regs.read(STATE);
        if state & STATE_RX_OVERRUN != 0 {
            // Write-one-to-clear.
            self.regs.write(STATE, STATE_RX_OVERRUN);
            return Err(UartError::Overrun);
        }
        if state & STATE_RX_FULL == 0 {
            return Ok(None);
        }
        Ok(Some((self.regs.read(DATA) & 0xff) as u8))
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = UartError;
}

impl embedded_io::Read for Uart0 {
    /// Blocks until at least one byte has arrived, then returns what is waiting without blocking
    /// again (on QEMU that is usually one byte: the model buffers one).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.read_available(buf)?;
            if n > 0 {
                return Ok(n);
            }
        }
    }
}

impl Uart0 {
    fn read_available(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.try_read_byte()? {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart0 {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        let state = self.regs.read(STATE);
        if state & STATE_RX_OVERRUN != 0 {
            self.regs.write(STATE, STATE_RX_OVERRUN);
            return Err(UartError::Overrun);
        }
        Ok(state & STATE_RX_FULL != 0)
    }
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        buf.iter().for_each(|&b| self.write_byte(b));
        Ok(buf.len())
    }

    /// Waits until the transmit holding register is empty (QEMU sends each byte at once).
    fn flush(&mut self) -> Result<(), Self::Error> {
        while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
        Ok(())
    }
}
