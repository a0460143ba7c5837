//! What can keep a supervised run from starting or resuming, or stop it: each says what,
//! where, and what to do.

use std::path::PathBuf;

use super::checkpoint::SupervisedFileError;
use crate::error::ConfigError;
use crate::train::RunError;
use crate::train::checkpoint::CheckpointError;

#[derive(Debug, thiserror::Error)]
pub enum SupervisedError {
    #[error(transparent)]
    File(#[from] SupervisedFileError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "the supervised stage needs ground truth: at least two training places with both a day and a night image (places.csv or paired file names)"
    )]
    NoGroundTruth,
    #[error(
        "too few places to evaluate the supervised stage: {held} held-out place(s) with both a day and a night image, and its held-out triplet loss and retrieval need at least {min}; use more places or a larger validation_fraction in the stage-one run"
    )]
    TooFewHeldOut { held: usize, min: usize },
    #[error(
        "batch-hard negatives need a batch of distinct places: {places} training places, batch size {batch} (use a batch size of at most {places})"
    )]
    BatchHard { places: usize, batch: usize },
    #[error("the file holds {file}, this run is {run}")]
    Method {
        file: &'static str,
        run: &'static str,
    },
    #[error("the weights checkpoint matches {file}, this run matches {run}")]
    Depths {
        file: &'static str,
        run: &'static str,
    },
    #[error("the weights checkpoint has channels {file:?}, this model has {model:?}")]
    Channels { file: Vec<usize>, model: Vec<usize> },
    #[error(
        "the file was learned on the stage-one checkpoint {} at step {file_step}, this run starts from step {run_step} of {}",
        file_path.display(),
        run_path.display()
    )]
    StageOneStep {
        file_path: PathBuf,
        file_step: u64,
        run_step: u64,
        run_path: PathBuf,
    },
    #[error(
        "the file was learned on another stage-one model than this run's, though both are labelled step {step} (fingerprint {file}, this model {model}); resume it with the model it was learned on ({})",
        path.display()
    )]
    Fingerprint {
        step: u64,
        file: String,
        model: String,
        path: PathBuf,
    },
    #[error(
        "the file holds no optimiser state, so it cannot be resumed exactly; use it for evaluation, or start a new run"
    )]
    NoOptimizer,
    #[error("fine-tuning needs the stage-one checkpoint's header to save its model")]
    NoStageOneHeader,
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<SupervisedError> for String {
    fn from(e: SupervisedError) -> String {
        e.to_string()
    }
}
