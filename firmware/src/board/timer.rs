//! CMSDK APB TIMER0 as the cost counter and an `embedded-hal` delay.
//!
//! QEMU does not emulate the DWT cycle counter. TIMER0 runs from the 25 MHz APB clock; it is
//! started free-running from 0xFFFF_FFFF and read as an up-counter (`!VALUE`). Under
//! `-icount shift=N` QEMU advances virtual time by 2^N ns per guest instruction, so the counter is
//! an exact, run-to-run identical instruction count: at shift=6 one instruction is 64 ns = 1.6
//! ticks (measured with a loop of known length: firmware/README.md). Without `-icount` it follows
//! the host's wall clock and is not a cost measure. The 32-bit counter wraps after 2^32 ticks
//! (171.8 s of virtual time, 2.68 G instructions at shift=6); differences use wrapping arithmetic,
//! so one interval must stay shorter than that.

use super::mmio::Regs;

const CTRL: usize = 0x00;
const VALUE: usize = 0x04;
const RELOAD: usize = 0x08;
const CTRL_ENABLE: u32 = 1 << 0;

/// TIMER0's input clock (the MPS2 APB clock QEMU models).
pub const TICK_HZ: u32 = 25_000_000;

/// The `-icount shift` the project's measurements use (64 ns per instruction).
// Used by the boot report and the board checks; the product reports ticks and the host converts.
#[cfg_attr(
    not(any(feature = "boot-report", feature = "board-check")),
    allow(dead_code)
)]
pub const ICOUNT_SHIFT: u32 = 6;

/// Instructions executed in `ticks` timer ticks under `-icount shift=shift`:
/// ticks × 10^9 / (TICK_HZ × 2^shift) = ticks × 40 / 2^shift.
#[cfg_attr(
    not(any(feature = "boot-report", feature = "board-check")),
    allow(dead_code)
)]
pub const fn ticks_to_instructions(ticks: u64, shift: u32) -> u64 {
    (ticks * 40) >> shift
}

/// The free-running TIMER0.
pub struct Timer0 {
    regs: Regs,
}

impl Timer0 {
    /// Base address of TIMER0's register block.
    pub const BASE: usize = 0x4000_0000;

    /// Starts the timer counting down from 0xFFFF_FFFF, reloading there on wrap.
    pub(super) fn new() -> Self {
        let regs = Regs::new(Self::BASE);
        regs.write(CTRL, 0);
        regs.write(RELOAD, u32::MAX);
        regs.write(VALUE, u32::MAX);
        regs.write(CTRL, CTRL_ENABLE);
        Self { regs }
    }

    /// Ticks since the timer started (modulo 2^32); subtract two readings with `wrapping_sub`.
    pub fn ticks(&self) -> u32 {
        !self.regs.read(VALUE)
    }
}

impl embedded_hal::delay::DelayNs for Timer0 {
    /// Busy-waits at least `ns` nanoseconds of the timer's (virtual, under `-icount`) time.
    fn delay_ns(&mut self, ns: u32) {
        // 25 ticks per µs: round up so the wait is never shorter than asked.
        let mut remaining = (u64::from(ns) * u64::from(TICK_HZ)).div_ceil(1_000_000_000);
        let mut last = self.ticks();
        while remaining > 0 {
            let now = self.ticks();
            let step = u64::from(now.wrapping_sub(last));
            last = now;
            remaining = remaining.saturating_sub(step);
        }
    }
}
