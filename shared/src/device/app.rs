//! The command loop: reads frames from the byte stream, answers each request.
//!
//! [`Device::serve`] reads one byte at a time into the receive buffer until a `0x00`, decodes the
//! frame in place, handles it ([`Device::handle`]) and streams the response back, COBS-encoded
//! from the same buffer (there is no transmit buffer). Malformed input of any kind is answered
//! with [`Response::Error`]; the loop never panics and never stops on bad input.

use super::attempts::{Attempts, Subject, Uptime};
use super::auth::{self, Sessions};
use super::boot::{self, BootState};
use super::people::Session;
use super::store::{self, Counter};
use super::update::Update;
use super::{DeviceKeys, Partition, Partitions, Platform};
use crate::blob::{Model, SIGNATURE_ED25519};
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
    pub(super) keys: DeviceKeys,
    pub(super) sessions: Sessions,
    pub(super) attempts: Attempts,
    pub(super) uptime: Uptime,
    /// The slot committed since the start and its signature check's cost.
    pub(super) check_cost: Option<(Slot, u32)>,
}

/// An open (non-admin) probe's answer: the decision only. Exact distances to a template for
/// probes whose embeddings the asker can compute (the model is not secret) give away the
/// template — `|p − t|² = d` is linear in `t` and `|t|²`, so about 129 answers of a 128-value
/// template determine it — so distances, the nearest id of an unknown face and the embedding stay
/// inside; an admin session gets them (the host's bit-exact checks use them).
fn redacted(response: Response) -> Response {
    match response {
        Response::Verify(mut r) => {
            r.distance = 0;
            r.embedding.clear();
            Response::Verify(r)
        }
        Response::Identify(mut r) => {
            if r.accepted {
                if let Some(best) = r.best.as_mut() {
                    best.distance = 0;
                }
            } else {
                r.best = None;
            }
            r.embedding.clear();
            Response::Identify(r)
        }
        other => other,
    }
}

/// The requests that change the device: they need an admin session ([`auth`]).
fn needs_admin(request: &Request<'_>) -> bool {
    matches!(
        request,
        Request::Enroll { .. }
            | Request::EnrollCommit { .. }
            | Request::Delete { .. }
            | Request::ModelBegin { .. }
            | Request::ModelChunk { .. }
            | Request::ModelCommit
    )
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
    /// Starts the application on the board's flash with its provisioned keys: reads the boot
    /// record and picks the active model (never fails: with no model, model commands answer
    /// [`ErrorCode::NoModel`]).
    pub fn new(parts: Partitions<P>, board: B, keys: DeviceKeys) -> Self {
        let boot = boot::select(&parts.boot, &parts.slot_a, &parts.slot_b);
        Self {
            parts,
            board,
            boot,
            update: None,
            enrolment: None,
            keys,
            sessions: Sessions::default(),
            attempts: Attempts::default(),
            uptime: Uptime::default(),
            check_cost: None,
        }
    }

    /// The board (e.g. to move a simulated clock on).
    pub fn board_mut(&mut self) -> &mut B {
        &mut self.board
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
        let now = self.uptime.seconds(self.board.now(), self.board.tick_hz());
        let request = match decode_frame::<Request<'_>>(frame) {
            Ok(request) => request,
            Err(e) => return Response::Error(e.code()),
        };
        if needs_admin(&request) && !self.sessions.admin {
            return Response::Error(ErrorCode::Unauthenticated);
        }
        // An arm that embeds a frame stages it first (the last use of the request's borrow of
        // `rx`, whose pixels it reads), then embeds from `rx`.
        let result = match request {
            Request::Info => Ok(self.info(rx_len, arena.len(), now)),
            Request::SelfTest => self.session().and_then(|mut s| s.self_test(arena)),
            Request::ModelBegin { len, crc } => self.model_begin(len, crc),
            Request::ModelChunk { offset, bytes } => self.model_chunk(offset, bytes),
            Request::ModelCommit => self.model_commit(),
            Request::Enroll { id, frame } => match self.staged(&frame, arena, rx_len) {
                Ok((mut s, _)) => s.enroll(id, rx, arena),
                Err(e) => Err(e),
            },
            Request::EnrollCommit { id } => self.session().and_then(|mut s| s.enroll_commit(&id)),
            Request::Delete { id } => self.delete(&id),
            Request::List { start } => store::list(&mut self.parts.store, start)
                .map(Response::List)
                .map_err(|_| ErrorCode::Storage),
            Request::Verify { id, frame } => match self.attempt_check(Subject::Id(&id), now) {
                Ok(()) => {
                    let result = match self.staged(&frame, arena, rx_len) {
                        Ok((mut s, preprocess)) => s.verify(&id, preprocess, rx, arena),
                        Err(e) => Err(e),
                    };
                    self.count(Subject::Id(&id), result, now)
                }
                Err(e) => Err(e),
            },
            Request::Identify { frame } => match self.attempt_check(Subject::Identify, now) {
                Ok(()) => {
                    let result = match self.staged(&frame, arena, rx_len) {
                        Ok((mut s, preprocess)) => s.identify(preprocess, rx, arena),
                        Err(e) => Err(e),
                    };
                    self.count(Subject::Identify, result, now)
                }
                Err(e) => Err(e),
            },
            Request::Profile { frame } => match self.staged(&frame, arena, rx_len) {
                Ok((mut s, preprocess)) => s.profile(preprocess, rx, arena),
                Err(e) => Err(e),
            },
            Request::Challenge => self.challenge(),
            Request::Authenticate { mac } => self.authenticate(&mac),
            Request::EndSession => {
                self.end_session();
                Ok(Response::SessionEnded)
            }
        };
        result.unwrap_or_else(Response::Error)
    }

    /// Refuses a probe while its subject must wait. The attempt limit guards the open use of
    /// the device: an admin session (which may delete and re-enrol anyway) is neither held back
    /// nor counted.
    fn attempt_check(&mut self, subject: Subject<'_>, now: u64) -> Result<(), ErrorCode> {
        if self.sessions.admin {
            return Ok(());
        }
        self.attempts.check(&mut self.parts.store, subject, now)
    }

    /// Counts a probe's outcome against the attempt limit before it is answered (outside an
    /// admin session).
    fn count(
        &mut self,
        subject: Subject<'_>,
        result: Result<Response, ErrorCode>,
        now: u64,
    ) -> Result<Response, ErrorCode> {
        if self.sessions.admin {
            return result;
        }
        let accepted = match &result {
            Ok(Response::Verify(r)) => r.accepted,
            Ok(Response::Identify(r)) => r.accepted,
            _ => return result,
        };
        self.attempts
            .record(&mut self.parts.store, subject, accepted, now)?;
        result.map(redacted)
    }

    /// Ends any session and issues the next nonce, persisted before it is answered.
    fn challenge(&mut self) -> Result<Response, ErrorCode> {
        self.end_session();
        let storage = |_| ErrorCode::Storage;
        let store = &mut self.parts.store;
        let counter = store::counter(store, Counter::Nonce).map_err(storage)?;
        let counter = counter.checked_add(1).ok_or(ErrorCode::Storage)?;
        store::set_counter(store, Counter::Nonce, counter).map_err(storage)?;
        let nonce = auth::nonce(&self.keys.admin_key, counter);
        self.sessions.pending = Some(nonce);
        Ok(Response::Challenge { nonce })
    }

    /// Checks the answer to the pending nonce (used up either way).
    fn authenticate(&mut self, mac: &[u8; auth::NONCE_LEN]) -> Result<Response, ErrorCode> {
        let nonce = self.sessions.pending.take().ok_or(ErrorCode::NoChallenge)?;
        if auth::is_answer(&self.keys.admin_key, &nonce, mac) {
            self.sessions.admin = true;
            Ok(Response::Authenticated)
        } else {
            self.end_session();
            Err(ErrorCode::AuthFailed)
        }
    }

    /// Ends the admin session and drops what it left pending.
    fn end_session(&mut self) {
        self.sessions = Sessions::default();
        self.update = None;
        self.enrolment = None;
    }

    /// [`Device::session`] with `frame` preprocessed into the arena; returns its cost too.
    fn staged(
        &mut self,
        frame: &Frame<'_>,
        arena: &mut [u8],
        rx_len: usize,
    ) -> Result<(Session<'_, P, B>, u32), ErrorCode> {
        let mut session = self.session()?;
        let preprocess = session.stage(frame, arena, rx_len)?;
        Ok((session, preprocess))
    }

    /// The serving model, parsed (and so CRC-checked) once for this request, with the rest of
    /// the device a model command needs.
    fn session(&mut self) -> Result<Session<'_, P, B>, ErrorCode> {
        let active = self.boot.active.ok_or(ErrorCode::NoModel)?;
        let slot = match active.slot {
            Slot::A => &self.parts.slot_a,
            Slot::B => &self.parts.slot_b,
        };
        Ok(Session {
            model: Model::parse(slot.mapped()).map_err(|_| ErrorCode::NoModel)?,
            store: &mut self.parts.store,
            board: &mut self.board,
            enrolment: &mut self.enrolment,
        })
    }

    fn info(&mut self, rx_len: usize, arena_len: usize, now: u64) -> Response {
        let model = self.model_info().ok();
        let board = self.board.memory();
        let mut firmware_version = heapless::String::new();
        for c in self.board.firmware_version().chars() {
            if firmware_version.push(c).is_err() {
                break;
            }
        }
        let templates = store::count(&mut self.parts.store).unwrap_or(0);
        let attempts = self
            .attempts
            .info(&mut self.parts.store, now)
            .unwrap_or_default();
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
            admin: self.sessions.admin,
            attempts,
        })
    }

    pub(super) fn model_info(&self) -> Result<ModelInfo, ErrorCode> {
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
            model_version: h.model_version,
            signed: model
                .signature()
                .is_some_and(|(a, _)| a == SIGNATURE_ED25519),
            check_cost: match self.check_cost {
                Some((slot, cost)) if slot == active.slot => cost,
                _ => 0,
            },
        })
    }

    fn delete(&mut self, id: &str) -> Result<Response, ErrorCode> {
        let storage = |_| ErrorCode::Storage;
        if store::get(&mut self.parts.store, id)
            .map_err(storage)?
            .is_none()
        {
            return Err(ErrorCode::UnknownId);
        }
        store::remove(&mut self.parts.store, id).map_err(storage)?;
        self.attempts.forget(id);
        Ok(Response::Deleted {
            templates: store::count(&mut self.parts.store).map_err(storage)?,
        })
    }
}
