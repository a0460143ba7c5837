//! What a running trainer tells its owner, and what it can be asked to do. Both travel over
//! channels, so the trainer can run on any thread and the owner never blocks on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::{DoubleVae, LossValues};
use crate::retrieval::eval::HeldOutScores;

/// Progress counters shared by several events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Zero-based epoch being trained.
    pub epoch: usize,
    pub epochs: usize,
    /// Steps completed so far in the whole run.
    pub step: u64,
    pub total_steps: u64,
    pub steps_per_epoch: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub progress: Progress,
    pub losses: LossValues,
    #[serde(with = "crate::json_float")]
    pub lr: f64,
    #[serde(with = "crate::json_float")]
    pub steps_per_sec: f64,
    /// Day plus night images per second.
    #[serde(with = "crate::json_float")]
    pub images_per_sec: f64,
    #[serde(with = "crate::json_float")]
    pub eta_secs: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub step: u64,
    pub train: LossValues,
    pub val: Option<LossValues>,
    #[serde(with = "crate::json_float")]
    pub lr: f64,
    pub lr_reduced: bool,
    /// Held-out retrieval and invariance of the model at the end of this epoch.
    pub retrieval: Option<HeldOutScores>,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    Finished,
    MaxSteps,
    Stopped,
}

pub enum TrainEvent {
    Started {
        device: String,
        note: Option<String>,
        dataset: String,
        progress: Progress,
        resumed: bool,
    },
    Step(StepReport),
    Epoch(EpochReport),
    /// An inference copy of the model (`valid()`), for views that want fresh pictures.
    Snapshot {
        step: u64,
        model: Box<DoubleVae>,
    },
    CheckpointWritten {
        path: PathBuf,
        step: u64,
    },
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    Warning(String),
    Error(String),
    Finished {
        reason: StopReason,
        progress: Progress,
        checkpoint: Option<PathBuf>,
    },
}

impl std::fmt::Debug for TrainEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainEvent::Snapshot { step, .. } => write!(f, "Snapshot {{ step: {step} }}"),
            TrainEvent::Started { device, .. } => write!(f, "Started {{ device: {device} }}"),
            TrainEvent::Step(r) => write!(f, "Step({} {:?})", r.progress.step, r.losses.total),
            TrainEvent::Epoch(r) => write!(f, "Epoch({})", r.epoch),
            TrainEvent::CheckpointWritten { path, .. } => {
                write!(f, "CheckpointWritten({})", path.display())
            }
            TrainEvent::Paused { step } => write!(f, "Paused({step})"),
            TrainEvent::Resumed { step } => write!(f, "Resumed({step})"),
            TrainEvent::Warning(w) => write!(f, "Warning({w})"),
            TrainEvent::Error(e) => write!(f, "Error({e})"),
            TrainEvent::Finished { reason, .. } => write!(f, "Finished({reason:?})"),
        }
    }
}

/// Requests honoured between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Pause,
    Resume,
    Stop,
    SaveNow,
}
