//! Which unsupervised objective a run uses (docs/design.md §2 and §2b), and the settings of the
//! aligning terms. `Research` is §2 exactly; `Aligned` adds image discriminators.

use serde::{Deserialize, Serialize};

use super::discriminator::DiscriminatorConfig;
use super::terms::AlignWeights;
use crate::error::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Reconstruction, KL, cycle and cycle KL only: the research's objective.
    Research,
    /// The research objective plus per-domain image LSGAN discriminators (UNIT's GAN term).
    Aligned,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Objective::Research => "research",
            Objective::Aligned => "aligned",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Objective::Research => "research (reconstruction, KL, cycle, cycle KL)",
            Objective::Aligned => "aligned (research + image LSGAN discriminators)",
        }
    }
}

/// Settings of the aligning terms; ignored under `objective = "research"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlignConfig {
    /// The weight of each aligning term (`gan`, `mean_gap`, `contrast`, `latent`, …; the
    /// registry `model::terms` lists them), flattened so that each is a key of `align`; 0
    /// turns a term off.
    #[serde(flatten)]
    pub weights: AlignWeights,
    pub discriminator: DiscriminatorConfig,
    /// The discriminators' own Adam (UNIT: lr 1e-4, β (0.5, 0.999)).
    #[serde(with = "crate::json_float")]
    pub d_learning_rate: f64,
    #[serde(with = "crate::json_float")]
    pub d_beta1: f64,
    #[serde(with = "crate::json_float")]
    pub d_beta2: f64,
    /// The translation-contrastive term's InfoNCE temperature.
    #[serde(with = "crate::json_float")]
    pub contrast_temperature: f64,
    /// The codes are compared pooled to this many cells a side (1 = one global vector).
    pub contrast_grid: usize,
    /// Hidden channels of the latent domain discriminator.
    pub latent_width: usize,
}

impl Default for AlignConfig {
    fn default() -> Self {
        Self {
            weights: AlignWeights::default(),
            discriminator: DiscriminatorConfig::default(),
            d_learning_rate: 1e-4,
            d_beta1: 0.5,
            d_beta2: 0.999,
            contrast_temperature: 0.1,
            contrast_grid: 4,
            latent_width: 64,
        }
    }
}

impl AlignConfig {
    pub fn validate(&self, image_size: usize) -> Result<(), ConfigError> {
        self.weights.validate()?;
        if !(1..=1024).contains(&self.latent_width) {
            return Err(ConfigError::new(
                "align.latent_width",
                self.latent_width,
                "an integer from 1 to 1024",
            ));
        }
        let latent = image_size / 4;
        if !(1..=latent.max(1)).contains(&self.contrast_grid) {
            return Err(ConfigError::new(
                "align.contrast_grid",
                self.contrast_grid,
                format!(
                    "an integer from 1 to {} (the latent's side at {image_size} px)",
                    latent.max(1)
                ),
            ));
        }
        let t = self.contrast_temperature;
        if !(t.is_finite() && t > 0.0 && t <= 10.0) {
            return Err(ConfigError::new(
                "align.contrast_temperature",
                t,
                "a number in (0, 10]",
            ));
        }
        let lr = self.d_learning_rate;
        if !(lr.is_finite() && lr > 0.0 && lr <= 1.0) {
            return Err(ConfigError::new(
                "align.d_learning_rate",
                lr,
                "a number in (0, 1]",
            ));
        }
        for (name, b) in [("d_beta1", self.d_beta1), ("d_beta2", self.d_beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(ConfigError::new(
                    format!("align.{name}"),
                    b,
                    "a number in [0, 1)",
                ));
            }
        }
        self.discriminator.validate(image_size)
    }
}
