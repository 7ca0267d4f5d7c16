//! The nRF52840 board (`--features board-nrf52840`; e.g. the nRF52840-DK): the real-part
//! counterpart of the QEMU board module, with the same API, in one file.
//!
//! - UARTE0 (TX P0.06, RX P0.08: the DK's J-Link virtual COM port), 115,200 baud, 8N1, as one
//!   `embedded-io` stream over nrf52840-hal's `UarteTx`/`UarteRx` halves.
//! - The cost counter is the DWT cycle counter (real silicon has it; 64 MHz core cycles).
//! - The NOR flash is the NVMC through nrf52840-hal's `Nvmc` (`NorFlash` + `MultiwriteNorFlash`,
//!   4 KiB pages, 4-byte words), one instance per partition of memory/mps2-an386.x: the same map
//!   fits the part's 1 MiB of flash and its RAM is budgeted at 64 KiB as on QEMU. probe-rs
//!   writes the code and the factory model (slot A) and leaves the other pages as they were.
//! - No semihosting: `log` is silent, `exit` and a panic reset the chip.
//! - Not yet here: the QEMU board's MPU stack guard (src/board/guard.rs) and a way to see logs
//!   (RTT); the stack is still painted and measured.
//!
//! Compile-checked only (`cargo check --release --features board-nrf52840`); not run on a board
//! by this project yet.

use crate::layout::{Layout, Region};
use crate::statics::StaticBuffer;
use core::sync::atomic::{AtomicBool, Ordering};
use embedded_storage::nor_flash::{ErrorType, MultiwriteNorFlash, NorFlash, ReadNorFlash};
use nrf52840_hal::{
    gpio::{p0, Level},
    nvmc::{Nvmc, NvmcError},
    pac,
    uarte::{self, Baudrate, Parity, Pins, Uarte, UarteRx, UarteTx},
};

/// The transmit and receive DMA buffers the HAL needs (EasyDMA reads and writes RAM only).
static UART_TX_BUF: StaticBuffer<64> = StaticBuffer::new();
static UART_RX_BUF: StaticBuffer<1> = StaticBuffer::new();

/// UARTE0 as one byte stream.
pub struct Uart0 {
    tx: UarteTx<pac::UARTE0>,
    rx: UarteRx<pac::UARTE0>,
}

impl embedded_io::ErrorType for Uart0 {
    type Error = uarte::Error;
}

impl embedded_io::Read for Uart0 {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.rx.read(buf)
    }
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.tx.write(buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.tx.flush()
    }
}

/// The DWT cycle counter (64 MHz): ticks for the app's cost figures.
pub struct CostCounter;

impl CostCounter {
    /// Core cycles since the counter was enabled (modulo 2^32).
    pub fn ticks(&self) -> u32 {
        cortex_m::peripheral::DWT::cycle_count()
    }
}

/// One partition of the flash: the HAL's NVMC driver over its pages.
pub struct NorPartition {
    nvmc: Nvmc<pac::NVMC>,
    region: Region,
}

impl NorPartition {
    /// The whole partition, memory-mapped, read in place.
    pub fn mapped(&self) -> &[u8] {
        // SAFETY: the region is this partition's flash, only written through `self.nvmc`, which
        // needs `&mut self`: no write can happen while the returned borrow of `self` lives.
        unsafe { core::slice::from_raw_parts(self.region.start as *const u8, self.region.len()) }
    }
}

impl ErrorType for NorPartition {
    type Error = NvmcError;
}

impl ReadNorFlash for NorPartition {
    const READ_SIZE: usize = <Nvmc<pac::NVMC> as ReadNorFlash>::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NvmcError> {
        self.nvmc.read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.nvmc.capacity()
    }
}

impl NorFlash for NorPartition {
    const WRITE_SIZE: usize = <Nvmc<pac::NVMC> as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <Nvmc<pac::NVMC> as NorFlash>::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), NvmcError> {
        self.nvmc.erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NvmcError> {
        self.nvmc.write(offset, bytes)
    }
}

/// The nRF52840 allows two writes per word between erases, and the HAL says so.
impl MultiwriteNorFlash for NorPartition {}

/// The flash partitions.
pub struct Flash {
    /// Model slot A.
    pub slot_a: NorPartition,
    /// Model slot B.
    pub slot_b: NorPartition,
    /// The template store.
    pub store: NorPartition,
    /// The boot record.
    pub boot: NorPartition,
    /// Always true: this is flash.
    pub persistent: bool,
}

/// The board's peripherals.
pub struct Board {
    /// UARTE0.
    pub uart: Uart0,
    /// The cycle counter.
    pub timer: CostCounter,
    /// The NVMC's partitions.
    pub flash: Flash,
    /// No host FIFOs on a board (the QEMU board's `--pipe-in`/`--pipe-out`).
    pub pipe: Option<NoPipe>,
}

/// The type of the absent host pipe: never constructed.
pub enum NoPipe {}

impl embedded_io::ErrorType for NoPipe {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for NoPipe {
    fn read(&mut self, _buf: &mut [u8]) -> Result<usize, Self::Error> {
        match *self {}
    }
}

impl embedded_io::Write for NoPipe {
    fn write(&mut self, _buf: &[u8]) -> Result<usize, Self::Error> {
        match *self {}
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        match *self {}
    }
}

/// Why the board could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoardError {
    /// `take` was called twice.
    Taken,
    /// The UARTE could not be split into its halves.
    Uart,
}

impl core::fmt::Display for BoardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Taken => "the board was already taken",
            Self::Uart => "UARTE0 could not be started",
        })
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);

fn partition(region: Region) -> NorPartition {
    // SAFETY: one NVMC driver per disjoint partition. The NVMC is a single register block;
    // each driver uses it only inside its own (blocking, run-to-completion) calls, and the
    // firmware is single-threaded, so the instances never interleave.
    let nvmc = unsafe { pac::Peripherals::steal() }.NVMC;
    // SAFETY: the region is page-aligned flash (checked by memory/budgets.x) that no Rust
    // object occupies; each partition gets its own range, once (`take` is guarded by TAKEN).
    let storage = unsafe { core::slice::from_raw_parts_mut(region.start as *mut u8, region.len()) };
    NorPartition {
        nvmc: Nvmc::new(nvmc, storage),
        region,
    }
}

impl Board {
    /// Starts UARTE0, the cycle counter and the flash partitions.
    pub fn take() -> Result<Self, BoardError> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return Err(BoardError::Taken);
        }
        let p = pac::Peripherals::take().ok_or(BoardError::Taken)?;
        let mut core = cortex_m::Peripherals::take().ok_or(BoardError::Taken)?;
        core.DCB.enable_trace();
        core.DWT.enable_cycle_counter();
        let port0 = p0::Parts::new(p.P0);
        let pins = Pins {
            txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
            rxd: port0.p0_08.into_floating_input().degrade(),
            cts: None,
            rts: None,
        };
        let uarte = Uarte::new(p.UARTE0, pins, Parity::EXCLUDED, Baudrate::BAUD115200);
        let (Some(tx_buf), Some(rx_buf)) = (UART_TX_BUF.take(), UART_RX_BUF.take()) else {
            return Err(BoardError::Taken);
        };
        let (tx, rx) = uarte.split(tx_buf, rx_buf).map_err(|_| BoardError::Uart)?;
        let layout = Layout::get();
        Ok(Self {
            uart: Uart0 { tx, rx },
            timer: CostCounter,
            flash: Flash {
                slot_a: partition(layout.slot_a),
                slot_b: partition(layout.slot_b),
                store: partition(layout.store),
                boot: partition(layout.boot),
                persistent: true,
            },
            pipe: None,
        })
    }
}

/// No host to log to on the board.
pub fn log(_args: core::fmt::Arguments<'_>) {}

/// No host to report a panic to on the board.
pub fn panic_report(_info: &core::panic::PanicInfo<'_>) {}

/// Resets the chip (there is no session to end on a board).
pub fn exit(_success: bool) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}
