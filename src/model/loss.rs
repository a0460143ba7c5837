//! The unsupervised objective of docs/design.md §2: reconstruction, KL, cycle and cycle-KL terms
//! (their weights and the values' types come from the registry, `model::terms`).

use super::vae::DoubleVae;
use crate::data::Domain;
use burn::prelude::*;
use burn::tensor::Distribution;

pub use super::terms::{LossTensors, LossValues, LossWeights};

/// Mean absolute difference.
pub fn l1(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    (a - b).abs().mean()
}

/// Mean of squares: the KL term of a unit-variance Gaussian against N(0, 1), up to constants.
pub fn mean_square(z: Tensor<4>) -> Tensor<1> {
    z.square().mean()
}

/// Adds N(0, 1) noise of the latent's shape: the reparameterisation with σ fixed at 1.
pub fn add_unit_noise(mu: Tensor<4>) -> Tensor<4> {
    let noise = Tensor::random(mu.shape(), Distribution::Normal(0.0, 1.0), &mu.device());
    mu + noise
}

/// The full objective for a batch of day images `a` and night images `b` (both in [0, 1]).
///
/// Mirrors the research (and `bench/torch_reference.py`): each noisy latent is decoded
/// into both domains through one pass of the shared decoder blocks, giving the reconstruction
/// and the translation together; translations are re-encoded for the cycle.
pub fn unit_loss(model: &DoubleVae, a: Tensor<4>, b: Tensor<4>, w: &LossWeights) -> LossTensors {
    unit_loss_with(model, a, b, w, add_unit_noise)
}

/// [`unit_loss`] with the noise source given, so tests can make it deterministic.
pub fn unit_loss_with(
    model: &DoubleVae,
    a: Tensor<4>,
    b: Tensor<4>,
    w: &LossWeights,
    mut noisy: impl FnMut(Tensor<4>) -> Tensor<4>,
) -> LossTensors {
    let mu_a = model.encode(a.clone(), Domain::Day);
    let mu_b = model.encode(b.clone(), Domain::Night);
    let (a_rec, a2b) = model.decode_both(noisy(mu_a.clone()));
    let (b2a, b_rec) = model.decode_both(noisy(mu_b.clone()));
    let mu_ab = model.encode(a2b.clone(), Domain::Night);
    let mu_ba = model.encode(b2a.clone(), Domain::Day);
    let a_cyc = model.decode(noisy(mu_ab.clone()), Domain::Day);
    let b_cyc = model.decode(noisy(mu_ba.clone()), Domain::Night);

    // The decoders draw at the input's size, or a quarter of it after a pretrained network.
    let (a, b) = (model.target(a), model.target(b));
    let reconstruction = l1(a_rec, a.clone()) + l1(b_rec, b.clone());
    let kl = mean_square(mu_a.clone()) + mean_square(mu_b.clone());
    let cycle = l1(a_cyc, a) + l1(b_cyc, b);
    let cycle_kl = mean_square(mu_ab.clone()) + mean_square(mu_ba.clone());
    let total = reconstruction.clone().mul_scalar(w.reconstruction)
        + kl.clone().mul_scalar(w.kl)
        + cycle.clone().mul_scalar(w.cycle)
        + cycle_kl.clone().mul_scalar(w.cycle_kl);
    LossTensors {
        reconstruction,
        kl,
        cycle,
        cycle_kl,
        total,
        a2b,
        b2a,
        mu_a,
        mu_b,
        mu_ab,
        mu_ba,
        mu_a_aug: None,
        mu_b_aug: None,
    }
}
