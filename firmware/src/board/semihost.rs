//! The host file calls and command line of ARM semihosting (QEMU `-semihosting-config
//! enable=on,target=native`): the NOR flash's backing file, and the firmware's options.
//!
//! Every call is a `BKPT 0xAB` trap that QEMU serves with the host's own `open`/`read`/`write`/
//! `lseek` on a raw file descriptor (no user-space buffering): once a `write` call has returned to
//! the firmware, its bytes are in the host kernel and survive a `kill -9` of QEMU.

use cortex_m_semihosting::{nr, syscall, syscall1};

/// A host file opened through semihosting.
#[derive(Clone, Copy, Debug)]
pub struct HostFile {
    handle: usize,
}

/// A semihosting file call that the host refused or did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostIoError;

impl HostFile {
    /// Opens `path` (NUL-terminated) read-write, binary, without truncating; `None` if it does
    /// not exist or cannot be opened.
    pub fn open_existing(path: &[u8]) -> Option<Self> {
        Self::open(path, nr::open::RW_BINARY)
    }

    /// Opens `path` (NUL-terminated) for reading only (a FIFO: blocks until a writer opens it).
    pub fn open_read(path: &[u8]) -> Option<Self> {
        Self::open(path, nr::open::R_BINARY)
    }

    /// Opens `path` (NUL-terminated) for writing only (a FIFO: blocks until a reader opens it).
    pub fn open_write(path: &[u8]) -> Option<Self> {
        Self::open(path, nr::open::W_TRUNC_BINARY)
    }

    /// Creates (or truncates) `path` (NUL-terminated) read-write, binary.
    pub fn create(path: &[u8]) -> Option<Self> {
        Self::open(path, nr::open::RW_TRUNC_BINARY)
    }

    fn open(path: &[u8], mode: usize) -> Option<Self> {
        // The name ends at the first NUL (`path` may be a longer buffer).
        let len = path.iter().position(|&b| b == 0)?;
        // SAFETY: SYS_OPEN reads the `len` bytes of the name and its NUL, inside `path`, which
        // stays alive for the call.
        let handle = unsafe { syscall!(OPEN, path.as_ptr(), mode, len) };
        (handle as isize >= 0).then_some(Self { handle })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> Result<usize, HostIoError> {
        // SAFETY: SYS_FLEN takes the handle only.
        let len = unsafe { syscall!(FLEN, self.handle) } as isize;
        usize::try_from(len).map_err(|_| HostIoError)
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), HostIoError> {
        self.seek(offset)?;
        // SAFETY: SYS_READ writes at most `buf.len()` bytes into `buf`, which is exclusively
        // borrowed for the call.
        let not_read = unsafe { syscall!(READ, self.handle, buf.as_mut_ptr(), buf.len()) };
        if not_read == 0 {
            Ok(())
        } else {
            Err(HostIoError)
        }
    }

    /// Writes all of `bytes` at `offset` with one host `write` call.
    pub fn write_at(&self, offset: usize, bytes: &[u8]) -> Result<(), HostIoError> {
        self.seek(offset)?;
        // SAFETY: SYS_WRITE reads `bytes.len()` bytes from `bytes`, borrowed for the call.
        let not_written = unsafe { syscall!(WRITE, self.handle, bytes.as_ptr(), bytes.len()) };
        if not_written == 0 {
            Ok(())
        } else {
            Err(HostIoError)
        }
    }

    /// Reads what the host gives at the current position, at most `buf.len()` bytes, blocking
    /// until there is some; 0 = end of file (a FIFO's writer closed it).
    pub fn read_some(&self, buf: &mut [u8]) -> Result<usize, HostIoError> {
        // SAFETY: as in `read_at`.
        let not_read = unsafe { syscall!(READ, self.handle, buf.as_mut_ptr(), buf.len()) };
        buf.len().checked_sub(not_read).ok_or(HostIoError)
    }

    /// Writes all of `bytes` at the current position (a stream: no seek).
    pub fn write_stream(&self, bytes: &[u8]) -> Result<(), HostIoError> {
        // SAFETY: as in `write_at`.
        let not_written = unsafe { syscall!(WRITE, self.handle, bytes.as_ptr(), bytes.len()) };
        if not_written == 0 {
            Ok(())
        } else {
            Err(HostIoError)
        }
    }

    fn seek(&self, offset: usize) -> Result<(), HostIoError> {
        // SAFETY: SYS_SEEK takes the handle and an absolute position.
        let status = unsafe { syscall!(SEEK, self.handle, offset) };
        if status == 0 {
            Ok(())
        } else {
            Err(HostIoError)
        }
    }
}

/// The semihosting command line (QEMU: the `arg=` values of `-semihosting-config`, joined with
/// spaces; without them the kernel's path and `-append`). Writes it into `buf` and returns it;
/// `None` if it does not fit `buf` (or the host refused the call).
pub fn command_line(buf: &mut [u8]) -> Option<&[u8]> {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes (NUL included) to block[0], which
    // points into `buf`, exclusively borrowed here, and stores the length without the NUL back
    // into block[1].
    let status = unsafe { syscall1!(GET_CMDLINE, block.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    buf.get(..block[1])
}
