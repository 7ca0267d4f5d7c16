//! Scanning, decoding, caching, loading and splitting, on data the tests write themselves.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use facegate_shared::preprocess::{grey, PreprocessConfig};
use proptest::prelude::*;

use super::cache::{self, CacheError};
use super::dataset::CacheSetting;
use super::decode::{decode_bytes, DecodedFiles, Progress};
use super::scan::{parse_number, scan_dataset};
use super::split::{exclude_people, held_out_people, trained_people, training_set, SplitError};
use super::test_data::{write_small_dataset, CAROL_GREY, RGB_FILES};
use super::*;

/// Crops exactly the coloured centre of the generated 40×30 images.
const CFG: PreprocessConfig = PreprocessConfig {
    crop: 20,
    out_side: 8,
};

fn options(cache: &Path) -> LoadOptions {
    LoadOptions {
        config: CFG,
        cache: CacheSetting::Folder(cache.to_path_buf()),
        progress: Progress::Hidden,
    }
}

/// (dataset dir, cache dir), both temporary.
fn small_dataset() -> (tempfile::TempDir, tempfile::TempDir) {
    let (data, cache) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_small_dataset(data.path());
    (data, cache)
}

#[test]
fn dataset_root_prefers_the_flag_then_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let env = Some(OsString::from(dir.path()));
    assert_eq!(dataset_root_from(Some(d.clone()), None).unwrap(), d);
    assert_eq!(dataset_root_from(None, env.clone()).unwrap(), d);
    let missing = d.join("missing");
    assert!(matches!(
        dataset_root_from(Some(missing.clone()), env),
        Err(DataError::NotAFolder(p)) if p == missing
    ));
    assert!(matches!(
        dataset_root_from(None, Some(OsString::new())),
        Err(DataError::NoDatasetGiven)
    ));
    assert!(DataError::NoDatasetGiven.to_string().contains(DATA_ENV));
}

/// (person, file name, number).
const NUMBER_TABLE: &[(&str, &str, Option<u32>)] = &[
    ("Aaron_Eckhart", "Aaron_Eckhart_0001.jpg", Some(1)),
    ("bob", "bob_0123.PNG", Some(123)),
    ("bob", "bob_12.pgm", Some(12)),
    ("bob", "alice_0001.jpg", None),
    ("bob", "bob_.jpg", None),
    ("bob", "bob_00x1.jpg", None),
    ("bob", "bob0001.jpg", None),
    ("bob", "bob_99999999999.jpg", None),
];

#[test]
fn file_numbers_table() {
    for &(person, file, want) in NUMBER_TABLE {
        assert_eq!(parse_number(person, file), want, "{person} {file}");
    }
}

#[test]
fn scan_is_sorted_and_ignores_other_files() {
    let (data, _) = small_dataset();
    let scan = scan_dataset(data.path()).unwrap();
    assert_eq!(scan.people, ["alice", "bob", "carol", "dave"]);
    let names: Vec<_> = scan.files.iter().map(|f| scan.relative_path(f)).collect();
    assert_eq!(
        names,
        [
            "alice/alice_0001.png",
            "alice/alice_0002.png",
            "alice/alice_0003.jpg",
            "bob/bob_0001.jpg",
            "bob/bob_0002.PNG",
            "bob/bob_0003.jpg",
            "carol/carol_0001.pgm",
            "dave/dave_0001.png",
        ]
    );
    let ignored: BTreeSet<_> = scan.ignored.iter().filter_map(|p| p.to_str()).collect();
    let want = ["README.txt", "alice/notes.txt"].map(|f| data.path().join(f));
    assert_eq!(ignored, want.iter().filter_map(|p| p.to_str()).collect());
    let image = ImageRef {
        person: "bob".into(),
        number: 2,
    };
    assert_eq!(scan.find(&image), Some(4));
    assert_eq!(scan_dataset(data.path()).unwrap().files, scan.files);
    assert!(matches!(
        scan_dataset(&data.path().join("nope")),
        Err(ScanError::ReadDir { .. })
    ));
}

#[test]
fn fingerprint_follows_files_and_setting() {
    let (data, _) = small_dataset();
    let scan = scan_dataset(data.path()).unwrap();
    let fp = scan.fingerprint(&CFG);
    assert_eq!(fp.hex().len(), 64);
    assert_eq!(scan_dataset(data.path()).unwrap().fingerprint(&CFG), fp);
    assert_ne!(scan.fingerprint(&PreprocessConfig { crop: 21, ..CFG }), fp);
    fs::write(data.path().join("carol/carol_0002.png"), b"x").unwrap();
    assert_ne!(scan_dataset(data.path()).unwrap().fingerprint(&CFG), fp);
}

fn assert_small_dataset(d: &Dataset) {
    let names: Vec<_> = d.people().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob", "carol"],
        "dave's only file is corrupt"
    );
    assert_eq!((d.len(), d.side(), d.singleton_count()), (6, 8, 1));
    let failed: Vec<_> = d
        .failures()
        .iter()
        .map(|f| f.path.file_name().unwrap())
        .collect();
    assert_eq!(failed, ["bob_0003.jpg", "dave_0001.png"]);
    assert!(d.failures().iter().all(|f| f.reason.contains("decode")));
    for (i, (_, file, [r, g, b])) in RGB_FILES.iter().enumerate() {
        let want = i32::from(grey(*r, *g, *b));
        let tolerance = if file.ends_with(".jpg") { 8 } else { 0 };
        let px = d.pixels(i).unwrap();
        assert!(
            px.iter().all(|&p| (i32::from(p) - want).abs() <= tolerance),
            "{file}: {px:?}"
        );
    }
    assert!(d.pixels(5).unwrap().iter().all(|&p| p == CAROL_GREY));
    assert_eq!(d.pixels(6), None);
    assert_eq!(d.all_pixels().len(), 6 * 64);
    assert_eq!(d.images()[4].number, Some(2));
    assert_eq!(
        d.find(&ImageRef {
            person: "carol".into(),
            number: 1
        }),
        Some(5)
    );
    assert_eq!(
        d.find(&ImageRef {
            person: "bob".into(),
            number: 3
        }),
        None
    );
}

#[test]
fn load_decodes_then_reads_the_cache() {
    let (data, cache_dir) = small_dataset();
    let cold = Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
    assert!(
        matches!(cold.cache_status(), CacheStatus::Rebuilt { .. }),
        "{:?}",
        cold.cache_status()
    );
    assert_small_dataset(&cold);
    let warm = Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
    assert!(matches!(warm.cache_status(), CacheStatus::Hit(_)));
    assert_small_dataset(&warm);
    assert_eq!(warm.all_pixels(), cold.all_pixels());
    assert_eq!(warm.fingerprint(), cold.fingerprint());
    assert!(warm
        .summary()
        .contains("3 people (1 with a single image), 6 images"));
    let uncached = LoadOptions {
        cache: CacheSetting::Off,
        ..options(cache_dir.path())
    };
    let off = Dataset::load(data.path(), &uncached).unwrap();
    assert_eq!(
        (off.cache_status(), off.all_pixels()),
        (&CacheStatus::Disabled, cold.all_pixels())
    );
}

fn the_cache_file(dir: &Path) -> PathBuf {
    let files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn corrupt_or_truncated_cache_is_rebuilt() {
    let (data, cache_dir) = small_dataset();
    let cold = Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
    let file = the_cache_file(cache_dir.path());
    let good = fs::read(&file).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    for (bytes, why) in [
        (flipped, "checksum"),
        (good[..good.len() - 7].to_vec(), "checksum"),
    ] {
        fs::write(&file, bytes).unwrap();
        let again = Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
        match again.cache_status() {
            CacheStatus::Rebuilt { reason, .. } => assert!(reason.contains(why), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(again.all_pixels(), cold.all_pixels());
        assert_eq!(fs::read(&file).unwrap(), good, "rewritten");
    }
}

#[test]
fn a_changed_dataset_does_not_read_the_old_cache() {
    let (data, cache_dir) = small_dataset();
    Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
    fs::copy(
        data.path().join("carol/carol_0001.pgm"),
        data.path().join("carol/carol_0002.pgm"),
    )
    .unwrap();
    let changed = Dataset::load(data.path(), &options(cache_dir.path())).unwrap();
    assert!(matches!(
        changed.cache_status(),
        CacheStatus::Rebuilt { .. }
    ));
    assert_eq!((changed.len(), changed.singleton_count()), (7, 0));
}

#[test]
fn cache_inside_the_dataset_is_refused() {
    let (data, _) = small_dataset();
    let inside = data.path().join("alice/.cache/deeper");
    let d = Dataset::load(data.path(), &options(&inside)).unwrap();
    match d.cache_status() {
        CacheStatus::NotWritten { reason, .. } => assert!(reason.contains("inside the dataset")),
        other => panic!("{other:?}"),
    }
    assert!(!data.path().join("alice/.cache").exists());
}

#[test]
fn cache_folder_precedence() {
    let s = |v: &str| Some(OsString::from(v));
    assert_eq!(
        cache::cache_dir_from(s("/c"), s("/x"), s("/h")).unwrap(),
        PathBuf::from("/c")
    );
    assert_eq!(
        cache::cache_dir_from(None, s("/x"), s("/h")).unwrap(),
        PathBuf::from("/x/facegate")
    );
    assert_eq!(
        cache::cache_dir_from(s(""), None, s("/h")).unwrap(),
        PathBuf::from("/h/.cache/facegate")
    );
    assert!(matches!(
        cache::cache_dir_from(None, None, None),
        Err(CacheError::NoCacheFolder)
    ));
}

fn sample_decoded() -> DecodedFiles {
    DecodedFiles {
        side: 2,
        file_count: 3,
        pixels: vec![1, 2, 3, 4, 5, 6, 7, 8],
        failed: vec![(1, "cannot decode: bad".into())],
    }
}

#[test]
fn cache_format_round_trip_and_refusals() {
    let fp = Fingerprint([7; 32]);
    let bytes = cache::encode(&fp, &sample_decoded());
    assert_eq!(cache::decode(&bytes, &fp, 2).unwrap(), sample_decoded());
    assert!(matches!(
        cache::decode(&bytes, &Fingerprint([8; 32]), 2),
        Err(CacheError::Stale { .. })
    ));
    assert!(matches!(
        cache::decode(&bytes, &fp, 3),
        Err(CacheError::Malformed(_))
    ));
    assert!(matches!(
        cache::decode(b"PNG....", &fp, 2),
        Err(CacheError::BadMagic)
    ));
    let mut other_version = bytes.clone();
    other_version[8] = 9;
    assert!(matches!(
        cache::decode(&other_version, &fp, 2),
        Err(CacheError::Version { found: 9 })
    ));
    for cut in 0..bytes.len() {
        assert!(
            cache::decode(&bytes[..cut], &fp, 2).is_err(),
            "cut at {cut}"
        );
    }
}

proptest! {
    #[test]
    fn cache_decode_never_panics(mut bytes in prop::collection::vec(any::<u8>(), 0..200), magic in any::<bool>()) {
        if magic && bytes.len() >= 12 {
            bytes[..8].copy_from_slice(b"FGIMGCAC");
            bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        }
        prop_assert!(cache::decode(&bytes, &Fingerprint([0; 32]), 2).is_err());
    }

    #[test]
    fn image_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_bytes(&bytes, &CFG);
    }
}

fn synthetic() -> Dataset {
    let img = |v: u8| vec![v; 4];
    let cfg = PreprocessConfig {
        crop: 2,
        out_side: 2,
    };
    let people = [("ann", 3), ("ben", 1), ("cid", 2), ("dee", 2)];
    Dataset::in_memory(
        cfg,
        people
            .iter()
            .enumerate()
            .map(|(p, &(name, n))| {
                (
                    name.to_owned(),
                    (0..n).map(|k| img((10 * p + k) as u8)).collect(),
                )
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn in_memory_dataset_checks_its_input() {
    let d = synthetic();
    assert_eq!((d.len(), d.people().len(), d.singleton_count()), (8, 4, 1));
    assert_eq!(d.pixels(3).unwrap(), [10; 4]);
    let cfg = d.config();
    let bad = Dataset::in_memory(cfg, vec![("x".into(), vec![vec![0; 3]])]);
    assert!(matches!(bad, Err(DataError::InvalidInMemory(m)) if m.contains("3 bytes")));
    let twice = Dataset::in_memory(cfg, vec![("x".into(), vec![]), ("x".into(), vec![])]);
    assert!(matches!(twice, Err(DataError::InvalidInMemory(_))));
}

#[test]
fn splits_are_identity_disjoint() {
    let d = synthetic();
    let pairs = PairsFile::parse("2 1\nann 1 2\ncid 1 ann 3\ndee 1 2\ndee 2 zed 1\n").unwrap();
    assert_eq!(
        held_out_people(&pairs, Holdout::Fold(1)).unwrap(),
        ["dee", "zed"].map(String::from).into()
    );
    assert_eq!(
        held_out_people(&pairs, Holdout::Fold(2)),
        Err(SplitError::NoSuchFold { fold: 2, folds: 2 })
    );
    let train = training_set(&d, &pairs, Holdout::Fold(0)).unwrap();
    let names: Vec<_> = train.people().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ben", "dee"]);
    assert_eq!(train.pixels(0).unwrap(), [10; 4], "ben's pixels came along");
    assert_eq!(train.images()[1].person, 1);
    assert_ne!(train.fingerprint(), d.fingerprint());
    let trained = trained_people(&train);
    assert_eq!(overlapping_people(&trained, &pairs), ["dee"]);
    let everyone_else = exclude_people(&d, &pairs.people());
    assert!(overlapping_people(&trained_people(&everyone_else), &pairs).is_empty());
    assert_eq!(everyone_else.len(), 1);
}
