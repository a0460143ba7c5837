//! Loss curves as they arrive: one point per training step, one per epoch for validation.

use crate::model::LossValues;
use crate::retrieval::eval::HeldOutScores;

#[derive(Debug, Clone, Copy)]
pub struct Point {
    pub step: u64,
    /// Fractional epoch, for an x axis in epochs.
    pub epoch: f64,
    pub losses: LossValues,
}

#[derive(Default, Debug, Clone)]
pub struct LossHistory {
    pub train: Vec<Point>,
    pub val: Vec<Point>,
    /// Epoch means of the training loss (the plateau metric).
    pub train_epochs: Vec<Point>,
    /// Held-out retrieval and invariance at each epoch's end: `(step, epoch, scores)`.
    pub retrieval: Vec<(u64, f64, HeldOutScores)>,
}

impl LossHistory {
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The held-out scores of the newest epoch at or before `step`.
    pub fn retrieval_at(&self, step: u64) -> Option<&HeldOutScores> {
        self.retrieval
            .iter()
            .rev()
            .find(|(s, _, _)| *s <= step)
            .map(|(_, _, r)| r)
    }

    /// Record a step; a resumed run may replay steps we already have, so drop what it rewrites.
    pub fn push_step(&mut self, step: u64, steps_per_epoch: usize, losses: LossValues) {
        while self.train.last().is_some_and(|p| p.step >= step) {
            self.train.pop();
        }
        let epoch = step as f64 / steps_per_epoch.max(1) as f64;
        self.train.push(Point {
            step,
            epoch,
            losses,
        });
    }

    pub fn push_epoch(
        &mut self,
        step: u64,
        epoch: usize,
        train: LossValues,
        val: Option<LossValues>,
        retrieval: Option<HeldOutScores>,
    ) {
        let e = (epoch + 1) as f64;
        if let Some(r) = retrieval {
            self.retrieval.push((step, e, r));
        }
        self.train_epochs.push(Point {
            step,
            epoch: e,
            losses: train,
        });
        if let Some(v) = val {
            self.val.push(Point {
                step,
                epoch: e,
                losses: v,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.train.is_empty() && self.val.is_empty()
    }
}

/// Exponential moving average, as TensorBoard's smoothing: `s = a·s + (1−a)·x`, debiased so the
/// first points are not pulled towards zero.
pub fn ema(values: &[f64], alpha: f64) -> Vec<f64> {
    let alpha = alpha.clamp(0.0, 0.999);
    let mut out = Vec::with_capacity(values.len());
    let mut s = 0.0;
    let mut weight = 0.0;
    for &x in values {
        if !x.is_finite() {
            out.push(x);
            continue;
        }
        s = alpha * s + (1.0 - alpha) * x;
        weight = alpha * weight + (1.0 - alpha);
        out.push(s / weight);
    }
    out
}

impl LossHistory {
    /// Curves of a finished or loaded run, from its `metrics.jsonl` records.
    pub fn from_records(records: &[crate::train::metrics_log::Record]) -> LossHistory {
        use crate::train::metrics_log::Record;
        // Older logs lack steps_per_epoch: count the steps of the first epoch instead.
        let counted = records
            .iter()
            .filter(|r| matches!(r, Record::Step { epoch: 0, .. }))
            .count();
        let mut h = LossHistory::default();
        for r in records {
            match r {
                Record::Step {
                    step,
                    steps_per_epoch,
                    losses,
                    ..
                } => {
                    let spe = if *steps_per_epoch > 0 {
                        *steps_per_epoch
                    } else {
                        counted.max(1)
                    };
                    h.push_step(*step, spe, *losses);
                }
                Record::Epoch {
                    epoch,
                    step,
                    train,
                    val,
                    retrieval,
                    ..
                } => h.push_epoch(*step, *epoch, *train, *val, *retrieval),
            }
        }
        h
    }
}
