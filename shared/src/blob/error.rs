//! What can be wrong with a blob, and what can go wrong running one.

use crate::int8::KernelError;
use core::fmt;

/// A blob that cannot be used, and why. Parsing never panics and never reads out of bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobError {
    /// Fewer bytes than the header or the header's `total_len` calls for.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The first four bytes are not `FGMB`.
    BadMagic([u8; 4]),
    /// A format version this code does not read.
    UnsupportedVersion(u16),
    /// The header declares a length other than 128.
    BadHeaderLength(u16),
    /// The stored CRC-32 does not match the bytes.
    CrcMismatch {
        /// CRC stored in the blob.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A distance kind this code does not implement.
    UnsupportedDistance(u8),
    /// A section lies outside the blob, overlaps another, or is out of order.
    Section(&'static str),
    /// A tensor record is invalid.
    Tensor {
        /// Tensor index.
        tensor: u16,
        /// What is wrong.
        problem: &'static str,
    },
    /// A layer names an operator this version does not know.
    UnknownOperator {
        /// Layer index.
        layer: u16,
        /// The operator code.
        code: u8,
    },
    /// A layer record is inconsistent with its tensors or constants.
    Layer {
        /// Layer index.
        layer: u16,
        /// What is wrong.
        problem: &'static str,
    },
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, actual } => {
                write!(f, "truncated model blob: {actual} bytes, {needed} needed")
            }
            Self::BadMagic(m) => write!(f, "not a facegate model blob (magic {m:02x?}, expected \"FGMB\")"),
            Self::UnsupportedVersion(v) => write!(f, "model blob format version {v} is not supported (this build reads version {})", super::VERSION),
            Self::BadHeaderLength(n) => write!(f, "model blob header length {n}, expected {}", super::HEADER_LEN),
            Self::CrcMismatch { stored, computed } => write!(f, "model blob CRC-32 mismatch: stored {stored:#010x}, computed {computed:#010x} (corrupt or incomplete)"),
            Self::UnsupportedDistance(d) => write!(f, "model blob distance kind {d} is not supported"),
            Self::Section(s) => write!(f, "model blob section out of bounds or out of order: {s}"),
            Self::Tensor { tensor, problem } => write!(f, "model blob tensor {tensor}: {problem}"),
            Self::UnknownOperator { layer, code } => write!(f, "model blob layer {layer}: unknown operator code {code}"),
            Self::Layer { layer, problem } => write!(f, "model blob layer {layer}: {problem}"),
        }
    }
}

/// A failure while running a parsed model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The arena handed in is smaller than the blob's planned arena.
    ArenaTooSmall {
        /// Bytes the model needs.
        needed: usize,
        /// Bytes handed in.
        actual: usize,
    },
    /// The input is not `H·W·C` bytes.
    InputLength {
        /// Expected length.
        expected: usize,
        /// Length handed in.
        actual: usize,
    },
    /// The embedding buffer is not `embedding_dim` long.
    EmbeddingLength {
        /// Expected length.
        expected: usize,
        /// Length handed in.
        actual: usize,
    },
    /// A kernel refused its buffers (cannot happen for a blob that parsed).
    Kernel {
        /// Layer index.
        layer: u16,
        /// The kernel's error.
        error: KernelError,
    },
    /// The blob is inconsistent (cannot happen for a blob that parsed).
    Blob(BlobError),
    /// A golden vector's embedding differs from the one stored in the blob.
    GoldenMismatch {
        /// Golden vector index.
        vector: u16,
        /// First differing element.
        element: u16,
        /// Stored value.
        expected: i8,
        /// Computed value.
        actual: i8,
    },
}

impl From<BlobError> for EngineError {
    fn from(e: BlobError) -> Self {
        Self::Blob(e)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ArenaTooSmall { needed, actual } => write!(f, "activation arena too small: {actual} bytes, the model needs {needed}"),
            Self::InputLength { expected, actual } => write!(f, "input has {actual} bytes, the model takes {expected}"),
            Self::EmbeddingLength { expected, actual } => write!(f, "embedding buffer has {actual} elements, the model produces {expected}"),
            Self::Kernel { layer, error } => write!(f, "layer {layer}: kernel refused its buffers: {error:?}"),
            Self::Blob(e) => write!(f, "{e}"),
            Self::GoldenMismatch { vector, element, expected, actual } => write!(f, "golden vector {vector}: element {element} is {actual}, the blob says {expected} (the engine does not reproduce the quantiser)"),
        }
    }
}

impl core::error::Error for BlobError {}
impl core::error::Error for EngineError {}
