//! The fuzz targets' smoke test, in the normal test suite: every committed corpus file of each
//! target through its body, then random and mutated inputs (proptest) through each.

use super::seeds::{self, Seed};
use super::{blob, frame, request, store};
use proptest::prelude::*;
use std::path::PathBuf;
use std::vec::Vec;

/// A fuzz target: its directory name under `shared/fuzz/corpus/`, its body, its seeds.
struct Target {
    name: &'static str,
    body: fn(&[u8]),
    seeds: fn() -> Vec<Seed>,
}

const TARGETS: [Target; 4] = [
    Target {
        name: "frame",
        body: frame::frame,
        seeds: seeds::frame_seeds,
    },
    Target {
        name: "request",
        body: request::request,
        seeds: seeds::request_seeds,
    },
    Target {
        name: "blob",
        body: blob::blob,
        seeds: seeds::blob_seeds,
    },
    Target {
        name: "store",
        body: store::store,
        seeds: seeds::store_seeds,
    },
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_corpus_file_passes_its_target() {
    for target in &TARGETS {
        let files = corpus(target.name);
        assert!(
            files.len() >= 3,
            "{}: only {} corpus files",
            target.name,
            files.len()
        );
        for (path, bytes) in files {
            let outcome = std::panic::catch_unwind(|| (target.body)(&bytes));
            assert!(
                outcome.is_ok(),
                "{} failed on {}",
                target.name,
                path.display()
            );
        }
    }
}

#[test]
fn the_seeds_are_valid_inputs() {
    // The seeds are what they claim: decodable frames and messages, a blob that parses and
    // runs, images the store reads.
    for s in seeds::frame_seeds() {
        frame::frame(&s.bytes);
    }
    for s in seeds::request_seeds() {
        request::request(&s.bytes);
    }
    let tiny = seeds::tiny_blob();
    let model = crate::blob::Model::parse(&tiny).unwrap();
    assert!(
        blob::work(&model).unwrap() <= blob::WORK_CAP,
        "the tiny blob runs in the target"
    );
    let mut arena = [0u8; 96];
    let mut embedding = [0i8; 4];
    assert_eq!(model.check_golden(&mut arena, &mut embedding), Ok(1));
    assert_ne!(embedding, [0; 4]);
    for s in seeds::store_seeds() {
        let mut mem = s.bytes[store::PARAMS..].to_vec();
        assert_eq!(mem.len(), store::IMAGE_LEN);
        let mut flash = super::nor::small_page_flash(&mut mem);
        let count = crate::device::store::count(&mut flash).unwrap();
        let want = match s.name.split('-').next() {
            Some("erased") => 0,
            Some("regression") => 1,
            _ => 2,
        };
        assert!(count >= want, "{}: {count}", s.name);
        store::store(&s.bytes);
    }
}

/// Writes the seeds into `shared/fuzz/seeds/<target>/` (run by hand, see `shared/fuzz/README.md`).
#[test]
#[ignore = "writes files: run with --ignored to regenerate the seeds"]
fn write_seed_corpora() {
    for target in &TARGETS {
        let dir = fuzz_dir().join("seeds").join(target.name);
        std::fs::create_dir_all(&dir).unwrap();
        for s in (target.seeds)() {
            std::fs::write(dir.join(&s.name), &s.bytes).unwrap();
        }
    }
}

/// A seed of `target` with some bytes replaced, inserted or cut (the mutations a fuzzer makes).
fn mutated(target: usize) -> impl Strategy<Value = Vec<u8>> {
    let seeds = (TARGETS[target].seeds)();
    let count = seeds.len();
    (
        0..count,
        proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..8),
        any::<u16>(),
    )
        .prop_map(move |(which, edits, cut)| {
            let mut bytes = seeds[which].bytes.clone();
            for (at, value, kind) in edits {
                let at = usize::from(at) % (bytes.len() + 1);
                match kind {
                    0 | 1 if at < bytes.len() => bytes[at] = value,
                    2 => bytes.insert(at, value),
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.push(value),
                }
            }
            if cut % 4 == 0 && !bytes.is_empty() {
                bytes.truncate(usize::from(cut) % bytes.len());
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_pass_every_target(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        for target in &TARGETS {
            (target.body)(&bytes);
        }
    }

    #[test]
    fn mutated_frames_pass(bytes in mutated(0)) {
        frame::frame(&bytes);
    }

    #[test]
    fn mutated_messages_pass(bytes in mutated(1)) {
        request::request(&bytes);
    }

    #[test]
    fn mutated_blobs_pass(bytes in mutated(2)) {
        blob::blob(&bytes);
    }
}

proptest! {
    // A store input is an 8 KiB image: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_store_images_pass(bytes in mutated(3)) {
        store::store(&bytes);
    }
}
