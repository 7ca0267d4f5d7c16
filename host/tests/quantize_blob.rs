//! Quantisation of a small model with every operator of the device model (stem, depthwise,
//! in-place pointwise, residual add, pooling, dense, L2 norm): the blob round-trips, its golden
//! vectors reproduce, int8 embeddings track the float ones, and the parser survives every
//! truncation and every single-bit flip with a typed error.

use burn::prelude::*;
use facegate::data::synthetic::{synthetic_people, SyntheticConfig};
use facegate::folded::{randomize_batchnorm, FoldedEmbedder};
use facegate::model::EmbedderConfig;
use facegate::quantize::calibrate::RangeMethod;
use facegate::quantize::writer::BlobMeta;
use facegate::quantize::{embed_i8, integer_threshold, quantize, QuantizeOptions, Quantized};
use facegate_shared::blob::crc32::crc32;
use facegate_shared::blob::{BlobError, EngineError, Model, HEADER_LEN};
use facegate_shared::preprocess::input_f32;

fn images() -> Vec<Vec<u8>> {
    synthetic_people(&SyntheticConfig::default(), 10, 8, 3, 3)
        .into_iter()
        .flat_map(|(_, imgs)| imgs)
        .collect()
}

fn folded() -> FoldedEmbedder {
    let device = Device::flex();
    let config = EmbedderConfig::tiny_residual();
    let mut model = config.init(&device);
    randomize_batchnorm(&mut model, &device);
    FoldedEmbedder::fold(&model, &config)
}

fn options() -> QuantizeOptions {
    QuantizeOptions {
        range_method: RangeMethod::MinMax,
        percentile: 99.99,
        golden_count: 2,
        meta: BlobMeta {
            preprocess_crop: 32,
            threshold: integer_threshold(0.8),
            float_threshold: 0.8,
            threshold_far: 1e-3,
        },
    }
}

fn quantized(model: &FoldedEmbedder, imgs: &[Vec<u8>]) -> Quantized {
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    quantize(model, &refs[..40], &options()).unwrap()
}

#[test]
fn blob_round_trips_and_reproduces_its_golden_vectors() {
    let imgs = images();
    let model = folded();
    let q = quantized(&model, &imgs);
    let parsed = Model::parse(&q.blob).unwrap();
    let h = parsed.header();
    assert_eq!(
        (h.input_height, h.input_width, h.input_channels),
        (32, 32, 1)
    );
    assert_eq!(h.embedding_dim, 16);
    assert_eq!(h.threshold, 13107, "0.8 · 128²");
    assert!(parsed.threshold().is_ok());
    assert_eq!(h.golden_count, 2);
    assert_eq!(h.arena_size as usize, q.arena_size);
    assert_eq!(u64::from(h.macs), q.macs);
    assert_eq!(
        q.macs,
        EmbedderConfig::tiny_residual().macs(),
        "MAC count agrees with the model's"
    );
    let mut arena = vec![0u8; parsed.arena_size()];
    let mut embedding = vec![0i8; 16];
    assert_eq!(parsed.check_golden(&mut arena, &mut embedding), Ok(2));
    // Quantising again gives the same bytes: the blob is a function of model and data.
    assert_eq!(quantized(&model, &imgs).blob, q.blob);
    // Too small an arena is refused, not overrun.
    let mut small = vec![0u8; parsed.arena_size() - 1];
    assert_eq!(
        parsed.run(&[0; 32 * 32], &mut small, &mut embedding),
        Err(EngineError::ArenaTooSmall {
            needed: parsed.arena_size(),
            actual: parsed.arena_size() - 1
        })
    );
    assert!(matches!(
        parsed.run(&[0; 10], &mut arena, &mut embedding),
        Err(EngineError::InputLength { .. })
    ));
}

#[test]
fn int8_embeddings_track_the_float_ones() {
    let imgs = images();
    let model = folded();
    let q = quantized(&model, &imgs);
    let parsed = Model::parse(&q.blob).unwrap();
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    let int8 = embed_i8(&parsed, &refs, |_| {}).unwrap();
    let mut cosines = Vec::new();
    for (image, e8) in refs.iter().zip(&int8) {
        let input: Vec<f32> = image.iter().map(|&p| input_f32(p)).collect();
        let e = model.forward(&input).embedding;
        let deq: Vec<f32> = e8.iter().map(|&v| f32::from(v) / 128.0).collect();
        let dot: f32 = e.iter().zip(&deq).map(|(a, b)| a * b).sum();
        let norm: f32 = deq.iter().map(|v| v * v).sum::<f32>().sqrt();
        cosines.push(dot / norm);
    }
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let worst = cosines.iter().copied().fold(1.0f32, f32::min);
    eprintln!(
        "float vs int8 cosine: mean {mean:.4}, worst {worst:.4} over {} images",
        cosines.len()
    );
    assert!(mean >= 0.99, "mean cosine {mean}");
    assert!(worst >= 0.95, "worst cosine {worst}");
}

fn with_crc(mut blob: Vec<u8>) -> Vec<u8> {
    let n = blob.len() - 4;
    let crc = crc32(&blob[..n]);
    blob[n..].copy_from_slice(&crc.to_le_bytes());
    blob
}

#[test]
fn every_prefix_and_every_bit_flip_gives_a_typed_error_never_a_panic() {
    let imgs = images();
    let q = quantized(&folded(), &imgs);
    let blob = &q.blob;
    eprintln!("blob: {} bytes, arena {} bytes", blob.len(), q.arena_size);
    for len in 0..blob.len() {
        assert!(
            matches!(
                Model::parse(&blob[..len]),
                Err(BlobError::Truncated { .. }) | Err(BlobError::Section(_))
            ),
            "prefix of {len} bytes"
        );
    }
    let mut arena = vec![0u8; 1 << 16];
    let mut embedding = vec![0i8; 16];
    let (mut caught_by_crc, mut caught_by_structure, mut still_valid) = (0, 0, 0);
    for bit in 0..blob.len() * 8 {
        let mut flipped = blob.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        match Model::parse(&flipped) {
            Err(_) => caught_by_crc += 1,
            Ok(_) => panic!("bit {bit}: a flipped blob passed the CRC"),
        }
        // A forger who fixes the CRC still cannot make the parser or the engine misbehave.
        let forged = with_crc(flipped);
        match Model::parse(&forged) {
            Err(_) => caught_by_structure += 1,
            Ok(model) => {
                still_valid += 1;
                if model.arena_size() <= arena.len() {
                    let input = vec![0i8; model.input_len()];
                    let mut out = vec![0i8; model.embedding_dim()];
                    let _ = model.run(&input, &mut arena, &mut out);
                }
                let _ = model.check_golden(&mut arena, &mut embedding);
            }
        }
    }
    eprintln!("{caught_by_crc} flips caught by the CRC; with the CRC forged: {caught_by_structure} refused by validation, {still_valid} still well-formed (weights, scales, thresholds, golden bytes)");
    assert!(caught_by_structure > 0);
}

/// Random multi-byte corruption of the header and tables, with the CRC forged to match: the
/// parser answers with a typed error or a model the engine runs without panicking.
#[test]
fn random_forged_corruption_never_panics() {
    use rand::{Rng, SeedableRng};
    let imgs = images();
    let blob = quantized(&folded(), &imgs).blob;
    let tables_end = Model::parse(&blob).unwrap().header().weights_offset as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut arena = vec![0u8; 1 << 16];
    let mut refused = 0;
    for _ in 0..20_000 {
        let mut forged = blob.clone();
        for _ in 0..rng.random_range(1..8) {
            let at = rng.random_range(0..tables_end);
            forged[at] = rng.random();
        }
        match Model::parse(&with_crc(forged)) {
            Err(_) => refused += 1,
            Ok(model) => {
                let mut out = vec![0i8; model.embedding_dim()];
                let _ = model.check_golden(&mut arena, &mut out);
            }
        }
    }
    eprintln!("{refused} of 20000 forged corruptions refused");
    assert!(refused > 10_000);
}

#[test]
fn unknown_versions_operators_and_magic_are_named() {
    let imgs = images();
    let blob = quantized(&folded(), &imgs).blob;
    let mut v2 = blob.clone();
    v2[4] = 2;
    assert_eq!(
        Model::parse(&with_crc(v2)).unwrap_err(),
        BlobError::UnsupportedVersion(2)
    );
    let mut magic = blob.clone();
    magic[0] = b'X';
    assert!(matches!(Model::parse(&magic), Err(BlobError::BadMagic(_))));
    let parsed = Model::parse(&blob).unwrap();
    let layers_at = parsed.header().layers_offset as usize;
    assert!(layers_at >= HEADER_LEN);
    let mut op = blob.clone();
    op[layers_at] = 99;
    assert_eq!(
        Model::parse(&with_crc(op)).unwrap_err(),
        BlobError::UnknownOperator { layer: 0, code: 99 }
    );
    let mut crc = blob.clone();
    let last = crc.len() - 1;
    crc[last] ^= 0xFF;
    assert!(matches!(
        Model::parse(&crc),
        Err(BlobError::CrcMismatch { .. })
    ));
    // Trailing bytes (erased flash after the blob) are ignored.
    let mut longer = blob.clone();
    longer.extend_from_slice(&[0xFF; 100]);
    assert!(Model::parse(&longer).is_ok());
}

/// The committed release blob: within the flash and RAM budgets, and the shared engine
/// reproduces every golden vector the quantiser stored in it, bit for bit.
#[test]
fn released_blob_is_within_budget_and_reproduces_its_golden_vectors() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facegate-v1.fgm");
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() <= 200 * 1024, "{} bytes", bytes.len());
    let model = Model::parse(&bytes).unwrap();
    let h = model.header();
    assert!(
        h.arena_size <= 40 * 1024,
        "arena {} bytes of the 64 KiB RAM",
        h.arena_size
    );
    assert_eq!(
        (h.input_height, h.input_width, h.embedding_dim),
        (64, 64, 128)
    );
    assert!(h.golden_count >= 1);
    let mut arena = vec![0u8; model.arena_size()];
    let mut embedding = vec![0i8; model.embedding_dim()];
    assert_eq!(
        model.check_golden(&mut arena, &mut embedding),
        Ok(h.golden_count)
    );
}
