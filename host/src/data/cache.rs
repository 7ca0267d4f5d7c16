//! The decoded-image cache: one checked binary file per (dataset root, file list, setting).
//!
//! Files live under the user's cache folder: `$FACEGATE_CACHE`, else
//! `$XDG_CACHE_HOME/facegate`, else `~/.cache/facegate`; never inside the dataset, which is
//! treated as read-only. The file name hashes the canonical dataset root with the dataset
//! [`Fingerprint`] (which covers the file list and the preprocessing setting), so another dataset,
//! an edited one or another setting never reads this file.
//!
//! Format (little-endian):
//!
//! ```text
//! magic "FGIMGCAC" | version u32 | fingerprint [32] | side u32 | files u64 | failed u64
//! | failed × (file index u64, reason length u32, reason UTF-8) | pixel bytes u64 | pixels
//! | SHA-256 of everything before it [32]
//! ```
//!
//! Files are written to a temporary name and renamed into place, so a reader never sees half a
//! file. A file with the wrong magic, version, fingerprint or checksum is reported as stale or
//! corrupt, and the caller rebuilds it.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::decode::DecodedFiles;
use super::scan::Fingerprint;

/// Environment variable naming the cache folder.
pub const CACHE_ENV: &str = "FACEGATE_CACHE";
const MAGIC: &[u8; 8] = b"FGIMGCAC";
const VERSION: u32 = 1;
const HASH_LEN: usize = 32;

/// Why the cache could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// None of `FACEGATE_CACHE`, `XDG_CACHE_HOME`, `HOME` is set.
    #[error("no cache folder: set {CACHE_ENV}, XDG_CACHE_HOME or HOME")]
    NoCacheFolder,
    /// The cache folder is inside the dataset, which must stay read-only.
    #[error("cache folder {} is inside the dataset {}", cache.display(), dataset.display())]
    InsideDataset {
        /// The cache folder.
        cache: PathBuf,
        /// The dataset root.
        dataset: PathBuf,
    },
    /// Reading or writing a cache file failed.
    #[error("cache file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a facegate image cache.
    #[error("not a facegate image cache (bad magic)")]
    BadMagic,
    /// The file was written by another format version.
    #[error("cache format version {found}, expected {VERSION}")]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The file's checksum does not match its contents.
    #[error("cache checksum mismatch: the file is corrupt")]
    Checksum,
    /// The file describes another dataset or setting.
    #[error("cache is stale: fingerprint {found}, expected {expected}")]
    Stale {
        /// The fingerprint in the file.
        found: Fingerprint,
        /// The dataset's fingerprint.
        expected: Fingerprint,
    },
    /// The file ends early or its fields disagree.
    #[error("cache is malformed: {0}")]
    Malformed(&'static str),
}

/// What happened to the cache during a load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// Caching was off.
    Disabled,
    /// The images came from this file.
    Hit(PathBuf),
    /// The file was missing, stale or corrupt (`reason`); the images were decoded and written.
    Rebuilt {
        /// The cache file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// The images were decoded but could not be cached (the load itself succeeded).
    NotWritten {
        /// The cache file (empty when no usable cache folder was found).
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The cache folder from the environment (see the module documentation).
pub fn cache_dir() -> Result<PathBuf, CacheError> {
    let var = |name| std::env::var_os(name);
    cache_dir_from(var(CACHE_ENV), var("XDG_CACHE_HOME"), var("HOME"))
}

/// [`cache_dir`] with the variables passed in; empty values count as unset.
pub fn cache_dir_from(
    facegate_cache: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, CacheError> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    set(facegate_cache)
        .or_else(|| set(xdg_cache_home).map(|p| p.join("facegate")))
        .or_else(|| set(home).map(|p| p.join(".cache").join("facegate")))
        .ok_or(CacheError::NoCacheFolder)
}

/// `path` made absolute, with its longest existing ancestor canonicalised (it may not exist yet).
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = existing.canonicalize() {
            return rest.iter().rev().fold(canonical, |p, c| p.join(c));
        }
        match (existing.parent(), existing.components().next_back()) {
            (Some(parent), Some(Component::Normal(c))) => {
                rest.push(c.to_os_string());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// The cache file for a dataset; refuses a cache folder inside `canonical_root`.
pub fn cache_file(
    dir: &Path,
    canonical_root: &Path,
    fingerprint: &Fingerprint,
) -> Result<PathBuf, CacheError> {
    let resolved = resolve(dir);
    if resolved.starts_with(canonical_root) {
        return Err(CacheError::InsideDataset {
            cache: resolved,
            dataset: canonical_root.to_path_buf(),
        });
    }
    let mut h = Sha256::new();
    h.update(b"facegate-cache-key-v1\0");
    h.update(canonical_root.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(fingerprint.0);
    let key = Fingerprint(h.finalize().into()).hex();
    Ok(dir.join(format!("images-{}.fgc", &key[..32])))
}

/// Serialises decoded images with their fingerprint and checksum.
pub fn encode(fingerprint: &Fingerprint, images: &DecodedFiles) -> Vec<u8> {
    let mut b = Vec::with_capacity(images.pixels.len() + 4096);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&fingerprint.0);
    b.extend_from_slice(&(images.side as u32).to_le_bytes());
    b.extend_from_slice(&(images.file_count as u64).to_le_bytes());
    b.extend_from_slice(&(images.failed.len() as u64).to_le_bytes());
    for (index, reason) in &images.failed {
        b.extend_from_slice(&(*index as u64).to_le_bytes());
        b.extend_from_slice(&(reason.len() as u32).to_le_bytes());
        b.extend_from_slice(reason.as_bytes());
    }
    b.extend_from_slice(&(images.pixels.len() as u64).to_le_bytes());
    b.extend_from_slice(&images.pixels);
    let hash: [u8; HASH_LEN] = Sha256::digest(&b).into();
    b.extend_from_slice(&hash);
    b
}

/// A bounds-checked reader over the cache bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CacheError> {
        if n > self.0.len() {
            return Err(CacheError::Malformed("file ends early"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CacheError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, CacheError> {
        self.array().map(u32::from_le_bytes)
    }
    fn usize(&mut self) -> Result<usize, CacheError> {
        let v = u64::from_le_bytes(self.array()?);
        usize::try_from(v).map_err(|_| CacheError::Malformed("count exceeds usize"))
    }
}

/// Parses and checks cache bytes against the dataset's fingerprint and output side.
pub fn decode(
    bytes: &[u8],
    expected: &Fingerprint,
    side: usize,
) -> Result<DecodedFiles, CacheError> {
    if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(CacheError::BadMagic);
    }
    let mut r = Reader(&bytes[MAGIC.len()..]);
    let found = r.u32()?;
    if found != VERSION {
        return Err(CacheError::Version { found });
    }
    if bytes.len() < MAGIC.len() + 4 + HASH_LEN {
        return Err(CacheError::Malformed("file ends early"));
    }
    let (body, hash) = bytes.split_at(bytes.len() - HASH_LEN);
    if Sha256::digest(body).as_slice() != hash {
        return Err(CacheError::Checksum);
    }
    let mut r = Reader(&body[MAGIC.len() + 4..]);
    let found = Fingerprint(r.array()?);
    if found != *expected {
        return Err(CacheError::Stale {
            found,
            expected: *expected,
        });
    }
    if r.u32()? as usize != side {
        return Err(CacheError::Malformed("image side differs from the setting"));
    }
    let file_count = r.usize()?;
    let failed_count = r.usize()?;
    if failed_count > file_count {
        return Err(CacheError::Malformed("more failures than files"));
    }
    let mut failed = Vec::with_capacity(failed_count);
    for _ in 0..failed_count {
        let index = r.usize()?;
        let len = r.u32()? as usize;
        let reason = std::str::from_utf8(r.take(len)?)
            .map_err(|_| CacheError::Malformed("failure reason is not UTF-8"))?;
        failed.push((index, reason.to_owned()));
    }
    let pixel_len = r.usize()?;
    let pixels = r.take(pixel_len)?.to_vec();
    if !r.0.is_empty() {
        return Err(CacheError::Malformed("trailing bytes"));
    }
    let images = DecodedFiles {
        side,
        file_count,
        pixels,
        failed,
    };
    if images.is_consistent() {
        Ok(images)
    } else {
        Err(CacheError::Malformed(
            "counts, failures and pixels disagree",
        ))
    }
}

/// Reads and checks a cache file.
pub fn read(path: &Path, expected: &Fingerprint, side: usize) -> Result<DecodedFiles, CacheError> {
    let bytes = fs::read(path).map_err(|source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, expected, side)
}

/// Writes a cache file whole or not at all ([`crate::atomic::write`]).
pub fn write(
    path: &Path,
    fingerprint: &Fingerprint,
    images: &DecodedFiles,
) -> Result<(), CacheError> {
    let io_err = |source| CacheError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    crate::atomic::write(path, &encode(fingerprint, images)).map_err(io_err)
}
