//! What the step's values and a checkpoint's epoch sums do with the terms, and the weights'
//! checks, iterated over the registry.

use super::{AlignWeights, LossSums, LossValues, LossWeights, Section, TERMS, Term};
use crate::error::ConfigError;

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
