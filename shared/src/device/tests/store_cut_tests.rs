//! The template store cut during a garbage collection (found by the QEMU power-cut campaign,
//! `tests/tests/power_cut.rs`, seed 3, trial 33): an enrolment that closes the store's last page
//! migrates the oldest page's items into the next one, then erases the old page. Cut in between,
//! the map held the copied templates twice, and until its next write `count` (`Info`), `List`
//! and `Identify` saw the duplicates: `Info` said 4 templates for 3 people.

use crate::device::mem_flash::ERASE_SIZE;
use crate::device::store::{self, Counter};
use crate::device::{MemFlash, PowerCut};
use std::collections::BTreeSet;

const PAGES: usize = 16;
const TAG: &[u8; 8] = b"model-a1";

fn template(seed: usize) -> Vec<i8> {
    (0..128).map(|i| (i * 7 + seed * 31) as i8).collect()
}

/// The partly written page and its erased bytes (the map's markers: a page's first and last
/// byte, marked with at least 4 zero bits).
fn open_page(mem: &[u8]) -> Option<(usize, usize)> {
    let marked = |b: u8| b.count_zeros() >= 4;
    mem.chunks(ERASE_SIZE).enumerate().find_map(|(p, page)| {
        (marked(page[0]) && !marked(page[ERASE_SIZE - 1])).then(|| {
            let data = &page[4..ERASE_SIZE - 4];
            (p, data.iter().rev().take_while(|&&b| b == 0xFF).count())
        })
    })
}

/// Three templates in page 0, then counter writes until the partly written page is the one
/// before the last free page and has no room for a template: the next insert migrates page 0.
fn worn_store() -> Vec<u8> {
    let mut mem = vec![0xFFu8; PAGES * ERASE_SIZE];
    let mut flash = MemFlash::new(&mut mem, None);
    for (i, id) in ["ann", "bob", "cy"].into_iter().enumerate() {
        store::insert(&mut flash, id, TAG, &template(i)).unwrap();
    }
    for n in 1.. {
        let mut flash = MemFlash::new(&mut mem, None);
        store::set_counter(&mut flash, Counter::Nonce, n).unwrap();
        if let Some((page, free)) = open_page(&mem) {
            if page == PAGES - 2 && free < 140 {
                return mem;
            }
        }
        assert!(n < 10_000, "the store never wrapped");
    }
    unreachable!()
}

fn ids(mem: &mut [u8]) -> Vec<String> {
    let mut flash = MemFlash::new(mem, None);
    let mut ids = Vec::new();
    store::for_each(&mut flash, |id, _| ids.push(id.as_str().to_string())).unwrap();
    ids
}

#[test]
fn an_insert_cut_during_the_garbage_collection_never_lists_a_template_twice() {
    let worn = worn_store();
    let power = PowerCut::never();
    let mut whole = worn.clone();
    store::insert(
        &mut MemFlash::new(&mut whole, Some(&power)),
        "dee",
        TAG,
        &template(3),
    )
    .unwrap();
    let ops = power.operations();
    assert!(
        ops > 100,
        "the insert migrated page 0 ({ops} flash operations)"
    );
    for cut in 0..ops {
        let mut mem = worn.clone();
        let power = PowerCut::after(cut);
        let result = store::insert(
            &mut MemFlash::new(&mut mem, Some(&power)),
            "dee",
            TAG,
            &template(3),
        );
        assert!(result.is_err(), "cut {cut}: acknowledged");
        // The restart: reads first, as Info and List do.
        let listed = ids(&mut mem);
        let unique: BTreeSet<&String> = listed.iter().collect();
        assert_eq!(unique.len(), listed.len(), "cut {cut}: {listed:?}");
        let mut flash = MemFlash::new(&mut mem, None);
        assert_eq!(
            store::count(&mut flash),
            Ok(listed.len() as u16),
            "cut {cut}"
        );
        for (i, id) in ["ann", "bob", "cy"].into_iter().enumerate() {
            let t = store::get(&mut flash, id).unwrap().unwrap();
            assert_eq!(t.values[..], template(i)[..], "cut {cut}: {id}");
        }
        if let Some(dee) = store::get(&mut flash, "dee").unwrap() {
            assert_eq!(
                dee.values[..],
                template(3)[..],
                "cut {cut}: a torn template visible"
            );
        }
        // A retry (or the next change) still works, and then nothing is listed twice either.
        let _ = store::insert(&mut flash, "dee", TAG, &template(3));
        assert_eq!(ids(&mut mem).len(), 4, "cut {cut}");
    }
}
