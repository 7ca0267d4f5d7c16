//! The in-memory dataset: people, their images, and every image's preprocessed pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use facegate_shared::preprocess::{PreprocessConfig, LFW_DEFAULT};
use sha2::{Digest, Sha256};

use super::cache::{self, CacheStatus};
use super::decode::{decode_scan, DecodeFailure, DecodedFiles, Progress};
use super::pairs::ImageRef;
use super::scan::{scan_dataset, Fingerprint, Scan};
use super::DataError;

/// One identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Folder name, e.g. `George_W_Bush`.
    pub name: String,
    /// Indices of this person's images in [`Dataset::images`], in file-name order.
    pub images: Vec<usize>,
}

impl Person {
    /// A person with one image: a negative only, never an anchor.
    pub fn is_singleton(&self) -> bool {
        self.images.len() == 1
    }
}

/// One decoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Index of its person in [`Dataset::people`].
    pub person: usize,
    /// `NNNN` of `<person>_<NNNN>.<ext>`, if the file is named so.
    pub number: Option<u32>,
    /// The file it was decoded from.
    pub path: PathBuf,
}

/// Where decoded images are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheSetting {
    /// No caching: decode every time.
    Off,
    /// The user's cache folder ([`cache::cache_dir`]).
    UserFolder,
    /// This folder.
    Folder(PathBuf),
}

/// How to load a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Preprocessing of every image.
    pub config: PreprocessConfig,
    /// Where to cache decoded images.
    pub cache: CacheSetting,
    /// Whether to show a progress bar while decoding.
    pub progress: Progress,
}

impl Default for LoadOptions {
    /// [`LFW_DEFAULT`], the user's cache folder, a progress bar.
    fn default() -> Self {
        Self {
            config: LFW_DEFAULT,
            cache: CacheSetting::UserFolder,
            progress: Progress::Bar,
        }
    }
}

/// People, their images, and all pixels in one flat buffer (`len × side × side` bytes).
///
/// People whose every file failed to decode are left out; people with a single image are kept,
/// they can serve as negatives only (see [`Dataset::singleton_count`]).
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(super) root: PathBuf,
    pub(super) config: PreprocessConfig,
    pub(super) people: Vec<Person>,
    pub(super) images: Vec<ImageInfo>,
    pub(super) pixels: Vec<u8>,
    pub(super) failures: Vec<DecodeFailure>,
    pub(super) fingerprint: Fingerprint,
    pub(super) cache_status: CacheStatus,
    pub(super) by_name: HashMap<String, usize>,
}

impl Dataset {
    /// Scans `root`, then takes the decoded images from the cache or decodes them (and caches
    /// them). Cache problems never fail a load: they show in [`Dataset::cache_status`].
    pub fn load(root: &Path, options: &LoadOptions) -> Result<Self, DataError> {
        options.config.validate().map_err(DataError::Preprocess)?;
        let canonical = root
            .canonicalize()
            .map_err(|_| DataError::NotAFolder(root.to_path_buf()))?;
        let scan = scan_dataset(root)?;
        let fingerprint = scan.fingerprint(&options.config);
        let side = usize::from(options.config.out_side);
        let cache_path = match &options.cache {
            CacheSetting::Off => None,
            CacheSetting::UserFolder => Some(cache::cache_dir()),
            CacheSetting::Folder(dir) => Some(Ok(dir.clone())),
        }
        .map(|dir| dir.and_then(|d| cache::cache_file(&d, &canonical, &fingerprint)));
        let (decoded, cache_status) = match cache_path {
            None => (
                decode_scan(&scan, &options.config, options.progress),
                CacheStatus::Disabled,
            ),
            Some(Err(e)) => (
                decode_scan(&scan, &options.config, options.progress),
                CacheStatus::NotWritten {
                    path: PathBuf::new(),
                    reason: e.to_string(),
                },
            ),
            Some(Ok(path)) => match cache::read(&path, &fingerprint, side) {
                Ok(decoded) if decoded.file_count == scan.files.len() => {
                    (decoded, CacheStatus::Hit(path))
                }
                outcome => {
                    let reason = match outcome {
                        Err(e) => e.to_string(),
                        Ok(_) => "file count differs from the scan".to_owned(),
                    };
                    let decoded = decode_scan(&scan, &options.config, options.progress);
                    let status = match cache::write(&path, &fingerprint, &decoded) {
                        Ok(()) => CacheStatus::Rebuilt { path, reason },
                        Err(e) => CacheStatus::NotWritten {
                            path,
                            reason: e.to_string(),
                        },
                    };
                    (decoded, status)
                }
            },
        };
        Ok(Self::from_decoded(
            &scan,
            options.config,
            decoded,
            fingerprint,
            cache_status,
        ))
    }

    fn from_decoded(
        scan: &Scan,
        config: PreprocessConfig,
        decoded: DecodedFiles,
        fingerprint: Fingerprint,
        cache_status: CacheStatus,
    ) -> Self {
        let mut dataset = Self::empty(scan.root.clone(), config, fingerprint, cache_status);
        let mut failed = decoded.failed.into_iter().peekable();
        for (i, file) in scan.files.iter().enumerate() {
            if let Some((_, reason)) = failed.next_if(|(index, _)| *index == i) {
                dataset.failures.push(DecodeFailure {
                    path: scan.path(file),
                    reason,
                });
                continue;
            }
            dataset.push_image(&scan.people[file.person], file.number, scan.path(file));
        }
        dataset.pixels = decoded.pixels;
        dataset
    }

    fn empty(
        root: PathBuf,
        config: PreprocessConfig,
        fingerprint: Fingerprint,
        cache_status: CacheStatus,
    ) -> Self {
        Self {
            root,
            config,
            people: Vec::new(),
            images: Vec::new(),
            pixels: Vec::new(),
            failures: Vec::new(),
            fingerprint,
            cache_status,
            by_name: HashMap::new(),
        }
    }

    /// Appends an image's description (not its pixels) to `name`, creating the person if new.
    fn push_image(&mut self, name: &str, number: Option<u32>, path: PathBuf) {
        let person = match self.by_name.get(name) {
            Some(&p) => p,
            None => {
                self.by_name.insert(name.to_owned(), self.people.len());
                self.people.push(Person {
                    name: name.to_owned(),
                    images: Vec::new(),
                });
                self.people.len() - 1
            }
        };
        self.people[person].images.push(self.images.len());
        self.images.push(ImageInfo {
            person,
            number,
            path,
        });
    }

    /// A dataset built from pixels already in memory (tests, synthetic data): `people` is
    /// `(name, images)`, each image `out_side²` bytes; image `k` of a person gets number `k + 1`.
    pub fn in_memory(
        config: PreprocessConfig,
        people: Vec<(String, Vec<Vec<u8>>)>,
    ) -> Result<Self, DataError> {
        config.validate().map_err(DataError::Preprocess)?;
        let mut h = Sha256::new();
        h.update(b"facegate-in-memory-v1\0");
        h.update(config.crop.to_le_bytes());
        h.update(config.out_side.to_le_bytes());
        let mut dataset = Self::empty(
            PathBuf::new(),
            config,
            Fingerprint([0; 32]),
            CacheStatus::Disabled,
        );
        let mut seen = std::collections::HashSet::new();
        for (name, images) in people {
            if name.is_empty() || !seen.insert(name.clone()) {
                return Err(DataError::InvalidInMemory(format!(
                    "person name {name:?} is empty or repeated"
                )));
            }
            h.update(name.as_bytes());
            h.update([0]);
            for (k, pixels) in images.into_iter().enumerate() {
                if pixels.len() != config.output_len() {
                    return Err(DataError::InvalidInMemory(format!(
                        "image {k} of {name} has {} bytes, expected {}",
                        pixels.len(),
                        config.output_len()
                    )));
                }
                let number = u32::try_from(k + 1).unwrap_or(u32::MAX);
                h.update(&pixels);
                dataset.push_image(&name, Some(number), PathBuf::from(format!("{name}/{k}")));
                dataset.pixels.extend_from_slice(&pixels);
            }
        }
        dataset.fingerprint = Fingerprint(h.finalize().into());
        Ok(dataset)
    }

    /// The dataset root, as given to [`Dataset::load`].
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The preprocessing every image went through.
    pub fn config(&self) -> PreprocessConfig {
        self.config
    }
    /// Image side in pixels.
    pub fn side(&self) -> usize {
        usize::from(self.config.out_side)
    }
    /// People with at least one decoded image, sorted by name.
    pub fn people(&self) -> &[Person] {
        &self.people
    }
    /// Every decoded image, grouped by person.
    pub fn images(&self) -> &[ImageInfo] {
        &self.images
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }
    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
    /// The `side²` grey pixels of image `index`, row-major.
    pub fn pixels(&self, index: usize) -> Option<&[u8]> {
        let n = self.side() * self.side();
        self.pixels
            .get(index.checked_mul(n)?..index.checked_add(1)?.checked_mul(n)?)
    }
    /// All pixels, `len × side × side` bytes.
    pub fn all_pixels(&self) -> &[u8] {
        &self.pixels
    }
    /// Files that could not be decoded, with the reason.
    pub fn failures(&self) -> &[DecodeFailure] {
        &self.failures
    }
    /// The dataset fingerprint (file list + preprocessing), for the run folder.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }
    /// What the cache did during the load.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.cache_status
    }
    /// Index of a person by name.
    pub fn person_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    /// Index of the image a pairs file names (`None` if absent or failed to decode).
    pub fn find(&self, image: &ImageRef) -> Option<usize> {
        let person = &self.people[self.person_index(&image.person)?];
        person
            .images
            .iter()
            .copied()
            .find(|&i| self.images[i].number == Some(image.number))
    }
    /// Number of people with exactly one image: negatives only, never anchors.
    pub fn singleton_count(&self) -> usize {
        self.people.iter().filter(|p| p.is_singleton()).count()
    }
    /// Each person's image indices, in [`Dataset::people`] order (the sampler's input).
    pub fn images_by_person(&self) -> Vec<Vec<usize>> {
        self.people.iter().map(|p| p.images.clone()).collect()
    }
    /// A new dataset holding only the people `keep` accepts (pixels copied). Its fingerprint
    /// hashes this one's with the kept names.
    pub fn retain_people(&self, keep: impl Fn(&Person) -> bool) -> Self {
        let mut h = Sha256::new();
        h.update(b"facegate-subset-v1\0");
        h.update(self.fingerprint.0);
        let mut subset = Self::empty(
            self.root.clone(),
            self.config,
            self.fingerprint,
            self.cache_status.clone(),
        );
        subset.failures = self.failures.clone();
        for person in self.people.iter().filter(|p| keep(p)) {
            h.update(person.name.as_bytes());
            h.update([0]);
            for &i in &person.images {
                let image = &self.images[i];
                subset.push_image(&person.name, image.number, image.path.clone());
                subset
                    .pixels
                    .extend_from_slice(self.pixels(i).unwrap_or_default());
            }
        }
        subset.fingerprint = Fingerprint(h.finalize().into());
        subset
    }
    /// One line for logs: people, singletons, images, skipped files.
    pub fn summary(&self) -> String {
        format!(
            "{} people ({} with a single image), {} images of {}×{}, {} files skipped",
            self.people.len(),
            self.singleton_count(),
            self.len(),
            self.side(),
            self.side(),
            self.failures.len()
        )
    }
}
