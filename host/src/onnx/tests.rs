//! Export and bad-input tests on a small model with every operator of the device model.

use super::export::{encode, export_float, float_graph};
use super::metadata::{people_sha256, OnnxMetadata};
use super::ort_runner::ort_library_from;
use super::tract_runner::TractEmbedder;
use super::*;
use crate::folded::{randomize_batchnorm, FoldedEmbedder};
use crate::model::EmbedderConfig;
use burn::prelude::Device;
use facegate_shared::preprocess::PreprocessConfig;
use std::collections::BTreeSet;

fn folded() -> FoldedEmbedder {
    let device = Device::flex();
    let config = EmbedderConfig::tiny_residual();
    let mut model = config.init(&device);
    randomize_batchnorm(&mut model, &device);
    FoldedEmbedder::fold(&model, &config)
}

fn metadata() -> OnnxMetadata {
    let people: BTreeSet<String> = ["a", "b"].into_iter().map(String::from).collect();
    OnnxMetadata {
        preprocess: PreprocessConfig {
            crop: 40,
            out_side: 32,
        },
        embedding_dim: 16,
        threshold: 0.85,
        target_far: 1e-3,
        measured_far: 9.5e-4,
        flip_averaged: false,
        calibration_set: "the pairs of test.txt".into(),
        config_sha256: "00".repeat(32),
        git_revision: "abc1234".into(),
        people_count: people.len(),
        people_sha256: people_sha256(&people),
    }
}

fn exported() -> (FoldedEmbedder, pb::ModelProto) {
    let f = folded();
    let m = export_float(&f, &metadata());
    (f, m)
}

#[test]
fn export_round_trips_metadata_and_declares_the_interface() {
    let (_, model) = exported();
    assert_eq!(model.producer_name, PRODUCER);
    assert_eq!(model.opset_import[0].version, proto::OPSET);
    let checked = read_model(&encode(&model)).unwrap();
    assert_eq!(checked.metadata, metadata());
    let graph = checked.proto.graph.unwrap();
    assert_eq!(graph.input[0].name, INPUT);
    assert_eq!(graph.output[0].name, OUTPUT);
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "Conv").count(), 7);
    assert_eq!(ops.iter().filter(|o| **o == "Add").count(), 1, "{ops:?}");
    assert!(!ops.contains(&"BatchNormalization"), "BatchNorm is folded");
}

#[test]
fn tract_matches_the_folded_reference_for_any_batch_size() {
    let (f, model) = exported();
    let bytes = encode(&model);
    for threads in [1, 2] {
        let tract = TractEmbedder::from_bytes(&bytes, threads).unwrap();
        for n in [1, 3, 8] {
            let inputs: Vec<f32> = (0..n * 32 * 32)
                .map(|i| ((i * 131 % 256) as f32 - 128.0) / 128.0)
                .collect();
            let got = tract.embed_inputs(&inputs, n).unwrap();
            assert_eq!(got.len(), n * 16);
            for (i, row) in got.chunks(16).enumerate() {
                let reference = f.forward(&inputs[i * 1024..(i + 1) * 1024]).embedding;
                for (a, b) in row.iter().zip(&reference) {
                    assert!(
                        (a - b).abs() <= 1e-5,
                        "threads {threads}, n {n}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn zero_projection_gives_a_zero_embedding_not_nan() {
    // The 1e-6 floor of burn's normalisation is in the graph: an all-zero output stays 0.
    let mut f = folded();
    f.projection.weight.iter_mut().for_each(|w| *w = 0.0);
    f.projection.bias.iter_mut().for_each(|b| *b = 0.0);
    let bytes = encode(&export_float(&f, &metadata()));
    let got = TractEmbedder::from_bytes(&bytes, 1)
        .unwrap()
        .embed_inputs(&[0.5; 1024], 1)
        .unwrap();
    assert!(got.iter().all(|&v| v == 0.0), "{got:?}");
}

#[test]
fn malformed_and_truncated_files_are_typed_errors() {
    let bytes = encode(&exported().1);
    assert!(matches!(
        read_model(b"definitely not protobuf \xff\xff\xff"),
        Err(OnnxError::Decode(_))
    ));
    let mut decode_errors = 0;
    let step = (bytes.len() / 97).max(1);
    for len in (0..bytes.len()).step_by(step) {
        match read_model(&bytes[..len]) {
            Ok(_) => panic!("a {len}-byte prefix of {} was accepted", bytes.len()),
            Err(OnnxError::Decode(_)) => decode_errors += 1,
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    assert!(
        decode_errors > 50,
        "{decode_errors} prefixes failed to decode"
    );
    let e = read_model(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(matches!(
        TractEmbedder::from_bytes(&bytes[..bytes.len() - 3], 1),
        Err(OnnxError::Decode(_))
    ));
}

fn with_props(edit: impl FnOnce(&mut Vec<pb::StringStringEntryProto>)) -> Vec<u8> {
    let (_, mut model) = exported();
    edit(&mut model.metadata_props);
    encode(&model)
}

#[test]
fn missing_or_bad_metadata_is_named() {
    for key in [
        "facegate.threshold",
        "facegate.input_side",
        "facegate.training.people_sha256",
    ] {
        let bytes = with_props(|p| p.retain(|e| e.key != key));
        match read_model(&bytes) {
            Err(OnnxError::MissingMetadata(k)) => assert_eq!(k, key),
            other => panic!("{key}: {other:?}"),
        }
    }
    let set = |key: &'static str, value: &'static str| {
        with_props(move |p| {
            p.iter_mut()
                .filter(|e| e.key == key)
                .for_each(|e| e.value = value.into())
        })
    };
    for (key, value) in [
        ("facegate.threshold", "close"),
        ("facegate.threshold", "-1"),
        ("facegate.distance", "cosine"),
        ("facegate.input_scale", "0.5"),
        ("facegate.format", "2"),
    ] {
        let e = read_model(&set(key, value)).unwrap_err();
        assert!(
            matches!(e, OnnxError::BadMetadata { .. }),
            "{key}={value}: {e:?}"
        );
        assert!(e.to_string().contains("facegate."), "{e}");
    }
}

#[test]
fn wrong_shapes_are_reported_before_any_runtime_runs() {
    // Metadata says 48×48 but the graph takes 32×32.
    let bytes = with_props(|p| {
        p.iter_mut()
            .filter(|e| e.key == "facegate.input_side")
            .for_each(|e| e.value = "48".into())
    });
    let e = read_model(&bytes).unwrap_err();
    assert!(matches!(e, OnnxError::Shape { .. }), "{e:?}");
    assert!(e.to_string().contains("[?,1,48,48]"), "{e}");
    // Metadata says 32-d embeddings, the graph makes 16.
    let bytes = with_props(|p| {
        p.iter_mut()
            .filter(|e| e.key == "facegate.embedding_dim")
            .for_each(|e| e.value = "32".into())
    });
    assert!(matches!(read_model(&bytes), Err(OnnxError::Shape { .. })));
    // Two outputs, or none at all, or no graph.
    let (f, mut model) = exported();
    let mut graph = float_graph(&f);
    graph.output.push(graph.output[0].clone());
    model.graph = Some(graph);
    assert!(matches!(
        read_model(&encode(&model)),
        Err(OnnxError::NotAnEmbedder(_))
    ));
    model.graph = None;
    assert!(matches!(
        read_model(&encode(&model)),
        Err(OnnxError::NotAnEmbedder(_))
    ));
}

#[test]
fn a_graph_tract_cannot_build_is_a_tract_error_not_a_panic() {
    let (_, mut model) = exported();
    // Drop a weight: the stem's Conv now reads an undefined value.
    model
        .graph
        .as_mut()
        .unwrap()
        .initializer
        .retain(|t| t.name != "stem.weight");
    let e = TractEmbedder::from_bytes(&encode(&model), 1).unwrap_err();
    assert!(matches!(e, OnnxError::Tract(_)), "{e:?}");
}

#[test]
fn wrong_input_sizes_are_refused() {
    let bytes = encode(&exported().1);
    let tract = TractEmbedder::from_bytes(&bytes, 1).unwrap();
    assert!(matches!(
        tract.embed_inputs(&[0.0; 100], 1),
        Err(OnnxError::Input(_))
    ));
    let small = vec![0u8; 10];
    assert!(matches!(
        tract.embed(&[&small], false, |_| {}),
        Err(OnnxError::Input(_))
    ));
}

#[test]
fn people_lists_are_checked_against_the_hash() {
    let m = metadata();
    let mut people: BTreeSet<String> = ["a", "b"].into_iter().map(String::from).collect();
    m.check_people(&people).unwrap();
    people.insert("c".into());
    assert!(matches!(
        m.check_people(&people),
        Err(OnnxError::PeopleMismatch {
            expected_count: 2,
            found_count: 3
        })
    ));
    let other: BTreeSet<String> = ["a", "x"].into_iter().map(String::from).collect();
    assert!(m.check_people(&other).is_err(), "same count, other names");
}

#[test]
fn a_missing_onnx_runtime_library_is_a_clear_error() {
    let e = ort_library_from(None).unwrap_err();
    assert!(e.to_string().contains("ORT_DYLIB_PATH is not set"), "{e}");
    let e = ort_library_from(Some("/nonexistent/libonnxruntime.so".into())).unwrap_err();
    assert!(matches!(e, OnnxError::OrtLibrary(_)));
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(e.to_string().contains("onnxruntime==1.32.0"), "{e}");
}
