//! The QEMU `mps2-an386` board: the only module that touches registers or semihosting.
//!
//! [`Board::take`] hands out, once, UART0 as an `embedded-io` byte stream ([`Uart0`]), TIMER0 as
//! the cost counter and delay ([`Timer0`]) and the NOR flash's partitions ([`Flash`]), each an
//! `embedded-storage` `NorFlash`; the rest of the firmware is generic over those traits.
//!
//! Options come from the semihosting command line (`-semihosting-config
//! enable=on,target=native,arg=facegate,arg=--flash,arg=PATH`):
//! - `--flash PATH`: back the NOR flash with the host file PATH (created erased, with the factory
//!   model in slot A, if missing). Without it the flash lives in RAM only and every boot starts
//!   from a fresh chip.
//! - `--pipe-in PATH --pipe-out PATH`: also open two host FIFOs as a fast byte stream
//!   ([`pipe::HostPipe`]); the product then serves the protocol there instead of on UART0.
//! - `--cut-after N`: simulate a power cut (stop the emulation) when a flash operation is about to
//!   start after N page erases and word programs have completed.

mod guard;
mod mmio;
pub mod nor;
pub mod pipe;
mod semihost;
pub mod timer;
pub mod uart;

use crate::layout::Layout;
pub use nor::NorPartition;
pub use timer::Timer0;
/// The app's cost counter on this board.
#[cfg(not(any(feature = "boot-report", feature = "board-check")))]
pub use timer::Timer0 as CostCounter;
pub use uart::Uart0;

use core::sync::atomic::{AtomicBool, Ordering};
use semihost::HostFile;

/// The NOR flash, split into its disjoint partitions (memory/mps2-an386.x).
// The boot report reads slot A only, the board checks the store only; the device application
// uses every partition.
#[cfg_attr(
    any(feature = "boot-report", feature = "board-check"),
    allow(dead_code)
)]
pub struct Flash {
    /// Model slot A (160 KiB).
    pub slot_a: NorPartition,
    /// Model slot B (160 KiB).
    pub slot_b: NorPartition,
    /// The template store (64 KiB).
    pub store: NorPartition,
    /// The boot record (8 KiB).
    pub boot: NorPartition,
    /// Whether the flash persists across runs (a backing file was given).
    pub persistent: bool,
}

/// The board's peripherals.
pub struct Board {
    /// UART0: the protocol's byte stream.
    pub uart: Uart0,
    /// TIMER0: the cost counter.
    pub timer: Timer0,
    /// The NOR flash.
    pub flash: Flash,
    /// The host FIFOs, if `--pipe-in` and `--pipe-out` were given (the product serves there).
    #[cfg_attr(
        any(feature = "boot-report", feature = "board-check"),
        allow(dead_code)
    )]
    pub pipe: Option<pipe::HostPipe>,
}

/// Why the board could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoardError {
    /// `take` was called twice.
    Taken,
    /// The semihosting command line is longer than the firmware's buffer or malformed.
    CommandLine,
    /// The backing file exists but its length is not the flash's (another layout's image).
    FlashFileSize {
        /// The file's length.
        found: usize,
        /// The flash's length.
        expected: usize,
    },
    /// The backing file could not be created, read or written.
    FlashFile,
    /// `--pipe-in`/`--pipe-out` given alone, or a FIFO could not be opened.
    Pipe,
}

impl core::fmt::Display for BoardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Taken => f.write_str("the board was already taken"),
            Self::CommandLine => f.write_str("semihosting command line too long or malformed"),
            Self::FlashFileSize { found, expected } => write!(
                f,
                "flash file is {found} bytes, this firmware's flash is {expected}: \
                 delete it to start from an erased chip"
            ),
            Self::FlashFile => f.write_str("flash file could not be created, read or written"),
            Self::Pipe => f.write_str("--pipe-in and --pipe-out need each other and two FIFOs"),
        }
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);

/// Longest semihosting command line accepted (the flash path is part of it).
const CMDLINE_BYTES: usize = 256;

impl Board {
    /// Starts the peripherals and loads the flash (from its backing file if one is given).
    pub fn take() -> Result<Self, BoardError> {
        if TAKEN.swap(true, Ordering::AcqRel) {
            return Err(BoardError::Taken);
        }
        guard::arm();
        let mut cmdline = [0u8; CMDLINE_BYTES];
        let options =
            Options::parse(semihost::command_line(&mut cmdline).ok_or(BoardError::CommandLine)?)?;
        if let Some(ops) = options.cut_after {
            nor::arm_power_cut(ops);
        }
        let file = match options.flash_path {
            Some(path) => Some(load_flash(&c_path(path)?)?),
            None => {
                erase_outside_factory_model();
                None
            }
        };
        let pipe = match (options.pipe_in, options.pipe_out) {
            (Some(input), Some(output)) => Some(
                pipe::HostPipe::open(&c_path(input)?, &c_path(output)?).ok_or(BoardError::Pipe)?,
            ),
            (None, None) => None,
            _ => return Err(BoardError::Pipe),
        };
        Ok(Self {
            uart: Uart0::new(),
            timer: Timer0::new(),
            flash: partitions(file),
            pipe,
        })
    }
}

/// `path` with a NUL appended, for semihosting.
fn c_path(path: &[u8]) -> Result<[u8; CMDLINE_BYTES + 1], BoardError> {
    let mut name = [0u8; CMDLINE_BYTES + 1];
    name.get_mut(..path.len())
        .ok_or(BoardError::CommandLine)?
        .copy_from_slice(path);
    Ok(name)
}

/// The options on the semihosting command line.
struct Options<'a> {
    flash_path: Option<&'a [u8]>,
    pipe_in: Option<&'a [u8]>,
    pipe_out: Option<&'a [u8]>,
    cut_after: Option<u32>,
}

impl<'a> Options<'a> {
    fn parse(cmdline: &'a [u8]) -> Result<Self, BoardError> {
        let mut options = Options {
            flash_path: None,
            pipe_in: None,
            pipe_out: None,
            cut_after: None,
        };
        let mut words = cmdline.split(|&b| b == b' ').filter(|w| !w.is_empty());
        while let Some(word) = words.next() {
            match word {
                b"--flash" => {
                    options.flash_path = Some(words.next().ok_or(BoardError::CommandLine)?)
                }
                b"--pipe-in" => {
                    options.pipe_in = Some(words.next().ok_or(BoardError::CommandLine)?)
                }
                b"--pipe-out" => {
                    options.pipe_out = Some(words.next().ok_or(BoardError::CommandLine)?)
                }
                b"--cut-after" => {
                    let n = words.next().ok_or(BoardError::CommandLine)?;
                    let n = core::str::from_utf8(n).map_err(|_| BoardError::CommandLine)?;
                    options.cut_after = Some(n.parse().map_err(|_| BoardError::CommandLine)?);
                }
                // argv[0] (the kernel's path) and anything meant for someone else.
                _ => {}
            }
        }
        Ok(options)
    }
}

/// The whole NOR range as one mutable byte slice, for loading and creating the image at boot.
fn nor_memory() -> &'static mut [u8] {
    let nor = Layout::get().nor;
    // SAFETY: called only from `Board::take` (once, guarded by TAKEN) before any partition
    // exists; the range is board flash memory that no Rust object occupies.
    unsafe { core::slice::from_raw_parts_mut(nor.start as *mut u8, nor.len()) }
}

/// A fresh chip: every page erased, except the factory model the programmer wrote into slot A.
fn erase_outside_factory_model() {
    let layout = Layout::get();
    let keep = layout.factory_model.end - layout.nor.start;
    nor_memory().iter_mut().skip(keep).for_each(|b| *b = 0xFF);
}

/// Opens the backing file and loads it into the flash memory, or creates it from a fresh chip.
fn load_flash(path: &[u8]) -> Result<HostFile, BoardError> {
    let memory = nor_memory();
    if let Some(file) = HostFile::open_existing(path) {
        let found = file.len().map_err(|_| BoardError::FlashFile)?;
        if found != memory.len() {
            return Err(BoardError::FlashFileSize {
                found,
                expected: memory.len(),
            });
        }
        file.read_at(0, memory).map_err(|_| BoardError::FlashFile)?;
        return Ok(file);
    }
    erase_outside_factory_model();
    let file = HostFile::create(path).ok_or(BoardError::FlashFile)?;
    file.write_at(0, memory)
        .map_err(|_| BoardError::FlashFile)?;
    Ok(file)
}

fn partitions(file: Option<HostFile>) -> Flash {
    let layout = Layout::get();
    let part = |r: crate::layout::Region| {
        NorPartition::new(
            r.start,
            r.len(),
            file.map(|f| (f, r.start - layout.nor.start)),
        )
    };
    Flash {
        slot_a: part(layout.slot_a),
        slot_b: part(layout.slot_b),
        store: part(layout.store),
        boot: part(layout.boot),
        persistent: file.is_some(),
    }
}

/// A line on the host's stderr (semihosting), not on the protocol's UART.
pub fn log(args: core::fmt::Arguments<'_>) {
    cortex_m_semihosting::heprintln!("{}", args);
}

/// Reports a panic on the host's stdout (the e2e test looks for `firmware panic: `).
pub fn panic_report(info: &core::panic::PanicInfo<'_>) {
    cortex_m_semihosting::hprintln!("firmware panic: {}", info);
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
