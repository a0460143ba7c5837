//! Fine-tuned models on disk. A fine-tuned model is an ordinary model checkpoint, so eval,
//! embed, the app and the weights stage read it unchanged: the stage-one header and progress
//! stay, the optimiser section holds the fine-tuning's Adam, and the header's
//! `state.supervised` carries this stamp (config, progress, and which stage-one checkpoint it
//! started from) so the fine-tuning can resume exactly and stage one refuses to.

use std::path::{Path, PathBuf};

use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use super::checkpoint::{SupervisedFileError, SupervisedState, WeightsCheckpoint};
use super::config::SupervisedConfig;
use crate::model::DoubleVae;
use crate::train::checkpoint::{self, Checkpoint, Header};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneStamp {
    pub config: SupervisedConfig,
    pub stage_one: PathBuf,
    pub stage_one_step: u64,
    /// `model::fingerprint::fingerprint` of the stage-one model; absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_one_fingerprint: Option<String>,
    pub state: SupervisedState,
}

impl FineTuneStamp {
    /// The stamp of a checkpoint, if it was fine-tuned.
    pub fn of(ck: &Checkpoint) -> Result<Option<Self>, SupervisedFileError> {
        ck.header
            .state
            .supervised
            .as_ref()
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| SupervisedFileError::Stamp(e.to_string()))
            })
            .transpose()
    }
}

/// The training log whose curves belong to the checkpoint at `path`, and the last step of it
/// that does: the checkpoint's own log, or for a fine-tuned checkpoint without one, its
/// stage-one parent's log up to the step it was fine-tuned from (the parent as the stamp names
/// it, else a file of that name beside the checkpoint, as the shipped files are laid out).
/// `inherited` says the curves are the parent's.
pub fn history_log(path: &Path, ck: &Checkpoint) -> Option<HistoryLog> {
    use crate::train::metrics_log::log_for_checkpoint;
    if let Some(log) = log_for_checkpoint(path) {
        return Some(HistoryLog {
            log,
            max_step: ck.header.state.at.step,
            inherited: None,
        });
    }
    let stamp = FineTuneStamp::of(ck).ok()??;
    let beside = path
        .parent()
        .zip(stamp.stage_one.file_name())
        .map(|(dir, name)| dir.join(name));
    [Some(stamp.stage_one.clone()), beside]
        .into_iter()
        .flatten()
        .find_map(|parent| {
            Some(HistoryLog {
                log: log_for_checkpoint(&parent)?,
                max_step: stamp.stage_one_step,
                inherited: Some(parent),
            })
        })
}

/// Where a checkpoint's curves are read from ([`history_log`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLog {
    pub log: PathBuf,
    /// Records after this step belong to a run that went on past the checkpoint.
    pub max_step: u64,
    /// The stage-one checkpoint whose curves these are, when they are not the checkpoint's own.
    pub inherited: Option<PathBuf>,
}

/// A file a supervised run continues from.
pub enum Resume {
    Weights(Box<WeightsCheckpoint>),
    FineTune {
        stamp: Box<FineTuneStamp>,
        checkpoint: Box<Checkpoint>,
    },
}

impl Resume {
    /// Read a weights file (`.dmwt`, or a folder holding one) or a fine-tuned model
    /// checkpoint (`.dmck`, or a run folder), whichever `path` is.
    pub fn load(path: &Path) -> Result<Self, SupervisedFileError> {
        let weights_file = if path.is_dir() {
            path.join(super::checkpoint::WEIGHTS_FILE)
        } else {
            path.to_path_buf()
        };
        if weights_file.is_file() && has_magic(&weights_file, super::checkpoint::MAGIC) {
            return Ok(Resume::Weights(Box::new(super::checkpoint::load(
                &weights_file,
            )?)));
        }
        let ck = checkpoint::load(path)?;
        match FineTuneStamp::of(&ck)? {
            Some(stamp) => Ok(Resume::FineTune {
                stamp: Box::new(stamp),
                checkpoint: Box::new(ck),
            }),
            None => Err(SupervisedFileError::StageOne {
                path: path.to_path_buf(),
            }),
        }
    }
}

fn has_magic(path: &Path, magic: &[u8; 16]) -> bool {
    use std::io::Read;
    let mut m = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut m))
        .is_ok()
        && &m == magic
}

/// Save a fine-tuned model under the stage-one `header`, stamped.
pub fn save(
    path: &Path,
    header: &Header,
    stamp: &FineTuneStamp,
    model: &DoubleVae,
    optimizer: &ModuleOptimizer,
) -> Result<(), SupervisedFileError> {
    let mut state = header.state.clone();
    state.supervised =
        Some(
            serde_json::to_value(stamp).map_err(|e| SupervisedFileError::Serialise {
                what: "fine-tuning stamp",
                reason: e.to_string(),
            })?,
        );
    Ok(checkpoint::save(
        path,
        &header.config,
        &state,
        model,
        Some(optimizer),
        None,
    )?)
}
