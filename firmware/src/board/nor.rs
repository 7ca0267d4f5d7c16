//! The NOR flash: `embedded-storage` `NorFlash` with a real part's rules, memory-mapped so that a
//! model is read in place, and written through to a host file so that it persists in QEMU.
//!
//! Rules (those of the nRF52840's NVMC, the real-board target): 4 KiB erase pages that erase to
//! 0xFF, 4-byte program words at 4-aligned offsets, and a program only clears bits (the cell
//! becomes `old & data`, so writing a word twice is the AND of both: `MultiwriteNorFlash` is
//! honest). Out-of-bounds and misaligned requests are errors, never partial writes. Not modelled:
//! the part's limit on writes per word between erases (two on the nRF52840), erase and program
//! times, wear.
//!
//! Persistence (QEMU): the mps2 "flash" is RAM, so every page erase and every word program is done
//! on the memory-mapped copy and then on the backing file with one semihosting `write` call (a
//! page erase writes 4 KiB of 0xFF, a word program the 4 resulting bytes). A QEMU killed at any
//! moment therefore leaves a file holding every completed program and erase and nothing of the
//! ones not begun; a host `write` is not interrupted half-way by a kill, so an interrupted erase
//! leaves the page wholly erased or untouched — kinder than a real cut, which can leave a page
//! half-erased. The file is not `fsync`ed: it survives QEMU's death, not the host's.

use super::semihost::HostFile;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError,
    NorFlashErrorKind, ReadNorFlash,
};

/// Bytes of one erase page.
pub const ERASE_SIZE: usize = 4096;
/// Bytes of one program word.
pub const WRITE_SIZE: usize = 4;

/// A refused or failed flash operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NorError {
    /// The range does not lie inside the partition.
    OutOfBounds,
    /// The offset or length is not a multiple of the word (program) or page (erase) size.
    NotAligned,
    /// The backing file refused the write (the memory copy may be ahead of the file).
    Backing,
}

impl core::fmt::Display for NorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::OutOfBounds => "flash range out of bounds",
            Self::NotAligned => "flash range not aligned to the word or page size",
            Self::Backing => "the flash's backing file refused a write",
        })
    }
}

impl NorFlashError for NorError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::Backing => NorFlashErrorKind::Other,
        }
    }
}

impl From<NorFlashErrorKind> for NorError {
    fn from(kind: NorFlashErrorKind) -> Self {
        match kind {
            NorFlashErrorKind::NotAligned => Self::NotAligned,
            _ => Self::OutOfBounds,
        }
    }
}

/// Flash operations (page erases + word programs) still allowed before a simulated power cut;
/// `u32::MAX` = no cut. Set once at boot from `--cut-after N`.
static OPS_BEFORE_CUT: AtomicU32 = AtomicU32::new(u32::MAX);

/// Arms a simulated power cut: the emulation stops (exit status failure) when a flash operation
/// is about to start after `ops` of them have completed.
pub(super) fn arm_power_cut(ops: u32) {
    OPS_BEFORE_CUT.store(ops, Ordering::Relaxed);
}

fn power_cut_point() {
    match OPS_BEFORE_CUT.load(Ordering::Relaxed) {
        u32::MAX => {}
        0 => {
            cortex_m_semihosting::heprintln!("facegate: simulated power cut");
            super::exit(false)
        }
        n => OPS_BEFORE_CUT.store(n - 1, Ordering::Relaxed),
    }
}

/// One disjoint range of the NOR flash (a model slot, the template store, the boot record).
///
/// Only this value writes its range, and writing takes `&mut self`, so the `&[u8]` that
/// [`NorPartition::mapped`] lends can never see a write while it is alive.
pub struct NorPartition {
    base: usize,
    len: usize,
    /// The backing file and this partition's offset in it (`None`: RAM only, lost at reset).
    file: Option<(HostFile, usize)>,
}

impl NorPartition {
    /// The partition at memory address `base`, `len` bytes (both page-aligned; checked by the
    /// linker script), backed at `file`'s given offset.
    pub(super) fn new(base: usize, len: usize, file: Option<(HostFile, usize)>) -> Self {
        Self { base, len, file }
    }

    /// The whole partition, memory-mapped, read in place.
    pub fn mapped(&self) -> &[u8] {
        // SAFETY: [base, base + len) is a range of the board's flash memory (QEMU code RAM) that
        // no Rust object occupies and that only this partition writes, through `&mut self`.
        unsafe { core::slice::from_raw_parts(self.base as *const u8, self.len) }
    }

    fn word_ptr(&self, offset: usize) -> *mut u32 {
        (self.base + offset) as *mut u32
    }

    fn write_back(&self, offset: usize, bytes: &[u8]) -> Result<(), NorError> {
        match self.file {
            Some((file, start)) => file
                .write_at(start + offset, bytes)
                .map_err(|_| NorError::Backing),
            None => Ok(()),
        }
    }
}

impl ErrorType for NorPartition {
    type Error = NorError;
}

impl ReadNorFlash for NorPartition {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorError> {
        check_read(self, offset, bytes.len())?;
        let start = offset as usize;
        let src = self
            .mapped()
            .get(start..start + bytes.len())
            .ok_or(NorError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len
    }
}

impl NorFlash for NorPartition {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NorError> {
        check_erase(self, from, to)?;
        for page in (from as usize..to as usize).step_by(ERASE_SIZE) {
            power_cut_point();
            for word in (page..page + ERASE_SIZE).step_by(WRITE_SIZE) {
                // SAFETY: `word` is a 4-aligned offset inside the partition (check_erase), and
                // the memory is only aliased by `mapped()` borrows, which `&mut self` excludes.
                unsafe { write_volatile(self.word_ptr(word), u32::MAX) };
            }
            let erased = self
                .mapped()
                .get(page..page + ERASE_SIZE)
                .ok_or(NorError::OutOfBounds)?;
            self.write_back(page, erased)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorError> {
        check_write(self, offset, bytes.len())?;
        for (i, chunk) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
            let at = offset as usize + i * WRITE_SIZE;
            let word = <[u8; WRITE_SIZE]>::try_from(chunk).map_err(|_| NorError::NotAligned)?;
            let data = u32::from_le_bytes(word);
            // SAFETY: as in `erase`; `at` is 4-aligned and in bounds (check_write).
            let old = unsafe { read_volatile(self.word_ptr(at)) };
            let new = old & data;
            power_cut_point();
            // SAFETY: as above.
            unsafe { write_volatile(self.word_ptr(at), new) };
            self.write_back(at, &new.to_le_bytes())?;
        }
        Ok(())
    }
}

/// A program only clears bits (`old & data`), as the silicon does, so rewriting is honest.
impl MultiwriteNorFlash for NorPartition {}
