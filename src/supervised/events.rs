//! What a supervised run tells its owner, in the order it happens.

use std::path::PathBuf;

use super::config::SupervisedMethod;
use super::weights::Depths;
use crate::retrieval::eval::HeldOutScores;

#[derive(Debug, Clone)]
pub enum SupervisedEvent {
    Started {
        method: SupervisedMethod,
        depths: Depths,
        steps_per_epoch: usize,
        total_steps: u64,
        /// Steps already done (a resumed run's).
        step: u64,
        train_places: usize,
        val_places: usize,
        resumed: bool,
        /// Held-out triplet loss with every weight at one (where the curve starts).
        initial_val: Option<f32>,
    },
    Step {
        step: u64,
        epoch: usize,
        loss: f32,
    },
    Epoch {
        epoch: usize,
        step: u64,
        train: f32,
        val: Option<f32>,
        share90: f32,
        /// Night→day retrieval on the held-out places (fine-tuning only: the weights stage
        /// compares with and without its weights when it ends).
        retrieval: Option<HeldOutScores>,
    },
    CheckpointWritten {
        path: PathBuf,
    },
    /// Answers to the pause and resume commands, at the step the run stands at.
    Paused {
        step: u64,
    },
    Resumed {
        step: u64,
    },
    /// Something the run found that the user should read (the pseudo-labels it learns from).
    Warning(String),
    Error(String),
    Finished {
        step: u64,
        weights: Vec<Vec<f32>>,
        checkpoint: Option<PathBuf>,
    },
}
