//! The requests a host sends and the responses the device answers with.
//!
//! Serialised with `postcard` (varint integers, enum variants by index, `&[u8]` borrowed from the
//! receive buffer). **Append new variants at the end only**: the variant index is the wire tag.

use super::{
    ErrorCode, EMBEDDING_MAX, FRAME_MAX_HEIGHT, FRAME_MAX_WIDTH, ID_MAX, LAYERS_MAX, LIST_PAGE,
};
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// A person's id: 1 to [`ID_MAX`] bytes of UTF-8.
pub type PersonId = String<ID_MAX>;
/// An int8 embedding as the device computed it (`embedding_dim` values).
pub type Embedding = Vec<i8, EMBEDDING_MAX>;

/// The face's rectangle inside a [`Frame`], in pixels; it must lie inside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceBox {
    /// Left column.
    pub x: u16,
    /// Top row.
    pub y: u16,
    /// Width (≥ 1).
    pub w: u16,
    /// Height (≥ 1).
    pub h: u16,
}

/// A grey camera frame (at most [`FRAME_MAX_WIDTH`] × [`FRAME_MAX_HEIGHT`]) and the face in it.
/// The device crops the box and resizes it to the model input with
/// [`crate::preprocess::preprocess_grey_box`], exactly as the host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame<'a> {
    /// Columns, 1..=[`FRAME_MAX_WIDTH`].
    pub width: u16,
    /// Rows, 1..=[`FRAME_MAX_HEIGHT`].
    pub height: u16,
    /// Where the face is.
    pub face: FaceBox,
    /// `width × height` grey levels, row-major, top row first.
    pub pixels: &'a [u8],
}

impl Frame<'_> {
    /// Checks the sizes against the protocol limits and the face box against the image.
    pub fn validate(&self) -> Result<(), ErrorCode> {
        let (w, h) = (usize::from(self.width), usize::from(self.height));
        if w == 0 || h == 0 || self.width > FRAME_MAX_WIDTH || self.height > FRAME_MAX_HEIGHT {
            return Err(ErrorCode::FrameSize);
        }
        if self.pixels.len() != w * h {
            return Err(ErrorCode::FrameSize);
        }
        let f = self.face;
        let inside = |start: u16, len: u16, limit: u16| {
            len > 0 && u32::from(start) + u32::from(len) <= u32::from(limit)
        };
        if !(inside(f.x, f.w, self.width) && inside(f.y, f.h, self.height)) {
            return Err(ErrorCode::FaceBox);
        }
        Ok(())
    }
}

/// One of the two model slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Slot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    pub const fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }
}

/// A host's request. Every request gets exactly one [`Response`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// → [`Response::Info`].
    Info,
    /// Runs the active model's golden vectors → [`Response::SelfTest`].
    SelfTest,
    /// Starts writing a model of `len` bytes whose CRC-32 is `crc` into the inactive slot
    /// → [`Response::ModelBegun`]. Cancels an unfinished update.
    ModelBegin {
        /// Blob length in bytes.
        len: u32,
        /// CRC-32 ([`crate::blob::crc32::crc32`]) of the whole blob.
        crc: u32,
    },
    /// The blob's bytes at `offset`: chunks must come in order, without gaps, each at most
    /// [`super::CHUNK_MAX`] bytes → [`Response::ModelChunk`].
    ModelChunk {
        /// Offset of `bytes` in the blob: the `next` of the previous answer.
        offset: u32,
        /// The bytes.
        bytes: &'a [u8],
    },
    /// Checks length, CRC and the blob parser on the written slot and, only if all pass,
    /// switches to it atomically → [`Response::ModelCommitted`].
    ModelCommit,
    /// Adds one frame to the pending enrolment of `id` (a new id starts a new enrolment and
    /// drops any other pending one) → [`Response::Enrolled`]. Nothing is stored until
    /// [`Request::EnrollCommit`].
    Enroll {
        /// The person.
        id: PersonId,
        /// One frame of them.
        #[serde(borrow)]
        frame: Frame<'a>,
    },
    /// Stores the pending enrolment's template (re-normalised mean of its frames' embeddings,
    /// see [`crate::device::template`]) under `id` → [`Response::EnrollCommitted`].
    EnrollCommit {
        /// Must be the pending enrolment's id.
        id: PersonId,
    },
    /// Removes `id`'s template → [`Response::Deleted`].
    Delete {
        /// The person.
        id: PersonId,
    },
    /// → [`Response::List`]: the enrolled ids from the `start`-th on, at most [`LIST_PAGE`].
    List {
        /// Index (in store order) of the first id wanted: 0, then the previous page's `next`.
        start: u16,
    },
    /// 1:1: is this frame `id`? → [`Response::Verify`].
    Verify {
        /// The claimed person.
        id: PersonId,
        /// The probe.
        #[serde(borrow)]
        frame: Frame<'a>,
    },
    /// 1:N: who is this? → [`Response::Identify`].
    Identify {
        /// The probe.
        #[serde(borrow)]
        frame: Frame<'a>,
    },
    /// Embeds a frame layer by layer and reports each layer's cost → [`Response::Profile`].
    Profile {
        /// The frame.
        #[serde(borrow)]
        frame: Frame<'a>,
    },
    /// Starts an admin session: ends any open one and answers a fresh nonce, never used before
    /// (not across reboots either) → [`Response::Challenge`].
    Challenge,
    /// Answers the pending challenge with `HMAC-SHA256(admin key, "facegate-admin-v1" ‖ nonce)`
    /// ([`crate::device::auth::answer`]) → [`Response::Authenticated`]. The nonce is used up
    /// whether or not the answer is right.
    Authenticate {
        /// The HMAC.
        mac: [u8; 32],
    },
    /// Ends the admin session → [`Response::SessionEnded`].
    EndSession,
}

/// The active model, as [`Response::Info`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The blob's model id (header `model_id`).
    pub id: [u8; 16],
    /// The slot it is read from.
    pub slot: Slot,
    /// The boot record's sequence number: increases by one with every committed update.
    pub version: u32,
    /// Blob length in bytes.
    pub len: u32,
    /// Activation arena the model needs.
    pub arena: u32,
    /// Multiply-accumulates per embedding (from the blob).
    pub macs: u32,
    /// Layers.
    pub layers: u16,
    /// Model input side (square, grey).
    pub input_side: u16,
    /// Embedding length.
    pub embedding_dim: u16,
    /// Accept when the squared L2 distance of int8 embeddings is ≤ this.
    pub threshold: i32,
    /// The blob's own model version (its header; covered by its signature): an update must not
    /// be older.
    pub model_version: u32,
    /// The blob carries an ed25519 signature (the factory model need not).
    pub signed: bool,
    /// Cost counter ticks the signature check took when this model was committed, if that was
    /// since the device started (0 otherwise, e.g. the factory model).
    pub check_cost: u32,
}

/// The attempt limit's state, as [`Response::Info`] reports it (see
/// [`crate::device::attempts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AttemptInfo {
    /// Consecutive rejected `Identify` probes.
    pub identify_failures: u16,
    /// Seconds until `Identify` is served again (0: now).
    pub identify_wait: u32,
    /// The most consecutive rejected `Verify`s of any one id.
    pub most_failures: u16,
    /// Seconds until the last locked id is served again (0: none is locked).
    pub longest_wait: u32,
}

/// Memory use, in bytes: what the board measured plus the application's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemoryUse {
    /// RAM of the part (the budget: 65,536).
    pub ram_total: u32,
    /// Statics (`.data` + `.bss`), as the board's linker symbols say.
    pub ram_static: u32,
    /// Stack high-water mark so far (painted stack), 0 if the board does not measure it.
    pub stack_peak: u32,
    /// The activation arena handed to the application.
    pub arena: u32,
    /// The receive buffer handed to the application (also the frame buffer).
    pub rx_buffer: u32,
    /// Flash used by code (text + rodata + data image).
    pub flash_code: u32,
    /// One model slot's size.
    pub flash_slot: u32,
    /// The template store's size.
    pub flash_templates: u32,
}

/// [`Response::Info`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// [`super::PROTOCOL_VERSION`] of the device: the host refuses a device with another one.
    pub protocol_version: u16,
    /// The firmware's version string.
    pub firmware_version: String<16>,
    /// The serving model, `None` until one has been committed.
    pub model: Option<ModelInfo>,
    /// Memory use.
    pub memory: MemoryUse,
    /// Templates stored.
    pub templates: u16,
    /// Templates the store accepts.
    pub template_capacity: u16,
    /// Largest frame the device accepts, encoded, delimiter excluded.
    pub max_frame: u32,
    /// An admin session is open ([`Request::Authenticate`]).
    pub admin: bool,
    /// The attempt limit's state.
    pub attempts: AttemptInfo,
}

/// [`Response::SelfTest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfTestReport {
    /// Every golden vector reproduced bit for bit.
    pub passed: bool,
    /// Golden vectors in the blob.
    pub vectors: u16,
    /// The first failing vector and element, if any.
    pub mismatch: Option<GoldenMismatch>,
    /// Cost counter ticks for all of them.
    pub cost: u32,
}

/// Where a golden vector differed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoldenMismatch {
    /// Vector index.
    pub vector: u16,
    /// First differing element.
    pub element: u16,
}

/// Cost counter ticks of one embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cost {
    /// Crop, resize and int8 conversion of the frame.
    pub preprocess: u32,
    /// `Model::run`.
    pub embed: u32,
}

/// [`Response::Verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// `distance ≤ threshold`.
    pub accepted: bool,
    /// Squared L2 distance of the probe's and the template's int8 embeddings (in an admin
    /// session; 0 otherwise: exact distances would give the template away).
    pub distance: i32,
    /// The model's threshold.
    pub threshold: i32,
    /// What the embedding cost.
    pub cost: Cost,
    /// The probe's embedding (for bit-exact checks against the host; empty outside an admin
    /// session).
    pub embedding: Embedding,
}

/// The best template of an identification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// Its id.
    pub id: PersonId,
    /// Squared L2 distance to the probe.
    pub distance: i32,
}

/// [`Response::Identify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyReport {
    /// The nearest template (ties: the first in store order), `None` if none is stored.
    /// Outside an admin session only an accepted one is named, with distance 0.
    pub best: Option<Candidate>,
    /// `best` is within the threshold: the probe is `best.id`; otherwise unknown.
    pub accepted: bool,
    /// The model's threshold.
    pub threshold: i32,
    /// Templates compared.
    pub compared: u16,
    /// What the embedding cost.
    pub cost: Cost,
    /// The probe's embedding (empty outside an admin session).
    pub embedding: Embedding,
}

/// [`Response::Profile`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileReport {
    /// Ticks of each layer, in order (the blob has each layer's MACs).
    pub layers: Vec<u32, LAYERS_MAX>,
    /// Ticks of one whole `Model::run`, measured separately.
    pub cost: Cost,
    /// The frame's embedding.
    pub embedding: Embedding,
}

/// One page of [`Response::List`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPage {
    /// Templates stored in all.
    pub total: u16,
    /// The ids from the requested `start` on, at most [`LIST_PAGE`].
    pub ids: Vec<PersonId, LIST_PAGE>,
}

impl IdPage {
    /// The `start` of the next page, `None` after the last.
    pub fn next(&self, start: u16) -> Option<u16> {
        let next = start.saturating_add(self.ids.len() as u16);
        (next < self.total && !self.ids.is_empty()).then_some(next)
    }
}

/// The device's answer to one request. Every variant is small (the largest, a profile, about
/// 400 bytes): the device builds it on a stack of a few KiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// To [`Request::Info`].
    Info(DeviceInfo),
    /// To [`Request::SelfTest`].
    SelfTest(SelfTestReport),
    /// To [`Request::ModelBegin`]: the slot being written.
    ModelBegun {
        /// The inactive slot, now being written.
        slot: Slot,
    },
    /// To [`Request::ModelChunk`]: bytes written so far (the next chunk's offset).
    ModelChunk {
        /// The next expected offset.
        next: u32,
    },
    /// To [`Request::ModelCommit`]: the new model serves from now on.
    ModelCommitted(ModelInfo),
    /// To [`Request::Enroll`]: frames in the pending enrolment so far.
    Enrolled {
        /// Frames accumulated.
        frames: u16,
        /// The frame's embedding.
        embedding: Embedding,
    },
    /// To [`Request::EnrollCommit`].
    EnrollCommitted {
        /// Frames the template averages.
        frames: u16,
        /// Templates stored now.
        templates: u16,
    },
    /// To [`Request::Delete`].
    Deleted {
        /// Templates stored now.
        templates: u16,
    },
    /// To [`Request::List`]: one page of ids, in store order.
    List(IdPage),
    /// To [`Request::Verify`].
    Verify(VerifyReport),
    /// To [`Request::Identify`].
    Identify(IdentifyReport),
    /// To [`Request::Profile`].
    Profile(ProfileReport),
    /// The request failed; nothing changed unless the code says so.
    Error(ErrorCode),
    /// To [`Request::Challenge`]: the nonce to answer.
    Challenge {
        /// Fresh, never repeated.
        nonce: [u8; 32],
    },
    /// To [`Request::Authenticate`]: the admin session is open.
    Authenticated,
    /// To [`Request::EndSession`].
    SessionEnded,
}
