//! The supervised stage's settings (docs/design.md §3 and §3b): which method, how negatives
//! are mined, the depths and hinge of the channel weights, and the optimiser.

use serde::{Deserialize, Serialize};

use super::weights::{Depths, Hinge};
use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisedConfig {
    pub method: SupervisedMethod,
    pub mining: Mining,
    pub depths: Depths,
    pub hinge: Hinge,
    pub epochs: usize,
    pub batch_size: usize,
    #[serde(with = "crate::json_float")]
    pub learning_rate: f64,
    #[serde(with = "crate::json_float")]
    pub margin: f32,
    pub seed: u64,
    pub save_every: usize,
    /// Learned from the model's own mutual matches, the training images' place labels
    /// dropped (`supervised::pseudo`): no label reached the stage.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pseudo_labels: bool,
}

impl Default for SupervisedConfig {
    fn default() -> Self {
        Self {
            method: SupervisedMethod::Weights,
            mining: Mining::Random,
            depths: Depths::Latent,
            hinge: Hinge::Triplet,
            epochs: 30,
            batch_size: 16,
            learning_rate: 1e-3,
            margin: 1.0,
            seed: 0,
            save_every: 5,
            pseudo_labels: false,
        }
    }
}

/// What the supervised stage learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SupervisedMethod {
    /// The research's channel weighting of the frozen encoder.
    Weights,
    /// The encoders fine-tuned on the place labels.
    FineTune,
}

impl SupervisedMethod {
    pub fn name(self) -> &'static str {
        match self {
            SupervisedMethod::Weights => "channel weights",
            SupervisedMethod::FineTune => "fine-tuning",
        }
    }
}

/// Which negatives the triplets use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    /// One random other place per anchor, by day or by night (the research).
    Random,
    /// The nearest other place in the batch, both ways (see `batch_hard_objective`).
    BatchHard,
}

impl SupervisedConfig {
    /// Defaults of the fine-tuning stage: the encoders move, so a smaller step, batch-hard
    /// negatives, and fewer epochs.
    pub fn fine_tune() -> Self {
        Self {
            method: SupervisedMethod::FineTune,
            mining: Mining::BatchHard,
            epochs: 12,
            batch_size: 16,
            learning_rate: 1e-4,
            margin: 1.0,
            save_every: 1,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.method == SupervisedMethod::FineTune && self.depths != Depths::Latent {
            return Err(ConfigError::new(
                "depths",
                self.depths.name(),
                "latent when fine-tuning (the embedding retrieval uses)",
            ));
        }
        if self.mining == Mining::BatchHard && self.batch_size < 2 {
            return Err(ConfigError::new(
                "batch_size",
                self.batch_size,
                "an integer ≥ 2 with batch-hard negatives",
            ));
        }
        if self.epochs == 0 {
            return Err(ConfigError::new("epochs", self.epochs, "an integer ≥ 1"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new(
                "batch_size",
                self.batch_size,
                "an integer ≥ 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(ConfigError::new(
                "learning_rate",
                self.learning_rate,
                "a number in (0, 1]",
            ));
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(ConfigError::new(
                "margin",
                self.margin,
                "a finite number ≥ 0",
            ));
        }
        Ok(())
    }
}
