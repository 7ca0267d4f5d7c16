use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// LFW View 2 shaped synthetic scores: 10 folds of 300 same + 300 different pairs.
fn synthetic_pairs() -> Vec<ScoredPair> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for fold in 0..10 {
        for i in 0..600 {
            let same = i < 300;
            let d = if same {
                0.55 + 0.18 * normal(&mut rng)
            } else {
                1.25 + 0.22 * normal(&mut rng)
            };
            out.push(ScoredPair::new(d.max(0.0), same, fold));
        }
    }
    out
}

fn synthetic_log() -> Vec<TrainLogRow> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    (0..200u64)
        .map(|i| {
            let step = i * 10;
            let t = step as f32;
            TrainLogRow {
                step,
                epoch: step / 250,
                loss: 0.2 * (-t / 600.0).exp() + 0.02 + 0.01 * normal(&mut rng).abs(),
                active_fraction: 0.9 * (-t / 800.0).exp() + 0.05 + 0.02 * normal(&mut rng),
                mean_d_ap: 0.5 + 0.4 * (-t / 700.0).exp(),
                mean_d_an: 1.3 - 0.3 * (-t / 700.0).exp(),
            }
        })
        .collect()
}

fn meta() -> ReportMeta {
    ReportMeta {
        model: "synthetic | test".to_owned(),
        pairs_description: "synthetic LFW View 2 shaped scores".to_owned(),
        distance: "squared L2".to_owned(),
        flip_averaged: true,
    }
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

#[test]
fn evaluate_fills_every_figure() {
    let pairs = synthetic_pairs();
    let r = EvalReport::evaluate(&pairs, meta()).unwrap();
    assert_eq!(
        (r.pairs, r.same_pairs, r.different_pairs),
        (6000, 3000, 3000)
    );
    assert_eq!(r.folds.len(), 10);
    assert!(!r.folds_split_interleaved);
    assert!(
        r.accuracy_mean > 0.9 && r.accuracy_mean < 1.0,
        "{}",
        r.accuracy_mean
    );
    assert!(r.accuracy_se > 0.0 && r.accuracy_se < 0.02);
    assert!(r.auc > 0.95 && r.auc <= 1.0);
    assert!(r.eer > 0.0 && r.eer < 0.1);
    let fars: Vec<f64> = r.tar_at_far.iter().map(|p| p.target_far).collect();
    assert_eq!(fars, REPORT_FARS);
    // 3000 negatives resolve 1e-2 and 1e-3.
    assert!(r.tar_at_far.iter().all(|p| !p.too_few_negatives));
    assert!(r.tar_at_far.iter().all(|p| p.far <= p.target_far));
    assert_eq!(r.distance, "squared L2");
    assert!(r.flip_averaged);
}

#[test]
fn evaluate_refuses_bad_pairs() {
    let same = [ScoredPair::new(0.1, true, 0), ScoredPair::new(0.2, true, 1)];
    assert!(matches!(
        EvalReport::evaluate(&same, meta()),
        Err(ReportError::Metrics(MetricsError::NoDifferentPairs))
    ));
    assert!(matches!(
        EvalReport::evaluate(&[], meta()),
        Err(ReportError::Metrics(MetricsError::Empty))
    ));
}

#[test]
fn write_report_creates_all_files() {
    let pairs = synthetic_pairs();
    let log = synthetic_log();
    let report = EvalReport::evaluate(&pairs, meta()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/eval");
    let inputs = PlotInputs {
        pairs: &pairs,
        training: &log,
    };
    let written = write_report(&out, &report, &inputs).unwrap();
    let names = [REPORT_JSON, REPORT_MD, ROC_PNG, DISTANCES_PNG, TRAINING_PNG];
    for name in names {
        assert!(written.contains(&out.join(name)), "{name} listed");
        assert!(out.join(name).is_file(), "{name} written");
    }
    assert_eq!(png_size(&out.join(ROC_PNG)), (800, 600));
    assert_eq!(png_size(&out.join(DISTANCES_PNG)), (800, 600));
    assert_eq!(png_size(&out.join(TRAINING_PNG)), (800, 900));

    let json = std::fs::read_to_string(out.join(REPORT_JSON)).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in [
        "accuracy_mean",
        "accuracy_se",
        "auc",
        "eer",
        "threshold",
        "pairs",
        "folds",
        "tar_at_far",
        "distance",
        "model",
        "pairs_description",
        "flip_averaged",
    ] {
        assert!(value.get(field).is_some(), "report.json has {field}");
    }
    assert_eq!(value["pairs"], 6000);
    // serde_json's default float parsing may be 1 ulp off, so compare floats loosely.
    let back: EvalReport = serde_json::from_str(&json).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(back.accuracy_mean, report.accuracy_mean));
    assert!(close(back.accuracy_se, report.accuracy_se));
    assert!(close(back.auc, report.auc) && close(back.eer, report.eer));
    assert_eq!(back.threshold, report.threshold);
    assert_eq!((back.pairs, back.folds.len()), (report.pairs, 10));
    assert_eq!(back.tar_at_far.len(), REPORT_FARS.len());
    assert_eq!(back.model, report.model);

    let md = std::fs::read_to_string(out.join(REPORT_MD)).unwrap();
    for needle in ["![ROC curve](roc.png)", "(distances.png)", "(training.png)"] {
        assert!(md.contains(needle), "report.md links {needle}");
    }
    assert!(
        md.contains("| Model | synthetic \\| test |"),
        "pipes escaped"
    );
    assert!(md.contains("| Flip-averaged embeddings | yes |"));
    assert!(md.contains(&format!(
        "{:.2}% ± {:.2}%",
        100.0 * report.accuracy_mean,
        100.0 * report.accuracy_se
    )));
}

#[test]
fn write_report_without_plot_inputs_writes_text_only() {
    let pairs = synthetic_pairs();
    let report = EvalReport::evaluate(&pairs, meta()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = write_report(dir.path(), &report, &PlotInputs::default()).unwrap();
    assert_eq!(
        written,
        [dir.path().join(REPORT_JSON), dir.path().join(REPORT_MD)]
    );
    let md = std::fs::read_to_string(dir.path().join(REPORT_MD)).unwrap();
    assert!(!md.contains("## Plots"));
}

#[test]
fn markdown_flags_too_few_negatives_and_split_folds() {
    // 20 pairs in one fold: split into 10 folds, 10 negatives cannot resolve FAR 1e-2.
    let pairs: Vec<ScoredPair> = (0..20)
        .map(|i| ScoredPair::new(i as f32 / 10.0, i % 2 == 0, 0))
        .collect();
    let report = EvalReport::evaluate(&pairs, ReportMeta::default()).unwrap();
    assert!(report.folds_split_interleaved);
    assert!(report.tar_at_far.iter().all(|p| p.too_few_negatives));
    let md = markdown(&report, &[]);
    assert!(md.contains("too few negatives: FAR 1e-2 needs ≥ 100"));
    assert!(md.contains("split into 10 interleaved folds"));
    assert!(md.contains("| Model | — |"));
}

#[test]
fn plots_refuse_empty_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.png");
    assert!(matches!(
        plot_training(&path, &[], "t"),
        Err(PlotError::NoData(_))
    ));
    let nan = [ScoredPair::new(f32::NAN, true, 0)];
    assert!(matches!(
        plot_histogram(&path, &nan, 0.5, 10, "t"),
        Err(PlotError::NoData(_))
    ));
}

/// Writes a sample report for a person to look at:
/// `cargo test -p facegate --lib eval::report::tests::sample -- --ignored`,
/// then open `target/eval-sample/`.
#[test]
#[ignore = "writes into target/eval-sample for manual inspection"]
fn sample() {
    let pairs = synthetic_pairs();
    let report = EvalReport::evaluate(&pairs, meta()).unwrap();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/eval-sample");
    let inputs = PlotInputs {
        pairs: &pairs,
        training: &synthetic_log(),
    };
    for path in write_report(&out, &report, &inputs).unwrap() {
        println!("{}", path.display());
    }
}
