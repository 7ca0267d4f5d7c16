//! The run folder: everything needed to reproduce, resume and honestly evaluate a training run.
//!
//! ```text
//! runs/NAME/
//!   config.json        every hyper-parameter (TrainingConfig)
//!   run.json           seed, git revision, dataset root and fingerprint, excluded pairs files
//!   people.txt         the people the run trained on, one per line (evaluation refuses overlaps)
//!   log.jsonl          one StepStats row per log step (the training curves)
//!   checkpoint.json    the last complete checkpoint: {epoch, step, dir}
//!   checkpoint-E/      model.bpk and optimizer.bpk after epoch E
//!   model.bpk          the final weights
//! ```
//! Every file is written to a temporary name and renamed, so a stopped run never leaves a
//! half-written file under a real name; `checkpoint.json` is renamed last, so it only ever names
//! a complete checkpoint.

use crate::model::{Embedder, EmbedderConfig};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::prelude::{Bool, Int, Tensor};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What went wrong with a run folder.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file is malformed.
    #[error("{path}: malformed JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// burn could not save or load weights.
    #[error("{path}: {message}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// burn's message.
        message: String,
    },
    /// The folder already holds a run and neither `--resume` nor `--force` was given.
    #[error("{0} already holds a run: pass --resume to continue it, or choose another --out")]
    Exists(PathBuf),
    /// The folder is not a run (no config.json or weights).
    #[error("{0} is not a facegate run folder (no config.json / model.bpk)")]
    NotARun(PathBuf),
}

/// Provenance of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunInfo {
    /// `git describe --always --dirty` of the source tree, or "unknown".
    pub git_revision: String,
    /// The dataset root trained on.
    pub dataset: PathBuf,
    /// Fingerprint of the dataset's file list and preprocessing.
    pub dataset_fingerprint: String,
    /// Pairs files whose people were excluded from training (with the fold, if any).
    pub excluded: Vec<String>,
    /// Images trained on and people trained on.
    pub images: usize,
    /// People trained on.
    pub people: usize,
    /// Unreadable images skipped while loading.
    pub skipped_images: usize,
    /// The seed (also in config.json).
    pub seed: u64,
}

/// Resume point: the state after `epoch` complete epochs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Complete epochs.
    pub epoch: usize,
    /// Global step.
    pub step: usize,
}

/// The parameter ids of a checkpoint's model, in visiting order.
const PARAM_IDS_JSON: &str = "param-ids.json";

struct IdCollector(Vec<u64>);

impl ModuleVisitor for IdCollector {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id.val());
    }
    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.0.push(param.id.val());
    }
    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.0.push(param.id.val());
    }
}

struct IdSetter {
    ids: Vec<u64>,
    next: usize,
}

impl IdSetter {
    fn next_id(&mut self) -> ParamId {
        let id = ParamId::from(self.ids[self.next]);
        self.next += 1;
        id
    }
}

impl ModuleMapper for IdSetter {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.id = self.next_id();
        param
    }
    fn map_int<const D: usize>(
        &mut self,
        mut param: Param<Tensor<D, Int>>,
    ) -> Param<Tensor<D, Int>> {
        param.id = self.next_id();
        param
    }
    fn map_bool<const D: usize>(
        &mut self,
        mut param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        param.id = self.next_id();
        param
    }
}

fn param_ids(model: &Embedder) -> Vec<u64> {
    let mut collector = IdCollector(Vec::new());
    model.visit(&mut collector);
    collector.0
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` whole or not at all ([`crate::atomic::write`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    crate::atomic::write(path, bytes).map_err(io(path))
}

fn io_at(path: PathBuf, source: std::io::Error) -> RunError {
    RunError::Io { path, source }
}

fn weights_error(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Weights {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// `git describe --always --dirty` of the working directory's repository, or "unknown".
pub fn git_revision() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

impl RunDir {
    /// Opens an existing run folder (for evaluation or resume).
    pub fn open(path: &Path) -> Result<Self, RunError> {
        if !path.join("config.json").is_file() {
            return Err(RunError::NotARun(path.to_path_buf()));
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// Creates a new run folder, refusing to overwrite an existing run unless resuming.
    pub fn create(path: &Path, resume: bool) -> Result<Self, RunError> {
        if path.join("config.json").exists() && !resume {
            return Err(RunError::Exists(path.to_path_buf()));
        }
        std::fs::create_dir_all(path).map_err(io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a serialisable value as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), RunError> {
        let path = self.path.join(name);
        let json = serde_json::to_vec_pretty(value).map_err(|source| RunError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)
    }

    /// Reads a JSON file of the run.
    pub fn read_json<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T, RunError> {
        let path = self.path.join(name);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        serde_json::from_slice(&bytes).map_err(|source| RunError::Json { path, source })
    }

    /// Records the people trained on.
    pub fn write_people(&self, names: &[String]) -> Result<(), RunError> {
        let mut text = names.join("\n");
        text.push('\n');
        write_atomic(&self.path.join("people.txt"), text.as_bytes())
    }

    /// The people the run trained on.
    pub fn people(&self) -> Result<Vec<String>, RunError> {
        let path = self.path.join("people.txt");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(text
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Drops the `log.jsonl` rows written after `step` (a resumed run logs them again).
    pub fn truncate_log(&self, step: usize) -> Result<(), RunError> {
        let path = self.path.join("log.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        #[derive(Deserialize)]
        struct Step {
            step: usize,
        }
        let kept: String = text
            .lines()
            .filter(|l| serde_json::from_str::<Step>(l).is_ok_and(|r| r.step <= step))
            .flat_map(|l| [l, "\n"])
            .collect();
        write_atomic(&path, kept.as_bytes())
    }

    /// Appends one row to `log.jsonl`.
    pub fn append_log<T: Serialize>(&self, row: &T) -> Result<(), RunError> {
        let path = self.path.join("log.jsonl");
        let mut line = serde_json::to_vec(row).map_err(|source| RunError::Json {
            path: path.clone(),
            source,
        })?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(&line).map_err(io(&path))
    }

    /// Every row of `log.jsonl` (malformed trailing rows from a stop mid-write are skipped).
    pub fn log<T: for<'de> Deserialize<'de>>(&self) -> Vec<T> {
        std::fs::read_to_string(self.path.join("log.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn save_weights(&self, model: &Embedder, path: &Path) -> Result<(), RunError> {
        // `valid()` merges BatchNorm's pending running-statistics update (burn's RunningState
        // lags one update behind until synced); saving the module as-is would lose it.
        crate::atomic::replace_with(
            path,
            |tmp| {
                model
                    .valid()
                    .save_file(tmp)
                    .map_err(|e| weights_error(tmp, e))
            },
            io_at,
        )
    }

    /// Saves model and optimiser for `ckpt`, then points `checkpoint.json` at them.
    pub fn save_checkpoint(
        &self,
        model: &Embedder,
        optim: &ModuleOptimizer,
        ckpt: &Checkpoint,
    ) -> Result<(), RunError> {
        let dir = self.path.join(format!("checkpoint-{}", ckpt.epoch));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        self.save_weights(model, &dir.join("model.bpk"))?;
        let ids = serde_json::to_vec(&param_ids(model)).expect("ids serialise");
        write_atomic(&dir.join(PARAM_IDS_JSON), &ids)?;
        let opt = dir.join("optimizer.bpk");
        crate::atomic::replace_with(
            &opt,
            |tmp| optim.save(tmp).map_err(|e| weights_error(tmp, e)),
            io_at,
        )?;
        let previous = self.load_checkpoint().ok().flatten();
        self.write_json("checkpoint.json", ckpt)?;
        if let Some(prev) = previous.filter(|p| p.epoch != ckpt.epoch) {
            let _ = std::fs::remove_dir_all(self.path.join(format!("checkpoint-{}", prev.epoch)));
        }
        Ok(())
    }

    /// The last complete checkpoint, if any.
    pub fn load_checkpoint(&self) -> Result<Option<Checkpoint>, RunError> {
        if !self.path.join("checkpoint.json").exists() {
            return Ok(None);
        }
        self.read_json("checkpoint.json").map(Some)
    }

    /// The weights file of the last checkpoint.
    pub fn checkpoint_model(&self) -> PathBuf {
        let epoch = self.load_checkpoint().ok().flatten().map_or(0, |c| c.epoch);
        self.path
            .join(format!("checkpoint-{epoch}"))
            .join("model.bpk")
    }

    /// Loads weights into `model`.
    pub fn load_model_weights(&self, model: Embedder, path: &Path) -> Result<Embedder, RunError> {
        model.try_load_file(path).map_err(|e| RunError::Weights {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Gives `model` the parameter ids recorded with the last checkpoint. burn keys optimiser
    /// state by parameter id and draws fresh ids in every process, so without this a resumed run
    /// would silently restart Adam's moments.
    pub fn restore_param_ids(&self, model: Embedder) -> Result<Embedder, RunError> {
        let path = self.checkpoint_model().with_file_name(PARAM_IDS_JSON);
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let ids: Vec<u64> = serde_json::from_slice(&bytes).map_err(|source| RunError::Json {
            path: path.clone(),
            source,
        })?;
        let expected = param_ids(&model).len();
        if ids.len() != expected {
            return Err(RunError::Weights {
                path,
                message: format!("{} parameter ids for a model with {expected}", ids.len()),
            });
        }
        Ok(model.map(&mut IdSetter { ids, next: 0 }))
    }

    /// Loads the last checkpoint's optimiser state into `optim`.
    pub fn load_optimizer(&self, optim: ModuleOptimizer) -> Result<ModuleOptimizer, RunError> {
        let path = self.checkpoint_model().with_file_name("optimizer.bpk");
        optim.load(&path).map_err(|e| RunError::Weights {
            path,
            message: e.to_string(),
        })
    }

    /// Saves the final weights as `model.bpk`.
    pub fn save_final_model(&self, model: &Embedder) -> Result<(), RunError> {
        self.save_weights(model, &self.path.join("model.bpk"))
    }

    /// Loads the final model of a finished run (its config from `config.json`).
    pub fn load_model(
        &self,
        model_config: &EmbedderConfig,
        device: &burn::prelude::Device,
    ) -> Result<Embedder, RunError> {
        let weights = self.path.join("model.bpk");
        if !weights.is_file() {
            return Err(RunError::NotARun(self.path.clone()));
        }
        self.load_model_weights(model_config.init(device), &weights)
    }
}
