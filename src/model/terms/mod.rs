//! The registry of loss terms (docs/design.md §2 and §2b). A term is one file in this folder
//! (what it is called, what it means, its default weight, how it is computed) and one line in
//! the `registry!` call below. From that line come the term's field in [`LossValues`] (curves
//! and `metrics.jsonl`), in [`LossSums`] (a checkpoint's epoch sums), and its weight's field in
//! [`LossWeights`] (`loss_weights.*`) or [`AlignWeights`] (`align.*`); the step, the config
//! editor, the command line's flags and the curves iterate [`TERMS`]. The field names are the
//! file formats' keys, so they never change once a term has shipped.
//!
//! A term switches on when the configured objective includes its section and its weight is
//! above 0 ([`Term::active`]).

#[macro_use]
mod registry;

mod contrast;
mod critics;
mod gan;
mod latent;
mod mean_gap;
mod research;

use burn::prelude::*;

use super::align::{AlignConfig, Objective};
use super::loss::LossTensors;
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

impl LossValues {
    pub fn get(&self, name: &str) -> Option<f32> {
        let mut copy = *self;
        copy.get_mut(name).map(|v| *v)
    }

    /// Builds values from `(name, value)` pairs; unnamed terms are 0.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, f32)>) -> LossValues {
        let mut v = LossValues::default();
        for (n, x) in pairs {
            if let Some(slot) = v.get_mut(n) {
                *slot = x;
            }
        }
        v
    }

    /// `(name, value)` for "total" and every term.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f32)> + '_ {
        Self::NAMES
            .iter()
            .map(|&n| (n, self.get(n).unwrap_or(f32::NAN)))
    }

    /// Mean of several values, term by term.
    pub fn mean(values: &[LossValues]) -> LossValues {
        let n = values.len().max(1) as f32;
        LossValues::from_pairs(
            Self::NAMES
                .iter()
                .map(|&t| (t, values.iter().map(|v| v.get(t).unwrap_or(0.0) / n).sum())),
        )
    }

    pub fn is_finite(&self) -> bool {
        self.iter().all(|(_, v)| v.is_finite())
    }
}

impl LossSums {
    pub fn add(&mut self, v: &LossValues) {
        for (name, x) in v.iter() {
            if let Some(slot) = self.get_mut(name) {
                *slot += x as f64;
            }
        }
    }

    pub fn mean(&self, n: usize) -> LossValues {
        let n = n.max(1) as f64;
        let mut copy = *self;
        LossValues::from_pairs(
            LossValues::NAMES
                .iter()
                .map(|&name| (name, copy.get_mut(name).map_or(0.0, |s| (*s / n) as f32))),
        )
    }
}

impl LossWeights {
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_weights(
            TERMS.iter().filter(|t| t.section == Section::Research),
            |t| {
                self.get(t.name)
                    .map(|w| (format!("loss_weights.{}", t.name), w))
            },
        )
    }
}

impl AlignWeights {
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_weights(
            TERMS.iter().filter(|t| t.section == Section::Aligning),
            |t| self.get(t.name).map(|w| (format!("align.{}", t.name), w)),
        )
    }
}

/// Every weight finite and ≥ 0.
fn validate_weights<'a>(
    terms: impl Iterator<Item = &'a Term>,
    weight: impl Fn(&'a Term) -> Option<(String, f64)>,
) -> Result<(), ConfigError> {
    for (key, w) in terms.filter_map(weight) {
        if !w.is_finite() || w < 0.0 {
            return Err(ConfigError::new(key, w, "a finite number ≥ 0"));
        }
    }
    Ok(())
}
