//! A stage-one training run seen from the GUI: a streaming [`Job`] (commands in, events out)
//! and what its events have said so far. The GUI never waits on it.

use crate::run::RunStatus;
use crate::run::job::Job;
use crate::train::events::{Progress, StepReport};
use crate::train::{Command, TrainEvent, TrainSummary, Trainer};

pub struct TrainingSession {
    job: Job<TrainSummary, TrainEvent>,
    /// Running, paused or finished, as the run's events said (`run::lifecycle`).
    pub status: RunStatus,
    pub device: String,
    pub progress: Progress,
    pub last_step: Option<StepReport>,
}

impl TrainingSession {
    /// Start `trainer` on a thread; `wake` is called after each event (to request a repaint).
    pub fn start(trainer: Trainer, wake: impl Fn() + Send + Sync + 'static) -> Self {
        let job = Job::spawn_run("trainer", "training", wake, move |link| {
            Ok(trainer
                .with_events(link.events)
                .with_commands(link.commands)
                .train()?)
        });
        Self {
            job,
            status: RunStatus::default(),
            device: String::new(),
            progress: Progress::default(),
            last_step: None,
        }
    }

    pub fn send(&self, c: Command) {
        self.job.send(c);
    }

    pub fn toggle_pause(&mut self) {
        if let Some(c) = self.status.toggle_command() {
            self.send(c);
        }
    }

    /// Events that arrived since the last call; never blocks.
    pub fn drain(&mut self) -> Vec<TrainEvent> {
        let events = self.job.drain();
        for e in &events {
            self.status.observe(e);
            match e {
                TrainEvent::Started {
                    device, progress, ..
                } => {
                    self.device = device.clone();
                    self.progress = *progress;
                }
                TrainEvent::Step(r) => {
                    self.progress = r.progress;
                    self.last_step = Some(r.clone());
                }
                TrainEvent::Finished { progress, .. } => self.progress = *progress,
                _ => {}
            }
        }
        events
    }

    /// The run's result once its thread has ended (None while it runs).
    pub fn take_result(&mut self) -> Option<Result<TrainSummary, String>> {
        let r = self.job.poll()?;
        self.status.end();
        Some(r)
    }

    /// Whether the run's thread has ended and its result been taken (after its last event).
    pub fn has_ended(&self) -> bool {
        self.job.has_ended()
    }

    pub fn is_active(&self) -> bool {
        self.status.is_active()
    }
}

impl TrainingSession {
    /// Stop and wait until the trainer has written its checkpoint (used when the app closes).
    pub fn stop_and_wait(self) {
        let _ = self.job.stop_and_wait();
    }
}
