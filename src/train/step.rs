//! One optimisation step of the double VAE, shared by the Trainer and the benchmark so that
//! what is measured is what trains.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::noise::StepNoise;
use crate::model::loss::unit_loss_with;
use crate::model::{DoubleVae, LossValues, LossWeights};

/// Forward, backward and Adam update on a batch of day images `a` and night images `b`.
/// Returns the updated model and the step's losses; a non-finite loss skips the update.
pub fn train_step(
    model: DoubleVae,
    optim: &mut ModuleOptimizer,
    a: Tensor<4>,
    b: Tensor<4>,
    weights: &LossWeights,
    noise: &mut StepNoise,
    lr: f64,
) -> (DoubleVae, LossValues) {
    let losses = unit_loss_with(&model, a, b, weights, |mu| noise.add_to(mu));
    let values = losses.values();
    if !values.is_finite() {
        return (model, values);
    }
    let grads = GradientsParams::from_grads(losses.total.backward(), &model);
    (optim.step(lr, model, grads), values)
}
