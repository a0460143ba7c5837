//! The rules that plan a stage-one run, in one place for the app and the command line: how a
//! continued run counts its epochs, when a resume would train nothing, and the header under
//! which a snapshot of a run in progress is known to the stages above.

use super::checkpoint::{Header, RunState};
use super::config::TrainingConfig;
use super::counters::Counters;

/// A continued run's schedule would train nothing (the limits count the whole run).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "--steps {asked} trains nothing: it counts the steps of the whole run, and the checkpoint is at step {done}; give more than that, or --more-epochs N"
    )]
    StepsReached { asked: u64, done: u64 },
    #[error(
        "--epochs {asked} trains nothing: it counts the epochs of the whole run, and the checkpoint has done {done}; give more than that, or --more-epochs N"
    )]
    EpochsReached { asked: usize, done: usize },
    #[error("--more-epochs = 0 is not allowed: expected an integer ≥ 1")]
    NoMoreEpochs,
}

impl From<PlanError> for String {
    fn from(e: PlanError) -> String {
        e.to_string()
    }
}

/// Train `more` epochs beyond the `at.epoch` the checkpoint has done, with no step limit: what
/// the app's Continue and `train --resume --more-epochs N` do.
pub fn extend_by_epochs(
    cfg: &mut TrainingConfig,
    at: Counters,
    more: usize,
) -> Result<(), PlanError> {
    if more == 0 {
        return Err(PlanError::NoMoreEpochs);
    }
    cfg.epochs = at.epoch + more;
    cfg.max_steps = 0;
    Ok(())
}

/// Refuse whole-run limits the checkpoint at `at` has already reached.
pub fn check_limits(
    at: Counters,
    steps: Option<u64>,
    epochs: Option<usize>,
) -> Result<(), PlanError> {
    if let Some(asked) = steps.filter(|&s| s <= at.step) {
        return Err(PlanError::StepsReached {
            asked,
            done: at.step,
        });
    }
    if let Some(asked) = epochs.filter(|&e| e <= at.epoch) {
        return Err(PlanError::EpochsReached {
            asked,
            done: at.epoch,
        });
    }
    Ok(())
}

/// The header of a run's snapshot at `step`: the run's config, counters at that step. A
/// supervised stage started from the snapshot records it (and saves a fine-tuned model under
/// it), never a file's header from before the run.
pub fn snapshot_header(run: &TrainingConfig, steps_per_epoch: usize, step: u64) -> Header {
    let spe = steps_per_epoch.max(1) as u64;
    let state = RunState {
        at: Counters {
            epoch: (step / spe) as usize,
            step_in_epoch: (step % spe) as usize,
            step,
        },
        ..RunState::fresh(run)
    };
    Header::new(run, &state)
}
