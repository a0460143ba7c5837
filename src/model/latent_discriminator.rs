//! The latent domain discriminator of docs/design.md §2b (DANN, ours): a small per-pixel classifier
//! of the standardised code that tells a day code from a night code. It is trained to tell
//! them apart (day → 1, night → 0, least squares) and the encoders to confuse it (both → ½).
//!
//! Confusion rather than flipped labels or a reversed gradient: with flipped labels the
//! encoders are rewarded for swapping the domain signal, which a fresh linear probe still
//! reads (the PyTorch probe of the issue measured exactly that, at chance retrieval). The
//! least-squares discriminator's best output is `P(day | code)`, so its outputs sitting at ½
//! everywhere means the codes carry no domain it can read.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

use super::blocks::conv;
use super::contrast::standardised;
use super::init::Init;

/// Two 1×1 convolutions with a leaky ReLU between: one domain score per latent pixel.
#[derive(Module, Debug)]
pub struct LatentDiscriminator {
    pub hidden: Conv2d,
    pub out: Conv2d,
}

impl LatentDiscriminator {
    pub fn new(channels: usize, width: usize, seed: u64, device: &Device) -> Self {
        let init = &mut Init::new(seed ^ 0x1a7e_0000);
        Self {
            hidden: conv(channels, width, 1, 1, 0, device, init),
            out: conv(width, 1, 1, 1, 0, device, init),
        }
    }

    /// Scores `[B, 1, H, W]` of codes `[B, C, H, W]`, read standardised per pixel as the
    /// retrieval embedding compares them, so only what retrieval sees can be judged.
    pub fn forward(&self, mu: Tensor<4>) -> Tensor<4> {
        self.out
            .forward(leaky_relu(self.hidden.forward(standardised(mu)), 0.2))
    }
}

fn mean_square_to(scores: Tensor<4>, target: f32) -> Tensor<1> {
    scores.sub_scalar(target).square().mean().reshape([1])
}

/// The discriminator's loss on day scores and night scores: day pushed to 1, night to 0.
pub fn latent_discriminator_loss(day: Tensor<4>, night: Tensor<4>) -> Tensor<1> {
    mean_square_to(day, 1.0) + mean_square_to(night, 0.0)
}

/// The encoders' loss: every score pushed to ½, where the discriminator cannot tell.
pub fn latent_confusion_loss(day: Tensor<4>, night: Tensor<4>) -> Tensor<1> {
    mean_square_to(day, 0.5) + mean_square_to(night, 0.5)
}
