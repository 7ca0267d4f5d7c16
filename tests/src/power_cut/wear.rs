//! Wearing the template store to the edge of a garbage collection, reading its page states from
//! the flash file, and the small tools of the harness (a seeded generator, a monotone search).

use facegate::device::client::Client;
use std::path::Path;

/// The flash file's first byte is the NOR at this address (firmware/README.md).
const FILE_BASE: usize = 0x1_8000;
/// The template store partition (`STORE` in `firmware/memory/mps2-an386.x`).
const STORE_START: usize = 0x6_8000;
/// Its erase pages.
pub const STORE_PAGES: usize = 16;
const PAGE: usize = 4096;
/// Bytes of one nonce-counter item (8-byte header, 1-byte key + 8-byte value padded to 12):
/// what each `Challenge` appends to the store.
const NONCE_ITEM: usize = 20;
/// Bytes of a template item (header, key, tag, 128 values) are at least this.
const TEMPLATE_ITEM_MIN: usize = 8 + 2 + 8 + 128;

/// `sequential-storage`'s page state from its first and last byte (half a byte of zeros marks).
fn marked(byte: u8) -> bool {
    byte.count_zeros() >= 4
}

/// The partly written page of the store in `image` (a whole flash file) and the erased bytes at
/// its end before the closing word.
pub fn open_page(image: &[u8]) -> Option<(usize, usize)> {
    let store = image.get(STORE_START - FILE_BASE..STORE_START - FILE_BASE + STORE_PAGES * PAGE)?;
    store.chunks(PAGE).enumerate().find_map(|(p, page)| {
        (marked(page[0]) && !marked(page[PAGE - 1])).then(|| {
            let data = &page[4..PAGE - 4];
            (p, data.iter().rev().take_while(|&&b| b == 0xFF).count())
        })
    })
}

/// Sends `Challenge`s (each persists the nonce counter: one small item) until the store's last
/// free page is the next to be used and the partly written page before it has room for the
/// one `Challenge` of the trial's session but not for a template: the next enrolment then
/// closes it, opens the last free page and migrates the oldest page (the one holding the
/// prepared templates) into it, then erases that page. Returns the challenges sent.
pub fn wear_to_migration(client: &mut Client, flash: &Path) -> usize {
    for sent in 0..20_000 {
        let image = std::fs::read(flash).expect("read the flash file");
        if let Some((page, free)) = open_page(&image) {
            let window = NONCE_ITEM + 4..TEMPLATE_ITEM_MIN + NONCE_ITEM - 8;
            if page == STORE_PAGES - 2 && window.contains(&free) {
                return sent;
            }
        }
        client.challenge().expect("Challenge");
    }
    panic!("the store never reached the edge of a garbage collection");
}

/// A small deterministic generator (splitmix64): a seed reproduces a run's cut points.
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The smallest `n >= lo` for which the monotone `pred` holds: `hint` first (two probes when
/// it is right), else doubling from `lo`, then bisecting.
pub fn smallest(lo: u32, hint: Option<u32>, mut pred: impl FnMut(u32) -> bool) -> u32 {
    if let Some(h) = hint.filter(|&h| h > lo) {
        if pred(h) && !pred(h - 1) {
            return h;
        }
    }
    if pred(lo) {
        return lo;
    }
    let (mut no, mut step) = (lo, 1u32);
    let mut yes = loop {
        let n = lo.saturating_add(step);
        if pred(n) {
            break n;
        }
        assert!(step < 1 << 24, "never reached");
        no = n;
        step *= 2;
    };
    while yes - no > 1 {
        let mid = no + (yes - no) / 2;
        if pred(mid) {
            yes = mid;
        } else {
            no = mid;
        }
    }
    yes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_finds_every_threshold_with_and_without_a_hint() {
        for lo in [0u32, 3, 5] {
            for t in lo..lo + 70 {
                for hint in [None, Some(t), Some(t + 1), Some(lo + 1)] {
                    assert_eq!(smallest(lo, hint, |n| n >= t), t, "lo {lo} t {t} {hint:?}");
                }
            }
        }
    }

    #[test]
    fn the_open_page_and_its_free_bytes_are_read_from_the_markers() {
        let mut image = vec![0xFF; 0x7_A000 - FILE_BASE];
        assert_eq!(
            open_page(&image),
            None,
            "an erased store has no partly written page"
        );
        let at = |p: usize| STORE_START - FILE_BASE + p * PAGE;
        image[at(0)] = 0; // page 0 closed
        image[at(0) + PAGE - 1] = 0;
        image[at(1)] = 0; // page 1 partly written: 100 bytes of items
        image[at(1) + 4..at(1) + 104].fill(0x12);
        assert_eq!(open_page(&image), Some((1, PAGE - 8 - 100)));
    }
}
