//! LFW pairs files, and resolving the images they name.
//!
//! - **View 1** (`pairsDevTrain.txt`, `pairsDevTest.txt`): a header `N`, then `N` same-person
//!   lines `name i j` and `N` different-person lines `name1 i name2 j`. Read as fold 0 of 1.
//! - **View 2** (`pairs.txt`): a header `F N` (folds, pairs of each kind per fold), then per fold
//!   `N` same-person lines followed by `N` different-person lines.
//!
//! Fields are separated by tabs or spaces; blank lines are skipped. Image numbers are 1-based:
//! `(name, 7)` is the file `name/name_0007.<ext>`. Every malformed line is an error naming its
//! line number and what was wrong.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use super::dataset::Dataset;
use super::scan::{is_supported_image, Scan, SUPPORTED_EXTENSIONS};

/// What was wrong with a pairs file, or with resolving one of its images.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PairsError {
    /// The file could not be read.
    #[error("cannot read pairs file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A pairs file read from disk is malformed: the file and what was wrong in it.
    #[error("{}: {error}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong ([`PairsError::Empty`], [`PairsError::Line`] or
        /// [`PairsError::TooFewPairs`]).
        error: Box<PairsError>,
    },
    /// The file has no header line.
    #[error("pairs file is empty: expected a header `N` (View 1) or `folds N` (View 2)")]
    Empty,
    /// A line is malformed.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The file ends before the header's count of pairs.
    #[error("pairs file ends after {found} pairs, its header announces {expected}")]
    TooFewPairs {
        /// Pairs the header announces.
        expected: usize,
        /// Pairs found.
        found: usize,
    },
    /// An image named by a pair does not exist.
    #[error("pair image {image} not found: {reason}")]
    Unresolved {
        /// The image.
        image: ImageRef,
        /// Where it was looked for.
        reason: String,
    },
}

/// One image named by a pairs file: a person and a 1-based image number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Folder name, e.g. `Abel_Pacheco`.
    pub person: String,
    /// 1-based image number.
    pub number: u32,
}

impl ImageRef {
    /// `person_NNNN`: the file name without extension.
    pub fn file_stem(&self) -> String {
        format!("{}_{:04}", self.person, self.number)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.person, self.number)
    }
}

/// Two images and whether they show the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// First image.
    pub a: ImageRef,
    /// Second image.
    pub b: ImageRef,
    /// Same person.
    pub same: bool,
    /// 0-based fold (always 0 in View 1).
    pub fold: usize,
}

/// A parsed pairs file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairsFile {
    /// All pairs, in file order.
    pub pairs: Vec<Pair>,
    /// Number of folds (1 for View 1).
    pub folds: usize,
    /// Same-person pairs per fold (equal to the different-person pairs per fold).
    pub per_fold: usize,
}

fn line_error(line: usize, message: impl Into<String>) -> PairsError {
    PairsError::Line {
        line,
        message: message.into(),
    }
}

fn count(line: usize, field: &str, what: &str) -> Result<usize, PairsError> {
    match field.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(line_error(
            line,
            format!("header {what} `{field}` is not a positive integer"),
        )),
    }
}

fn image(line: usize, name: &str, number: &str) -> Result<ImageRef, PairsError> {
    match number.parse::<u32>() {
        Ok(n) if n > 0 => Ok(ImageRef {
            person: name.to_owned(),
            number: n,
        }),
        _ => Err(line_error(
            line,
            format!("image number `{number}` of {name} is not a positive integer"),
        )),
    }
}

/// Parses one pair line of the expected kind.
fn parse_pair(line: usize, fields: &[&str], same: bool, fold: usize) -> Result<Pair, PairsError> {
    let (a, b) = match (same, fields) {
        (true, [name, i, j]) => (image(line, name, i)?, image(line, name, j)?),
        (false, [n1, i, n2, j]) if n1 == n2 => {
            return Err(line_error(
                line,
                format!("different-person pair names {n1} twice"),
            ))
        }
        (false, [n1, i, n2, j]) => (image(line, n1, i)?, image(line, n2, j)?),
        (true, _) => {
            return Err(line_error(
                line,
                format!(
                    "expected a same-person pair `name i j`, found {} fields",
                    fields.len()
                ),
            ))
        }
        (false, _) => {
            return Err(line_error(
                line,
                format!(
                    "expected a different-person pair `name1 i name2 j`, found {} fields",
                    fields.len()
                ),
            ))
        }
    };
    Ok(Pair { a, b, same, fold })
}

impl PairsFile {
    /// Reads and parses a pairs file.
    pub fn read(path: &Path) -> Result<Self, PairsError> {
        let text = fs::read_to_string(path).map_err(|source| PairsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|error| PairsError::Malformed {
            path: path.to_path_buf(),
            error: Box::new(error),
        })
    }

    /// Parses the text of a View 1 or View 2 pairs file.
    pub fn parse(text: &str) -> Result<Self, PairsError> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split_whitespace().collect::<Vec<_>>()))
            .filter(|(_, fields)| !fields.is_empty());
        let (header_line, header) = lines.next().ok_or(PairsError::Empty)?;
        let (folds, per_fold) = match header.as_slice() {
            [n] => (1, count(header_line, n, "pair count")?),
            [f, n] => (
                count(header_line, f, "fold count")?,
                count(header_line, n, "pair count")?,
            ),
            _ => {
                return Err(line_error(
                    header_line,
                    format!(
                        "header has {} fields, expected `N` or `folds N`",
                        header.len()
                    ),
                ))
            }
        };
        let expected = folds
            .checked_mul(per_fold)
            .and_then(|n| n.checked_mul(2))
            .ok_or_else(|| line_error(header_line, "header counts overflow"))?;
        let mut pairs = Vec::new();
        for fold in 0..folds {
            for same in [true, false] {
                for _ in 0..per_fold {
                    let (line, fields) = lines.next().ok_or(PairsError::TooFewPairs {
                        expected,
                        found: pairs.len(),
                    })?;
                    pairs.push(parse_pair(line, &fields, same, fold)?);
                }
            }
        }
        if let Some((line, _)) = lines.next() {
            return Err(line_error(
                line,
                format!("extra line after the {expected} pairs the header announces"),
            ));
        }
        Ok(Self {
            pairs,
            folds,
            per_fold,
        })
    }

    /// Every person named by the file.
    pub fn people(&self) -> BTreeSet<String> {
        self.people_where(|_| true)
    }

    /// Every person named by fold `k` (empty if there is no such fold).
    pub fn people_in_fold(&self, k: usize) -> BTreeSet<String> {
        self.people_where(|p| p.fold == k)
    }

    fn people_where(&self, keep: impl Fn(&Pair) -> bool) -> BTreeSet<String> {
        self.pairs
            .iter()
            .filter(|p| keep(p))
            .flat_map(|p| [p.a.person.clone(), p.b.person.clone()])
            .collect()
    }

    /// Only fold `k` (0-based), as a one-fold file (its pairs get fold 0); `None` if there is no
    /// such fold.
    pub fn only_fold(&self, k: usize) -> Option<Self> {
        (k < self.folds).then(|| Self {
            pairs: self
                .pairs
                .iter()
                .filter(|p| p.fold == k)
                .map(|p| Pair {
                    fold: 0,
                    ..p.clone()
                })
                .collect(),
            folds: 1,
            per_fold: self.per_fold,
        })
    }

    /// The pairs of fold `k`.
    pub fn fold(&self, k: usize) -> impl Iterator<Item = &Pair> {
        self.pairs.iter().filter(move |p| p.fold == k)
    }

    /// Each pair's two indices in `dataset`; the first image that is missing (or failed to
    /// decode) is an error.
    pub fn resolve_in(&self, dataset: &Dataset) -> Result<Vec<(usize, usize)>, PairsError> {
        self.resolve_with(
            |image| dataset.find(image),
            |image| {
                let stem = image.file_stem();
                let failed = dataset.failures().iter().find(|f| {
                    f.path.file_stem().and_then(|s| s.to_str()) == Some(stem.as_str())
                        && f.path
                            .parent()
                            .and_then(|d| d.file_name())
                            .and_then(|d| d.to_str())
                            == Some(image.person.as_str())
                });
                match failed {
                    Some(f) => format!("{} was skipped: {}", f.path.display(), f.reason),
                    None => format!(
                        "no image {}/{stem}.* among the dataset's files",
                        image.person
                    ),
                }
            },
        )
    }

    /// Each pair's two indices in [`Scan::files`].
    pub fn resolve_in_scan(&self, scan: &Scan) -> Result<Vec<(usize, usize)>, PairsError> {
        self.resolve_with(
            |image| scan.find(image),
            |image| {
                format!(
                    "no image {}/{}.* among the scanned files",
                    image.person,
                    image.file_stem()
                )
            },
        )
    }

    fn resolve_with(
        &self,
        find: impl Fn(&ImageRef) -> Option<usize>,
        reason: impl Fn(&ImageRef) -> String,
    ) -> Result<Vec<(usize, usize)>, PairsError> {
        let one = |image: &ImageRef| {
            find(image).ok_or_else(|| PairsError::Unresolved {
                image: image.clone(),
                reason: reason(image),
            })
        };
        self.pairs
            .iter()
            .map(|p| Ok((one(&p.a)?, one(&p.b)?)))
            .collect()
    }
}

/// The file of `image` under `root`: `root/person/person_NNNN.<ext>` for any supported
/// extension, in any case.
pub fn resolve_path(root: &Path, image: &ImageRef) -> Result<PathBuf, PairsError> {
    let folder = root.join(&image.person);
    let stem = image.file_stem();
    for ext in SUPPORTED_EXTENSIONS {
        let candidate = folder.join(format!("{stem}.{ext}"));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    let unresolved = |reason: String| PairsError::Unresolved {
        image: image.clone(),
        reason,
    };
    let entries = fs::read_dir(&folder)
        .map_err(|e| unresolved(format!("cannot list {}: {e}", folder.display())))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            is_supported_image(name)
                && p.file_stem().and_then(|s| s.to_str()) == Some(stem.as_str())
                && p.is_file()
        })
        .min()
        .ok_or_else(|| {
            unresolved(format!(
                "no {stem}.{{{}}} in {}",
                SUPPORTED_EXTENSIONS.join(","),
                folder.display()
            ))
        })
}

#[cfg(test)]
#[path = "pairs_tests.rs"]
mod tests;
