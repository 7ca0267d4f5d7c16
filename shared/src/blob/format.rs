//! The `.fgm` model blob: layout, constants and the fixed-size records.
//!
//! All integers little-endian. Sections, in order:
//!
//! | offset | section | size |
//! |---|---|---|
//! | 0 | header ([`Header`]) | 128 |
//! | `tensors_offset` | tensor table ([`TensorRecord`]) | 20 · `tensor_count` |
//! | `layers_offset` | layer table ([`LayerRecord`]) | 32 · `layer_count` |
//! | `weights_offset` (16-aligned) | weights, biases, requantisation constants | `weights_len` |
//! | `golden_offset` | golden vectors: per vector the int8 input, then its exact int8 embedding | `golden_count · (H·W·C + dim)` |
//! | `signature_offset` | signature: algorithm `u32` (0 = unsigned) + 64 bytes | 68 |
//! | `total_len − 4` | CRC-32 of every byte before it | 4 |
//!
//! The header's bytes 104..116 hold the model version and the signer id ([`Header`]); blobs
//! written before those fields existed have zeros there and read as version 0, unsigned. A
//! signature ([`SIGNATURE_ED25519`]) covers every byte before the signature block, header
//! included.
//!
//! Layer weights and constants are addressed relative to the weights section, each 4-aligned,
//! so a blob in memory-mapped flash runs without copying. The activation arena's layout (every
//! tensor's byte offset) is planned by the quantiser and stored in the tensor table; its size is
//! in the header.

/// First four bytes of every blob.
pub const MAGIC: [u8; 4] = *b"FGMB";
/// The format version this code reads and writes.
pub const VERSION: u16 = 1;
/// Header size.
pub const HEADER_LEN: usize = 128;
/// Tensor record size.
pub const TENSOR_RECORD_LEN: usize = 20;
/// Layer record size.
pub const LAYER_RECORD_LEN: usize = 32;
/// Signature block size: algorithm id + 64 bytes.
pub const SIGNATURE_LEN: usize = 68;
/// Trailing CRC size.
pub const CRC_LEN: usize = 4;
/// Alignment of the weights section.
pub const WEIGHTS_ALIGN: usize = 16;
/// "No tensor" in a layer record's optional tensor fields.
pub const NO_TENSOR: u16 = 0xFFFF;
/// Distance kind: squared Euclidean distance of the int8 embeddings.
pub const DISTANCE_SQUARED_L2: u8 = 1;
/// Signature algorithm: none.
pub const SIGNATURE_NONE: u32 = 0;
/// Signature algorithm: ed25519 (RFC 8032, pure) over every byte before the signature block;
/// the 64 bytes are the signature.
pub const SIGNATURE_ED25519: u32 = 1;
/// Bytes of the signer id in the header: the first bytes of the signing public key.
pub const SIGNER_ID_LEN: usize = 8;

/// The operators a layer record can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operator {
    /// General convolution ([`crate::int8::conv2d`]).
    Conv2d = 1,
    /// Depthwise convolution ([`crate::int8::depthwise`]).
    DepthwiseConv2d = 2,
    /// 1×1 convolution ([`crate::int8::pointwise`]).
    PointwiseConv = 3,
    /// Global average pooling ([`crate::int8::pool`]).
    GlobalAveragePool = 4,
    /// Fully connected ([`crate::int8::dense`]).
    Dense = 5,
    /// Elementwise addition ([`crate::int8::add`]).
    Add = 6,
    /// L2 normalisation to the int8 embedding ([`crate::int8::l2norm`]).
    L2Normalize = 7,
}

impl Operator {
    /// The operator with this code.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => Self::Conv2d,
            2 => Self::DepthwiseConv2d,
            3 => Self::PointwiseConv,
            4 => Self::GlobalAveragePool,
            5 => Self::Dense,
            6 => Self::Add,
            7 => Self::L2Normalize,
            _ => return None,
        })
    }
}

/// Little-endian reads at fixed offsets of a record already known to be long enough.
pub(crate) struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    pub fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.u8(at), self.u8(at + 1)])
    }
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes([
            self.u8(at),
            self.u8(at + 1),
            self.u8(at + 2),
            self.u8(at + 3),
        ])
    }
    pub fn i32(&self, at: usize) -> i32 {
        self.u32(at) as i32
    }
    pub fn f32(&self, at: usize) -> f32 {
        f32::from_bits(self.u32(at))
    }
}

/// Little-endian writes into a fixed-size record.
pub(crate) struct Writer<'a>(pub &'a mut [u8]);

impl Writer<'_> {
    pub fn put(&mut self, at: usize, bytes: &[u8]) {
        if let Some(slot) = self.0.get_mut(at..at + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
    }
}

/// The blob header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Header {
    /// Format version ([`VERSION`]).
    pub version: u16,
    /// Length of the whole blob, CRC included.
    pub total_len: u32,
    /// Identifies the model (the quantiser uses a hash of the tables and weights).
    pub model_id: [u8; 16],
    /// Input rows.
    pub input_height: u16,
    /// Input columns.
    pub input_width: u16,
    /// Input channels (1: grey).
    pub input_channels: u16,
    /// Preprocessing: side of the square centre crop of the camera frame, in source pixels.
    pub preprocess_crop: u16,
    /// Input quantisation: `real = scale · (q − zero_point)`.
    pub input_scale: f32,
    /// Input zero point.
    pub input_zero_point: i32,
    /// Embedding length.
    pub embedding_dim: u16,
    /// [`DISTANCE_SQUARED_L2`].
    pub distance_kind: u8,
    /// Accept when the squared L2 distance of two int8 embeddings is ≤ this.
    pub threshold: i32,
    /// The float threshold it was derived from (squared L2 of unit vectors).
    pub float_threshold: f32,
    /// The false-accept rate the threshold was calibrated for (0 when unknown).
    pub threshold_far: f32,
    /// Bytes of activation arena the model needs.
    pub arena_size: u32,
    /// Multiply-accumulates per embedding.
    pub macs: u32,
    /// Tensors in the tensor table.
    pub tensor_count: u16,
    /// Layers in the layer table.
    pub layer_count: u16,
    /// The tensor the input is copied into.
    pub input_tensor: u16,
    /// The tensor holding the embedding after the last layer.
    pub output_tensor: u16,
    /// Offset of the tensor table.
    pub tensors_offset: u32,
    /// Offset of the layer table.
    pub layers_offset: u32,
    /// Offset of the weights section.
    pub weights_offset: u32,
    /// Length of the weights section.
    pub weights_len: u32,
    /// Offset of the golden vectors.
    pub golden_offset: u32,
    /// Number of golden vectors.
    pub golden_count: u16,
    /// Offset of the signature block.
    pub signature_offset: u32,
    /// The model's release number (monotonic; a device refuses an older one than it serves).
    /// Header bytes 104..108, zero in blobs written before it existed: those are version 0.
    /// Covered by the signature like the rest of the header.
    pub model_version: u32,
    /// The first [`SIGNER_ID_LEN`] bytes of the public key the blob is signed with (bytes
    /// 108..116, zero when unsigned): tells "signed by another key" from "tampered".
    pub signer: [u8; SIGNER_ID_LEN],
}

impl Header {
    /// Decodes the header fields (no validation beyond the length).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Self {
        let r = Reader(bytes);
        let mut model_id = [0u8; 16];
        model_id.copy_from_slice(&bytes[12..28]);
        let mut signer = [0u8; SIGNER_ID_LEN];
        signer.copy_from_slice(&bytes[108..108 + SIGNER_ID_LEN]);
        Self {
            version: r.u16(4),
            total_len: r.u32(8),
            model_id,
            input_height: r.u16(28),
            input_width: r.u16(30),
            input_channels: r.u16(32),
            preprocess_crop: r.u16(34),
            input_scale: r.f32(36),
            input_zero_point: r.i32(40),
            embedding_dim: r.u16(44),
            distance_kind: r.u8(46),
            threshold: r.i32(48),
            float_threshold: r.f32(52),
            threshold_far: r.f32(56),
            arena_size: r.u32(60),
            macs: r.u32(64),
            tensor_count: r.u16(68),
            layer_count: r.u16(70),
            input_tensor: r.u16(72),
            output_tensor: r.u16(74),
            tensors_offset: r.u32(76),
            layers_offset: r.u32(80),
            weights_offset: r.u32(84),
            weights_len: r.u32(88),
            golden_offset: r.u32(92),
            golden_count: r.u16(96),
            signature_offset: r.u32(100),
            model_version: r.u32(104),
            signer,
        }
    }

    /// Encodes the header, magic and header length included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut w = Writer(&mut out);
        w.put(0, &MAGIC);
        w.put(4, &self.version.to_le_bytes());
        w.put(6, &(HEADER_LEN as u16).to_le_bytes());
        w.put(8, &self.total_len.to_le_bytes());
        w.put(12, &self.model_id);
        w.put(28, &self.input_height.to_le_bytes());
        w.put(30, &self.input_width.to_le_bytes());
        w.put(32, &self.input_channels.to_le_bytes());
        w.put(34, &self.preprocess_crop.to_le_bytes());
        w.put(36, &self.input_scale.to_le_bytes());
        w.put(40, &self.input_zero_point.to_le_bytes());
        w.put(44, &self.embedding_dim.to_le_bytes());
        w.put(46, &[self.distance_kind]);
        w.put(48, &self.threshold.to_le_bytes());
        w.put(52, &self.float_threshold.to_le_bytes());
        w.put(56, &self.threshold_far.to_le_bytes());
        w.put(60, &self.arena_size.to_le_bytes());
        w.put(64, &self.macs.to_le_bytes());
        w.put(68, &self.tensor_count.to_le_bytes());
        w.put(70, &self.layer_count.to_le_bytes());
        w.put(72, &self.input_tensor.to_le_bytes());
        w.put(74, &self.output_tensor.to_le_bytes());
        w.put(76, &self.tensors_offset.to_le_bytes());
        w.put(80, &self.layers_offset.to_le_bytes());
        w.put(84, &self.weights_offset.to_le_bytes());
        w.put(88, &self.weights_len.to_le_bytes());
        w.put(92, &self.golden_offset.to_le_bytes());
        w.put(96, &self.golden_count.to_le_bytes());
        w.put(100, &self.signature_offset.to_le_bytes());
        w.put(104, &self.model_version.to_le_bytes());
        w.put(108, &self.signer);
        out
    }
}

/// One tensor: its shape, quantisation and place in the arena.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorRecord {
    /// NHWC shape (batch 1).
    pub shape: crate::int8::Shape,
    /// Zero point (−128..=127).
    pub zero_point: i32,
    /// Scale (positive, finite).
    pub scale: f32,
    /// Byte offset in the arena.
    pub arena_offset: u32,
}

impl TensorRecord {
    /// Decodes a 20-byte record.
    pub fn decode(bytes: &[u8]) -> Self {
        let r = Reader(bytes);
        Self {
            shape: crate::int8::Shape::new(r.u16(0), r.u16(2), r.u16(4)),
            zero_point: r.i32(8),
            scale: r.f32(12),
            arena_offset: r.u32(16),
        }
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; TENSOR_RECORD_LEN] {
        let mut out = [0u8; TENSOR_RECORD_LEN];
        let mut w = Writer(&mut out);
        w.put(0, &self.shape.height.to_le_bytes());
        w.put(2, &self.shape.width.to_le_bytes());
        w.put(4, &self.shape.channels.to_le_bytes());
        w.put(8, &self.zero_point.to_le_bytes());
        w.put(12, &self.scale.to_le_bytes());
        w.put(16, &self.arena_offset.to_le_bytes());
        out
    }

    /// The arena byte range.
    pub fn range(&self) -> core::ops::Range<usize> {
        let start = self.arena_offset as usize;
        start..start.saturating_add(self.shape.len())
    }
}

/// One layer: operator, tensors, window, fused activation, constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerRecord {
    /// Operator code ([`Operator::from_code`]).
    pub op: u8,
    /// Kernel side (convolutions).
    pub kernel: u8,
    /// Stride (convolutions).
    pub stride: u8,
    /// Padding (convolutions).
    pub padding: u8,
    /// Input tensor.
    pub input: u16,
    /// Second input (add), or [`NO_TENSOR`].
    pub input2: u16,
    /// Output tensor.
    pub output: u16,
    /// Scratch tensor (in-place pointwise), or [`NO_TENSOR`].
    pub scratch: u16,
    /// Fused activation's lowest output.
    pub act_min: i8,
    /// Fused activation's highest output.
    pub act_max: i8,
    /// Weights: offset in the weights section.
    pub weights_offset: u32,
    /// Weights: length.
    pub weights_len: u32,
    /// Constants (per-channel params, add multipliers): offset in the weights section.
    pub params_offset: u32,
    /// Constants: length.
    pub params_len: u32,
}

impl LayerRecord {
    /// Decodes a 32-byte record.
    pub fn decode(bytes: &[u8]) -> Self {
        let r = Reader(bytes);
        Self {
            op: r.u8(0),
            kernel: r.u8(1),
            stride: r.u8(2),
            padding: r.u8(3),
            input: r.u16(4),
            input2: r.u16(6),
            output: r.u16(8),
            scratch: r.u16(10),
            act_min: r.u8(12) as i8,
            act_max: r.u8(13) as i8,
            weights_offset: r.u32(16),
            weights_len: r.u32(20),
            params_offset: r.u32(24),
            params_len: r.u32(28),
        }
    }

    /// Encodes the record.
    pub fn encode(&self) -> [u8; LAYER_RECORD_LEN] {
        let mut out = [0u8; LAYER_RECORD_LEN];
        let mut w = Writer(&mut out);
        w.put(0, &[self.op, self.kernel, self.stride, self.padding]);
        w.put(4, &self.input.to_le_bytes());
        w.put(6, &self.input2.to_le_bytes());
        w.put(8, &self.output.to_le_bytes());
        w.put(10, &self.scratch.to_le_bytes());
        w.put(12, &[self.act_min as u8, self.act_max as u8]);
        w.put(16, &self.weights_offset.to_le_bytes());
        w.put(20, &self.weights_len.to_le_bytes());
        w.put(24, &self.params_offset.to_le_bytes());
        w.put(28, &self.params_len.to_le_bytes());
        out
    }
}

/// Bytes of an add layer's constants: three (multiplier, shift) pairs
/// ([`crate::int8::add::AddMultipliers`]).
pub const ADD_PARAMS_LEN: usize = crate::int8::add::AddMultipliers::BYTES;
