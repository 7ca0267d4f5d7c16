//! Fuzz body: the template store ([`crate::device::store`]) over a corrupted flash image.
//!
//! The input is [`PARAMS`] bytes that choose a scenario, an id, a model tag and a template, then
//! the image of a [`PAGES`]-page store on small pages ([`super::nor`]; missing bytes are erased flash, `0xFF`). The body mounts
//! (lists) the store as the device does at every call (there is no state in RAM), runs one
//! scenario, and checks:
//!
//! - listing, counting, the per-id visits and every counter read return `Ok` or the typed
//!   [`StoreError`], never panic, and agree with each other (`list`'s total is `count`, a page
//!   holds at most [`LIST_PAGE`] ids, every visited id at most [`ID_MAX`] bytes);
//! - an acknowledged insert (the id removed first if it was there, as the device does) reads
//!   back equal, tag and values; after an acknowledged remove the id is gone;
//! - an acknowledged counter write reads back; a counter set to 0 reads 0.
//!
//! Writes may fail on a corrupt image (`StoreError`: the device answers `Storage`); what they
//! must not do is lose or invent data they acknowledged.

use super::nor::{small_page_flash, SmallPageFlash, PAGE};
use crate::device::store::{self, Counter, StoreError, Template};
use crate::protocol::{IdPage, EMBEDDING_MAX, ID_MAX, LIST_PAGE};

/// Pages of the fuzzed store (the map's minimum is two): room for about nine templates and
/// the map's spare page.
pub const PAGES: usize = 4;
/// Bytes of the fuzzed store ([`PAGES`] pages of [`PAGE`] bytes: see [`super::nor`]).
pub const IMAGE_LEN: usize = PAGES * PAGE;
/// Bytes before the image: id, tag, template length, template seed.
pub const PARAMS: usize = 4;

/// The ids the body inserts: one byte, a typical one, the longest, and one a seed image holds.
const IDS: [&str; 4] = ["a", "fuzz", "sixteen-byte-id!", "alice"];

/// What one input does after mounting (the first parameter byte's top two bits): one scenario
/// per input keeps the target fast (every store call scans the image: there is no RAM state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Everything the device reads: counts, visits, gets of the listed ids, counters.
    Read,
    /// Enrol: remove the id if present, insert, read back.
    Insert,
    /// Delete: remove, check gone.
    Remove,
    /// A counter: set, read back, clear, read back.
    Counter,
}

/// Runs one input: mounts (lists) the image, then one [`Scenario`] on it.
pub fn store(data: &[u8]) {
    let (params, image) = data.split_at(data.len().min(PARAMS));
    let param = |i: usize| params.get(i).copied().unwrap_or(0);
    let mut mem = [0xFFu8; IMAGE_LEN];
    let n = image.len().min(IMAGE_LEN);
    mem[..n].copy_from_slice(&image[..n]);
    let mut flash = small_page_flash(&mut mem);

    let listed = store::list(&mut flash, 0);
    if let Ok(page) = &listed {
        assert!(page.ids.len() <= LIST_PAGE.min(usize::from(page.total)));
        assert!(page.ids.iter().all(|id| id.len() <= ID_MAX));
    }
    let id = IDS[usize::from(param(0) & 3) % IDS.len()];
    let scenario = [
        Scenario::Read,
        Scenario::Insert,
        Scenario::Remove,
        Scenario::Counter,
    ][usize::from(param(0) >> 6)];
    match scenario {
        Scenario::Read => read_everything(&mut flash, listed),
        Scenario::Insert => insert_reads_back(&mut flash, id, param(1), param(2), param(3)),
        Scenario::Remove => {
            if store::remove(&mut flash, id).is_ok() {
                assert_eq!(store::get(&mut flash, id), Ok(None), "a removed id is gone");
            }
        }
        Scenario::Counter => {
            let which = [
                Counter::Nonce,
                Counter::IdentifyFailures,
                Counter::VerifyFailures(id),
                Counter::Nonce,
            ][usize::from(param(1) & 3)];
            let value = u64::from_le_bytes([param(1), param(2), param(3), 0, 0, 0, 0, 1]);
            if store::set_counter(&mut flash, which, value).is_ok() {
                assert_eq!(store::counter(&mut flash, which), Ok(value), "{which:?}");
            }
            if store::set_counter(&mut flash, which, 0).is_ok() {
                assert_eq!(
                    store::counter(&mut flash, which),
                    Ok(0),
                    "{which:?} cleared"
                );
            }
        }
    }
}

/// As the device enrols: an existing id is deleted first; an acknowledged insert reads back.
fn insert_reads_back(flash: &mut SmallPageFlash<'_>, id: &str, tag: u8, len: u8, seed: u8) {
    let tag = [tag; store::TAG_LEN];
    let len = 1 + usize::from(len) % EMBEDDING_MAX;
    let mut values = [0i8; EMBEDDING_MAX];
    for (i, v) in values[..len].iter_mut().enumerate() {
        *v = (seed as i8).wrapping_add(i as i8);
    }
    let values = &values[..len];
    let free = match store::get(flash, id) {
        Ok(Some(_)) => store::remove(flash, id).is_ok(),
        Ok(None) => true,
        Err(StoreError) => false,
    };
    if free && store::insert(flash, id, &tag, values).is_ok() {
        let want = Template {
            tag,
            values: values.iter().copied().collect(),
        };
        assert_eq!(
            store::get(flash, id),
            Ok(Some(want)),
            "an acknowledged insert reads back"
        );
        if let Ok(page) = store::list(flash, 0) {
            assert!(page.total >= 1, "an acknowledged insert is counted");
        }
    }
}

/// Every read the device does at start and for `List`, `Info`, `Verify` and `Identify`.
fn read_everything(flash: &mut SmallPageFlash<'_>, listed: Result<IdPage, StoreError>) {
    let counted = store::count(flash);
    match (&listed, counted) {
        (Ok(page), Ok(count)) => assert_eq!(page.total, count, "list and count agree"),
        (Err(StoreError), Err(StoreError)) => {}
        (listed, counted) => panic!("list {listed:?} but count {counted:?}"),
    }
    if let Ok(page) = &listed {
        for id in page.ids.iter().take(2) {
            let _ = store::get(flash, id);
        }
        let _ = store::list(flash, u16::from(page.total > 0));
    }
    let _ = store::for_each(flash, |id, value| {
        assert!(id.len() <= ID_MAX, "id {id:?}");
        let _ = store::split_value(value);
    });
    let _ = store::for_each_failing(flash, |id, _| {
        assert!(id.len() <= ID_MAX, "id {id:?}");
    });
    let _ = store::counter(flash, Counter::Nonce);
    let _ = store::counter(flash, Counter::IdentifyFailures);
}
