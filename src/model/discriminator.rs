//! Image discriminators of docs/design.md §2b: one multi-scale PatchGAN per domain, trained with the
//! least-squares GAN loss (as UNIT's `MsImageDis`). They judge translations against real images
//! of the target domain; only this term depends on what a translation looks like, so it is what
//! ties the two encoders' codes to each other.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use serde::{Deserialize, Serialize};

use super::blocks::conv;
use super::init::Init;
use crate::data::Domain;
use crate::error::ConfigError;

/// Shape of each domain's discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscriminatorConfig {
    /// Channels of the first 4×4 stride-2 convolution; each further one doubles them.
    pub width: usize,
    /// Stride-2 convolutions per scale, before the 1×1 output convolution.
    pub layers: usize,
    /// Image scales judged: the image, then each time average-pooled by 2.
    pub scales: usize,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        // Two scales of three stride-2 layers: enough for the compact preset's 64 px images
        // (the coarsest scale still has output patches); their cost is in the README.
        Self {
            width: 32,
            layers: 3,
            scales: 2,
        }
    }
}

impl DiscriminatorConfig {
    pub fn validate(&self, image_size: usize) -> Result<(), ConfigError> {
        if !(1..=512).contains(&self.width) {
            return Err(ConfigError::new(
                "discriminator.width",
                self.width,
                "an integer from 1 to 512",
            ));
        }
        if !(1..=6).contains(&self.layers) {
            return Err(ConfigError::new(
                "discriminator.layers",
                self.layers,
                "an integer from 1 to 6",
            ));
        }
        // The coarsest scale must still leave at least one output patch.
        let max_scales = (1..=6)
            .take_while(|s| image_size >> (s - 1 + self.layers) >= 1)
            .count();
        if self.scales < 1 || self.scales > max_scales.max(1) {
            return Err(ConfigError::new(
                "discriminator.scales",
                self.scales,
                format!(
                    "an integer from 1 to {} for {image_size} px images and {} layers",
                    max_scales.max(1),
                    self.layers
                ),
            ));
        }
        Ok(())
    }
}

/// One PatchGAN: stride-2 4×4 convolutions with leaky ReLU, then a 1×1 convolution to one
/// score per patch (no sigmoid: the loss is least squares).
#[derive(Module, Debug)]
pub struct PatchGan {
    pub convs: Vec<Conv2d>,
    pub out: Conv2d,
}

impl PatchGan {
    fn new(cfg: &DiscriminatorConfig, device: &Device, init: &mut Init) -> Self {
        let mut convs = Vec::with_capacity(cfg.layers);
        let mut cin = 3;
        for k in 0..cfg.layers {
            let cout = cfg.width << k;
            convs.push(conv(cin, cout, 4, 2, 1, device, init));
            cin = cout;
        }
        Self {
            convs,
            out: conv(cin, 1, 1, 1, 0, device, init),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = x;
        for c in &self.convs {
            h = leaky_relu(c.forward(h), 0.2);
        }
        self.out.forward(h)
    }
}

/// PatchGANs at several scales of the same image.
#[derive(Module, Debug)]
pub struct MultiScaleDiscriminator {
    pub scales: Vec<PatchGan>,
}

impl MultiScaleDiscriminator {
    fn new(cfg: &DiscriminatorConfig, device: &Device, init: &mut Init) -> Self {
        Self {
            scales: (0..cfg.scales)
                .map(|_| PatchGan::new(cfg, device, init))
                .collect(),
        }
    }

    /// One score map per scale, finest first.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::with_capacity(self.scales.len());
        let mut x = x;
        for (k, d) in self.scales.iter().enumerate() {
            if k > 0 {
                x = avg_pool2d(x, AvgPoolOptions::new([2, 2]));
            }
            out.push(d.forward(x.clone()));
        }
        out
    }
}

/// The two domains' discriminators: `day` judges `b2a`, `night` judges `a2b`.
#[derive(Module, Debug)]
pub struct Discriminators {
    pub day: MultiScaleDiscriminator,
    pub night: MultiScaleDiscriminator,
}

impl Discriminators {
    pub fn new(cfg: &DiscriminatorConfig, seed: u64, device: &Device) -> Self {
        let init = &mut Init::new(seed ^ 0xd15c_0000);
        Self {
            day: MultiScaleDiscriminator::new(cfg, device, init),
            night: MultiScaleDiscriminator::new(cfg, device, init),
        }
    }

    pub fn of(&self, domain: Domain) -> &MultiScaleDiscriminator {
        match domain {
            Domain::Day => &self.day,
            Domain::Night => &self.night,
        }
    }
}

/// Mean of `(x - target)²`, summed over scales.
fn ls_to(outs: Vec<Tensor<4>>, target: f32) -> Tensor<1> {
    outs.into_iter()
        .map(|o| o.sub_scalar(target).square().mean())
        .reduce(|a, b| a + b)
        .expect("at least one scale")
}

/// The discriminator's LSGAN loss: real patches pushed to 1, fake ones to 0.
pub fn lsgan_discriminator_loss(real: Vec<Tensor<4>>, fake: Vec<Tensor<4>>) -> Tensor<1> {
    ls_to(real, 1.0) + ls_to(fake, 0.0)
}

/// The generator's LSGAN loss: fake patches pushed to 1.
pub fn lsgan_generator_loss(fake: Vec<Tensor<4>>) -> Tensor<1> {
    ls_to(fake, 1.0)
}
