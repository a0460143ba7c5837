//! One optimisation step of the double VAE, shared by the Trainer and the benchmark so that
//! what is measured is what trains. With image discriminators (objective = aligned) the step
//! is UNIT's: a discriminator update on the detached translations, then the generator update
//! against the updated discriminators.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::noise::StepNoise;
use crate::data::Domain;
use crate::data::augment::photometric;
use crate::data::batch::host_f32;
use crate::model::discriminator::{lsgan_discriminator_loss, lsgan_generator_loss};
use crate::model::latent_discriminator::{latent_confusion_loss, latent_discriminator_loss};
use crate::model::loss::unit_loss_with;
use crate::model::{
    AlignConfig, Discriminators, DoubleVae, LatentDiscriminator, LossValues, LossWeights,
    Objective, TERMS,
};

/// The image discriminators and their own optimiser, and the latent domain discriminator
/// with its own when the `latent` term's weight is above 0.
pub struct Adversary {
    pub discriminators: Discriminators,
    pub optimizer: ModuleOptimizer,
    pub latent: Option<LatentCritic>,
}

/// The latent domain discriminator and its optimiser (the same Adam settings as the image
/// discriminators').
pub struct LatentCritic {
    pub discriminator: LatentDiscriminator,
    pub optimizer: ModuleOptimizer,
}

impl LatentCritic {
    pub fn new(
        align: &AlignConfig,
        channels: usize,
        epsilon: f64,
        seed: u64,
        device: &Device,
    ) -> Self {
        Self {
            discriminator: LatentDiscriminator::new(channels, align.latent_width, seed, device),
            optimizer: Adversary::adam(align, epsilon).init(),
        }
    }
}

impl Adversary {
    /// The discriminators' Adam: β from `align`, ε as the generators'.
    pub fn adam(align: &AlignConfig, epsilon: f64) -> AdamConfig {
        AdamConfig::new()
            .with_beta_1(align.d_beta1 as f32)
            .with_beta_2(align.d_beta2 as f32)
            .with_epsilon(epsilon as f32)
    }

    /// Fresh discriminators (seeded like the model) with fresh optimisers; `channels` is the
    /// latent's, which the latent discriminator reads.
    pub fn new(
        align: &AlignConfig,
        channels: usize,
        epsilon: f64,
        seed: u64,
        device: &Device,
    ) -> Self {
        Self {
            discriminators: Discriminators::new(&align.discriminator, seed, device),
            optimizer: Self::adam(align, epsilon).init(),
            latent: (align.weights.latent > 0.0)
                .then(|| LatentCritic::new(align, channels, epsilon, seed, device)),
        }
    }
}

/// Forward, backward and Adam update on a batch of day images `a` and night images `b`.
/// Returns the updated model and the step's losses; a non-finite loss skips the update.
/// The objective decides which terms join: the research terms always, and under `aligned`
/// every registered aligning term whose weight is above 0 (`model::terms`), the ones that
/// play against a critic through `adversary`.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    model: DoubleVae,
    optim: &mut ModuleOptimizer,
    adversary: Option<&mut Adversary>,
    a: Tensor<4>,
    b: Tensor<4>,
    objective: Objective,
    weights: &LossWeights,
    align: &AlignConfig,
    noise: &mut StepNoise,
    lr: f64,
) -> (DoubleVae, LossValues) {
    let mut losses = unit_loss_with(&model, a.clone(), b.clone(), weights, |mu| noise.add_to(mu));
    if objective == Objective::Aligned && align.weights.augment > 0.0 {
        let a_aug = photometric(a.clone(), &mut noise.augment);
        let b_aug = photometric(b.clone(), &mut noise.augment);
        losses.mu_a_aug = Some(model.encode(a_aug, Domain::Day));
        losses.mu_b_aug = Some(model.encode(b_aug, Domain::Night));
    }
    let mut values = losses.values();
    let mut total = losses.total.clone();
    let mut add = |name: &str, w: f64, term: Tensor<1>, values: &mut LossValues| {
        let v = scalar(&term);
        if let Some(slot) = values.get_mut(name) {
            *slot = v;
        }
        values.total += (w * v as f64) as f32;
        total = total.clone() + term.mul_scalar(w);
    };
    let aligned = objective == Objective::Aligned;
    for term in TERMS.iter().filter(|t| t.in_objective(objective)) {
        let (Some(compute), Some(w)) = (term.spec.compute, align.weights.get(term.name)) else {
            continue;
        };
        if w > 0.0 {
            add(term.name, w, compute(&losses, align), &mut values);
        }
    }
    if let Some(adv) = adversary.filter(|_| aligned) {
        let w = &align.weights;
        if let Some(critic) = adv.latent.as_mut().filter(|_| w.latent > 0.0) {
            // A discriminator step on the detached codes, then the encoders' confusion of the
            // updated discriminator, as for the images.
            let d = &critic.discriminator;
            let d_loss = latent_discriminator_loss(
                d.forward(losses.mu_a.clone().detach()),
                d.forward(losses.mu_b.clone().detach()),
            );
            values.latent_discriminator = scalar(&d_loss);
            if !values.latent_discriminator.is_finite() {
                values.total = f32::NAN;
                return (model, values);
            }
            let grads = GradientsParams::from_grads(d_loss.backward(), &critic.discriminator);
            critic.discriminator =
                critic
                    .optimizer
                    .step(align.d_learning_rate, critic.discriminator.clone(), grads);
            let d = &critic.discriminator;
            let confusion = latent_confusion_loss(
                d.forward(losses.mu_a.clone()),
                d.forward(losses.mu_b.clone()),
            );
            add("latent", w.latent, confusion, &mut values);
        }
        let (a2b, b2a) = (losses.a2b, losses.b2a);
        // Real images at the translations' size (a quarter after a pretrained network).
        let (a, b) = (model.target(a), model.target(b));
        let d = &adv.discriminators;
        let d_loss =
            lsgan_discriminator_loss(d.night.forward(b), d.night.forward(a2b.clone().detach()))
                + lsgan_discriminator_loss(d.day.forward(a), d.day.forward(b2a.clone().detach()));
        let d_value = scalar(&d_loss);
        values.discriminator = d_value;
        if !d_value.is_finite() {
            values.total = f32::NAN;
            return (model, values);
        }
        let grads = GradientsParams::from_grads(d_loss.backward(), &adv.discriminators);
        adv.discriminators =
            adv.optimizer
                .step(align.d_learning_rate, adv.discriminators.clone(), grads);
        let d = &adv.discriminators;
        let gan =
            lsgan_generator_loss(d.night.forward(a2b)) + lsgan_generator_loss(d.day.forward(b2a));
        add("gan", w.gan, gan, &mut values);
    }
    if !values.is_finite() {
        return (model, values);
    }
    let grads = GradientsParams::from_grads(total.backward(), &model);
    (optim.step(lr, model, grads), values)
}

fn scalar(t: &Tensor<1>) -> f32 {
    host_f32(t.clone().inner())
        .first()
        .copied()
        .unwrap_or(f32::NAN)
}
