//! The one run loop of every training stage: stage one (docs/design.md §2), the channel weights
//! (§3) and fine-tuning (§3b). It owns what they share: the commands (pause, resume, stop,
//! save-now, each answered by the stage's event), the epoch and step counters, the save
//! policy, the non-finite check, optimiser restore and the seeded epoch order. A stage
//! brings its step, its end-of-epoch work, its checkpoint and its events.

use std::sync::mpsc::{Receiver, TryRecvError};

use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub use super::counters::Counters;
use super::error::RunError;
use super::events::{Command, StopReason};

/// Where a stage's events go, called on the run's thread; false when nobody listens any
/// more. A channel's sender in the app and the command line; a test may act in it at an exact
/// point of the run (queue a command before the loop can poll for it).
pub type EventSink<E> = Box<dyn Fn(E) -> bool + Send>;

/// A channel's sender as an [`EventSink`].
pub fn channel_sink<E: Send + 'static>(tx: std::sync::mpsc::Sender<E>) -> EventSink<E> {
    Box::new(move |e| tx.send(e).is_ok())
}

/// What became non-finite in a step (the loss terms as they stood), for the loop's message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NonFiniteLoss(pub String);

/// How long a run is and how often it writes its latest checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub epochs: usize,
    pub steps_per_epoch: usize,
    /// Stop after this many steps in the whole run; 0 means no limit.
    pub max_steps: u64,
    /// Save at every `save_every`-th epoch boundary and at the last.
    pub save_every: usize,
}

impl Plan {
    /// Steps the run will have done when it ends on its own.
    pub fn total_steps(&self) -> u64 {
        let all = (self.epochs * self.steps_per_epoch) as u64;
        if self.max_steps > 0 {
            all.min(self.max_steps)
        } else {
            all
        }
    }
}

/// What a stage plugs into [`run`].
pub trait Stage {
    /// The counters in the stage's state (a resumed run's included), which the loop advances
    /// and its checkpoints record.
    fn counters(&mut self) -> &mut Counters;
    /// Prepare `epoch`'s seeded data order; called before its first step, or before the next
    /// step of a run resumed mid-epoch.
    fn begin_epoch(&mut self, epoch: usize);
    /// One optimisation step, the `at.step_in_epoch`-th of the epoch. `Err` describes what
    /// became non-finite; the update is then not applied.
    fn step(&mut self, at: Counters) -> Result<(), NonFiniteLoss>;
    /// Report the step just done (`at` already advanced); false when nobody listens any more.
    fn report_step(&mut self, at: Counters) -> bool;
    /// The work after epoch `finished` (`at` already at the next epoch): validation, the
    /// schedule, the best checkpoint.
    fn end_epoch(&mut self, finished: usize, at: Counters) -> Result<(), RunError>;
    /// Write the latest checkpoint (and announce it); `boundary` at the save policy's epoch
    /// boundaries, where a stage may keep a numbered copy.
    fn save_latest(&mut self, at: Counters, boundary: bool) -> Result<(), RunError>;
    fn paused(&mut self, step: u64);
    fn resumed(&mut self, step: u64);
    fn error(&mut self, message: String);
    /// What the loss is called in the non-finite message.
    fn loss_name(&self) -> &'static str {
        "loss"
    }
}

/// A stage's optimiser: a resumed checkpoint's state (`bytes`) when it has one, else fresh.
/// `what` names the optimiser in the error ("optimiser state", "image discriminators'
/// optimiser state").
pub fn restore_optimizer(
    adam: &AdamConfig,
    bytes: Option<Bytes>,
    what: &str,
) -> Result<ModuleOptimizer, RunError> {
    match bytes {
        Some(b) => adam.init().from_bytes(b).map_err(|e| RunError::Optimizer {
            what: what.to_string(),
            reason: e.to_string(),
        }),
        None => Ok(adam.init()),
    }
}

/// Run `stage` until its epochs or `plan.max_steps` are done, or a stop request arrives (or
/// the listener goes away). Whatever ended it, the state reached is saved as the latest
/// checkpoint. A non-finite loss stops the run with an error, leaving the last checkpoint.
pub fn run(
    stage: &mut impl Stage,
    plan: Plan,
    commands: Option<&Receiver<Command>>,
) -> Result<StopReason, RunError> {
    let mut at = *stage.counters();
    let mut saved = false;
    let mut reason = StopReason::Finished;
    'epochs: while at.epoch < plan.epochs {
        stage.begin_epoch(at.epoch);
        while at.step_in_epoch < plan.steps_per_epoch {
            if plan.max_steps > 0 && at.step >= plan.max_steps {
                reason = StopReason::MaxSteps;
                break 'epochs;
            }
            if poll(stage, commands, at) == Flow::Stop {
                reason = StopReason::Stopped;
                break 'epochs;
            }
            if let Err(what) = stage.step(at) {
                let e = RunError::NonFinite {
                    loss: stage.loss_name(),
                    step: at.step,
                    what: what.0,
                };
                stage.error(e.to_string());
                return Err(e);
            }
            at.step += 1;
            at.step_in_epoch += 1;
            *stage.counters() = at;
            if !stage.report_step(at) {
                reason = StopReason::Stopped;
                break 'epochs;
            }
        }
        let finished = at.epoch;
        at.epoch += 1;
        at.step_in_epoch = 0;
        *stage.counters() = at;
        stage.end_epoch(finished, at)?;
        if at.epoch.is_multiple_of(plan.save_every.max(1)) || at.epoch == plan.epochs {
            stage.save_latest(at, true)?;
            saved = true;
        }
    }
    if reason != StopReason::Finished || !saved {
        stage.save_latest(at, false)?;
    }
    Ok(reason)
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Apply queued requests between steps; while paused, wait for the next one without spinning.
fn poll(stage: &mut impl Stage, commands: Option<&Receiver<Command>>, at: Counters) -> Flow {
    let Some(rx) = commands else {
        return Flow::Continue;
    };
    let mut paused = false;
    loop {
        let cmd = if paused {
            match rx.recv() {
                Ok(c) => c,
                // The owner went away while the run was paused: nobody can resume it.
                Err(_) => return Flow::Stop,
            }
        } else {
            match rx.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Flow::Continue,
            }
        };
        match cmd {
            Command::Pause => {
                if !paused {
                    paused = true;
                    stage.paused(at.step);
                }
            }
            Command::Resume => {
                if paused {
                    stage.resumed(at.step);
                }
                paused = false;
            }
            Command::Stop => return Flow::Stop,
            Command::SaveNow => {
                if let Err(e) = stage.save_latest(at, false) {
                    stage.error(e.to_string());
                }
            }
        }
    }
}

/// `indices` in the seeded order of one random stream, with the generator left after the
/// shuffle for whatever else the epoch draws. Every stage's epoch order comes from here, so a
/// resumed run draws what a straight one drew.
pub fn seeded_order(indices: &[usize], seed: u64, stream: u64) -> (Vec<usize>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    let mut v = indices.to_vec();
    v.shuffle(&mut rng);
    (v, rng)
}
