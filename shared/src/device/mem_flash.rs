//! An in-memory NOR flash with a real part's rules, for host tests of the device application
//! (and for the host's own tests of the protocol against a simulated device).
//!
//! Rules: [`ERASE_SIZE`] pages erase to `0xFF`; programs are [`WRITE_SIZE`]-byte words at aligned
//! offsets and only clear bits (the cell becomes `old & data`: [`MultiwriteNorFlash`]); anything
//! out of bounds or misaligned is refused whole. A simulated power cut ([`PowerCut`]) lets a
//! given number of page erases and word programs complete and fails every one after them,
//! writing nothing: what a real cut leaves, minus a half-erased page.

use super::Partition;
use core::cell::Cell;
use embedded_storage::nor_flash::{
    check_erase, check_read, check_write, ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError,
    NorFlashErrorKind, ReadNorFlash,
};

/// Erase page of the double (the nRF52840's and the QEMU board's).
pub const ERASE_SIZE: usize = 4096;
/// Program word of the double (the nRF52840's and the QEMU board's).
pub const WRITE_SIZE: usize = 4;

/// A failed operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemFlashError {
    /// Out of bounds or misaligned.
    Refused(NorFlashErrorKind),
    /// The simulated power is off: nothing was written.
    PowerCut,
}

impl NorFlashError for MemFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::Refused(kind) => *kind,
            Self::PowerCut => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for MemFlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Refused(kind) => write!(f, "flash refused the operation: {kind}"),
            Self::PowerCut => f.write_str("simulated power cut"),
        }
    }
}

/// A budget of flash operations shared by every partition of one simulated chip: after
/// `remaining` page erases and word programs, the power is off.
#[derive(Debug, Default)]
pub struct PowerCut {
    remaining: Cell<Option<u32>>,
    done: Cell<u32>,
}

impl PowerCut {
    /// Power that never fails (count the operations with [`PowerCut::operations`]).
    pub fn never() -> Self {
        Self::default()
    }

    /// Power that fails after `operations` more erases and programs.
    pub fn after(operations: u32) -> Self {
        Self {
            remaining: Cell::new(Some(operations)),
            done: Cell::new(0),
        }
    }

    /// Operations completed so far.
    pub fn operations(&self) -> u32 {
        self.done.get()
    }

    /// Runs `f` with the power never failing and its operations not counted (a test's set-up
    /// steps, e.g. opening an admin session, that should not use up the budget).
    pub fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        let (remaining, done) = (self.remaining.take(), self.done.get());
        let out = f();
        self.remaining.set(remaining);
        self.done.set(done);
        out
    }

    /// Whether the cut has happened (an operation was refused).
    pub fn is_off(&self) -> bool {
        self.remaining.get() == Some(0)
    }

    fn spend(&self) -> Result<(), MemFlashError> {
        match self.remaining.get() {
            Some(0) => return Err(MemFlashError::PowerCut),
            Some(n) => self.remaining.set(Some(n - 1)),
            None => {}
        }
        self.done.set(self.done.get() + 1);
        Ok(())
    }
}

/// One partition of the simulated chip over caller-owned memory (its length must be a multiple of
/// the erase page, `PAGE` bytes: [`ERASE_SIZE`] unless said otherwise).
#[derive(Debug)]
pub struct MemFlash<'a, const PAGE: usize = ERASE_SIZE> {
    mem: &'a mut [u8],
    power: Option<&'a PowerCut>,
}

impl<'a> MemFlash<'a> {
    /// A partition over `mem` (its current bytes are the flash's contents), powered by `power`.
    pub fn new(mem: &'a mut [u8], power: Option<&'a PowerCut>) -> Self {
        Self::with_page_size(mem, power)
    }
}

impl<'a, const PAGE: usize> MemFlash<'a, PAGE> {
    /// The same over `PAGE`-byte erase pages (the store is generic over its flash's geometry:
    /// the store fuzz target uses small pages, so a short input is a whole multi-page store).
    pub fn with_page_size(mem: &'a mut [u8], power: Option<&'a PowerCut>) -> Self {
        Self { mem, power }
    }

    fn spend(&self) -> Result<(), MemFlashError> {
        self.power.map_or(Ok(()), PowerCut::spend)
    }
}

impl<const PAGE: usize> ErrorType for MemFlash<'_, PAGE> {
    type Error = MemFlashError;
}

impl<const PAGE: usize> ReadNorFlash for MemFlash<'_, PAGE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), MemFlashError> {
        check_read(self, offset, bytes.len()).map_err(MemFlashError::Refused)?;
        let start = offset as usize;
        bytes.copy_from_slice(&self.mem[start..start + bytes.len()]);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.mem.len()
    }
}

impl<const PAGE: usize> NorFlash for MemFlash<'_, PAGE> {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = PAGE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), MemFlashError> {
        check_erase(self, from, to).map_err(MemFlashError::Refused)?;
        for page in (from as usize..to as usize).step_by(PAGE) {
            self.spend()?;
            self.mem[page..page + PAGE].fill(0xFF);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), MemFlashError> {
        check_write(self, offset, bytes.len()).map_err(MemFlashError::Refused)?;
        let start = offset as usize;
        for (i, word) in bytes.chunks_exact(WRITE_SIZE).enumerate() {
            self.spend()?;
            let at = start + i * WRITE_SIZE;
            for (cell, &b) in self.mem[at..at + WRITE_SIZE].iter_mut().zip(word) {
                *cell &= b;
            }
        }
        Ok(())
    }
}

impl<const PAGE: usize> MultiwriteNorFlash for MemFlash<'_, PAGE> {}

impl<const PAGE: usize> Partition for MemFlash<'_, PAGE> {
    fn mapped(&self) -> &[u8] {
        self.mem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_rules() {
        let mut mem = vec![0u8; 2 * ERASE_SIZE];
        let mut flash = MemFlash::new(&mut mem, None);
        flash.erase(0, ERASE_SIZE as u32).unwrap();
        assert!(flash.mapped()[..ERASE_SIZE].iter().all(|&b| b == 0xFF));
        assert!(flash.mapped()[ERASE_SIZE..].iter().all(|&b| b == 0));
        // A program only clears bits: 0xF0 then 0x3C leaves 0x30.
        flash.write(0, &[0xF0, 0xFF, 0xFF, 0x0F]).unwrap();
        flash.write(0, &[0x3C, 0xFF, 0x00, 0xFF]).unwrap();
        assert_eq!(&flash.mapped()[..4], &[0x30, 0xFF, 0x00, 0x0F]);
        let refused = [
            ("misaligned write", flash.write(2, &[0; 4])),
            ("partial word", flash.write(0, &[0; 3])),
            (
                "write past the end",
                flash.write(2 * ERASE_SIZE as u32, &[0; 4]),
            ),
            ("misaligned erase", flash.erase(1, ERASE_SIZE as u32)),
            ("erase past the end", flash.erase(0, 3 * ERASE_SIZE as u32)),
        ];
        for (name, result) in refused {
            assert!(
                matches!(result, Err(MemFlashError::Refused(_))),
                "{name}: {result:?}"
            );
        }
        let mut byte = [0u8; 1];
        assert!(flash.read(2 * ERASE_SIZE as u32, &mut byte).is_err());
    }

    #[test]
    fn a_power_cut_lets_exactly_n_operations_complete() {
        let mut mem = vec![0xFFu8; ERASE_SIZE];
        let power = PowerCut::after(2);
        let mut flash = MemFlash::new(&mut mem, Some(&power));
        // Three words in one call: two are programmed, the third is not.
        assert_eq!(flash.write(0, &[0; 12]), Err(MemFlashError::PowerCut));
        assert!(power.is_off());
        assert_eq!(power.operations(), 2);
        assert_eq!(
            &flash.mapped()[..12],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            flash.erase(0, ERASE_SIZE as u32),
            Err(MemFlashError::PowerCut)
        );
        assert_eq!(flash.mapped()[0], 0);
    }
}
