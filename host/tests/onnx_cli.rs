//! The ONNX commands end to end on a dataset this test writes to disk: `export` a run, then
//! `eval` the `.onnx` and the run folder (same accuracy), `calibrate` the `.onnx`, `compare` two
//! image files, and the honesty check through the people sidecar.

mod common;

use burn::prelude::*;
use common::write_trained_run;
use facegate::backend::ComputeDevice;
use facegate::commands::calibrate::{self, CalibrateArgs, Calibration};
use facegate::commands::embed::{run_compare, run_embed, CompareArgs, EmbedArgs};
use facegate::commands::evaluate::{self, EvalArgs};
use facegate::commands::export::{self, ExportArgs};
use facegate::data::synthetic::{synthetic_people, SyntheticConfig};
use facegate::inference::embed;
use facegate_shared::distance::squared_l2;
use std::path::{Path, PathBuf};

const PEOPLE: usize = 20;
const IMAGES: usize = 6;

fn image_path(root: &Path, p: usize, i: usize) -> PathBuf {
    root.join(format!("person_{p:03}"))
        .join(format!("person_{p:03}_{:04}.png", i + 1))
}

/// Writes the generated people as PNG files and an LFW View 1 pairs file; returns the pixels.
fn write_dataset(root: &Path) -> Vec<Vec<Vec<u8>>> {
    let people = synthetic_people(&SyntheticConfig::default(), PEOPLE, IMAGES, 9, 9);
    for (p, (_, imgs)) in people.iter().enumerate() {
        std::fs::create_dir_all(root.join(format!("person_{p:03}"))).unwrap();
        for (i, img) in imgs.iter().enumerate() {
            image::GrayImage::from_raw(32, 32, img.clone())
                .unwrap()
                .save(image_path(root, p, i))
                .unwrap();
        }
    }
    let mut text = String::from("100\n");
    for k in 0..100 {
        let (p, i, j) = (k % PEOPLE, k / PEOPLE % IMAGES, (k / PEOPLE + 1) % IMAGES);
        text += &format!("person_{p:03}\t{}\t{}\n", i + 1, j + 1);
    }
    for k in 0..100 {
        let (p, q) = (k % PEOPLE, (k % PEOPLE + 1 + k / PEOPLE) % PEOPLE);
        text += &format!(
            "person_{p:03}\t{}\tperson_{q:03}\t{}\n",
            k % 3 + 1,
            k % 5 + 1
        );
    }
    std::fs::write(root.join("pairs.txt"), text).unwrap();
    people.into_iter().map(|(_, v)| v).collect()
}

fn eval_args(model: &Path, root: &Path) -> EvalArgs {
    EvalArgs {
        model: model.to_path_buf(),
        data: Some(root.to_path_buf()),
        pairs: root.join("pairs.txt"),
        fold: None,
        report: None,
        flip_average: false,
        device: ComputeDevice::Flex,
        no_cache: true,
    }
}

#[test]
fn exported_model_evaluates_calibrates_and_compares_like_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pixels = write_dataset(&data);
    let run_dir = tmp.path().join("run");
    let (_, model) = write_trained_run(&run_dir);
    let onnx = tmp.path().join("out").join("tiny.onnx");

    // Without a calibration there is no threshold to export.
    let e = export::run(ExportArgs {
        model: run_dir.clone(),
        out: onnx.clone(),
        threshold_from: None,
        int8: None,
    })
    .unwrap_err();
    assert!(e.to_string().contains("--threshold-from"), "{e}");

    let calibration = Calibration {
        distance: "squared-l2".into(),
        threshold: 0.5,
        target_far: 1e-2,
        far: 0.011,
        tar: Some(0.4),
        negatives: 100,
        positives: 100,
        calibration_set: "test pairs".into(),
        flip_averaged: false,
    };
    let cal_path = tmp.path().join("cal.json");
    std::fs::write(&cal_path, serde_json::to_vec(&calibration).unwrap()).unwrap();
    let exported = export::run(ExportArgs {
        model: run_dir.clone(),
        out: onnx.clone(),
        threshold_from: Some(cal_path),
        int8: None,
    })
    .unwrap();
    assert!(exported.self_check_max_abs_diff <= 1e-5);
    assert_eq!(exported.metadata.threshold, 0.5);
    assert_eq!(exported.metadata.git_revision, "test123");
    assert_eq!(exported.metadata.people_count, 12);
    assert_eq!(exported.metadata.config_sha256.len(), 64);
    let sidecar = tmp.path().join("out").join("tiny.people.txt");
    let listed = std::fs::read_to_string(&sidecar).unwrap();
    assert_eq!(listed.lines().count(), 12);
    assert!(listed.starts_with("trainee_00\ntrainee_01\n"));

    // eval: the .onnx (tract) and the run folder (burn) give the same report.
    let from_run = evaluate::run(eval_args(&run_dir, &data)).unwrap();
    let from_onnx = evaluate::run(eval_args(&onnx, &data)).unwrap();
    assert_eq!(from_run.accuracy_mean, from_onnx.accuracy_mean);
    assert_eq!(from_run.accuracy_se, from_onnx.accuracy_se);
    assert!((from_run.auc - from_onnx.auc).abs() < 1e-9);
    assert!((from_run.threshold - from_onnx.threshold).abs() < 1e-4);

    // calibrate on the .onnx writes beside it and agrees with the run folder's.
    let cal = |model: &Path| {
        calibrate::run(CalibrateArgs {
            model: model.to_path_buf(),
            data: Some(data.clone()),
            pairs: data.join("pairs.txt"),
            far: 0.05,
            exhaustive: false,
            flip_average: false,
            device: ComputeDevice::Flex,
        })
        .unwrap()
    };
    let (a, b) = (cal(&run_dir), cal(&onnx));
    assert!((a.threshold - b.threshold).abs() < 1e-4);
    assert!(tmp.path().join("out/tiny.onnx.calibration.json").is_file());

    // compare: two files of the same person, distance as burn computes it.
    let (pa, pb) = (image_path(&data, 3, 0), image_path(&data, 3, 1));
    let c = run_compare(CompareArgs {
        model: onnx.clone(),
        a: pa.clone(),
        b: pb.clone(),
    })
    .unwrap();
    let device = Device::flex();
    let e = embed(
        &model,
        &[&pixels[3][0], &pixels[3][1]],
        32,
        false,
        &device,
        |_| {},
    );
    let expected = squared_l2(e.row(0), e.row(1)).unwrap();
    assert!(
        (c.distance - expected).abs() < 1e-4,
        "{} vs {expected}",
        c.distance
    );
    assert_eq!(c.same, c.distance <= 0.5);
    let out = tmp.path().join("e.json");
    let written = run_embed(EmbedArgs {
        model: onnx.clone(),
        images: vec![pa, pb],
        out: Some(out.clone()),
        flip_average: false,
    })
    .unwrap();
    assert_eq!(written.embeddings.len(), 2);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        json["embeddings"][1]["embedding"].as_array().unwrap().len(),
        16
    );

    // Honesty: a sidecar that is not the model's, or none, is refused.
    std::fs::write(&sidecar, "trainee_00\n").unwrap();
    let e = evaluate::run(eval_args(&onnx, &data)).unwrap_err();
    assert!(
        format!("{e:#}").contains("does not belong to this model"),
        "{e:#}"
    );
    std::fs::remove_file(&sidecar).unwrap();
    let e = evaluate::run(eval_args(&onnx, &data)).unwrap_err();
    assert!(format!("{e:#}").contains("people.txt"), "{e:#}");
    // ... and one with the same number of other names.
    let swapped = listed.replace("trainee_00", "person_004");
    std::fs::write(&sidecar, swapped).unwrap();
    let e = evaluate::run(eval_args(&onnx, &data)).unwrap_err();
    assert!(format!("{e:#}").contains("does not belong"), "{e:#}");
}

#[test]
fn broken_onnx_files_are_refused_by_eval_and_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data);
    let bad = tmp.path().join("bad.onnx");
    std::fs::write(&bad, b"\x08\x07garbage that is not protobuf\xff\xff").unwrap();
    std::fs::write(tmp.path().join("bad.people.txt"), "x\n").unwrap();
    let e = evaluate::run(eval_args(&bad, &data)).unwrap_err();
    assert!(format!("{e:#}").contains("not a valid ONNX model"), "{e:#}");
    let e = run_compare(CompareArgs {
        model: bad,
        a: image_path(&data, 0, 0),
        b: image_path(&data, 0, 1),
    })
    .unwrap_err();
    assert!(format!("{e:#}").contains("not a valid ONNX model"), "{e:#}");
}
