//! `metrics.jsonl` in a run folder: one JSON line per step and per epoch, written as training
//! goes and read back so curves survive restarts (the app plots a loaded run's history).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::TrainEvent;
use crate::model::LossValues;
use crate::retrieval::eval::HeldOutScores;

pub const FILE: &str = "metrics.jsonl";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    Step {
        step: u64,
        epoch: usize,
        #[serde(default)]
        steps_per_epoch: usize,
        #[serde(with = "crate::json_float")]
        lr: f64,
        losses: LossValues,
        #[serde(with = "crate::json_float")]
        steps_per_sec: f64,
    },
    Epoch {
        epoch: usize,
        step: u64,
        train: LossValues,
        val: Option<LossValues>,
        #[serde(with = "crate::json_float")]
        lr: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retrieval: Option<HeldOutScores>,
    },
}

impl Record {
    pub fn from_event(e: &TrainEvent) -> Option<Record> {
        Some(match e {
            TrainEvent::Step(r) => Record::Step {
                step: r.progress.step,
                epoch: r.progress.epoch,
                steps_per_epoch: r.progress.steps_per_epoch,
                lr: r.lr,
                losses: r.losses,
                steps_per_sec: r.steps_per_sec,
            },
            TrainEvent::Epoch(r) => Record::Epoch {
                epoch: r.epoch,
                step: r.step,
                train: r.train,
                val: r.val,
                lr: r.lr,
                retrieval: r.retrieval,
            },
            _ => return None,
        })
    }
}

/// Appends records to a run's log; a log that cannot be opened is silently skipped (training
/// matters more than its log).
pub struct MetricsLog(Option<std::fs::File>);

impl MetricsLog {
    pub fn open(run_dir: &Path) -> Self {
        Self(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(run_dir.join(FILE))
                .ok(),
        )
    }

    pub fn none() -> Self {
        Self(None)
    }

    pub fn write(&mut self, e: &TrainEvent) {
        if let (Some(f), Some(r)) = (self.0.as_mut(), Record::from_event(e))
            && let Ok(line) = serde_json::to_string(&r)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The log that belongs to a checkpoint: `NAME.metrics.jsonl` beside it, or the run folder's.
pub fn log_for_checkpoint(checkpoint: &Path) -> Option<PathBuf> {
    let beside = checkpoint.with_extension("metrics.jsonl");
    if beside.is_file() {
        return Some(beside);
    }
    let in_dir = checkpoint.parent()?.join(FILE);
    in_dir.is_file().then_some(in_dir)
}

/// Every readable record of a log, up to `max_step` (a checkpoint's step: later lines belong to
/// a run that continued past it). Unreadable lines are skipped.
pub fn read(path: &Path, max_step: u64) -> Vec<Record> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
        .filter(|r| match r {
            Record::Step { step, .. } | Record::Epoch { step, .. } => *step <= max_step,
        })
        .collect()
}
