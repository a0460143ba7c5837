//! `metrics.jsonl` in a run folder: one JSON line per step and per epoch, written as training
//! goes and read back so curves survive restarts (the app plots a loaded run's history); the
//! same scalars go to a TensorBoard event file beside it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::TrainEvent;
use super::tensorboard;
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

/// Appends records to a run's log, `metrics.jsonl`, and the same scalars to a TensorBoard
/// event file beside it ([`super::tensorboard`]); a log that cannot be opened is silently
/// skipped (training matters more than its log).
pub struct MetricsLog {
    jsonl: Option<std::fs::File>,
    events: Option<std::fs::File>,
}

fn append(path: &Path) -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()
}

fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl MetricsLog {
    pub fn open(run_dir: &Path) -> Self {
        let now = wall_time();
        let mut events = append(&run_dir.join(tensorboard::file_name(now)));
        if let Some(f) = events.as_mut()
            && f.write_all(&tensorboard::record(&tensorboard::version_event(now)))
                .is_err()
        {
            events = None;
        }
        Self {
            jsonl: append(&run_dir.join(FILE)),
            events,
        }
    }

    pub fn none() -> Self {
        Self {
            jsonl: None,
            events: None,
        }
    }

    pub fn write(&mut self, e: &TrainEvent) {
        let Some(r) = Record::from_event(e) else {
            return;
        };
        if let Some(f) = self.jsonl.as_mut()
            && let Ok(line) = serde_json::to_string(&r)
        {
            let _ = writeln!(f, "{line}");
        }
        if let Some(f) = self.events.as_mut() {
            let (step, scalars) = r.scalars();
            let event = tensorboard::scalars_event(
                wall_time(),
                step as i64,
                scalars.iter().map(|(t, v)| (t.as_str(), *v)),
            );
            let _ = f.write_all(&tensorboard::record(&event));
        }
    }
}

impl Record {
    /// The record's step and its scalars under TensorBoard tags: `loss/TERM`, `lr` and
    /// `steps_per_sec` per step; `train/TERM`, `val/TERM` and `held_out/SCORE` per epoch.
    pub fn scalars(&self) -> (u64, Vec<(String, f32)>) {
        let terms = |prefix: &str, l: &LossValues| -> Vec<(String, f32)> {
            l.iter()
                .map(|(n, v)| (format!("{prefix}/{n}"), v))
                .collect()
        };
        match self {
            Record::Step {
                step,
                lr,
                losses,
                steps_per_sec,
                ..
            } => {
                let mut out = terms("loss", losses);
                out.push(("lr".into(), *lr as f32));
                out.push(("steps_per_sec".into(), *steps_per_sec as f32));
                (*step, out)
            }
            Record::Epoch {
                step,
                train,
                val,
                retrieval,
                ..
            } => {
                let mut out = terms("train", train);
                if let Some(v) = val {
                    out.extend(terms("val", v));
                }
                if let Some(r) = retrieval {
                    out.extend(
                        HeldOutScores::NAMES
                            .iter()
                            .filter_map(|n| r.get(n).map(|v| (format!("held_out/{n}"), v as f32))),
                    );
                }
                (*step, out)
            }
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
