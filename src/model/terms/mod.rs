//! The registry of loss terms (docs/design.md §2 and §2b). A term is one file in this folder
//! (what it is called, what it means, its default weight, how it is computed) and one line in
//! the `registry!` call below. From that line come the term's field in [`LossValues`] (curves
//! and `metrics.jsonl`), in [`LossSums`] (a checkpoint's epoch sums), and its weight's field in
//! [`LossWeights`] (`loss_weights.*`) or [`AlignWeights`] (`align.*`); the step, the config
//! editor, the command line's flags and the curves iterate [`TERMS`]. The field names are the
//! file formats' keys, so they never change once a term has shipped.
//!
//! A term switches on when the configured objective includes its section and its weight is
//! above 0 ([`Term::active`]). The objective, the aligning terms' settings ([`AlignConfig`])
//! and the step's tensors every term reads ([`LossTensors`]) live here too, so that the terms
//! below import only from this file and nothing here imports from them.

#[macro_use]
mod registry;

mod augment;
mod contrast;
mod critics;
mod gan;
mod latent;
mod mean_gap;
mod research;
mod values;

use burn::prelude::*;

use serde::{Deserialize, Serialize};

use super::discriminator::DiscriminatorConfig;
use crate::error::ConfigError;

registry! {
    research {
        reconstruction: research::RECONSTRUCTION,
        kl: research::KL,
        cycle: research::CYCLE,
        cycle_kl: research::CYCLE_KL,
    }
    aligning {
        gan: gan::GAN,
        mean_gap: mean_gap::MEAN_GAP,
        contrast: contrast::CONTRAST,
        latent: latent::LATENT,
        augment: augment::AUGMENT,
    }
    critics {
        discriminator: critics::DISCRIMINATOR,
        latent_discriminator: critics::LATENT_DISCRIMINATOR,
    }
}

/// How an aligning term is computed: from the step's codes and translations.
pub type AlignLoss = fn(&LossTensors, &AlignConfig) -> Tensor<1>;

/// What a term's file declares.
#[derive(Debug)]
pub struct TermSpec {
    /// Short name for the config editor and the command line's output.
    pub label: &'static str,
    /// One sentence for tooltips and `--help`.
    pub help: &'static str,
    /// The weight a fresh config gives it (unused for a critic's loss, which has none).
    pub default_weight: f64,
    /// How far one pixel of dragging moves the weight in the config editor.
    pub drag_speed: f64,
    /// `Some` for a term the step computes from the codes and translations alone; `None` for
    /// the research terms (computed together by `loss::unit_loss`) and the terms that play
    /// against a critic, which the step updates first (`train::step`).
    pub compute: Option<AlignLoss>,
    /// The term's own settings, for the line that describes a run's objective ("" if none).
    pub settings: fn(&AlignConfig) -> String,
}

/// Where a term belongs, given by the section of `registry!` it is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// One of the research objective's terms; weighted by `loss_weights`.
    Research,
    /// An aligning term of `objective = "aligned"`; weighted by `align`.
    Aligning,
    /// A critic's own loss under `objective = "aligned"`: reported, never added to the total.
    Critic,
}

/// One registered term.
#[derive(Debug)]
pub struct Term {
    /// Its key in every file and its curve's name.
    pub name: &'static str,
    pub section: Section,
    pub spec: &'static TermSpec,
}

impl Term {
    /// The term's weight in the config, `None` for a critic's loss.
    pub fn weight(&self, research: &LossWeights, align: &AlignWeights) -> Option<f64> {
        match self.section {
            Section::Research => research.get(self.name),
            Section::Aligning => align.get(self.name),
            Section::Critic => None,
        }
    }

    /// The weight's field, for the editor and the command line.
    pub fn weight_mut<'a>(
        &self,
        research: &'a mut LossWeights,
        align: &'a mut AlignWeights,
    ) -> Option<&'a mut f64> {
        match self.section {
            Section::Research => research.get_mut(self.name),
            Section::Aligning => align.get_mut(self.name),
            Section::Critic => None,
        }
    }

    /// Whether the objective includes the term's section at all.
    pub fn in_objective(&self, objective: Objective) -> bool {
        self.section == Section::Research || objective == Objective::Aligned
    }

    /// Whether a step under this objective and these weights adds the term (a critic's loss:
    /// whether it is reported).
    pub fn active(
        &self,
        objective: Objective,
        research: &LossWeights,
        align: &AlignWeights,
    ) -> bool {
        self.in_objective(objective) && self.weight(research, align).is_none_or(|w| w > 0.0)
    }

    /// The command-line flag that sets an aligning term's weight (`mean_gap` → `mean-gap`).
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

/// The registered term of that name.
pub fn term(name: &str) -> Option<&'static Term> {
    TERMS.iter().find(|t| t.name == name)
}

/// The aligning terms an objective adds, as "translation contrast × 1 (τ 0.1, 4×4 grid) + …",
/// or "" for none.
pub fn describe_aligning(objective: Objective, align: &AlignConfig) -> String {
    TERMS
        .iter()
        .filter(|t| t.section == Section::Aligning && t.in_objective(objective))
        .filter_map(|t| {
            let w = align.weights.get(t.name)?;
            (w > 0.0).then(|| {
                let settings = (t.spec.settings)(align);
                let settings = if settings.is_empty() {
                    String::new()
                } else {
                    format!(" ({settings})")
                };
                format!(" + {} × {w}{settings}", t.spec.label)
            })
        })
        .collect()
}

/// No settings beyond the weight.
fn no_settings(_: &AlignConfig) -> String {
    String::new()
}

/// The InfoNCE terms' settings (the translation and the augmentation contrast share them).
fn contrast_settings(a: &AlignConfig) -> String {
    format!(
        "τ {}, {g}×{g} grid",
        a.contrast_temperature,
        g = a.contrast_grid
    )
}

/// The four unweighted terms and the weighted total, as tensors (for backward).
pub struct LossTensors {
    pub reconstruction: Tensor<1>,
    pub kl: Tensor<1>,
    pub cycle: Tensor<1>,
    pub cycle_kl: Tensor<1>,
    pub total: Tensor<1>,
    /// The step's translations `D_b(E_a(a) + n)` and `D_a(E_b(b) + n)`, which the image
    /// discriminators of docs/design.md §2b judge.
    pub a2b: Tensor<4>,
    pub b2a: Tensor<4>,
    /// The codes of the inputs and of their translations, which the contrastive term pairs.
    pub mu_a: Tensor<4>,
    pub mu_b: Tensor<4>,
    pub mu_ab: Tensor<4>,
    pub mu_ba: Tensor<4>,
    /// The codes of photometrically augmented inputs, each read by its own domain's encoder;
    /// computed by the step only when a term needs them (`augment`).
    pub mu_a_aug: Option<Tensor<4>>,
    pub mu_b_aug: Option<Tensor<4>>,
}

impl LossTensors {
    /// Reads all five scalars in one transfer from the device.
    pub fn values(&self) -> LossValues {
        let all = Tensor::cat(
            vec![
                self.reconstruction.clone(),
                self.kl.clone(),
                self.cycle.clone(),
                self.cycle_kl.clone(),
                self.total.clone(),
            ],
            0,
        )
        .inner();
        let v = crate::data::batch::host_f32(all);
        if v.len() != 5 {
            return LossValues {
                total: f32::NAN,
                ..Default::default()
            };
        }
        LossValues {
            reconstruction: v[0],
            kl: v[1],
            cycle: v[2],
            cycle_kl: v[3],
            total: v[4],
            ..Default::default()
        }
    }
}

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
    /// `latent`: the latent's side; `decoded`: the side of the decoders' images, which the
    /// image discriminators judge.
    pub fn validate(&self, latent: usize, decoded: usize) -> Result<(), ConfigError> {
        self.weights.validate()?;
        if !(1..=1024).contains(&self.latent_width) {
            return Err(ConfigError::new(
                "align.latent_width",
                self.latent_width,
                "an integer from 1 to 1024",
            ));
        }
        if !(1..=latent.max(1)).contains(&self.contrast_grid) {
            return Err(ConfigError::new(
                "align.contrast_grid",
                self.contrast_grid,
                format!("an integer from 1 to {} (the latent's side)", latent.max(1)),
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
        self.discriminator.validate(decoded)
    }
}
