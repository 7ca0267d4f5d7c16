use super::*;
use crate::data::test_data::write_small_dataset;
use proptest::prelude::*;

const VIEW1: &str = "2\nann\t1\t2\nbob\t3\t4\nann\t1\tcid\t2\nbob 2 dee 1\n";
const VIEW2: &str = "2\t1\nann\t1\t2\nann\t1\tbob\t1\ncid\t1\t3\ndee\t4\teve\t1\n\n";

fn r(person: &str, number: u32) -> ImageRef {
    ImageRef {
        person: person.into(),
        number,
    }
}

#[test]
fn view1_is_one_fold_of_same_then_different() {
    let f = PairsFile::parse(VIEW1).unwrap();
    assert_eq!((f.folds, f.per_fold, f.pairs.len()), (1, 2, 4));
    assert_eq!(
        f.pairs[0],
        Pair {
            a: r("ann", 1),
            b: r("ann", 2),
            same: true,
            fold: 0
        }
    );
    assert_eq!(
        f.pairs[3],
        Pair {
            a: r("bob", 2),
            b: r("dee", 1),
            same: false,
            fold: 0
        }
    );
    let same: Vec<bool> = f.pairs.iter().map(|p| p.same).collect();
    assert_eq!(same, [true, true, false, false]);
    assert_eq!(f.people().len(), 4);
}

#[test]
fn only_fold_keeps_one_fold_as_fold_zero() {
    let f = PairsFile::parse(VIEW2).unwrap();
    let second = f.only_fold(1).unwrap();
    assert_eq!(
        (second.folds, second.per_fold, second.pairs.len()),
        (1, 1, 2)
    );
    assert!(second.pairs.iter().all(|p| p.fold == 0));
    assert_eq!(second.people(), f.people_in_fold(1));
    assert!(f.only_fold(2).is_none());
}

#[test]
fn view2_folds_and_their_people() {
    let f = PairsFile::parse(VIEW2).unwrap();
    assert_eq!((f.folds, f.per_fold, f.pairs.len()), (2, 1, 4));
    let folds: Vec<usize> = f.pairs.iter().map(|p| p.fold).collect();
    assert_eq!(folds, [0, 0, 1, 1]);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(f.people_in_fold(0), names(&["ann", "bob"]));
    assert_eq!(f.people_in_fold(1), names(&["cid", "dee", "eve"]));
    assert!(f.people_in_fold(2).is_empty());
    assert_eq!(f.fold(1).count(), 2);
    assert_eq!(r("Abel_Pacheco", 4).file_stem(), "Abel_Pacheco_0004");
}

/// (name, file text, the error's message must contain).
const MALFORMED: &[(&str, &str, &str)] = &[
    ("empty", "", "empty"),
    ("blank only", "\n \n", "empty"),
    ("header words", "ten\n", "line 1: header pair count `ten`"),
    ("header zero", "0\n", "line 1: header pair count `0`"),
    (
        "header three fields",
        "1 2 3\n",
        "line 1: header has 3 fields",
    ),
    ("negative folds", "-1 3\n", "line 1: header fold count `-1`"),
    (
        "too few pairs",
        "2\na 1 2\n",
        "ends after 1 pairs, its header announces 4",
    ),
    (
        "different where same expected",
        "1\na 1 b 2\na 1 b 2\n",
        "line 2: expected a same-person",
    ),
    (
        "same where different expected",
        "1\na 1 2\na 1 2\n",
        "line 3: expected a different-person",
    ),
    (
        "number not numeric",
        "1\na 1 x\nb 1 c 2\n",
        "line 2: image number `x` of a",
    ),
    (
        "number zero",
        "1\na 0 1\nb 1 c 2\n",
        "line 2: image number `0`",
    ),
    (
        "number negative",
        "1\na 1 2\nb -1 c 2\n",
        "line 3: image number `-1` of b",
    ),
    (
        "different names the same",
        "1\na 1 2\nb 1 b 2\n",
        "line 3: different-person pair names b twice",
    ),
    (
        "extra line",
        "1\na 1 2\nb 1 c 2\nd 1 2\n",
        "line 4: extra line",
    ),
    (
        "header overflow",
        "18446744073709551615 18446744073709551615\n",
        "line 1: header counts overflow",
    ),
];

#[test]
fn malformed_files_name_the_line_and_the_fault() {
    for &(name, text, want) in MALFORMED {
        let err = PairsFile::parse(text).unwrap_err().to_string();
        assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
    }
    let missing = PairsFile::read(Path::new("/nonexistent/pairs.txt")).unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/pairs.txt"));
}

#[test]
fn a_malformed_file_on_disk_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairsDevTest.txt");
    std::fs::write(&path, "1\nalice\t1\t2\nalice\t1\tbob\n").unwrap();
    let err = PairsFile::read(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}: line 3: ", path.display())),
        "{text}"
    );
    assert!(matches!(
        &err,
        PairsError::Malformed { error, .. } if matches!(**error, PairsError::Line { line: 3, .. })
    ));
    std::fs::write(&path, "").unwrap();
    let text = PairsFile::read(&path).unwrap_err().to_string();
    assert!(
        text.starts_with(&format!("{}: pairs file is empty", path.display())),
        "{text}"
    );
}

#[test]
fn images_resolve_to_files_and_dataset_indices() {
    let dir = tempfile::tempdir().unwrap();
    write_small_dataset(dir.path());
    let root = dir.path();
    assert_eq!(
        resolve_path(root, &r("alice", 3)).unwrap(),
        root.join("alice/alice_0003.jpg")
    );
    assert_eq!(
        resolve_path(root, &r("bob", 2)).unwrap(),
        root.join("bob/bob_0002.PNG"),
        "extension in upper case"
    );
    for missing in [r("bob", 9), r("zed", 1)] {
        let err = resolve_path(root, &missing).unwrap_err();
        assert!(matches!(&err, PairsError::Unresolved { image, .. } if *image == missing));
    }
    let options = crate::data::LoadOptions {
        config: facegate_shared::preprocess::PreprocessConfig {
            crop: 20,
            out_side: 8,
        },
        cache: crate::data::dataset::CacheSetting::Off,
        progress: crate::data::decode::Progress::Hidden,
    };
    let dataset = Dataset::load(root, &options).unwrap();
    let scan = crate::data::scan::scan_dataset(root).unwrap();
    let good = PairsFile::parse("1\nalice 1 3\nbob 2 carol 1\n").unwrap();
    assert_eq!(good.resolve_in(&dataset).unwrap(), [(0, 2), (4, 5)]);
    assert_eq!(good.resolve_in_scan(&scan).unwrap(), [(0, 2), (4, 6)]);
    // bob_0003 exists but is corrupt: a file, but no decoded image.
    let corrupt = PairsFile::parse("1\nbob 1 3\nbob 2 carol 1\n").unwrap();
    assert!(corrupt.resolve_in_scan(&scan).is_ok());
    let err = corrupt.resolve_in(&dataset).unwrap_err();
    assert!(err.to_string().contains("bob #3"), "{err}");
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "[0-9a-z \t\n-]{0,80}") {
        let _ = PairsFile::parse(&text);
    }

    #[test]
    fn well_formed_files_parse(folds in 1usize..4, n in 1usize..5) {
        let mut text = format!("{folds}\t{n}\n");
        for f in 0..folds {
            for i in 0..n {
                text += &format!("p{f}_{i}\t{}\t{}\n", i + 1, i + 2);
            }
            for i in 0..n {
                text += &format!("p{f}_{i}\t1\tq{f}_{i}\t{}\n", i + 1);
            }
        }
        let parsed = PairsFile::parse(&text).unwrap();
        prop_assert_eq!(parsed.pairs.len(), 2 * folds * n);
        prop_assert_eq!(parsed.people_in_fold(folds - 1).len(), 2 * n);
    }
}
