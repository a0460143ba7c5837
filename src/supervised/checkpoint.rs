//! Learned channel weights on disk, with what they need to resume: config, progress, the
//! optimiser, and which stage-one checkpoint (and architecture) they belong to.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::config::SupervisedConfig;
use super::weights::ChannelWeights;
use crate::model::ModelConfig;
use crate::store::{read_container, write_container};
use crate::train::checkpoint::{now_string, optimizer_bytes};

/// What can go wrong with a supervised stage's files: a channel-weights file, or the
/// fine-tuning stamp in a model checkpoint; each names the file or the part.
#[derive(Debug, thiserror::Error)]
pub enum SupervisedFileError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Checkpoint(#[from] crate::train::checkpoint::CheckpointError),
    #[error("cannot serialise the {what}: {reason}")]
    Serialise { what: &'static str, reason: String },
    #[error("not saving {}: its config is invalid: {source}", path.display())]
    InvalidConfig {
        path: PathBuf,
        source: crate::error::ConfigError,
    },
    #[error("{} is not a usable channel-weights file: {problem}", file.display())]
    Unusable { file: PathBuf, problem: String },
    #[error("the channel weights do not load: {0}")]
    DoesNotLoad(String),
    #[error("the checkpoint's fine-tuning record is unreadable: {0}")]
    Stamp(String),
    #[error("{} is a stage-one checkpoint, not a weights file or a fine-tuned model", path.display())]
    StageOne { path: PathBuf },
}

impl From<SupervisedFileError> for String {
    fn from(e: SupervisedFileError) -> String {
        e.to_string()
    }
}

pub const MAGIC: &[u8; 16] = b"DUSKMATCH-WGHT\n\0";
/// File name of the channel weights in a run folder.
pub const WEIGHTS_FILE: &str = "weights.dmwt";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SupervisedState {
    /// Flattened, so the file keeps `epoch`, `step_in_epoch` and `step` as fields.
    #[serde(flatten)]
    pub at: crate::train::counters::Counters,
    #[serde(with = "crate::json_float")]
    pub epoch_loss_sum: f64,
    /// One point per epoch; the first is the held-out loss where the stage started.
    pub history: Vec<HistoryPoint>,
    /// The best held-out retrieval so far (fine-tuning keeps it as `best.dmck`).
    #[serde(default)]
    pub best: Option<crate::retrieval::eval::HeldOutScores>,
}

/// Losses after an epoch (`train` is absent for the starting point).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub step: u64,
    pub epoch: usize,
    #[serde(default, with = "crate::json_float::option")]
    pub train: Option<f32>,
    #[serde(default, with = "crate::json_float::option")]
    pub val: Option<f32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeightsHeader {
    pub config: SupervisedConfig,
    pub model: ModelConfig,
    pub channels: Vec<usize>,
    pub stage_one: PathBuf,
    pub stage_one_step: u64,
    /// `model::fingerprint::fingerprint` of the stage-one model; absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_one_fingerprint: Option<String>,
    pub state: SupervisedState,
    pub created: String,
}

#[derive(Clone)]
pub struct WeightsCheckpoint {
    pub header: WeightsHeader,
    pub record: ModuleRecord,
    pub optimizer: Option<Bytes>,
    /// What to tell the user about the file itself (it predates checksums), if anything.
    pub notice: Option<String>,
}

impl WeightsCheckpoint {
    pub fn build(&self, device: &Device) -> Result<ChannelWeights, SupervisedFileError> {
        ChannelWeights::ones(&self.header.channels, device)
            .try_load_record(self.record.clone())
            .map_err(|e| SupervisedFileError::DoesNotLoad(e.to_string()))
    }

    /// The weights as plain vectors, one per depth.
    pub fn vectors(&self) -> Result<Vec<Vec<f32>>, SupervisedFileError> {
        Ok(self.build(&Device::flex())?.to_vecs())
    }
}

pub fn save(
    path: &Path,
    config: &SupervisedConfig,
    model: &ModelConfig,
    // The stage-one model's file, step and fingerprint.
    stage_one: (&Path, u64, &str),
    state: &SupervisedState,
    w: &ChannelWeights,
    optimizer: Option<&burn::optim::ModuleOptimizer>,
) -> Result<(), SupervisedFileError> {
    // The reader refuses an invalid config: never write a file that cannot be read back.
    config
        .validate()
        .map_err(|source| SupervisedFileError::InvalidConfig {
            path: path.to_path_buf(),
            source,
        })?;
    let header = WeightsHeader {
        config: config.clone(),
        model: *model,
        channels: w.depths.iter().map(|p| p.val().dims()[0]).collect(),
        stage_one: stage_one.0.to_path_buf(),
        stage_one_step: stage_one.1,
        stage_one_fingerprint: Some(stage_one.2.to_string()),
        state: state.clone(),
        created: now_string(),
    };
    let header =
        serde_json::to_vec_pretty(&header).map_err(|e| SupervisedFileError::Serialise {
            what: "header",
            reason: e.to_string(),
        })?;
    let record =
        w.valid()
            .into_record()
            .into_bytes()
            .map_err(|e| SupervisedFileError::Serialise {
                what: "weights",
                reason: e.to_string(),
            })?;
    let optim = optimizer_bytes(optimizer)?;
    Ok(write_container(path, MAGIC, &[&header, &record, &optim])?)
}

/// Read weights from a file, or `DIR/weights.dmwt`.
pub fn load(path: &Path) -> Result<WeightsCheckpoint, SupervisedFileError> {
    let file = crate::store::resolve(path, WEIGHTS_FILE)?;
    let sections = read_container(
        &file,
        MAGIC,
        "channel-weights file",
        &["header", "weights", "optimiser"],
        &[],
    )?;
    let notice = sections.notice(&file);
    let mut parts = sections.parts.into_iter();
    let (h, r, o) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let ctx = |problem: String| SupervisedFileError::Unusable {
        file: file.clone(),
        problem,
    };
    let header: WeightsHeader =
        serde_json::from_slice(&h).map_err(|e| ctx(format!("bad header: {e}")))?;
    header
        .config
        .validate()
        .map_err(|e| ctx(format!("the header's config is invalid: {e}")))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(r))
        .map_err(|e| ctx(format!("bad weights: {e}")))?;
    Ok(WeightsCheckpoint {
        header,
        record,
        optimizer: (!o.is_empty()).then(|| Bytes::from_bytes_vec(o)),
        notice,
    })
}
