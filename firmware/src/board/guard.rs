//! The stack guard: an MPU region that forbids every access to the 256 bytes at the bottom of the
//! stack ([`crate::layout::stack_guard`]), so a stack overflow faults instead of silently running
//! into the statics below (receive buffer, arena, flags).
//!
//! The fault handler cannot use the overflowed stack: written in assembly, it switches the MPU
//! off, moves SP back to the top of RAM and calls [`stack_overflow`], which reports and ends the
//! emulation. A frame that skips the whole guard with one store (a local array over 256 bytes,
//! written low end first) is not caught: the guard catches pushes and small frames.

use super::mmio::Regs;

const MPU_BASE: usize = 0xE000_ED90;
const MPU_CTRL: usize = 0x04;
const MPU_RNR: usize = 0x08;
const MPU_RBAR: usize = 0x0C;
const MPU_RASR: usize = 0x10;
const MPU_CTRL_ENABLE: u32 = 1 << 0;
const MPU_CTRL_PRIVDEFENA: u32 = 1 << 2;
const RASR_ENABLE: u32 = 1 << 0;
const RASR_XN: u32 = 1 << 28;
// AP = 0b000 (no access): bits 26:24 left zero.

const SCB_BASE: usize = 0xE000_ED00;
const SHCSR: usize = 0x24;
const SHCSR_MEMFAULTENA: u32 = 1 << 16;

/// Programs MPU region 0 as the no-access guard and enables the MemManage fault.
pub(super) fn arm() {
    let guard = crate::layout::stack_guard();
    // SIZE field: region bytes = 2^(SIZE + 1).
    let size_field = guard.len().trailing_zeros() - 1;
    let mpu = Regs::new(MPU_BASE);
    mpu.write(MPU_RNR, 0);
    mpu.write(MPU_RBAR, guard.start as u32);
    mpu.write(MPU_RASR, RASR_XN | (size_field << 1) | RASR_ENABLE);
    // The default memory map everywhere else (privileged code, which the firmware is).
    mpu.write(MPU_CTRL, MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE);
    let scb = Regs::new(SCB_BASE);
    scb.write(SHCSR, scb.read(SHCSR) | SHCSR_MEMFAULTENA);
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
}

/// Reports the overflow on the host's stderr and ends the emulation with a failure status.
extern "C" fn stack_overflow() -> ! {
    super::log(format_args!(
        "facegate: stack overflow (the stack guard was hit)"
    ));
    super::exit(false)
}

// cortex-m-rt's vector table calls `MemoryManagement` (its default is `DefaultHandler`).
core::arch::global_asm!(
    ".section .text.MemoryManagement, \"ax\", %progbits",
    ".global MemoryManagement",
    ".type MemoryManagement, %function",
    ".thumb_func",
    "MemoryManagement:",
    "ldr r0, =0xE000ED94", // MPU_CTRL
    "movs r1, #0",
    "str r1, [r0]", // MPU off: the guard no longer faults
    "dsb",
    "isb",
    "ldr r0, =_stack_start",
    "mov sp, r0", // a fresh stack at the top of RAM: this handler never returns
    "b {report}",
    ".ltorg",
    report = sym stack_overflow,
);
