//! Volatile access to a memory-mapped register block: the one place MMIO pointers are made.

use core::ptr::{read_volatile, write_volatile};

/// A block of 32-bit registers at a fixed address.
pub struct Regs {
    base: usize,
}

impl Regs {
    /// The block at `base`; only the board's peripherals (fixed, always mapped) construct one.
    pub const fn new(base: usize) -> Self {
        Self { base }
    }

    /// Reads the register at `offset` bytes.
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base` is a peripheral's fixed, always-mapped MMIO block on this board and the
        // offsets its callers pass are that peripheral's documented 32-bit registers.
        unsafe { read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the register at `offset` bytes.
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((self.base + offset) as *mut u32, value) }
    }
}
