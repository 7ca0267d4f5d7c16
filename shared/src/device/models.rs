//! The model update commands: `ModelBegin`, `ModelChunk` and `ModelCommit`, whose checks keep the
//! old model serving unless the new one is whole, parses, is signed by the trusted key and is
//! not older ([`super::trust::check_update`]).

use super::app::{active_model, Device};
use super::boot::{self, BootRecord};
use super::update::Update;
use super::{trust, Partition, Platform};
use crate::blob::{crc32::crc32, BlobError, Model};
use crate::protocol::*;

impl<P: Partition, B: Platform> Device<P, B> {
    pub(super) fn model_begin(&mut self, len: u32, crc: u32) -> Result<Response, ErrorCode> {
        self.update = None;
        let slot = self.boot.inactive_slot();
        let capacity = self.parts.slot(slot).capacity();
        self.update = Some(Update::begin::<P>(slot, len, crc, capacity)?);
        Ok(Response::ModelBegun { slot })
    }

    pub(super) fn model_chunk(&mut self, offset: u32, bytes: &[u8]) -> Result<Response, ErrorCode> {
        let update = self.update.as_mut().ok_or(ErrorCode::NoUpdate)?;
        let flash = self.parts.slot_mut(update.slot);
        match update.chunk(flash, offset, bytes) {
            Ok(next) => Ok(Response::ModelChunk { next }),
            Err(ErrorCode::Storage) => {
                // The slot is in an unknown state: the host must start over.
                self.update = None;
                Err(ErrorCode::Storage)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn model_commit(&mut self) -> Result<Response, ErrorCode> {
        let mut update = self.update.take().ok_or(ErrorCode::NoUpdate)?;
        let slot = update.slot;
        if let Err(e) = update.finish(self.parts.slot_mut(slot)) {
            if matches!(e, ErrorCode::ModelIncomplete { .. }) {
                self.update = Some(update);
            }
            return Err(e);
        }
        let bytes = self
            .parts
            .slot(slot)
            .mapped()
            .get(..update.len as usize)
            .ok_or(ErrorCode::ModelInvalid)?;
        if crc32(bytes) != update.crc {
            return Err(ErrorCode::ModelCrc);
        }
        let candidate = Model::parse(bytes).map_err(|e| match e {
            BlobError::Truncated { .. } => ErrorCode::ModelTruncated,
            _ => ErrorCode::ModelInvalid,
        })?;
        let installed =
            active_model(&self.parts, &self.boot).map_or(0, |m| m.header().model_version);
        let start = self.board.now();
        trust::check_update(&candidate, &self.keys.model_key, installed)?;
        let cost = self.board.now().wrapping_sub(start);
        let record = BootRecord {
            seq: self.boot.max_seq.wrapping_add(1),
            slot,
            len: update.len,
            crc: update.crc,
        };
        let page = self.boot.next_page();
        let written = boot::write(&mut self.parts.boot, page, &record);
        // Whatever happened, the flash says which model serves now.
        self.boot = boot::select(&self.parts.boot, &self.parts.slot_a, &self.parts.slot_b);
        written.map_err(|_| ErrorCode::Storage)?;
        self.check_cost = Some((slot, cost));
        self.model_info().map(Response::ModelCommitted)
    }
}
