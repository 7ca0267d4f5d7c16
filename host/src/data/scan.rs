//! Listing a folder-per-identity dataset, `root/<person>/<file>`, and fingerprinting it.
//!
//! LFW's layout is `root/<name>/<name>_<NNNN>.jpg`; any dataset laid out one folder per person
//! works. Only `jpg`, `jpeg`, `png` and `pgm` files (any case) are taken; everything else, and
//! hidden or non-UTF-8 names, is listed in [`Scan::ignored`]. People are sorted by name and each
//! person's files by file name (byte order), so the order is the same on every machine.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use facegate_shared::preprocess::PreprocessConfig;
use sha2::{Digest, Sha256};

use super::pairs::ImageRef;

/// File extensions taken as images, compared case-insensitively.
pub const SUPPORTED_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "pgm"];

/// Why a dataset could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// A folder could not be listed.
    #[error("cannot list {}: {source}", path.display())]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file's size and time could not be read.
    #[error("cannot stat {}: {source}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// One image file of the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedFile {
    /// Index of its person in [`Scan::people`].
    pub person: usize,
    /// Its file name inside the person's folder.
    pub file_name: String,
    /// `NNNN` when the file is named `<person>_<NNNN>.<ext>` (LFW), else `None`.
    pub number: Option<u32>,
    /// Its size in bytes.
    pub len: u64,
    /// Its modification time as (seconds, nanoseconds) since the Unix epoch; 0 if unknown.
    pub modified: (u64, u32),
}

/// The sorted list of a dataset's image files.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The dataset root, as given.
    pub root: PathBuf,
    /// People (folder names) with at least one image file, sorted.
    pub people: Vec<String>,
    /// Image files, grouped by person in [`Scan::people`] order, sorted by name within a person.
    pub files: Vec<ScannedFile>,
    /// Entries that are not taken as images: other extensions, files directly under the root,
    /// hidden or non-UTF-8 names.
    pub ignored: Vec<PathBuf>,
    by_name: HashMap<String, usize>,
    ranges: Vec<Range<usize>>,
}

/// SHA-256 of a dataset's file list and preprocessing setting.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Lower-case hexadecimal, 64 characters.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.hex())
    }
}

/// Whether `name` ends in a supported extension, in any case.
pub fn is_supported_image(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            SUPPORTED_EXTENSIONS
                .iter()
                .any(|s| s.eq_ignore_ascii_case(e))
        })
}

/// `NNNN` of a file named `<person>_<NNNN>.<ext>`.
pub fn parse_number(person: &str, file_name: &str) -> Option<u32> {
    let stem = Path::new(file_name).file_stem()?.to_str()?;
    let digits = stem.strip_prefix(person)?.strip_prefix('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_dir_sorted(path: &Path) -> Result<Vec<fs::DirEntry>, ScanError> {
    let err = |source| ScanError::ReadDir {
        path: path.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(path)
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// A visible, UTF-8 entry name, or `None` to ignore it.
fn usable_name(entry: &fs::DirEntry) -> Option<String> {
    entry
        .file_name()
        .into_string()
        .ok()
        .filter(|n| !n.starts_with('.'))
}

fn modified(meta: &fs::Metadata) -> (u64, u32) {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()))
}

/// Lists `root/<person>/<file>`; symbolic links are followed.
pub fn scan_dataset(root: &Path) -> Result<Scan, ScanError> {
    let mut scan = Scan {
        root: root.to_path_buf(),
        people: Vec::new(),
        files: Vec::new(),
        ignored: Vec::new(),
        by_name: HashMap::new(),
        ranges: Vec::new(),
    };
    for entry in read_dir_sorted(root)? {
        let path = entry.path();
        let name = match usable_name(&entry) {
            Some(name) if path.is_dir() => name,
            _ => {
                scan.ignored.push(path);
                continue;
            }
        };
        let person = scan.people.len();
        let start = scan.files.len();
        for file in read_dir_sorted(&path)? {
            let file_path = file.path();
            let Some(file_name) = usable_name(&file).filter(|n| is_supported_image(n)) else {
                scan.ignored.push(file_path);
                continue;
            };
            let meta = fs::metadata(&file_path).map_err(|source| ScanError::Metadata {
                path: file_path.clone(),
                source,
            })?;
            if !meta.is_file() {
                scan.ignored.push(file_path);
                continue;
            }
            scan.files.push(ScannedFile {
                person,
                number: parse_number(&name, &file_name),
                file_name,
                len: meta.len(),
                modified: modified(&meta),
            });
        }
        if scan.files.len() > start {
            scan.by_name.insert(name.clone(), person);
            scan.people.push(name);
            scan.ranges.push(start..scan.files.len());
        }
    }
    Ok(scan)
}

impl Scan {
    /// `person/file`, with `/` on every platform.
    pub fn relative_path(&self, file: &ScannedFile) -> String {
        format!("{}/{}", self.people[file.person], file.file_name)
    }

    /// The file's full path.
    pub fn path(&self, file: &ScannedFile) -> PathBuf {
        self.root
            .join(&self.people[file.person])
            .join(&file.file_name)
    }

    /// Index of a person in [`Scan::people`].
    pub fn person_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Index in [`Scan::files`] of the image a pairs file names.
    pub fn find(&self, image: &ImageRef) -> Option<usize> {
        let range = self.ranges.get(self.person_index(&image.person)?)?.clone();
        range
            .into_iter()
            .find(|&i| self.files[i].number == Some(image.number))
    }

    /// SHA-256 over the preprocessing setting and, for every file in order, its relative path,
    /// size and modification time. Any change to the file list or the setting changes it;
    /// decoding is not needed to compute it.
    pub fn fingerprint(&self, cfg: &PreprocessConfig) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"facegate-dataset-v1\0");
        h.update(cfg.crop.to_le_bytes());
        h.update(cfg.out_side.to_le_bytes());
        h.update((self.files.len() as u64).to_le_bytes());
        for f in &self.files {
            h.update(self.relative_path(f).as_bytes());
            h.update([0]);
            h.update(f.len.to_le_bytes());
            h.update(f.modified.0.to_le_bytes());
            h.update(f.modified.1.to_le_bytes());
        }
        Fingerprint(h.finalize().into())
    }
}
