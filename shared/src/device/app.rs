//! The command loop: reads frames from the byte stream, answers each request.
//!
//! [`Device::serve`] reads one byte at a time into the receive buffer until a `0x00`, decodes the
//! frame in place, handles it ([`Device::handle`]) and streams the response back, COBS-encoded
//! from the same buffer (there is no transmit buffer). Malformed input of any kind is answered
//! with [`Response::Error`]; the loop never panics and never stops on bad input.

use super::boot::{self, BootRecord, BootState};
use super::update::Update;
use super::{embed, store, Partition, Partitions, Platform};
use crate::blob::{crc32::crc32, Model};
use crate::protocol::*;

/// Templates the store accepts (`Info` reports it).
pub const TEMPLATE_CAPACITY: u16 = 100;
/// Most frames one enrolment averages.
pub const MAX_ENROLL_FRAMES: u16 = 64;

/// Why [`Device::serve`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeError<E> {
    /// The receive buffer is shorter than [`MAX_FRAME`].
    RxBuffer,
    /// Reading the stream failed.
    Read(E),
    /// Writing the stream failed.
    Write(E),
}

/// An enrolment being accumulated.
#[derive(Debug, Clone)]
pub(super) struct Enrolment {
    pub id: PersonId,
    pub tag: store::ModelTag,
    pub frames: u16,
    pub sum: [i32; EMBEDDING_MAX],
}

/// The device application.
#[derive(Debug)]
pub struct Device<P, B> {
    pub(super) parts: Partitions<P>,
    pub(super) board: B,
    pub(super) boot: BootState,
    pub(super) update: Option<Update>,
    pub(super) enrolment: Option<Enrolment>,
}

/// The serving model, parsed in place from its slot.
pub(super) fn active_model<'p, P: Partition>(
    parts: &'p Partitions<P>,
    boot: &BootState,
) -> Result<Model<'p>, ErrorCode> {
    let active = boot.active.ok_or(ErrorCode::NoModel)?;
    Model::parse(parts.slot(active.slot).mapped()).map_err(|_| ErrorCode::NoModel)
}

/// The tag templates made by `model` carry.
pub(super) fn model_tag(model: &Model<'_>) -> store::ModelTag {
    let id = model.header().model_id;
    [id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]]
}

impl<P: Partition, B: Platform> Device<P, B> {
    /// Starts the application on the board's flash: reads the boot record and picks the active
    /// model (never fails: with no model, model commands answer [`ErrorCode::NoModel`]).
    pub fn new(parts: Partitions<P>, board: B) -> Self {
        let boot = boot::select(&parts.boot, &parts.slot_a, &parts.slot_b);
        Self {
            parts,
            board,
            boot,
            update: None,
            enrolment: None,
        }
    }

    /// Gives the flash and the board back (a simulated power cut drops the device and builds a
    /// new one from the same flash).
    pub fn into_parts(self) -> (Partitions<P>, B) {
        (self.parts, self.board)
    }

    /// The boot record's view: active slot and version.
    pub fn boot_state(&self) -> &BootState {
        &self.boot
    }

    /// Serves requests until the stream ends (`read` returns 0). `rx` must hold [`MAX_FRAME`]
    /// bytes; `arena` the model's arena (32,832 bytes for the release model).
    pub fn serve<U: embedded_io::Read + embedded_io::Write>(
        &mut self,
        uart: &mut U,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<(), ServeError<U::Error>> {
        if rx.len() < MAX_FRAME {
            return Err(ServeError::RxBuffer);
        }
        let mut reader = FrameReader::new(rx);
        loop {
            let mut byte = [0u8];
            match uart.read(&mut byte) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(ServeError::Read(e)),
            }
            let response_len = match reader.push(byte[0]) {
                None => continue,
                Some(Ok(n)) => {
                    let response = self.handle(reader.buffer(), n, arena);
                    encode_payload(&response, reader.buffer())
                }
                Some(Err(e)) => encode_payload(&Response::Error(e.code()), reader.buffer()),
            };
            // A response always fits the receive buffer (the largest, a full List, is 1.7 KB).
            let len = response_len.unwrap_or(0);
            write_payload(uart, &reader.buffer()[..len]).map_err(ServeError::Write)?;
        }
    }

    /// Decodes the frame `rx[..len]` (encoded, delimiter excluded) in place and answers it.
    /// `rx` beyond the frame and `arena` are scratch.
    pub fn handle(&mut self, rx: &mut [u8], len: usize, arena: &mut [u8]) -> Response {
        let rx_len = rx.len();
        let Some(frame) = rx.get_mut(..len) else {
            return Response::Error(ErrorCode::FrameTooLong);
        };
        let request = match decode_frame::<Request<'_>>(frame) {
            Ok(request) => request,
            Err(e) => return Response::Error(e.code()),
        };
        let result = match request {
            Request::Info => Ok(self.info(rx_len, arena.len())),
            Request::SelfTest => self.self_test(arena),
            Request::ModelBegin { len, crc } => self.model_begin(len, crc),
            Request::ModelChunk { offset, bytes } => self.model_chunk(offset, bytes),
            Request::ModelCommit => self.model_commit(),
            Request::Enroll { id, frame } => self
                .stage_frame(&frame, arena, rx_len)
                .and_then(|_| self.enroll(id, rx, arena)),
            Request::EnrollCommit { id } => self.enroll_commit(&id),
            Request::Delete { id } => self.delete(&id),
            Request::List => store::list(&mut self.parts.store)
                .map(Response::List)
                .map_err(|_| ErrorCode::Storage),
            Request::Verify { id, frame } => self
                .stage_frame(&frame, arena, rx_len)
                .and_then(|pre| self.verify(&id, pre, rx, arena)),
            Request::Identify { frame } => self
                .stage_frame(&frame, arena, rx_len)
                .and_then(|pre| self.identify(pre, rx, arena)),
            Request::Profile { frame } => self
                .stage_frame(&frame, arena, rx_len)
                .and_then(|pre| self.profile(pre, rx, arena)),
        };
        result.unwrap_or_else(Response::Error)
    }

    /// Preprocesses a frame into the arena; returns its cost.
    fn stage_frame(
        &mut self,
        frame: &Frame<'_>,
        arena: &mut [u8],
        rx_len: usize,
    ) -> Result<u32, ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        embed::stage(&model, frame, arena, rx_len, &mut self.board)
    }

    /// Embeds the staged frame.
    pub(super) fn embed_staged(
        &mut self,
        rx: &mut [u8],
        arena: &mut [u8],
    ) -> Result<(Embedding, u32), ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        embed::run(&model, rx, arena, &mut self.board)
    }

    fn info(&mut self, rx_len: usize, arena_len: usize) -> Response {
        let model = self.model_info().ok();
        let board = self.board.memory();
        let mut firmware_version = heapless::String::new();
        for c in self.board.firmware_version().chars() {
            if firmware_version.push(c).is_err() {
                break;
            }
        }
        let templates = store::count(&mut self.parts.store).unwrap_or(0);
        Response::Info(DeviceInfo {
            protocol_version: PROTOCOL_VERSION,
            firmware_version,
            model,
            memory: MemoryUse {
                ram_total: board.ram_total,
                ram_static: board.ram_static,
                stack_peak: board.stack_peak,
                arena: arena_len as u32,
                rx_buffer: rx_len as u32,
                flash_code: board.flash_code,
                flash_slot: self.parts.slot_a.capacity() as u32,
                flash_templates: self.parts.store.capacity() as u32,
            },
            templates,
            template_capacity: TEMPLATE_CAPACITY,
            max_frame: MAX_FRAME as u32,
        })
    }

    fn model_info(&self) -> Result<ModelInfo, ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        let active = self.boot.active.ok_or(ErrorCode::NoModel)?;
        let h = model.header();
        Ok(ModelInfo {
            id: h.model_id,
            slot: active.slot,
            version: active.version,
            len: h.total_len,
            arena: h.arena_size,
            macs: h.macs,
            layers: h.layer_count,
            input_side: h.input_width,
            embedding_dim: h.embedding_dim,
            threshold: h.threshold,
        })
    }

    fn self_test(&mut self, arena: &mut [u8]) -> Result<Response, ErrorCode> {
        let model = active_model(&self.parts, &self.boot)?;
        let mut embedding = [0i8; EMBEDDING_MAX];
        let embedding = embedding
            .get_mut(..model.embedding_dim())
            .ok_or(ErrorCode::UnsupportedModel)?;
        let start = self.board.now();
        let result = model.check_golden(arena, embedding);
        let cost = self.board.now().wrapping_sub(start);
        let vectors = model.header().golden_count;
        let mismatch = match result {
            Ok(_) => None,
            Err(crate::blob::EngineError::GoldenMismatch {
                vector, element, ..
            }) => Some(GoldenMismatch { vector, element }),
            Err(_) => return Err(ErrorCode::UnsupportedModel),
        };
        Ok(Response::SelfTest(SelfTestReport {
            passed: mismatch.is_none(),
            vectors,
            mismatch,
            cost,
        }))
    }

    fn model_begin(&mut self, len: u32, crc: u32) -> Result<Response, ErrorCode> {
        self.update = None;
        let slot = self.boot.inactive_slot();
        let capacity = self.parts.slot(slot).capacity();
        self.update = Some(Update::begin::<P>(slot, len, crc, capacity)?);
        Ok(Response::ModelBegun { slot })
    }

    fn model_chunk(&mut self, offset: u32, bytes: &[u8]) -> Result<Response, ErrorCode> {
        let update = self.update.as_mut().ok_or(ErrorCode::NoUpdate)?;
        let flash = match update.slot {
            crate::protocol::Slot::A => &mut self.parts.slot_a,
            crate::protocol::Slot::B => &mut self.parts.slot_b,
        };
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

    fn model_commit(&mut self) -> Result<Response, ErrorCode> {
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
        Model::parse(bytes).map_err(|_| ErrorCode::ModelInvalid)?;
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
        self.model_info().map(Response::ModelCommitted)
    }
}
