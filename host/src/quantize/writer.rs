//! Serialises an int8 graph and its memory plan into a `.fgm` blob.

use super::graph::QGraph;
use facegate_shared::blob::crc32::crc32;
use facegate_shared::blob::{
    Header, LayerRecord, TensorRecord, DISTANCE_SQUARED_L2, HEADER_LEN, LAYER_RECORD_LEN,
    NO_TENSOR, SIGNATURE_LEN, SIGNATURE_NONE, SIGNER_ID_LEN, VERSION, WEIGHTS_ALIGN,
};
use sha2::{Digest, Sha256};

/// What the header carries besides the graph.
#[derive(Debug, Clone, Copy)]
pub struct BlobMeta {
    /// Preprocessing crop side.
    pub preprocess_crop: u16,
    /// Integer threshold on the squared L2 distance of int8 embeddings.
    pub threshold: i32,
    /// The float threshold it came from.
    pub float_threshold: f32,
    /// The false-accept rate it was calibrated for (0 if unknown).
    pub threshold_far: f32,
}

/// One golden vector: int8 input and its int8 embedding.
#[derive(Debug, Clone)]
pub struct GoldenVector {
    /// The input.
    pub input: Vec<i8>,
    /// The embedding.
    pub embedding: Vec<i8>,
}

fn pad_to(bytes: &mut Vec<u8>, align: usize) {
    bytes.resize(bytes.len().next_multiple_of(align), 0);
}

fn as_bytes(v: &[i8]) -> impl Iterator<Item = u8> + '_ {
    v.iter().map(|&x| x as u8)
}

/// Writes the blob.
pub fn write_blob(
    graph: &QGraph,
    offsets: &[usize],
    arena_size: usize,
    meta: &BlobMeta,
    golden: &[GoldenVector],
) -> Vec<u8> {
    let opt = |t: Option<usize>| t.map_or(NO_TENSOR, |t| t as u16);
    // Weights section: each layer's weights then constants, 4-aligned.
    let mut weights = Vec::new();
    let mut layers = Vec::new();
    for l in &graph.layers {
        pad_to(&mut weights, 4);
        let weights_offset = weights.len() as u32;
        weights.extend(as_bytes(&l.weights));
        pad_to(&mut weights, 4);
        let params_offset = weights.len() as u32;
        weights.extend_from_slice(&l.params);
        layers.push(LayerRecord {
            op: l.op as u8,
            kernel: l.window[0],
            stride: l.window[1],
            padding: l.window[2],
            input: l.input as u16,
            input2: opt(l.input2),
            output: l.output as u16,
            scratch: opt(l.scratch),
            act_min: l.stage.min,
            act_max: l.stage.max,
            weights_offset,
            weights_len: l.weights.len() as u32,
            params_offset,
            params_len: l.params.len() as u32,
        });
    }
    let mut tables = Vec::new();
    for t in &graph.tensors {
        tables.extend(
            TensorRecord {
                shape: t.shape,
                zero_point: t.quant.zero_point,
                scale: t.quant.scale,
                arena_offset: offsets[t.buffer] as u32,
            }
            .encode(),
        );
    }
    let tensors_len = tables.len();
    for l in &layers {
        tables.extend(l.encode());
    }
    let tensors_offset = HEADER_LEN;
    let layers_offset = tensors_offset + tensors_len;
    let weights_offset =
        (layers_offset + layers.len() * LAYER_RECORD_LEN).next_multiple_of(WEIGHTS_ALIGN);
    let golden_offset = weights_offset + weights.len();
    let input = &graph.tensors[graph.input].shape;
    let golden_len = golden.len() * (input.len() + graph.tensors[graph.output].shape.len());
    let signature_offset = golden_offset + golden_len;
    let total_len = signature_offset + SIGNATURE_LEN + 4;
    let digest = Sha256::new()
        .chain_update(&tables)
        .chain_update(&weights)
        .finalize();
    let mut model_id = [0u8; 16];
    model_id.copy_from_slice(&digest[..16]);
    let header = Header {
        version: VERSION,
        total_len: total_len as u32,
        model_id,
        input_height: input.height,
        input_width: input.width,
        input_channels: input.channels,
        preprocess_crop: meta.preprocess_crop,
        input_scale: graph.tensors[graph.input].quant.scale,
        input_zero_point: graph.tensors[graph.input].quant.zero_point,
        embedding_dim: graph.tensors[graph.output].shape.channels,
        distance_kind: DISTANCE_SQUARED_L2,
        threshold: meta.threshold,
        float_threshold: meta.float_threshold,
        threshold_far: meta.threshold_far,
        arena_size: arena_size as u32,
        macs: graph.macs().min(u64::from(u32::MAX)) as u32,
        tensor_count: graph.tensors.len() as u16,
        layer_count: graph.layers.len() as u16,
        input_tensor: graph.input as u16,
        output_tensor: graph.output as u16,
        tensors_offset: tensors_offset as u32,
        layers_offset: layers_offset as u32,
        weights_offset: weights_offset as u32,
        weights_len: weights.len() as u32,
        golden_offset: golden_offset as u32,
        golden_count: golden.len() as u16,
        signature_offset: signature_offset as u32,
        // Unsigned, version 0: `facegate sign` sets both and signs.
        model_version: 0,
        signer: [0; SIGNER_ID_LEN],
    };
    let mut blob = Vec::with_capacity(total_len);
    blob.extend_from_slice(&header.encode());
    blob.extend_from_slice(&tables[..tensors_len]);
    blob.extend_from_slice(&tables[tensors_len..]);
    pad_to(&mut blob, WEIGHTS_ALIGN);
    debug_assert_eq!(blob.len(), weights_offset);
    blob.extend_from_slice(&weights);
    for g in golden {
        blob.extend(as_bytes(&g.input));
        blob.extend(as_bytes(&g.embedding));
    }
    blob.extend_from_slice(&SIGNATURE_NONE.to_le_bytes());
    blob.extend_from_slice(&[0u8; SIGNATURE_LEN - 4]);
    let crc = crc32(&blob);
    blob.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(blob.len(), total_len);
    blob
}
