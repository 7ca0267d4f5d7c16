//! Statically allocated buffers handed out once as `&'static mut`: the firmware has no heap, and
//! its large buffers (activation arena, frame, protocol buffers) must be counted in the RAM
//! statics rather than appear on the stack.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A zero-initialised buffer in `.bss` that can be taken exactly once.
pub struct StaticBuffer<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
    taken: AtomicBool,
}

// SAFETY: the only access to `bytes` is the `&mut` that `take` hands out once (guarded by the
// atomic flag), so no two threads or interrupts can reach it at the same time.
unsafe impl<const N: usize> Sync for StaticBuffer<N> {}

impl<const N: usize> StaticBuffer<N> {
    /// A zeroed buffer (placed in `.bss`).
    pub const fn new() -> Self {
        Self {
            bytes: UnsafeCell::new([0; N]),
            taken: AtomicBool::new(false),
        }
    }

    /// The buffer, the first time only.
    // `&self` → `&mut`: sound because the flag hands the buffer out once (see the Sync impl).
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut [u8; N]> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the flag above makes this the only reference ever created to `bytes`.
        Some(unsafe { &mut *self.bytes.get() })
    }
}
