//! A training run on its own thread, seen from the GUI: commands go in, events come out
//! through a relay that wakes the window. The GUI never waits on it.

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::train::events::{Progress, StepReport};
use crate::train::{Command, TrainEvent, TrainSummary, Trainer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Running,
    Paused,
    Finished,
}

pub struct TrainingSession {
    commands: Sender<Command>,
    events: Receiver<TrainEvent>,
    worker: Option<JoinHandle<Result<TrainSummary, String>>>,
    pub state: RunState,
    pub device: String,
    pub progress: Progress,
    pub last_step: Option<StepReport>,
    pub started: std::time::Instant,
}

impl TrainingSession {
    /// Start `trainer` on a thread; `wake` is called after each event (to request a repaint).
    pub fn start(trainer: Trainer, wake: impl Fn() + Send + 'static) -> Self {
        let (ctx, crx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        let (relay_tx, relay_rx) = mpsc::channel();
        let trainer = trainer.with_events(etx).with_commands(crx);
        let worker = std::thread::Builder::new()
            .name("trainer".into())
            .spawn(move || {
                // A panic deep in a backend (out of memory, a lost GPU) must not take the app down.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trainer.train()))
                    .unwrap_or_else(|p| Err(format!("training crashed: {}", panic_message(&p))))
            })
            .expect("spawn trainer thread");
        std::thread::Builder::new()
            .name("trainer-relay".into())
            .spawn(move || {
                for e in erx {
                    if relay_tx.send(e).is_err() {
                        break;
                    }
                    wake();
                }
                wake();
            })
            .expect("spawn relay thread");
        Self {
            commands: ctx,
            events: relay_rx,
            worker: Some(worker),
            state: RunState::Running,
            device: String::new(),
            progress: Progress::default(),
            last_step: None,
            started: std::time::Instant::now(),
        }
    }

    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    pub fn toggle_pause(&mut self) {
        match self.state {
            RunState::Running => self.send(Command::Pause),
            RunState::Paused => self.send(Command::Resume),
            RunState::Finished => {}
        }
    }

    /// Events that arrived since the last call; never blocks.
    pub fn drain(&mut self) -> Vec<TrainEvent> {
        let events: Vec<TrainEvent> = self.events.try_iter().collect();
        for e in &events {
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
                TrainEvent::Paused { .. } => self.state = RunState::Paused,
                TrainEvent::Resumed { .. } => self.state = RunState::Running,
                TrainEvent::Finished { progress, .. } => {
                    self.progress = *progress;
                    self.state = RunState::Finished;
                }
                _ => {}
            }
        }
        events
    }

    /// The run's result once its thread has ended (None while it runs).
    pub fn take_result(&mut self) -> Option<Result<TrainSummary, String>> {
        if self.worker.as_ref().is_some_and(|w| w.is_finished()) {
            let w = self.worker.take()?;
            self.state = RunState::Finished;
            return Some(
                w.join()
                    .unwrap_or_else(|_| Err("the training thread panicked".into())),
            );
        }
        None
    }

    pub fn is_active(&self) -> bool {
        self.state != RunState::Finished
    }
}

impl TrainingSession {
    /// Stop and wait until the trainer has written its checkpoint (used when the app closes).
    pub fn stop_and_wait(mut self) {
        self.send(Command::Stop);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for TrainingSession {
    fn drop(&mut self) {
        // Replacing a run stops it without waiting: the trainer saves on its way out.
        let _ = self.commands.send(Command::Stop);
    }
}

pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
