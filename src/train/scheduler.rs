//! Reduce-on-plateau, as PyTorch's `ReduceLROnPlateau(mode="min", threshold_mode="rel")`:
//! after `patience` epochs without a relative improvement of `threshold`, multiply the rate
//! by `factor`. Its whole state is serialisable so a resumed run continues exactly.

use serde::{Deserialize, Serialize};

use super::config::PlateauConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceOnPlateau {
    pub config: PlateauConfig,
    #[serde(with = "crate::json_float")]
    pub lr: f64,
    #[serde(default, with = "crate::json_float::option")]
    pub best: Option<f64>,
    pub bad_epochs: usize,
    /// Number of cuts so far.
    pub reductions: usize,
}

impl ReduceOnPlateau {
    pub fn new(config: PlateauConfig, lr: f64) -> Self {
        Self {
            config,
            lr,
            best: None,
            bad_epochs: 0,
            reductions: 0,
        }
    }

    /// Feed one epoch's metric; returns true when the rate was just cut.
    pub fn step(&mut self, metric: f64) -> bool {
        if !metric.is_finite() {
            self.bad_epochs += 1;
        } else {
            let improved = match self.best {
                None => true,
                Some(best) => metric < best * (1.0 - self.config.threshold),
            };
            if improved {
                self.best = Some(metric);
                self.bad_epochs = 0;
            } else {
                self.bad_epochs += 1;
            }
        }
        if self.bad_epochs > self.config.patience {
            let new_lr = (self.lr * self.config.factor).max(self.config.min_lr);
            self.bad_epochs = 0;
            if self.lr - new_lr > 1e-12 {
                self.lr = new_lr;
                self.reductions += 1;
                return true;
            }
        }
        false
    }
}
