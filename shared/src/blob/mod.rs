//! The `.fgm` model blob and the engine that runs it.
//!
//! - [`format`]: the byte layout, constants and records (encode and decode);
//! - [`Model::parse`]: zero-copy parsing with full validation, typed errors, no panics;
//! - [`Model::run`]: the int8 forward pass in a caller-provided arena;
//! - [`crc32`](crc32::crc32): the blob's checksum.

pub mod crc32;
pub mod engine;
pub mod error;
pub mod format;
pub mod model;
mod plan;

pub use error::{BlobError, EngineError};
pub use format::*;
pub use model::{Golden, Model};
