//! What every stage's events say about the run itself (started, at step k, paused, saved,
//! warned, failed, finished), whatever else they carry, and the run's phase followed from
//! them. Stage one's `TrainEvent` and the supervised stage's `SupervisedEvent` keep their own
//! reports (losses, curves, snapshots) and answer [`StageEvent::lifecycle`]; the app's
//! sessions and the command line's one progress consumer read only this, so run state is
//! tracked once for every stage.

use std::path::Path;

use crate::supervised::SupervisedEvent;
use crate::train::TrainEvent;

/// The stage-independent meaning of one event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lifecycle<'a> {
    /// The run starts (or resumes) at `step` of `total_steps`.
    Started {
        step: u64,
        total_steps: u64,
        resumed: bool,
    },
    /// A step ended.
    Step {
        step: u64,
    },
    /// An epoch ended.
    Epoch {
        step: u64,
    },
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    CheckpointWritten {
        path: &'a Path,
    },
    Warning(&'a str),
    Error(&'a str),
    /// The run ended at `step` (its result follows).
    Finished {
        step: u64,
    },
}

/// An event of a stage's run.
pub trait StageEvent {
    /// What the event says about the run; `None` for one that says nothing about it (a model
    /// snapshot for the views).
    fn lifecycle(&self) -> Option<Lifecycle<'_>>;
}

impl StageEvent for TrainEvent {
    fn lifecycle(&self) -> Option<Lifecycle<'_>> {
        Some(match self {
            TrainEvent::Started {
                progress, resumed, ..
            } => Lifecycle::Started {
                step: progress.step,
                total_steps: progress.total_steps,
                resumed: *resumed,
            },
            TrainEvent::Step(r) => Lifecycle::Step {
                step: r.progress.step,
            },
            TrainEvent::Epoch(r) => Lifecycle::Epoch { step: r.step },
            TrainEvent::Snapshot { .. } => return None,
            TrainEvent::CheckpointWritten { path, .. } => Lifecycle::CheckpointWritten { path },
            TrainEvent::Paused { step } => Lifecycle::Paused { step: *step },
            TrainEvent::Resumed { step } => Lifecycle::Resumed { step: *step },
            TrainEvent::Warning(w) => Lifecycle::Warning(w),
            TrainEvent::Error(e) => Lifecycle::Error(e),
            TrainEvent::Finished { progress, .. } => Lifecycle::Finished {
                step: progress.step,
            },
        })
    }
}

impl StageEvent for SupervisedEvent {
    fn lifecycle(&self) -> Option<Lifecycle<'_>> {
        Some(match self {
            SupervisedEvent::Started {
                step,
                total_steps,
                resumed,
                ..
            } => Lifecycle::Started {
                step: *step,
                total_steps: *total_steps,
                resumed: *resumed,
            },
            SupervisedEvent::Step { step, .. } => Lifecycle::Step { step: *step },
            SupervisedEvent::Epoch { step, .. } => Lifecycle::Epoch { step: *step },
            SupervisedEvent::CheckpointWritten { path } => Lifecycle::CheckpointWritten { path },
            SupervisedEvent::Paused { step } => Lifecycle::Paused { step: *step },
            SupervisedEvent::Resumed { step } => Lifecycle::Resumed { step: *step },
            SupervisedEvent::Warning(w) => Lifecycle::Warning(w),
            SupervisedEvent::Error(e) => Lifecycle::Error(e),
            SupervisedEvent::Finished { step, .. } => Lifecycle::Finished { step: *step },
        })
    }
}

/// Where a run stands, as its events have told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    #[default]
    Running,
    Paused,
    Finished,
}

/// A run's phase and step, followed from its events: the one copy of run state that the app's
/// stage-one session, its supervised panel and the command line keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStatus {
    pub phase: Phase,
    pub step: u64,
    pub total_steps: u64,
}

impl RunStatus {
    /// Take in one event.
    pub fn observe(&mut self, e: &impl StageEvent) {
        let Some(l) = e.lifecycle() else {
            return;
        };
        match l {
            Lifecycle::Started {
                step, total_steps, ..
            } => {
                self.phase = Phase::Running;
                self.step = step;
                self.total_steps = total_steps;
            }
            Lifecycle::Step { step } | Lifecycle::Epoch { step } => self.step = step,
            Lifecycle::Paused { step } => {
                self.phase = Phase::Paused;
                self.step = step;
            }
            Lifecycle::Resumed { step } => {
                self.phase = Phase::Running;
                self.step = step;
            }
            Lifecycle::Finished { step } => {
                self.phase = Phase::Finished;
                self.step = step;
            }
            Lifecycle::CheckpointWritten { .. } | Lifecycle::Warning(_) | Lifecycle::Error(_) => {}
        }
    }

    /// The run's thread has ended (its result was taken).
    pub fn end(&mut self) {
        self.phase = Phase::Finished;
    }

    pub fn is_active(&self) -> bool {
        self.phase != Phase::Finished
    }

    pub fn is_paused(&self) -> bool {
        self.phase == Phase::Paused
    }

    /// The command that flips pause: Pause while running, Resume once the run said it paused
    /// (the button follows the run's answer, not the click); none once finished.
    pub fn toggle_command(&self) -> Option<crate::train::Command> {
        match self.phase {
            Phase::Running => Some(crate::train::Command::Pause),
            Phase::Paused => Some(crate::train::Command::Resume),
            Phase::Finished => None,
        }
    }
}
