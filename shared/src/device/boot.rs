//! The boot record: which model slot serves, made power-safe MCUboot-style.
//!
//! The boot partition is two erase pages; each page holds at most one [`BootRecord`] at its
//! start. A record is valid when its magic and CRC are right, and it is *usable* when its slot
//! holds a blob of its length and CRC that [`Model::parse`] accepts. The usable record with the
//! highest sequence number names the active slot ([`select`]). A commit writes the next record
//! (sequence + 1) into the page **not** holding the active one ([`BootState::next_page`]): a cut
//! while erasing or programming that page leaves the active record intact, and a torn record
//! fails its CRC. With no usable record, slot A serves if it holds a valid model (the factory
//! model, version 0).
//!
//! Record layout (32 bytes, little-endian): `"FGBR"`, sequence `u32`, slot `u8` (0 = A, 1 = B),
//! 3 zero bytes, model length `u32`, model CRC-32 `u32`, 8 zero bytes, CRC-32 of bytes 0..28.

use super::Partition;
use crate::blob::{crc32::crc32, Model};
use crate::protocol::Slot;

/// Bytes of a record.
pub const RECORD_LEN: usize = 32;
/// A record's magic.
pub const RECORD_MAGIC: [u8; 4] = *b"FGBR";

/// One boot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRecord {
    /// Increases by one per committed update.
    pub seq: u32,
    /// The slot it activates.
    pub slot: Slot,
    /// The model's length.
    pub len: u32,
    /// The model's CRC-32.
    pub crc: u32,
}

impl BootRecord {
    /// The record's bytes.
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..4].copy_from_slice(&RECORD_MAGIC);
        out[4..8].copy_from_slice(&self.seq.to_le_bytes());
        out[8] = match self.slot {
            Slot::A => 0,
            Slot::B => 1,
        };
        out[12..16].copy_from_slice(&self.len.to_le_bytes());
        out[16..20].copy_from_slice(&self.crc.to_le_bytes());
        let crc = crc32(&out[..28]);
        out[28..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a record; `None` if the bytes are not a valid one (erased, torn, corrupt).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let b: &[u8; RECORD_LEN] = bytes.get(..RECORD_LEN)?.try_into().ok()?;
        let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        if b[..4] != RECORD_MAGIC || word(28) != crc32(&b[..28]) {
            return None;
        }
        let slot = match b[8] {
            0 => Slot::A,
            1 => Slot::B,
            _ => return None,
        };
        Some(Self {
            seq: word(4),
            slot,
            len: word(12),
            crc: word(16),
        })
    }
}

/// The model that serves: where it is and which record (if any) chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    /// Its slot.
    pub slot: Slot,
    /// Its version: the record's sequence number, 0 for the factory model.
    pub version: u32,
    /// The page of the record that chose it (`None`: factory fallback).
    pub page: Option<usize>,
}

/// What the boot partition says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootState {
    /// The serving model, if any.
    pub active: Option<Active>,
    /// Highest sequence number of any valid record (0 if none).
    pub max_seq: u32,
    /// Valid records per page.
    pub records: [Option<BootRecord>; 2],
}

impl BootState {
    /// The page the next record goes to: never the active record's.
    pub fn next_page(&self) -> usize {
        match self.active.and_then(|a| a.page) {
            Some(page) => 1 - page,
            // No active record: overwrite the older (or an invalid) one.
            None => match self.records {
                [None, _] => 0,
                [_, None] => 1,
                [Some(a), Some(b)] => usize::from(a.seq > b.seq),
            },
        }
    }

    /// The slot an update writes: the one not serving (A when nothing serves).
    pub fn inactive_slot(&self) -> Slot {
        self.active.map_or(Slot::A, |a| a.slot.other())
    }
}

/// Whether `slot` holds a blob of length `len` and CRC `crc` that parses.
pub fn slot_holds(slot: &[u8], len: u32, crc: u32) -> bool {
    match slot.get(..len as usize) {
        Some(bytes) => crc32(bytes) == crc && Model::parse(bytes).is_ok(),
        None => false,
    }
}

/// Reads the boot partition and picks the active model.
pub fn select<P: Partition>(boot: &P, slot_a: &P, slot_b: &P) -> BootState {
    let page = P::ERASE_SIZE;
    let mapped = boot.mapped();
    let records = [0, 1].map(|i| mapped.get(i * page..).and_then(BootRecord::decode));
    let max_seq = records.iter().flatten().map(|r| r.seq).max().unwrap_or(0);
    let slot_bytes = |slot: Slot| match slot {
        Slot::A => slot_a.mapped(),
        Slot::B => slot_b.mapped(),
    };
    let mut order = [0usize, 1];
    if let [Some(a), Some(b)] = records {
        if b.seq > a.seq {
            order = [1, 0];
        }
    }
    let active = order
        .into_iter()
        .find_map(|i| {
            let r = records[i]?;
            slot_holds(slot_bytes(r.slot), r.len, r.crc).then_some(Active {
                slot: r.slot,
                version: r.seq,
                page: Some(i),
            })
        })
        .or_else(|| {
            Model::parse(slot_a.mapped()).is_ok().then_some(Active {
                slot: Slot::A,
                version: 0,
                page: None,
            })
        });
    BootState {
        active,
        max_seq,
        records,
    }
}

/// Writes `record` into boot page `page` (erase, then program). A word size above 32 bytes or
/// not dividing [`RECORD_LEN`] is refused by the flash.
pub fn write<P: Partition>(boot: &mut P, page: usize, record: &BootRecord) -> Result<(), P::Error> {
    let from = (page * P::ERASE_SIZE) as u32;
    boot.erase(from, from + P::ERASE_SIZE as u32)?;
    boot.write(from, &record.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_every_bit_flip_is_refused() {
        let record = BootRecord {
            seq: 0x0102_0304,
            slot: Slot::B,
            len: 158_440,
            crc: 0xCAFE_F00D,
        };
        let bytes = record.encode();
        assert_eq!(BootRecord::decode(&bytes), Some(record));
        for bit in 0..RECORD_LEN * 8 {
            let mut torn = bytes;
            torn[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(BootRecord::decode(&torn), None, "bit {bit}");
        }
        // Erased flash, a partly programmed record, too few bytes.
        assert_eq!(BootRecord::decode(&[0xFF; RECORD_LEN]), None);
        let mut partial = [0xFF; RECORD_LEN];
        partial[..24].copy_from_slice(&bytes[..24]);
        assert_eq!(BootRecord::decode(&partial), None);
        assert_eq!(BootRecord::decode(&bytes[..RECORD_LEN - 1]), None);
    }

    #[test]
    fn the_next_record_never_overwrites_the_active_one() {
        let r = |seq| {
            Some(BootRecord {
                seq,
                slot: Slot::A,
                len: 0,
                crc: 0,
            })
        };
        let state = |active_page: Option<usize>, records| BootState {
            active: Some(Active {
                slot: Slot::A,
                version: 0,
                page: active_page,
            }),
            max_seq: 0,
            records,
        };
        let cases = [
            ("active in page 0", state(Some(0), [r(5), r(4)]), 1),
            ("active in page 1", state(Some(1), [r(5), r(4)]), 0),
            ("factory, both pages empty", state(None, [None, None]), 0),
            ("factory, page 0 used", state(None, [r(1), None]), 1),
            ("factory, page 1 older", state(None, [r(3), r(2)]), 1),
            ("factory, page 0 older", state(None, [r(2), r(3)]), 0),
        ];
        for (name, s, want) in cases {
            assert_eq!(s.next_page(), want, "{name}");
        }
    }
}
