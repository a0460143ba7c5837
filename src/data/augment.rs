//! Photometric augmentation of a training batch, on the device: what the camera and the light
//! change without changing the place. Each image draws its own exposure (±1.5 EV), white
//! balance (±2500 K), gamma (0.7–1.4), contrast (halved at most, as fog) and sensor noise
//! (σ up to 0.06), from a generator the caller seeds, so a resumed run draws the same.

use burn::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::synth::conditions::white_balance_gains;

/// `x` (`[B, 3, H, W]` in [0, 1]) with each image's own photometric change, in [0, 1].
pub fn photometric(x: Tensor<4>, rng: &mut ChaCha8Rng) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let (mut gains, mut gamma, mut keep, mut sigma) = (
        Vec::with_capacity(b * c),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
    );
    for _ in 0..b {
        let exposure = 2f32.powf(rng.random_range(-1.5..1.5));
        let wb = white_balance_gains(rng.random_range(-2500.0..2500.0));
        gains.extend((0..c).map(|ch| exposure * wb[ch % 3]));
        gamma.push(rng.random_range(0.7f32..1.4));
        keep.push(rng.random_range(0.5f32..1.0));
        sigma.push(rng.random_range(0.0f32..0.06));
    }
    let noise: Vec<f32> = (0..b * c * h * w)
        .map(|_| StandardNormal.sample(rng))
        .collect();
    let per =
        |v: Vec<f32>, ch: usize| Tensor::<4>::from_data(TensorData::new(v, [b, ch, 1, 1]), &device);
    let x = (x * per(gains, c)).clamp(0.0, 1.0);
    // x^γ as exp(γ ln x), with a floor that keeps black finite.
    let x = (x.clamp_min(1e-4).log() * per(gamma, 1)).exp();
    let mean = x.clone().mean_dim(1).mean_dim(2).mean_dim(3);
    let x = mean.clone() + (x - mean) * per(keep, 1);
    let n = Tensor::<4>::from_data(TensorData::new(noise, [b, c, h, w]), &device);
    (x + n * per(sigma, 1)).clamp(0.0, 1.0)
}
