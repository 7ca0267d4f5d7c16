//! Writing a new model into the inactive slot: `ModelBegin` / `ModelChunk` / `ModelCommit`.
//!
//! Chunks must arrive in order. Bytes are programmed as they come, a word at a time; a partial
//! word waits in [`Update::tail`] for the next chunk (or is padded with `0xFF` at the commit).
//! Pages are erased lazily, just before the first word programmed into them, so `ModelBegin` is
//! instant and a 158 KB blob erases 39 pages. Nothing here touches the active slot or the boot
//! record: only [`super::boot::write`] at the end of a successful commit switches.

use super::Partition;
use crate::protocol::{ErrorCode, Slot, CHUNK_MAX};

/// Largest write word supported (`sequential-storage`'s limit too).
pub const MAX_WORD: usize = 32;

/// An update in progress.
#[derive(Debug, Clone)]
pub struct Update {
    /// The slot being written.
    pub slot: Slot,
    /// Announced length.
    pub len: u32,
    /// Announced CRC-32.
    pub crc: u32,
    /// Bytes programmed (a multiple of the write word).
    written: u32,
    /// Bytes of the slot erased from its start (a multiple of the erase page).
    erased: u32,
    /// Bytes received but not yet programmed (fewer than a word).
    tail: [u8; MAX_WORD],
    tail_len: usize,
}

impl Update {
    /// Starts an update of `len` bytes into `slot`, whose partition holds `capacity` bytes.
    pub fn begin<P: Partition>(
        slot: Slot,
        len: u32,
        crc: u32,
        capacity: usize,
    ) -> Result<Self, ErrorCode> {
        let header = crate::blob::HEADER_LEN as u32;
        if P::WRITE_SIZE > MAX_WORD || len < header || len as usize > capacity {
            return Err(ErrorCode::ModelSize {
                max: capacity as u32,
            });
        }
        Ok(Self {
            slot,
            len,
            crc,
            written: 0,
            erased: 0,
            tail: [0xFF; MAX_WORD],
            tail_len: 0,
        })
    }

    /// The next expected offset.
    pub fn next(&self) -> u32 {
        self.written + self.tail_len as u32
    }

    /// Writes one chunk.
    pub fn chunk<P: Partition>(
        &mut self,
        flash: &mut P,
        offset: u32,
        bytes: &[u8],
    ) -> Result<u32, ErrorCode> {
        if offset != self.next() {
            return Err(ErrorCode::OutOfOrder {
                expected: self.next(),
            });
        }
        if bytes.len() > CHUNK_MAX || u64::from(offset) + bytes.len() as u64 > u64::from(self.len) {
            return Err(ErrorCode::ChunkSize);
        }
        let word = P::WRITE_SIZE;
        let mut data = bytes;
        if self.tail_len > 0 {
            let take = (word - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len == word {
                self.flush_tail(flash)?;
            }
        }
        let whole = data.len() / word * word;
        if whole > 0 {
            self.program(flash, &data[..whole])?;
        }
        let rest = &data[whole..];
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len += rest.len();
        Ok(self.next())
    }

    /// Programs the last partial word (padded with `0xFF`) once every byte has arrived.
    pub fn finish<P: Partition>(&mut self, flash: &mut P) -> Result<(), ErrorCode> {
        if self.next() != self.len {
            return Err(ErrorCode::ModelIncomplete {
                received: self.next(),
            });
        }
        if self.tail_len > 0 {
            self.tail[self.tail_len..].fill(0xFF);
            self.tail_len = P::WRITE_SIZE;
            self.flush_tail(flash)?;
        }
        Ok(())
    }

    fn flush_tail<P: Partition>(&mut self, flash: &mut P) -> Result<(), ErrorCode> {
        let word = self.tail;
        self.program(flash, &word[..P::WRITE_SIZE])?;
        self.tail = [0xFF; MAX_WORD];
        self.tail_len = 0;
        Ok(())
    }

    /// Programs whole words at `written`, erasing the pages they reach first.
    fn program<P: Partition>(&mut self, flash: &mut P, words: &[u8]) -> Result<(), ErrorCode> {
        let end = self.written + words.len() as u32;
        while self.erased < end {
            let page = P::ERASE_SIZE as u32;
            flash
                .erase(self.erased, self.erased + page)
                .map_err(|_| ErrorCode::Storage)?;
            self.erased += page;
        }
        flash
            .write(self.written, words)
            .map_err(|_| ErrorCode::Storage)?;
        self.written = end;
        Ok(())
    }
}
