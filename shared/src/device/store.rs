//! The template store: a power-fail-safe key-value map on NOR flash (`sequential-storage`).
//!
//! Key: the person's id (a length byte and its UTF-8). Value: the 8-byte tag of the model that
//! made the template (the first 8 bytes of its `model_id`) and the int8 template. A template from
//! another model is *stale*: `Verify` refuses it and `Identify` skips it.
//!
//! An id is stored at most once: enrolment refuses an existing id and nothing overwrites a
//! template's key, so the map's template items are the templates (the map's garbage collection
//! copies only the newest item of a key and redoes an interrupted migration on a fresh page).
//!
//! The same map holds the device's own counters ([`Counter`]: the admin nonce counter and the
//! attempt limit's rejection counts), 8-byte values under keys no id can have; they are
//! overwritten (the newest item of a key is its value) and [`for_each`] skips them. Each is an
//! item of at most 34 bytes; the counts of the ids exist only while they are non-zero.
//!
//! The map is async; a small adapter (`Blocking`) gives it the blocking flash, and every call
//! runs to completion in `embassy_futures::block_on` (flash operations never pend).
//!
//! Capacity: an item is an 8-byte header, the key (≤ 17 bytes), the tag and a 128-byte
//! template, ≤ 161 bytes padded to the word: about 25 per 4 KiB page, so the 100 templates of
//! [`super::TEMPLATE_CAPACITY`] take 4 of the QEMU board's 16 pages, the rest is the map's
//! room for garbage collection.

use super::Partition;
use crate::protocol::{IdPage, PersonId, EMBEDDING_MAX, ID_MAX};
use embassy_futures::block_on;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{Key, MapConfig, MapStorage, SerializationError};

/// Bytes of the model tag before each template.
pub const TAG_LEN: usize = 8;

/// A model's tag: the first [`TAG_LEN`] bytes of its id.
pub type ModelTag = [u8; TAG_LEN];

/// Bytes of the scratch buffer for one item: key, tag and template, rounded up to 32-byte words.
const ITEM_BUF: usize = (1 + ID_MAX + TAG_LEN + EMBEDDING_MAX).div_ceil(32) * 32;

/// The store's failure (the flash's, or a corrupt map).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreError;

/// A stored template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The model that made it.
    pub tag: ModelTag,
    /// Its values (the model's embedding length).
    pub values: heapless::Vec<i8, EMBEDDING_MAX>,
}

/// The map's key: a person's id (their template), or one of the device's own records.
///
/// A person's key is its id's length (1..=[`ID_MAX`]) and UTF-8, as before the device had
/// records of its own; a record's key starts with a byte above [`ID_MAX`], so no id can
/// collide with one and [`for_each`] sees templates only.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreKey {
    /// A template.
    Person(PersonId),
    /// The admin nonce counter ([`super::auth`]).
    NonceCounter,
    /// Consecutive rejected `Verify`s of an id ([`super::attempts`]).
    VerifyFailures(PersonId),
    /// Consecutive rejected `Identify` probes.
    IdentifyFailures,
}

const NONCE_KEY: u8 = 0xF1;
const VERIFY_FAILURES_KEY: u8 = 0xF2;
const IDENTIFY_FAILURES_KEY: u8 = 0xF3;

fn put_id(buffer: &mut [u8], at: usize, id: &PersonId) -> Result<usize, SerializationError> {
    let bytes = id.as_bytes();
    let out = buffer
        .get_mut(at..at + 1 + bytes.len())
        .ok_or(SerializationError::BufferTooSmall)?;
    out[0] = bytes.len() as u8;
    out[1..].copy_from_slice(bytes);
    Ok(at + 1 + bytes.len())
}

fn take_id(buffer: &[u8], at: usize) -> Result<(PersonId, usize), SerializationError> {
    let len = usize::from(*buffer.get(at).ok_or(SerializationError::BufferTooSmall)?);
    let bytes = buffer
        .get(at + 1..at + 1 + len)
        .ok_or(SerializationError::BufferTooSmall)?;
    let text = core::str::from_utf8(bytes).map_err(|_| SerializationError::InvalidFormat)?;
    let id = PersonId::try_from(text).map_err(|_| SerializationError::InvalidFormat)?;
    Ok((id, at + 1 + len))
}

fn put_tag(buffer: &mut [u8], tag: u8) -> Result<usize, SerializationError> {
    *buffer
        .first_mut()
        .ok_or(SerializationError::BufferTooSmall)? = tag;
    Ok(1)
}

impl Key for StoreKey {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        match self {
            Self::Person(id) => put_id(buffer, 0, id),
            Self::NonceCounter => put_tag(buffer, NONCE_KEY),
            Self::VerifyFailures(id) => {
                put_tag(buffer, VERIFY_FAILURES_KEY)?;
                put_id(buffer, 1, id)
            }
            Self::IdentifyFailures => put_tag(buffer, IDENTIFY_FAILURES_KEY),
        }
    }

    fn deserialize_from(buffer: &[u8]) -> Result<(Self, usize), SerializationError> {
        match *buffer.first().ok_or(SerializationError::BufferTooSmall)? {
            NONCE_KEY => Ok((Self::NonceCounter, 1)),
            IDENTIFY_FAILURES_KEY => Ok((Self::IdentifyFailures, 1)),
            VERIFY_FAILURES_KEY => {
                take_id(buffer, 1).map(|(id, end)| (Self::VerifyFailures(id), end))
            }
            len if usize::from(len) <= ID_MAX => {
                take_id(buffer, 0).map(|(id, end)| (Self::Person(id), end))
            }
            _ => Err(SerializationError::InvalidFormat),
        }
    }
}

/// `embedded-storage-async`'s NOR traits over a blocking flash.
struct Blocking<'f, P>(&'f mut P);

impl<P: Partition> embedded_storage_async::nor_flash::ErrorType for Blocking<'_, P> {
    type Error = P::Error;
}

impl<P: Partition> embedded_storage_async::nor_flash::ReadNorFlash for Blocking<'_, P> {
    const READ_SIZE: usize = P::READ_SIZE;
    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), P::Error> {
        self.0.read(offset, bytes)
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

impl<P: Partition> embedded_storage_async::nor_flash::NorFlash for Blocking<'_, P> {
    const WRITE_SIZE: usize = P::WRITE_SIZE;
    const ERASE_SIZE: usize = P::ERASE_SIZE;
    async fn erase(&mut self, from: u32, to: u32) -> Result<(), P::Error> {
        self.0.erase(from, to)
    }
    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), P::Error> {
        self.0.write(offset, bytes)
    }
}

impl<P: Partition> embedded_storage_async::nor_flash::MultiwriteNorFlash for Blocking<'_, P> {}

type Map<'f, P> =
    MapStorage<StoreKey, Blocking<'f, P>, Cache<Uncached, Uncached, Uncached, StoreKey>>;

fn map<P: Partition>(flash: &mut P) -> Result<Map<'_, P>, StoreError> {
    let end = u32::try_from(flash.capacity()).map_err(|_| StoreError)?;
    let config = MapConfig::try_new(0..end).map_err(|_| StoreError)?;
    Ok(MapStorage::new(
        Blocking(flash),
        config,
        Cache::new_uncached(),
    ))
}

fn key(id: &str) -> Result<StoreKey, StoreError> {
    PersonId::try_from(id)
        .map(StoreKey::Person)
        .map_err(|_| StoreError)
}

/// The template of `id`, if stored.
pub fn get<P: Partition>(flash: &mut P, id: &str) -> Result<Option<Template>, StoreError> {
    let mut buf = [0u8; ITEM_BUF];
    let key = key(id)?;
    let mut map = map(flash)?;
    let value: Option<&[u8]> = block_on(map.fetch_item(&mut buf, &key)).map_err(|_| StoreError)?;
    value.map(decode).transpose()
}

fn decode(value: &[u8]) -> Result<Template, StoreError> {
    let (tag, values) = value.split_at_checked(TAG_LEN).ok_or(StoreError)?;
    let values = values
        .iter()
        .map(|&b| b as i8)
        .collect::<heapless::Vec<i8, EMBEDDING_MAX>>();
    let tag = tag.try_into().map_err(|_| StoreError)?;
    // More than EMBEDDING_MAX values cannot have been stored by `insert`.
    (values.len() + TAG_LEN == value.len())
        .then_some(Template { tag, values })
        .ok_or(StoreError)
}

/// Stores `values` under `id`, tagged `tag` (the caller has checked that `id` is new).
pub fn insert<P: Partition>(
    flash: &mut P,
    id: &str,
    tag: &ModelTag,
    values: &[i8],
) -> Result<(), StoreError> {
    let mut value = [0u8; TAG_LEN + EMBEDDING_MAX];
    let len = TAG_LEN + values.len();
    let slot = value.get_mut(..len).ok_or(StoreError)?;
    slot[..TAG_LEN].copy_from_slice(tag);
    slot[TAG_LEN..]
        .iter_mut()
        .zip(values)
        .for_each(|(b, &v)| *b = v as u8);
    let mut buf = [0u8; ITEM_BUF];
    let key = key(id)?;
    let mut map = map(flash)?;
    let item: &[u8] = &value[..len];
    block_on(map.store_item(&mut buf, &key, &item)).map_err(|_| StoreError)?;
    // The map checks only that an item's header word is erased before it writes there: over
    // bytes that are not (a corrupt or half-programmed store), the item reads back corrupt and
    // is skipped. Acknowledge only what reads back.
    match get(flash, id)? {
        Some(t) if t.tag == *tag && t.values[..] == *values => Ok(()),
        _ => Err(StoreError),
    }
}

/// Removes `id`'s template (every copy of it) and its attempt record.
pub fn remove<P: Partition>(flash: &mut P, id: &str) -> Result<(), StoreError> {
    let mut buf = [0u8; ITEM_BUF];
    let key = key(id)?;
    let mut map = map(flash)?;
    block_on(map.remove_item(&mut buf, &key)).map_err(|_| StoreError)?;
    if get(flash, id)?.is_some() {
        return Err(StoreError);
    }
    if let StoreKey::Person(id) = key {
        set_record(flash, &StoreKey::VerifyFailures(id), 0)?;
    }
    Ok(())
}

/// One of the device's own counters ([`StoreKey`]'s records), 0 when absent.
fn record<P: Partition>(flash: &mut P, key: &StoreKey) -> Result<u64, StoreError> {
    let mut buf = [0u8; ITEM_BUF];
    let mut map = map(flash)?;
    let value: Option<&[u8]> = block_on(map.fetch_item(&mut buf, key)).map_err(|_| StoreError)?;
    match value {
        None => Ok(0),
        Some(bytes) => bytes
            .try_into()
            .map(u64::from_le_bytes)
            .map_err(|_| StoreError),
    }
}

/// Sets a counter; 0 removes the record (none is written if there was none).
fn set_record<P: Partition>(flash: &mut P, key: &StoreKey, value: u64) -> Result<(), StoreError> {
    if value == 0 && record(flash, key)? == 0 {
        return Ok(());
    }
    let mut buf = [0u8; ITEM_BUF];
    let mut map = map(flash)?;
    if value == 0 {
        return block_on(map.remove_item(&mut buf, key)).map_err(|_| StoreError);
    }
    let item: &[u8] = &value.to_le_bytes();
    block_on(map.store_item(&mut buf, key, &item)).map_err(|_| StoreError)?;
    // As for a template (see `insert`): acknowledge only what reads back.
    if record(flash, key)? == value {
        Ok(())
    } else {
        Err(StoreError)
    }
}

/// Which counter of the device's own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter<'a> {
    /// The admin nonce counter: nonces issued so far.
    Nonce,
    /// Consecutive rejected `Verify`s of this id.
    VerifyFailures(&'a str),
    /// Consecutive rejected `Identify` probes.
    IdentifyFailures,
}

impl Counter<'_> {
    fn key(self) -> Result<StoreKey, StoreError> {
        Ok(match self {
            Self::Nonce => StoreKey::NonceCounter,
            Self::VerifyFailures(id) => {
                StoreKey::VerifyFailures(PersonId::try_from(id).map_err(|_| StoreError)?)
            }
            Self::IdentifyFailures => StoreKey::IdentifyFailures,
        })
    }
}

/// A counter's value (0 when never set).
pub fn counter<P: Partition>(flash: &mut P, which: Counter<'_>) -> Result<u64, StoreError> {
    record(flash, &which.key()?)
}

/// Sets a counter (power-safe like a template: the old or the new value survives a cut).
pub fn set_counter<P: Partition>(
    flash: &mut P,
    which: Counter<'_>,
    value: u64,
) -> Result<(), StoreError> {
    set_record(flash, &which.key()?, value)
}

/// Whether a garbage collection of the map was cut: its partly written page is followed by a
/// page that is not erased (the one being migrated), so the items copied so far are in the map
/// twice, and its item list shows both until the map redoes the migration (on its next write:
/// the check `store_item` makes before writing). Page states are `sequential-storage` 8's
/// markers: a page's first and last byte, set when at least 4 of its bits are 0.
fn migration_cut<P: Partition>(flash: &P) -> bool {
    let (mapped, page) = (flash.mapped(), P::ERASE_SIZE);
    let marked = |at: usize| mapped.get(at).is_some_and(|b| b.count_zeros() >= 4);
    let state = |p: usize| (marked(p * page), marked(p * page + page - 1));
    let pages = mapped.len() / page;
    (0..pages)
        .find(|&p| state(p) == (true, false))
        .is_some_and(|p| state((p + 1) % pages) != (false, false))
}

/// Before the map's items are listed: finishes a cut garbage collection ([`migration_cut`]) by
/// writing the nonce counter again with its value, a write the map repairs before.
fn settle<P: Partition>(flash: &mut P) -> Result<(), StoreError> {
    if !migration_cut(flash) {
        return Ok(());
    }
    let value = record(flash, &StoreKey::NonceCounter)?;
    let mut buf = [0u8; ITEM_BUF];
    let mut map = map(flash)?;
    let item: &[u8] = &value.to_le_bytes();
    block_on(map.store_item(&mut buf, &StoreKey::NonceCounter, &item)).map_err(|_| StoreError)
}

/// Calls `visit` with every id's consecutive `Verify` rejections (non-zero ones only).
pub fn for_each_failing<P: Partition>(
    flash: &mut P,
    mut visit: impl FnMut(&PersonId, u64),
) -> Result<(), StoreError> {
    settle(flash)?;
    let mut buf = [0u8; ITEM_BUF];
    let mut map = map(flash)?;
    block_on(async {
        let mut items = map
            .fetch_all_items(&mut buf)
            .await
            .map_err(|_| StoreError)?;
        let mut item_buf = [0u8; ITEM_BUF];
        while let Some((key, value)) = items
            .next::<&[u8]>(&mut item_buf)
            .await
            .map_err(|_| StoreError)?
        {
            if let (StoreKey::VerifyFailures(id), Ok(bytes)) = (key, <[u8; 8]>::try_from(value)) {
                visit(&id, u64::from_le_bytes(bytes));
            }
        }
        Ok(())
    })
}

/// Calls `visit` with every stored id and value (tag ‖ template), in store order, each once
/// (a garbage collection cut by a power loss is finished first: [`settle`]).
pub fn for_each<P: Partition>(
    flash: &mut P,
    mut visit: impl FnMut(&PersonId, &[u8]),
) -> Result<(), StoreError> {
    settle(flash)?;
    let mut buf = [0u8; ITEM_BUF];
    let mut map = map(flash)?;
    block_on(async {
        let mut items = map
            .fetch_all_items(&mut buf)
            .await
            .map_err(|_| StoreError)?;
        let mut item_buf = [0u8; ITEM_BUF];
        while let Some((key, value)) = items
            .next::<&[u8]>(&mut item_buf)
            .await
            .map_err(|_| StoreError)?
        {
            if let StoreKey::Person(id) = key {
                visit(&id, value);
            }
        }
        Ok(())
    })
}

/// The ids from the `start`-th on (store order), at most a page, and the total.
pub fn list<P: Partition>(flash: &mut P, start: u16) -> Result<IdPage, StoreError> {
    let mut page = IdPage {
        total: 0,
        ids: heapless::Vec::new(),
    };
    for_each(flash, |id, _| {
        if page.total >= start {
            // A full page ignores the rest; they are still counted.
            let _ = page.ids.push(id.clone());
        }
        page.total = page.total.saturating_add(1);
    })?;
    Ok(page)
}

/// Templates stored.
pub fn count<P: Partition>(flash: &mut P) -> Result<u16, StoreError> {
    let mut n = 0u16;
    for_each(flash, |_, _| n = n.saturating_add(1))?;
    Ok(n)
}

/// Decodes a visited value into its tag and template bytes.
pub fn split_value(value: &[u8]) -> Option<(&[u8], &[u8])> {
    value.split_at_checked(TAG_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MemFlash;

    /// Found by the store fuzz target (`shared/fuzz/corpus/store/regression-dirty-free-space`):
    /// one zero byte in the erased space after the last item. The map wrote the next item over
    /// it (only the header word is checked for erased), the item read back corrupt, and the
    /// insert had been acknowledged. Now it is refused, and a retry lands after the bad item.
    #[test]
    fn an_insert_over_dirty_free_space_is_refused_not_lost() {
        let mut mem = std::vec![0xFFu8; 2 * crate::device::mem_flash::ERASE_SIZE];
        let template: std::vec::Vec<i8> = (0..128).map(|i| i as i8).collect();
        let mut flash = MemFlash::new(&mut mem, None);
        insert(&mut flash, "alice", b"model-a1", &template).unwrap();
        // The next item's header goes at the first erased word after alice's item; its data
        // (the key first) follows the 8-byte header.
        let header = (1..mem.len() / 4)
            .map(|w| w * 4)
            .find(|&at| mem[at..at + 8].iter().all(|&b| b == 0xFF))
            .unwrap();
        mem[header + 9] = 0;
        let mut flash = MemFlash::new(&mut mem, None);
        assert_eq!(
            insert(&mut flash, "fuzz", b"model-a1", &template),
            Err(StoreError)
        );
        assert_eq!(get(&mut flash, "fuzz"), Ok(None));
        insert(&mut flash, "fuzz", b"model-a1", &template).unwrap();
        assert_eq!(
            get(&mut flash, "fuzz").unwrap().unwrap().values[..],
            template[..]
        );
        assert_eq!(count(&mut flash), Ok(2));
    }
}
