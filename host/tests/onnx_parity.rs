//! burn vs tract vs ONNX Runtime on an exported model: every embedding component within 1e-4 and
//! identical same/different decisions on a pairs set.
//!
//! - Generated images (always): a small model with every operator of the device model, briefly
//!   trained (its own BatchNorm statistics), 128 images of other people, all 8,128 pairs.
//! - LFW (when present, `$FACEGATE_DATA` or `../shared/data/lfw/lfw-deepfunneled`): the release
//!   model `models/facegate-v1` on the images of the first 300 pairs of `pairsDevTest.txt`.
//!
//! ONNX Runtime is loaded from `ORT_DYLIB_PATH` (scripts/test sets it). Without it the ort half
//! is skipped with a message — except under CI (`CI` set), where that is a failure.

mod common;

use burn::prelude::*;
use common::write_trained_run;
use facegate::data::decode::decode_file;
use facegate::data::synthetic::{synthetic_people, SyntheticConfig};
use facegate::data::{resolve_path, PairsFile};
use facegate::folded::{randomize_batchnorm, FoldedEmbedder};
use facegate::inference::{embed, Embeddings};
use facegate::model::{Embedder, EmbedderConfig};
use facegate::onnx::export::{encode, export_float};
use facegate::onnx::ort_runner::OrtEmbedder;
use facegate::onnx::tract_runner::TractEmbedder;
use facegate::run::RunDir;
use facegate::training::TrainingConfig;
use facegate_shared::distance::squared_l2;
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-4;

fn max_abs_diff(a: &Embeddings, b: &Embeddings) -> f32 {
    assert_eq!((a.len(), a.dim), (b.len(), b.dim));
    a.values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn decisions(e: &Embeddings, pairs: &[(usize, usize)], threshold: f32) -> Vec<bool> {
    pairs
        .iter()
        .map(|&(i, j)| squared_l2(e.row(i), e.row(j)).unwrap() <= threshold)
        .collect()
}

/// Pairs on which two sets of decisions differ.
fn disagreements(a: &[bool], b: &[bool]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// Embeds `images` with burn, tract and (if available) ort; checks |Δ| and the decisions at
/// `threshold` over `pairs`; returns the worst |Δ| seen.
fn check(
    model: &Embedder,
    bytes: &[u8],
    images: &[&[u8]],
    side: usize,
    pairs: &[(usize, usize)],
    threshold: f32,
    flip_average: bool,
) -> f32 {
    let device = Device::flex();
    let burn = embed(model, images, side, flip_average, &device, |_| {});
    let tract = TractEmbedder::from_bytes(bytes, 2)
        .unwrap()
        .embed(images, flip_average, |_| {})
        .unwrap();
    let mut worst = max_abs_diff(&burn, &tract);
    eprintln!(
        "{} images (flip {flip_average}): burn vs tract max |Δ| {worst:.2e}",
        images.len()
    );
    assert!(worst <= TOLERANCE, "burn vs tract: {worst:e}");
    let expected = decisions(&burn, pairs, threshold);
    assert_eq!(
        disagreements(&expected, &decisions(&tract, pairs, threshold)),
        0,
        "tract"
    );
    let accepted = expected.iter().filter(|&&s| s).count();
    assert!(
        accepted > 0 && accepted < pairs.len(),
        "a threshold that decides"
    );
    if common::ort_available() {
        let ort = OrtEmbedder::from_bytes(bytes, 1)
            .unwrap()
            .embed(images, flip_average, |_| {})
            .unwrap();
        let (b, t) = (max_abs_diff(&burn, &ort), max_abs_diff(&tract, &ort));
        eprintln!("  burn vs ort {b:.2e}, tract vs ort {t:.2e}");
        assert!(b <= TOLERANCE && t <= TOLERANCE, "ort: {b:e} / {t:e}");
        assert_eq!(
            disagreements(&expected, &decisions(&ort, pairs, threshold)),
            0,
            "ort"
        );
        worst = worst.max(b).max(t);
    }
    eprintln!("  {} pairs, {accepted} accepted by all", pairs.len());
    worst
}

/// A threshold near burn's median distance that no pair's distance is within rounding of: the
/// middle of the widest gap between consecutive sorted distances in the middle tenth. (At a
/// threshold equal to, or 1e-7 from, a pair's distance, that pair's decision is a rounding tie
/// that no two float implementations can be asked to agree on.)
fn untied_threshold(
    model: &Embedder,
    images: &[&[u8]],
    pairs: &[(usize, usize)],
    flip_average: bool,
) -> f32 {
    let e = embed(model, images, 32, flip_average, &Device::flex(), |_| {});
    let mut d: Vec<f32> = pairs
        .iter()
        .map(|&(i, j)| squared_l2(e.row(i), e.row(j)).unwrap())
        .collect();
    d.sort_by(f32::total_cmp);
    let (lo, hi) = (d.len() * 45 / 100, d.len() * 55 / 100);
    let k = (lo..hi)
        .max_by(|&a, &b| (d[a + 1] - d[a]).total_cmp(&(d[b + 1] - d[b])))
        .unwrap();
    let gap = d[k + 1] - d[k];
    assert!(gap > 1e-5, "no clear gap near the median ({gap:e})");
    0.5 * (d[k] + d[k + 1])
}

#[test]
fn burn_tract_and_ort_agree_on_generated_images() {
    let dir = tempfile::tempdir().unwrap();
    let (config, model) = write_trained_run(dir.path());
    let folded = FoldedEmbedder::fold(&model, &config.model);
    let imgs: Vec<Vec<u8>> = synthetic_people(&SyntheticConfig::default(), 16, 8, 5, 5)
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    assert!(refs.len() >= 100);
    let pairs: Vec<(usize, usize)> = (0..refs.len())
        .flat_map(|i| (i + 1..refs.len()).map(move |j| (i, j)))
        .collect();
    let bytes = encode(&export_float(&folded, &common::test_metadata(32, 16, 1.0)));
    let t = untied_threshold(&model, &refs, &pairs, false);
    check(&model, &bytes, &refs, 32, &pairs, t, false);
    let first: Vec<(usize, usize)> = pairs.iter().copied().filter(|&(_, j)| j < 48).collect();
    let t = untied_threshold(&model, &refs[..48], &first, true);
    check(&model, &bytes, &refs[..48], 32, &first, t, true);
}

#[test]
fn burn_tract_and_ort_agree_on_lfw_with_the_release_model() {
    let Some(root) = common::lfw_root() else {
        return;
    };
    let Some(pairs_path) = root
        .parent()
        .map(|p| p.join("pairsDevTest.txt"))
        .filter(|p| p.is_file())
    else {
        println!("SKIPPED: pairsDevTest.txt not beside {}", root.display());
        return;
    };
    let run_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/facegate-v1");
    let run = RunDir::open(&run_path).unwrap();
    let config = TrainingConfig::load(run_path.join("config.json")).unwrap();
    let device = Device::flex();
    let model = run.load_model(&config.model, &device).unwrap();
    let folded = FoldedEmbedder::fold(&model, &config.model);
    let preprocess = config.preprocess();
    let side = usize::from(preprocess.out_side);
    let pairs_file = PairsFile::read(&pairs_path).unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut pairs = Vec::new();
    for pair in pairs_file.pairs.iter().take(300) {
        let mut index = |image| {
            let p = resolve_path(&root, image).unwrap();
            paths.iter().position(|q| *q == p).unwrap_or_else(|| {
                paths.push(p);
                paths.len() - 1
            })
        };
        let (a, b) = (index(&pair.a), index(&pair.b));
        pairs.push((a, b));
    }
    let imgs: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| decode_file(p, &preprocess).unwrap())
        .collect();
    let refs: Vec<&[u8]> = imgs.iter().map(Vec::as_slice).collect();
    // The release threshold (docs/lfw-view1/calibration.json, FAR 1e-3, flip-averaged).
    let threshold = 0.242_660_09;
    let dim = folded.embedding_dim();
    let bytes = encode(&export_float(
        &folded,
        &common::test_metadata(preprocess.out_side, dim, threshold),
    ));
    let worst = check(&model, &bytes, &refs, side, &pairs, threshold, true);
    let plain = check(&model, &bytes, &refs, side, &pairs, threshold, false);
    eprintln!(
        "LFW, {} images, {} pairs: max |Δ| {:.2e}",
        refs.len(),
        pairs.len(),
        worst.max(plain)
    );
}

#[test]
fn exported_file_passes_the_onnx_checker() {
    let device = Device::flex();
    let config = EmbedderConfig::tiny_residual();
    let mut model = config.init(&device);
    randomize_batchnorm(&mut model, &device);
    let folded = FoldedEmbedder::fold(&model, &config);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.onnx");
    std::fs::write(
        &path,
        encode(&export_float(&folded, &common::test_metadata(32, 16, 0.5))),
    )
    .unwrap();
    // onnx's own checker with strict shape inference, and its view of the interface and metadata.
    let script = r#"
import sys
try:
    import onnx
except ImportError:
    print("NO-ONNX"); sys.exit(0)
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
props = {p.key: p.value for p in m.metadata_props}
print(m.opset_import[0].version, dims(m.graph.input[0]), dims(m.graph.output[0]), props["facegate.distance"], m.producer_name)
"#;
    let out = match std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_none() => {
            println!("SKIPPED: no python3 ({e})");
            return;
        }
        Err(e) => panic!("CI needs python3 with onnx: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "onnx.checker refused the export:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.trim() == "NO-ONNX" {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the onnx package (scripts/setup installs it)"
        );
        println!("SKIPPED: python3 has no onnx package (pip install onnx==1.23.2)");
        return;
    }
    assert_eq!(
        stdout.trim(),
        "17 ['N', 1, 32, 32] ['N', 16] squared_l2 facegate"
    );
}
