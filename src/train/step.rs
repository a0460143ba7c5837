//! One optimisation step of the double VAE, shared by the Trainer and the benchmark so that
//! what is measured is what trains. With image discriminators (objective = aligned) the step
//! is UNIT's: a discriminator update on the detached translations, then the generator update
//! against the updated discriminators.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::noise::StepNoise;
use crate::data::batch::host_f32;
use crate::model::contrast::{domain_mean_gap, info_nce};
use crate::model::discriminator::{lsgan_discriminator_loss, lsgan_generator_loss};
use crate::model::latent_discriminator::{latent_confusion_loss, latent_discriminator_loss};
use crate::model::loss::unit_loss_with;
use crate::model::{
    AlignConfig, Discriminators, DoubleVae, LatentDiscriminator, LossValues, LossWeights,
};

/// The image discriminators and their own optimiser, and the latent domain discriminator
/// with its own when `align.latent > 0`.
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
            latent: (align.latent > 0.0)
                .then(|| LatentCritic::new(align, channels, epsilon, seed, device)),
        }
    }
}

/// Forward, backward and Adam update on a batch of day images `a` and night images `b`.
/// Returns the updated model and the step's losses; a non-finite loss skips the update.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    model: DoubleVae,
    optim: &mut ModuleOptimizer,
    adversary: Option<&mut Adversary>,
    a: Tensor<4>,
    b: Tensor<4>,
    weights: &LossWeights,
    align: &AlignConfig,
    noise: &mut StepNoise,
    lr: f64,
) -> (DoubleVae, LossValues) {
    let losses = unit_loss_with(&model, a.clone(), b.clone(), weights, |mu| noise.add_to(mu));
    let mut values = losses.values();
    let mut total = losses.total;
    if adversary.is_some() && align.mean_gap > 0.0 {
        let gap = domain_mean_gap(losses.mu_a.clone(), losses.mu_b.clone());
        values.mean_gap = scalar(&gap);
        values.total += (align.mean_gap * values.mean_gap as f64) as f32;
        total = total + gap.mul_scalar(align.mean_gap);
    }
    if adversary.is_some() && align.contrast > 0.0 {
        let (tau, grid) = (align.contrast_temperature, align.contrast_grid);
        let contrast = info_nce(losses.mu_a.clone(), losses.mu_ab, tau, grid)
            + info_nce(losses.mu_b.clone(), losses.mu_ba, tau, grid);
        values.contrast = scalar(&contrast);
        values.total += (align.contrast * values.contrast as f64) as f32;
        total = total + contrast.mul_scalar(align.contrast);
    }
    if let Some(adv) = adversary {
        if let Some(critic) = adv.latent.as_mut().filter(|_| align.latent > 0.0) {
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
            values.latent = scalar(&confusion);
            values.total += (align.latent * values.latent as f64) as f32;
            total = total + confusion.mul_scalar(align.latent);
        }
        let (a2b, b2a) = (losses.a2b, losses.b2a);
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
        values.gan = scalar(&gan);
        values.total += (align.gan * values.gan as f64) as f32;
        total = total + gan.mul_scalar(align.gan);
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
