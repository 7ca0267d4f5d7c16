//! Tests on the real LFW (deep-funneled), skipped with a message when it is absent.
//!
//! The images are looked for in `$FACEGATE_DATA`, else `<workspace>/../shared/data/lfw/
//! lfw-deepfunneled`; the pairs files beside that folder (or inside it).
//!
//! Timing (decode cold, then from the cache), in release:
//! `cargo test --release -p facegate --lib data::lfw_tests::decode_timing -- --ignored --nocapture`

use std::path::{Path, PathBuf};
use std::time::Instant;

use facegate_shared::preprocess::LFW_DEFAULT;

use super::dataset::CacheSetting;
use super::decode::{decode_file, Progress};
use super::pairs::resolve_path;
use super::scan::scan_dataset;
use super::*;

fn lfw_root() -> Option<PathBuf> {
    lfw_for_tests()
}

fn pairs_file(root: &Path, name: &str) -> Option<PathBuf> {
    let found = [root.parent().map(|p| p.join(name)), Some(root.join(name))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file());
    if found.is_none() {
        println!("SKIPPED: {name} not found beside {}", root.display());
    }
    found
}

#[test]
fn lfw_scan_finds_every_person_and_image_and_pairs_resolve() {
    let Some(root) = lfw_root() else { return };
    let scan = scan_dataset(&root).unwrap();
    assert_eq!((scan.people.len(), scan.files.len()), (5749, 13233));
    assert!(
        scan.files.iter().all(|f| f.number.is_some()),
        "LFW names are name_NNNN"
    );
    let mut counts = vec![0usize; scan.people.len()];
    scan.files.iter().for_each(|f| counts[f.person] += 1);
    let singletons = counts.iter().filter(|&&n| n == 1).count();
    println!("LFW: 5749 people, {singletons} with a single image, 13233 images");
    for (name, folds, per_fold) in [
        ("pairsDevTrain.txt", 1, 1100),
        ("pairsDevTest.txt", 1, 500),
        ("pairs.txt", 10, 300),
    ] {
        let Some(path) = pairs_file(&root, name) else {
            continue;
        };
        let pairs = PairsFile::read(&path).unwrap();
        assert_eq!((pairs.folds, pairs.per_fold), (folds, per_fold), "{name}");
        assert_eq!(pairs.pairs.len(), 2 * folds * per_fold, "{name}");
        let resolved = pairs.resolve_in_scan(&scan).unwrap();
        assert_eq!(resolved.len(), pairs.pairs.len());
        for pair in pairs.pairs.iter().step_by(97) {
            resolve_path(&root, &pair.a).unwrap();
            resolve_path(&root, &pair.b).unwrap();
        }
        println!("{name}: {} pairs resolve", pairs.pairs.len());
    }
}

#[test]
fn lfw_view1_train_and_test_share_no_people() {
    let Some(root) = lfw_root() else { return };
    let (Some(train), Some(test)) = (
        pairs_file(&root, "pairsDevTrain.txt"),
        pairs_file(&root, "pairsDevTest.txt"),
    ) else {
        return;
    };
    let train = PairsFile::read(&train).unwrap();
    let test = PairsFile::read(&test).unwrap();
    assert!(overlapping_people(&train.people(), &test).is_empty());
}

#[test]
fn lfw_sample_decodes() {
    let Some(root) = lfw_root() else { return };
    let scan = scan_dataset(&root).unwrap();
    for file in scan.files.iter().step_by(331) {
        let pixels = decode_file(&scan.path(file), &LFW_DEFAULT).unwrap();
        assert_eq!(pixels.len(), 64 * 64);
        let (lo, hi) = (pixels.iter().min().unwrap(), pixels.iter().max().unwrap());
        assert!(
            hi - lo > 30,
            "{}: a face has contrast",
            scan.relative_path(file)
        );
    }
}

#[test]
#[ignore = "decodes all of LFW twice: run in release with --ignored --nocapture"]
fn decode_timing() {
    let Some(root) = lfw_root() else { return };
    let cache = tempfile::tempdir().unwrap();
    let options = LoadOptions {
        config: LFW_DEFAULT,
        cache: CacheSetting::Folder(cache.path().to_path_buf()),
        progress: Progress::Bar,
    };
    let start = Instant::now();
    let cold = Dataset::load(&root, &options).unwrap();
    let cold_time = start.elapsed();
    let start = Instant::now();
    let warm = Dataset::load(&root, &options).unwrap();
    let warm_time = start.elapsed();
    assert!(matches!(warm.cache_status(), CacheStatus::Hit(_)));
    assert_eq!(warm.all_pixels(), cold.all_pixels());
    println!("{}", cold.summary());
    println!("fingerprint {}", cold.fingerprint());
    println!(
        "LFW decode: cold {:.2} s, from cache {:.2} s ({} threads)",
        cold_time.as_secs_f64(),
        warm_time.as_secs_f64(),
        rayon::current_num_threads()
    );
}
