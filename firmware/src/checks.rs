//! The board's own checks (`--features board-check`), driven over UART0 by
//! scripts/board_check.py: one command byte in, one text line out per check.
//!
//! - `t`: the cost counter against a loop of known length (2 instructions per iteration);
//! - `e` + u32 LE length + bytes: receives a burst, replies with its length, CRC-32 and ticks
//!   (nothing lost at QEMU's one-byte receive buffer?);
//! - `n`: the NOR rules on the first store page (erase to 0xFF, a program only clears bits,
//!   misaligned and out-of-bounds requests refused);
//! - `w` + seed byte: erases the store and programs a pattern from the seed; `r`: CRC-32 of the
//!   store (the host compares across two QEMU runs);
//! - `k`: erases the store, then programs word i = i + 1 for ever (the host kills QEMU with
//!   `kill -9` mid-way and checks that the file holds a prefix of whole words);
//! - `o`: recurses until the stack overflows: the stack guard must stop the emulation;
//! - `m`: the memory figures (layout, statics, stack peak); `q`: exit.

use crate::board::{timer, Board, NorPartition};
use crate::layout::Layout;
use embedded_io::{Read, Write};
use embedded_storage::nor_flash::{NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash};
use facegate_shared::blob::crc32::crc32;

/// Iterations of the calibration loop (2 instructions each).
const LOOP_ITERATIONS: u32 = 1_000_000;

type Uart = crate::board::Uart0;

fn line(uart: &mut Uart, args: core::fmt::Arguments<'_>) {
    // The UART's writes cannot fail; a formatting error would be a bug in this file.
    let _ = uart.write_fmt(args);
    let _ = uart.write_all(b"\n");
}

fn read_exact(uart: &mut Uart, buf: &mut [u8]) -> bool {
    uart.read_exact(buf).is_ok()
}

/// Runs commands until `q`.
pub fn run(board: Board, arena: &'static mut [u8]) -> ! {
    let Board {
        mut uart,
        timer,
        mut flash,
        ..
    } = board;
    line(
        &mut uart,
        format_args!("board-check ready persistent={}", flash.persistent),
    );
    loop {
        let mut cmd = [0u8; 1];
        if !read_exact(&mut uart, &mut cmd) {
            line(&mut uart, format_args!("error uart"));
            continue;
        }
        match cmd[0] {
            b't' => {
                let start = timer.ticks();
                spin(LOOP_ITERATIONS);
                let ticks = timer.ticks().wrapping_sub(start);
                line(
                    &mut uart,
                    format_args!(
                        "timer loop_instructions={} ticks={ticks} instructions_at_shift6={}",
                        2 * LOOP_ITERATIONS,
                        timer::ticks_to_instructions(u64::from(ticks), timer::ICOUNT_SHIFT)
                    ),
                );
            }
            b'e' => burst(&mut uart, &timer, arena),
            b'n' => nor_rules(&mut uart, &mut flash.store),
            b'w' => {
                let mut seed = [0u8; 1];
                if read_exact(&mut uart, &mut seed) {
                    let ok = write_pattern(&mut flash.store, seed[0]).is_ok();
                    line(&mut uart, format_args!("written ok={ok}"));
                }
            }
            b'r' => {
                let crc = crc32(flash.store.mapped());
                line(&mut uart, format_args!("store crc=0x{crc:08x}"));
            }
            b'k' => count_forever(&mut uart, &mut flash.store),
            b'm' => memory(&mut uart),
            b'o' => {
                line(&mut uart, format_args!("overflowing"));
                let depth = recurse(u32::MAX);
                line(
                    &mut uart,
                    format_args!("error no overflow at depth {depth}"),
                );
            }
            b'q' => crate::board::exit(true),
            other => line(
                &mut uart,
                format_args!("error unknown command 0x{other:02x}"),
            ),
        }
    }
}

/// `n` iterations of `subs; bne`: 2n instructions, plus a few around it.
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop; it touches no memory and no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack)
        );
    }
}

fn burst(uart: &mut Uart, timer: &crate::board::Timer0, buf: &mut [u8]) {
    let mut len = [0u8; 4];
    if !read_exact(uart, &mut len) {
        return line(uart, format_args!("error uart"));
    }
    let len = u32::from_le_bytes(len) as usize;
    let start = timer.ticks();
    let Some(dst) = buf.get_mut(..len) else {
        return line(uart, format_args!("error burst longer than {}", buf.len()));
    };
    let ok = read_exact(uart, dst);
    let ticks = timer.ticks().wrapping_sub(start);
    line(
        uart,
        format_args!(
            "burst ok={ok} bytes={len} crc=0x{:08x} ticks={ticks}",
            crc32(dst)
        ),
    );
}

fn kind<E: NorFlashError>(r: Result<(), E>) -> Option<NorFlashErrorKind> {
    r.err().map(|e| e.kind())
}

fn nor_rules(uart: &mut Uart, store: &mut NorPartition) {
    let erased = store.erase(0, 4096).is_ok() && store.mapped()[..4096].iter().all(|&b| b == 0xFF);
    let _ = store.write(0, &[0x0F, 0xF0, 0xFF, 0x00]);
    let _ = store.write(0, &[0xF0, 0xF0, 0x0F, 0xFF]);
    let mut word = [0u8; 4];
    let _ = store.read(0, &mut word);
    let and_only = word == [0x00, 0xF0, 0x0F, 0x00];
    let misaligned = kind(store.write(2, &[0; 4])) == Some(NorFlashErrorKind::NotAligned)
        && kind(store.write(0, &[0; 3])) == Some(NorFlashErrorKind::NotAligned)
        && kind(store.erase(100, 4096)) == Some(NorFlashErrorKind::NotAligned);
    let cap = store.capacity() as u32;
    let out_of_bounds = kind(store.write(cap, &[0; 4])) == Some(NorFlashErrorKind::OutOfBounds)
        && kind(store.erase(cap, cap + 4096)) == Some(NorFlashErrorKind::OutOfBounds)
        && kind(store.read(cap - 2, &mut word)) == Some(NorFlashErrorKind::OutOfBounds);
    let reerased = store.erase(0, 4096).is_ok() && store.mapped()[..4] == [0xFF; 4];
    line(
        uart,
        format_args!(
            "nor erased={erased} and_only={and_only} misaligned={misaligned} \
             out_of_bounds={out_of_bounds} reerased={reerased}"
        ),
    );
}

fn pattern_word(seed: u8, i: usize) -> u32 {
    (i as u32).wrapping_mul(0x9E37_79B9) ^ u32::from(seed).wrapping_mul(0x0101_0101)
}

fn write_pattern(store: &mut NorPartition, seed: u8) -> Result<(), crate::board::nor::NorError> {
    let cap = store.capacity() as u32;
    store.erase(0, cap)?;
    for i in 0..store.capacity() / 4 {
        store.write((i * 4) as u32, &pattern_word(seed, i).to_le_bytes())?;
    }
    Ok(())
}

fn count_forever(uart: &mut Uart, store: &mut NorPartition) -> ! {
    let cap = store.capacity() as u32;
    let ok = store.erase(0, cap).is_ok();
    line(uart, format_args!("counting erased={ok}"));
    loop {
        for i in 0..cap / 4 {
            if store.write(i * 4, &(i + 1).to_le_bytes()).is_err() {
                line(uart, format_args!("error write {i}"));
            }
            if i % 1024 == 1023 {
                line(uart, format_args!("counted {}", i + 1));
            }
        }
        // Full: start over on an erased store (the host kills long before).
        let _ = store.erase(0, cap);
    }
}

/// 64 bytes of frame per level, kept by `black_box`: overflows the stack long before `n` ends.
#[inline(never)]
fn recurse(n: u32) -> u32 {
    let frame = core::hint::black_box([n; 16]);
    if n == 0 {
        return 0;
    }
    recurse(n - 1).wrapping_add(core::hint::black_box(frame[3]))
}

fn memory(uart: &mut Uart) {
    let l = Layout::get();
    line(
        uart,
        format_args!(
            "memory code_used={} code_capacity={} slot_a={} slot_b={} store={} boot={} \
             factory_model={} ram={} statics={} stack={} stack_peak={}",
            l.code_used.len(),
            l.code.len(),
            l.slot_a.len(),
            l.slot_b.len(),
            l.store.len(),
            l.boot.len(),
            l.factory_model.len(),
            l.ram.len(),
            l.statics.len(),
            l.stack.len(),
            crate::layout::stack_peak()
        ),
    );
}
