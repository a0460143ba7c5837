//! What can stop a training run, or keep one from starting: each says what, where, and what
//! to do. The stages above this layer (the supervised stage) bring their own errors boxed.

use std::path::PathBuf;

use super::checkpoint::CheckpointError;
use crate::data::{DataError, Domain};
use crate::error::ConfigError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the dataset is at {dataset} px but model.image_size is {model}")]
    ImageSize { dataset: u32, model: usize },
    #[error(
        "no {domain} images left for training after holding out validation_fraction = {fraction}"
    )]
    NoTrainingImages { domain: Domain, fraction: f64 },
    #[error(
        "this checkpoint was fine-tuned by the supervised stage (on place labels or on its own matches); stage one does not resume it (its optimiser state is the fine-tuning's). Resume the fine-tuning with `duskmatch weights --method fine-tune --resume`, or resume the stage-one checkpoint it started from"
    )]
    FineTuned,
    #[error(
        "this checkpoint holds weights only (no optimiser state), so it cannot be resumed exactly; use it for evaluation, or start a new run"
    )]
    WeightsOnly,
    #[error("cannot read the {what}: {reason}")]
    Optimizer { what: String, reason: String },
    #[error(
        "the {loss} became non-finite at step {step} ({what}); training stopped and the last checkpoint was kept. Try a lower learning rate."
    )]
    NonFinite {
        loss: &'static str,
        step: u64,
        what: String,
    },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A stage above this layer failing with its own error.
    #[error(transparent)]
    Stage(Box<dyn std::error::Error + Send + Sync>),
}

/// The layers above still speak in messages in places; the message is the error's text.
impl From<RunError> for String {
    fn from(e: RunError) -> String {
        e.to_string()
    }
}
