//! The memory map as the linker laid it out (memory/mps2-an386.x, memory/budgets.x), the RAM
//! figures for `Info`, and the painted-stack high-water mark.

/// One region's bounds: `[start, end)` in the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
}

impl Region {
    /// Bytes in the region.
    pub const fn len(&self) -> usize {
        self.end - self.start
    }
}

extern "C" {
    static __code_start: u8;
    static __code_end: u8;
    static __code_limit: u8;
    static __slot_a_start: u8;
    static __slot_a_end: u8;
    static __slot_b_start: u8;
    static __slot_b_end: u8;
    static __store_start: u8;
    static __store_end: u8;
    static __boot_start: u8;
    static __boot_end: u8;
    static __nor_start: u8;
    static __nor_end: u8;
    static __factory_model_start: u8;
    static __factory_model_end: u8;
    static __ram_start: u8;
    static __ram_end: u8;
    // cortex-m-rt: the end of .data/.bss/.uninit and the stack's top.
    static _stack_end: u8;
    static _stack_start: u8;
}

macro_rules! region {
    ($start:ident, $end:ident) => {
        Region {
            start: &raw const $start as usize,
            end: &raw const $end as usize,
        }
    };
}

/// The flash and RAM map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The CODE region's capacity (96 KiB).
    pub code: Region,
    /// What the image uses of it: text, rodata, the .data load image.
    pub code_used: Region,
    /// Model slot A.
    pub slot_a: Region,
    /// Model slot B.
    pub slot_b: Region,
    /// The template store.
    pub store: Region,
    /// The boot record (which slot is active).
    pub boot: Region,
    /// Everything the firmware may erase and program: slot A .. boot record.
    pub nor: Region,
    /// The factory model linked into slot A (empty without the `factory-model` feature).
    pub factory_model: Region,
    /// All of RAM (64 KiB).
    pub ram: Region,
    /// RAM statics: .data, .bss, .uninit (the arena and buffers are statics).
    pub statics: Region,
    /// The stack: what the statics leave, up to the top of RAM.
    pub stack: Region,
}

impl Layout {
    /// The map of this image.
    pub fn get() -> Self {
        Self {
            code: region!(__code_start, __code_limit),
            code_used: region!(__code_start, __code_end),
            slot_a: region!(__slot_a_start, __slot_a_end),
            slot_b: region!(__slot_b_start, __slot_b_end),
            store: region!(__store_start, __store_end),
            boot: region!(__boot_start, __boot_end),
            nor: region!(__nor_start, __nor_end),
            factory_model: region!(__factory_model_start, __factory_model_end),
            ram: region!(__ram_start, __ram_end),
            statics: region!(__ram_start, _stack_end),
            stack: region!(_stack_end, _stack_start),
        }
    }
}

/// Bytes of the no-access guard at the bottom of the stack (QEMU board: an MPU region; an
/// ARMv7-M region is a power of two, aligned to its size).
pub const STACK_GUARD_BYTES: usize = 256;

/// The stack guard: the first [`STACK_GUARD_BYTES`]-aligned block inside the stack region.
/// Nothing may read or write it (the board's MPU faults); the usable stack lies above it.
pub fn stack_guard() -> Region {
    let stack = Layout::get().stack;
    let start = stack.start.next_multiple_of(STACK_GUARD_BYTES);
    Region {
        start,
        end: start + STACK_GUARD_BYTES,
    }
}

/// The word cortex-m-rt paints the free stack with at reset (its `paint-stack` feature).
const PAINT: u32 = 0xCCCC_CCCC;

/// The deepest the stack has been since reset, in bytes from its top: the stack region is
/// painted before `main`, so the lowest word no longer holding the paint marks the high-water
/// point. At most the stack above the guard (a deeper stack faults in the guard). (An
/// overwritten word that happened to be written with the paint value is not seen: the figure is
/// a lower bound by at most the run of such words at the very bottom.)
pub fn stack_peak() -> usize {
    let stack = Layout::get().stack;
    // Above the guard: reading the guard would fault.
    let mut addr = stack_guard().end;
    while addr < stack.end {
        // SAFETY: `addr` is a 4-aligned address inside RAM between the statics and the top of
        // the stack; reading it races with nothing (single core, the words below SP are unused).
        let word = unsafe { core::ptr::read_volatile(addr as *const u32) };
        if word != PAINT {
            break;
        }
        addr += 4;
    }
    stack.end - addr
}
