//! The `metadata_props` of an exported model: everything a consumer needs besides the graph —
//! how to preprocess a frame, what the embedding is, which distance and threshold decide, and
//! where the model came from.
//!
//! | key | value |
//! | --- | --- |
//! | `facegate.format` | `1` |
//! | `facegate.input_side` | side of the square grey input (`[N,1,side,side]`) |
//! | `facegate.preprocess.crop` | side of the centre crop taken from a frame before resizing |
//! | `facegate.preprocess.grey` | `bt601-q8`: grey = `(77·R + 150·G + 29·B + 128) >> 8` |
//! | `facegate.preprocess.resize` | `bilinear-q16-half-pixel` (`facegate_shared::preprocess`) |
//! | `facegate.input_offset`, `facegate.input_scale` | input = (pixel − offset) × scale (`128`, `0.0078125`) |
//! | `facegate.embedding_dim` | embedding length (output `[N,dim]`, unit L2 norm) |
//! | `facegate.distance` | `squared_l2` |
//! | `facegate.threshold` | same person iff distance ≤ threshold |
//! | `facegate.threshold.target_far`, `.measured_far` | the FAR it was chosen for, and measured |
//! | `facegate.threshold.flip_averaged` | whether it was calibrated on flip-averaged embeddings |
//! | `facegate.threshold.calibration_set` | what it was calibrated on |
//! | `facegate.training.config_sha256` | SHA-256 of the run's `config.json` |
//! | `facegate.training.git_revision` | the source revision the run trained at (`run.json`) |
//! | `facegate.training.people_count`, `.people_sha256` | the training people (see [`people_sha256`]) |

use super::OnnxError;
use facegate_shared::preprocess::{PreprocessConfig, INPUT_SCALE};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

/// Metadata format written and understood.
pub const FORMAT: &str = "1";
/// The grey conversion of `facegate_shared::preprocess`.
pub const GREY: &str = "bt601-q8";
/// The resize of `facegate_shared::preprocess`.
pub const RESIZE: &str = "bilinear-q16-half-pixel";
/// The only distance used.
pub const SQUARED_L2: &str = "squared_l2";
/// The pixel value that maps to input 0.
pub const INPUT_OFFSET: f32 = 128.0;

/// What an exported embedder declares about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxMetadata {
    /// How frames become the input (`out_side` is the input side).
    pub preprocess: PreprocessConfig,
    /// Embedding length.
    pub embedding_dim: usize,
    /// Accept iff squared L2 distance ≤ this.
    pub threshold: f32,
    /// The FAR the threshold was chosen for.
    pub target_far: f64,
    /// The FAR measured at the threshold on the calibration set.
    pub measured_far: f64,
    /// Whether the threshold was calibrated on flip-averaged embeddings.
    pub flip_averaged: bool,
    /// The calibration set.
    pub calibration_set: String,
    /// SHA-256 (hex) of the run's `config.json`.
    pub config_sha256: String,
    /// The run's git revision.
    pub git_revision: String,
    /// How many people the run trained on.
    pub people_count: usize,
    /// [`people_sha256`] of them.
    pub people_sha256: String,
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) of a set of names: each name followed by `\n`, in sorted order.
pub fn people_sha256(people: &BTreeSet<String>) -> String {
    let mut h = Sha256::new();
    for name in people {
        h.update(name.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

impl OnnxMetadata {
    /// The key–value pairs, in a stable order.
    pub fn to_props(&self) -> Vec<(String, String)> {
        let p = |k: &str, v: String| (k.to_string(), v);
        vec![
            p("facegate.format", FORMAT.into()),
            p("facegate.input_side", self.preprocess.out_side.to_string()),
            p("facegate.preprocess.crop", self.preprocess.crop.to_string()),
            p("facegate.preprocess.grey", GREY.into()),
            p("facegate.preprocess.resize", RESIZE.into()),
            p("facegate.input_offset", INPUT_OFFSET.to_string()),
            p("facegate.input_scale", INPUT_SCALE.to_string()),
            p("facegate.embedding_dim", self.embedding_dim.to_string()),
            p("facegate.distance", SQUARED_L2.into()),
            p("facegate.threshold", self.threshold.to_string()),
            p("facegate.threshold.target_far", self.target_far.to_string()),
            p(
                "facegate.threshold.measured_far",
                self.measured_far.to_string(),
            ),
            p(
                "facegate.threshold.flip_averaged",
                self.flip_averaged.to_string(),
            ),
            p(
                "facegate.threshold.calibration_set",
                self.calibration_set.clone(),
            ),
            p(
                "facegate.training.config_sha256",
                self.config_sha256.clone(),
            ),
            p("facegate.training.git_revision", self.git_revision.clone()),
            p(
                "facegate.training.people_count",
                self.people_count.to_string(),
            ),
            p(
                "facegate.training.people_sha256",
                self.people_sha256.clone(),
            ),
        ]
    }

    /// Reads and checks the metadata: every key present and well-formed, and the preprocessing
    /// and distance the ones this build implements.
    pub fn from_props(props: &BTreeMap<String, String>) -> Result<Self, OnnxError> {
        let get = |key: &'static str| -> Result<&str, OnnxError> {
            props
                .get(key)
                .map(String::as_str)
                .ok_or(OnnxError::MissingMetadata(key))
        };
        fn parse<'p, T: FromStr>(
            get: &impl Fn(&'static str) -> Result<&'p str, OnnxError>,
            key: &'static str,
            expected: &'static str,
        ) -> Result<T, OnnxError> {
            let value = get(key)?;
            value.parse().map_err(|_| OnnxError::BadMetadata {
                key,
                value: value.to_string(),
                expected: expected.to_string(),
            })
        }
        let exact = |key: &'static str, want: &str| -> Result<(), OnnxError> {
            let value = get(key)?;
            if value == want {
                Ok(())
            } else {
                Err(OnnxError::BadMetadata {
                    key,
                    value: value.to_string(),
                    expected: want.to_string(),
                })
            }
        };
        exact("facegate.format", FORMAT)?;
        exact("facegate.preprocess.grey", GREY)?;
        exact("facegate.preprocess.resize", RESIZE)?;
        exact("facegate.distance", SQUARED_L2)?;
        let offset: f32 = parse(&get, "facegate.input_offset", "a number")?;
        let scale: f32 = parse(&get, "facegate.input_scale", "a number")?;
        if offset != INPUT_OFFSET || scale != INPUT_SCALE {
            return Err(OnnxError::BadMetadata {
                key: "facegate.input_offset",
                value: format!("offset {offset}, scale {scale}"),
                expected: format!("offset {INPUT_OFFSET}, scale {INPUT_SCALE}"),
            });
        }
        let side: u16 = parse(&get, "facegate.input_side", "a side in pixels")?;
        let crop: u16 = parse(&get, "facegate.preprocess.crop", "a side in pixels")?;
        if side == 0 || crop == 0 {
            return Err(OnnxError::BadMetadata {
                key: "facegate.input_side",
                value: format!("side {side}, crop {crop}"),
                expected: "positive sides".into(),
            });
        }
        let threshold: f32 = parse(&get, "facegate.threshold", "a number")?;
        if !threshold.is_finite() || threshold < 0.0 {
            return Err(OnnxError::BadMetadata {
                key: "facegate.threshold",
                value: threshold.to_string(),
                expected: "a finite, non-negative squared L2 distance".into(),
            });
        }
        Ok(Self {
            preprocess: PreprocessConfig {
                crop,
                out_side: side,
            },
            embedding_dim: parse(&get, "facegate.embedding_dim", "a length")?,
            threshold,
            target_far: parse(&get, "facegate.threshold.target_far", "a rate")?,
            measured_far: parse(&get, "facegate.threshold.measured_far", "a rate")?,
            flip_averaged: parse(&get, "facegate.threshold.flip_averaged", "true or false")?,
            calibration_set: get("facegate.threshold.calibration_set")?.to_string(),
            config_sha256: get("facegate.training.config_sha256")?.to_string(),
            git_revision: get("facegate.training.git_revision")?.to_string(),
            people_count: parse(&get, "facegate.training.people_count", "a count")?,
            people_sha256: get("facegate.training.people_sha256")?.to_string(),
        })
    }

    /// Checks a people list (a sidecar `people.txt`) against the recorded count and hash.
    pub fn check_people(&self, people: &BTreeSet<String>) -> Result<(), OnnxError> {
        let hash = people_sha256(people);
        if people.len() != self.people_count || hash != self.people_sha256 {
            return Err(OnnxError::PeopleMismatch {
                expected_count: self.people_count,
                found_count: people.len(),
            });
        }
        Ok(())
    }
}
