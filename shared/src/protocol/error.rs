//! Why a request failed: the codes of [`super::Response::Error`].
//!
//! **Append new variants at the end only**: the variant index is the wire tag.

use serde::{Deserialize, Serialize};

/// Why a request failed. Sent as [`super::Response::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not valid COBS (a zero byte inside, or a block past its end).
    Cobs,
    /// The frame exceeded [`super::MAX_FRAME`] bytes before its delimiter; it was discarded.
    FrameTooLong,
    /// The frame is shorter than its CRC.
    FrameTooShort,
    /// The frame's CRC-32 does not match its bytes.
    Crc,
    /// The bytes are not a request (unknown variant, bad varint, string too long, …) or have
    /// bytes left over after it.
    Malformed,
    /// The image's size is outside the limits or `pixels` is not `width × height` long.
    FrameSize,
    /// The face box is empty or leaves the image.
    FaceBox,
    /// No model has been committed yet.
    NoModel,
    /// The active model cannot run here (not square grey input, embedding longer than
    /// [`super::EMBEDDING_MAX`], more layers than [`super::LAYERS_MAX`], arena larger than the
    /// buffer).
    UnsupportedModel,
    /// The model failed while running (cannot happen for a blob that parsed).
    Engine,
    /// `ModelBegin`: the blob is longer than a slot (or shorter than a header).
    ModelSize {
        /// The slot's size.
        max: u32,
    },
    /// `ModelChunk` or `ModelCommit` without a `ModelBegin`.
    NoUpdate,
    /// `ModelChunk` at another offset than expected.
    OutOfOrder {
        /// The offset the device expects.
        expected: u32,
    },
    /// `ModelChunk` longer than [`super::CHUNK_MAX`] or past the announced length.
    ChunkSize,
    /// `ModelCommit` before every byte arrived.
    ModelIncomplete {
        /// Bytes received.
        received: u32,
    },
    /// The written blob's CRC-32 is not the announced one: the old model still serves.
    ModelCrc,
    /// The written blob does not parse: the old model still serves.
    ModelInvalid,
    /// An id is empty.
    BadId,
    /// No template with this id.
    UnknownId,
    /// A template with this id exists: delete it first.
    DuplicateId,
    /// The store holds its capacity of templates.
    StoreFull,
    /// `EnrollCommit` without a pending enrolment for this id.
    NoEnrollment,
    /// The pending enrolment already has the most frames it can average.
    TooManyFrames,
    /// The flash failed (read, write or erase error, or a corrupt store).
    Storage,
    /// The template was made by another model than the one serving: delete and re-enrol.
    StaleTemplate,
    /// `ModelCommit`: the blob carries no signature this firmware checks: old model kept.
    ModelUnsigned,
    /// `ModelCommit`: the signature does not verify (a byte changed after signing): old model
    /// kept.
    ModelTampered,
    /// `ModelCommit`: the blob is shorter than its header says: old model kept.
    ModelTruncated,
    /// `ModelCommit`: signed by another key than the device trusts: old model kept.
    ModelWrongKey,
    /// `ModelCommit`: the blob's model version is older than the serving one's: old model kept.
    ModelDowngrade {
        /// The serving model's version.
        installed: u32,
        /// The refused blob's version.
        offered: u32,
    },
    /// The request changes the device (enrol, delete, model update) and needs an admin
    /// session: [`super::Request::Challenge`], then [`super::Request::Authenticate`].
    Unauthenticated,
    /// `Authenticate` without a pending challenge (or its nonce was used up).
    NoChallenge,
    /// `Authenticate` with a wrong answer: no session, the nonce is used up.
    AuthFailed,
    /// Too many consecutive rejections for this id (or for `Identify`): wait and retry.
    LockedOut {
        /// Seconds to wait.
        retry_after: u32,
    },
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Cobs => f.write_str("frame is not valid COBS"),
            Self::FrameTooLong => f.write_str("frame too long"),
            Self::FrameTooShort => f.write_str("frame shorter than its CRC"),
            Self::Crc => f.write_str("frame CRC mismatch"),
            Self::Malformed => f.write_str("malformed request"),
            Self::FrameSize => f.write_str("image size out of limits or pixel count wrong"),
            Self::FaceBox => f.write_str("face box empty or outside the image"),
            Self::NoModel => f.write_str("no model installed"),
            Self::UnsupportedModel => f.write_str("model not supported by this firmware"),
            Self::Engine => f.write_str("model failed while running"),
            Self::ModelSize { max } => write!(f, "model size out of range (slot holds {max})"),
            Self::NoUpdate => f.write_str("no model update in progress"),
            Self::OutOfOrder { expected } => {
                write!(f, "chunk out of order, expected offset {expected}")
            }
            Self::ChunkSize => f.write_str("chunk too long or past the model's end"),
            Self::ModelIncomplete { received } => {
                write!(f, "model incomplete, {received} bytes received")
            }
            Self::ModelCrc => f.write_str("model CRC mismatch, old model kept"),
            Self::ModelInvalid => f.write_str("model does not parse, old model kept"),
            Self::BadId => f.write_str("empty id"),
            Self::UnknownId => f.write_str("unknown id"),
            Self::DuplicateId => f.write_str("id already enrolled"),
            Self::StoreFull => f.write_str("template store full"),
            Self::NoEnrollment => f.write_str("no pending enrolment for this id"),
            Self::TooManyFrames => f.write_str("too many frames in one enrolment"),
            Self::Storage => f.write_str("flash storage error"),
            Self::StaleTemplate => f.write_str("template made by another model, re-enrol"),
            Self::ModelUnsigned => f.write_str("model not signed, old model kept"),
            Self::ModelTampered => {
                f.write_str("model signature does not verify (tampered), old model kept")
            }
            Self::ModelTruncated => f.write_str("model truncated, old model kept"),
            Self::ModelWrongKey => f.write_str("model signed by another key, old model kept"),
            Self::ModelDowngrade { installed, offered } => write!(
                f,
                "model version {offered} is older than the installed {installed}, old model kept"
            ),
            Self::Unauthenticated => f.write_str("admin session required"),
            Self::NoChallenge => f.write_str("no pending challenge"),
            Self::AuthFailed => f.write_str("authentication failed"),
            Self::LockedOut { retry_after } => {
                write!(f, "too many rejections, retry in {retry_after} s")
            }
        }
    }
}
