//! A parsed, fully validated `.fgm` blob, read in place (zero-copy) from RAM or flash.
//!
//! [`Model::parse`] checks the magic, version, length, CRC-32, every section's bounds, every
//! tensor's arena extent and every layer's shapes, weights, constants and buffer aliasing, so
//! that [`Model::run`](super::engine) cannot fail on a blob that parsed (except for the
//! caller's own buffers).

use super::crc32::crc32;
use super::error::BlobError;
use super::format::*;
use super::plan::{plan_layer, Step};

/// A validated model blob.
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    header: Header,
}

/// One golden vector: an int8 input and the embedding the engine must produce from it.
#[derive(Debug, Clone, Copy)]
pub struct Golden<'a> {
    /// The int8 input, `H·W·C` values.
    pub input: &'a [i8],
    /// The expected int8 embedding.
    pub embedding: &'a [i8],
}

fn end_of(offset: u32, count: usize, size: usize) -> Option<usize> {
    (offset as usize).checked_add(count.checked_mul(size)?)
}

impl<'a> Model<'a> {
    /// Parses and validates a blob. Bytes after `total_len` (e.g. erased flash) are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let head: &[u8; HEADER_LEN] = bytes
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(BlobError::Truncated {
                needed: HEADER_LEN,
                actual: bytes.len(),
            })?;
        let magic = [head[0], head[1], head[2], head[3]];
        if magic != MAGIC {
            return Err(BlobError::BadMagic(magic));
        }
        let header = Header::decode(head);
        if header.version != VERSION {
            return Err(BlobError::UnsupportedVersion(header.version));
        }
        let header_len = u16::from_le_bytes([head[6], head[7]]);
        if header_len as usize != HEADER_LEN {
            return Err(BlobError::BadHeaderLength(header_len));
        }
        let total = header.total_len as usize;
        if total < HEADER_LEN + SIGNATURE_LEN + CRC_LEN {
            return Err(BlobError::Section(
                "total length shorter than the fixed sections",
            ));
        }
        let bytes = bytes.get(..total).ok_or(BlobError::Truncated {
            needed: total,
            actual: bytes.len(),
        })?;
        let (body, stored) = bytes.split_at(total - CRC_LEN);
        let stored = u32::from_le_bytes([stored[0], stored[1], stored[2], stored[3]]);
        let computed = crc32(body);
        if stored != computed {
            return Err(BlobError::CrcMismatch { stored, computed });
        }
        let model = Self { bytes, header };
        model.validate()?;
        Ok(model)
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole blob.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Activation arena bytes [`Model::run`](super::engine) needs.
    pub fn arena_size(&self) -> usize {
        self.header.arena_size as usize
    }

    /// The verification threshold the blob carries, for [`crate::verify::verify`] on two of its
    /// int8 embeddings. A negative stored threshold is refused.
    pub fn threshold(
        &self,
    ) -> Result<crate::verify::SquaredL2I8Threshold, crate::verify::VerifyError> {
        crate::verify::SquaredL2I8Threshold::new(self.header.threshold)
    }

    /// Input length, `H·W·C`.
    pub fn input_len(&self) -> usize {
        self.header.input_height as usize
            * self.header.input_width as usize
            * self.header.input_channels as usize
    }

    /// Embedding length.
    pub fn embedding_dim(&self) -> usize {
        self.header.embedding_dim as usize
    }

    /// Tensor `id`.
    pub fn tensor(&self, id: u16) -> Option<TensorRecord> {
        let at = end_of(self.header.tensors_offset, id as usize, TENSOR_RECORD_LEN)?;
        let record = self.bytes.get(at..at.checked_add(TENSOR_RECORD_LEN)?)?;
        (id < self.header.tensor_count).then(|| TensorRecord::decode(record))
    }

    /// Layer `index`.
    pub fn layer(&self, index: u16) -> Option<LayerRecord> {
        let at = end_of(self.header.layers_offset, index as usize, LAYER_RECORD_LEN)?;
        let record = self.bytes.get(at..at.checked_add(LAYER_RECORD_LEN)?)?;
        (index < self.header.layer_count).then(|| LayerRecord::decode(record))
    }

    /// `len` bytes at `offset` in the weights section.
    pub fn weights_slice(&self, offset: u32, len: u32) -> Option<&'a [u8]> {
        let section = self.bytes.get(
            self.header.weights_offset as usize
                ..end_of(
                    self.header.weights_offset,
                    self.header.weights_len as usize,
                    1,
                )?,
        )?;
        section.get(offset as usize..end_of(offset, len as usize, 1)?)
    }

    /// Golden vector `index`.
    pub fn golden(&self, index: u16) -> Option<Golden<'a>> {
        if index >= self.header.golden_count {
            return None;
        }
        let stride = self.input_len() + self.embedding_dim();
        let at = end_of(self.header.golden_offset, index as usize, stride)?;
        let input = self.bytes.get(at..at.checked_add(self.input_len())?)?;
        let e = at + self.input_len();
        let embedding = self.bytes.get(e..e.checked_add(self.embedding_dim())?)?;
        Some(Golden {
            input: bytemuck::cast_slice(input),
            embedding: bytemuck::cast_slice(embedding),
        })
    }

    /// The bytes a signature covers: every byte before the signature block.
    pub fn signed_bytes(&self) -> &'a [u8] {
        self.bytes
            .get(..self.header.signature_offset as usize)
            .unwrap_or(&[])
    }

    /// The signature block: algorithm and 64 bytes.
    pub fn signature(&self) -> Option<(u32, &'a [u8])> {
        let at = self.header.signature_offset as usize;
        let block = self.bytes.get(at..at.checked_add(SIGNATURE_LEN)?)?;
        let algorithm = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        Some((algorithm, &block[4..]))
    }

    fn validate(&self) -> Result<(), BlobError> {
        let h = &self.header;
        if h.distance_kind != DISTANCE_SQUARED_L2 {
            return Err(BlobError::UnsupportedDistance(h.distance_kind));
        }
        let section = BlobError::Section;
        let tensors_end = end_of(h.tensors_offset, h.tensor_count as usize, TENSOR_RECORD_LEN)
            .ok_or(section("tensor table"))?;
        let layers_end = end_of(h.layers_offset, h.layer_count as usize, LAYER_RECORD_LEN)
            .ok_or(section("layer table"))?;
        let weights_end =
            end_of(h.weights_offset, h.weights_len as usize, 1).ok_or(section("weights"))?;
        let golden_stride = self.input_len() + self.embedding_dim();
        let golden_end = end_of(h.golden_offset, h.golden_count as usize, golden_stride)
            .ok_or(section("golden vectors"))?;
        let order = [
            (HEADER_LEN, h.tensors_offset as usize, "tensor table"),
            (tensors_end, h.layers_offset as usize, "layer table"),
            (layers_end, h.weights_offset as usize, "weights"),
            (weights_end, h.golden_offset as usize, "golden vectors"),
            (golden_end, h.signature_offset as usize, "signature"),
        ];
        for (previous_end, start, name) in order {
            if start < previous_end {
                return Err(section(name));
            }
        }
        if h.weights_offset as usize % WEIGHTS_ALIGN != 0 {
            return Err(section("weights section not 16-aligned"));
        }
        if (h.signature_offset as usize).checked_add(SIGNATURE_LEN + CRC_LEN)
            != Some(h.total_len as usize)
        {
            return Err(section("signature block must end just before the CRC"));
        }
        if h.tensor_count == 0 || h.layer_count == 0 || h.embedding_dim == 0 {
            return Err(section("a model needs tensors, layers and an embedding"));
        }
        for id in 0..h.tensor_count {
            self.validate_tensor(id)?;
        }
        let input = self.tensor(h.input_tensor).ok_or(BlobError::Tensor {
            tensor: h.input_tensor,
            problem: "input tensor index out of range",
        })?;
        let expected_input =
            crate::int8::Shape::new(h.input_height, h.input_width, h.input_channels);
        if input.shape != expected_input || input.zero_point != h.input_zero_point {
            return Err(BlobError::Tensor {
                tensor: h.input_tensor,
                problem: "input tensor does not match the header's input shape / zero point",
            });
        }
        let output = self.tensor(h.output_tensor).ok_or(BlobError::Tensor {
            tensor: h.output_tensor,
            problem: "output tensor index out of range",
        })?;
        if output.shape.len() != self.embedding_dim() {
            return Err(BlobError::Tensor {
                tensor: h.output_tensor,
                problem: "output tensor length is not the embedding size",
            });
        }
        for index in 0..h.layer_count {
            plan_layer(self, index)?;
        }
        let last = self
            .layer(h.layer_count - 1)
            .ok_or(section("layer table"))?;
        if last.op != Operator::L2Normalize as u8 || last.output != h.output_tensor {
            return Err(BlobError::Layer {
                layer: h.layer_count - 1,
                problem: "the last layer must be the L2 normalisation into the output tensor",
            });
        }
        Ok(())
    }

    fn validate_tensor(&self, id: u16) -> Result<(), BlobError> {
        let bad = |problem| BlobError::Tensor {
            tensor: id,
            problem,
        };
        let t = self.tensor(id).ok_or(bad("record out of bounds"))?;
        if t.shape.is_empty() {
            return Err(bad("empty shape"));
        }
        if !(-128..=127).contains(&t.zero_point) {
            return Err(bad("zero point outside −128..=127"));
        }
        if !(t.scale.is_finite() && t.scale > 0.0) {
            return Err(bad("scale not positive and finite"));
        }
        if t.range().end > self.arena_size() {
            return Err(bad("extends past the arena"));
        }
        Ok(())
    }
}

/// Steps of the model in order, each with its kernel and arena ranges (for the engine).
pub(crate) fn steps<'m, 'a>(
    model: &'m Model<'a>,
) -> impl Iterator<Item = (u16, Result<Step<'a>, BlobError>)> + 'm {
    (0..model.header.layer_count).map(move |i| (i, plan_layer(model, i)))
}
