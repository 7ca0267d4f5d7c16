//! An emulator-only fast byte stream: two host FIFOs read and written through semihosting, for
//! hosts that talk to QEMU many frames at a time (`--pipe-in PATH --pipe-out PATH`).
//!
//! UART0 stays the protocol's port (it is what a board has); QEMU feeds it one byte per main-loop
//! round trip (firmware/README.md), while one semihosting `SYS_READ` moves up to a whole buffer.
//! The host creates both FIFOs (`mkfifo`) and opens the firmware's input for writing first, then
//! its output for reading (each open blocks until the other side opens). The firmware reads with a
//! blocking host `read`, which stops the emulation until bytes arrive; closing the input ends the
//! session (the firmware exits with success).

use super::semihost::{HostFile, HostIoError};

/// The host refused a read or write on a FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PipeError {
    /// A semihosting read or write failed.
    Host,
}

impl core::fmt::Display for PipeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("semihosting pipe read or write failed")
    }
}

impl core::error::Error for PipeError {}

impl embedded_io::Error for PipeError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}

impl From<HostIoError> for PipeError {
    fn from(_: HostIoError) -> Self {
        Self::Host
    }
}

/// The two FIFOs as one `embedded-io` stream.
pub struct HostPipe {
    rx: HostFile,
    tx: HostFile,
}

impl HostPipe {
    /// Opens the input FIFO, then the output FIFO (paths NUL-terminated).
    pub(super) fn open(input: &[u8], output: &[u8]) -> Option<Self> {
        let rx = HostFile::open_read(input)?;
        let tx = HostFile::open_write(output)?;
        Some(Self { rx, tx })
    }
}

impl embedded_io::ErrorType for HostPipe {
    type Error = PipeError;
}

impl embedded_io::Read for HostPipe {
    /// Blocks until the host writes; 0 when it closed the input.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PipeError> {
        if buf.is_empty() {
            return Ok(0);
        }
        Ok(self.rx.read_some(buf)?)
    }
}

impl embedded_io::Write for HostPipe {
    fn write(&mut self, buf: &[u8]) -> Result<usize, PipeError> {
        self.tx.write_stream(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), PipeError> {
        Ok(())
    }
}
