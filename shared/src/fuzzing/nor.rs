//! A NOR flash with small pages for the store target: [`MemFlash`](crate::device::MemFlash)'s
//! rules (erase to `0xFF`, aligned 4-byte programs that only clear bits, anything out of bounds
//! or misaligned refused) on [`PAGE`]-byte pages instead of 4 KiB ones.
//!
//! The store is generic over its flash's geometry. With small pages a short input is a whole
//! multi-page store, so the fuzzer reaches page states, page changes and garbage collection.
//! Each store call also scans far fewer bytes of a corrupt image, which is about 8× faster.

use crate::device::Partition;
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, MultiwriteNorFlash, NorFlash,
    NorFlashErrorKind, ReadNorFlash,
};

/// Erase page.
pub const PAGE: usize = 512;
/// Program word.
pub const WORD: usize = 4;

/// The flash over caller-owned memory (a whole number of pages).
#[derive(Debug)]
pub struct SmallPageFlash<'a> {
    mem: &'a mut [u8],
}

impl<'a> SmallPageFlash<'a> {
    /// A flash whose contents are `mem`.
    pub fn new(mem: &'a mut [u8]) -> Self {
        Self { mem }
    }
}

impl ErrorType for SmallPageFlash<'_> {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for SmallPageFlash<'_> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorFlashErrorKind> {
        check_read(self, offset, bytes.len())?;
        let start = offset as usize;
        bytes.copy_from_slice(&self.mem[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl NorFlash for SmallPageFlash<'_> {
    const WRITE_SIZE: usize = WORD;
    const ERASE_SIZE: usize = PAGE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NorFlashErrorKind> {
        check_erase(self, from, to)?;
        self.mem[from as usize..to as usize].fill(0xFF);
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorFlashErrorKind> {
        check_write(self, offset, bytes.len())?;
        let start = offset as usize;
        for (cell, &b) in self.mem[start..start + bytes.len()].iter_mut().zip(bytes) {
            *cell &= b;
        }
        Ok(())
    }
}

impl MultiwriteNorFlash for SmallPageFlash<'_> {}

impl Partition for SmallPageFlash<'_> {
    fn mapped(&self) -> &[u8] {
        self.mem
    }
}
