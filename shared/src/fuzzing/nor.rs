//! The small-page NOR flash of the store target: [`MemFlash`](crate::device::MemFlash)'s
//! rules (erase to `0xFF`, aligned 4-byte programs that only clear bits, anything out of bounds
//! or misaligned refused) on [`PAGE`]-byte pages instead of 4 KiB ones.
//!
//! The store is generic over its flash's geometry. With small pages a short input is a whole
//! multi-page store, so the fuzzer reaches page states, page changes and garbage collection.
//! Each store call also scans far fewer bytes of a corrupt image, which is about 8× faster.

use crate::device::MemFlash;

/// Erase page.
pub const PAGE: usize = 512;

/// [`MemFlash`] on [`PAGE`]-byte pages, never cut.
pub type SmallPageFlash<'a> = MemFlash<'a, PAGE>;

/// A small-page flash whose contents are `mem` (a whole number of pages).
pub fn small_page_flash(mem: &mut [u8]) -> SmallPageFlash<'_> {
    MemFlash::with_page_size(mem, None)
}
