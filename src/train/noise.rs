//! The reparameterisation noise of each step, derived from (seed, step) alone so that a
//! resumed run draws exactly what an uninterrupted one would.

use burn::prelude::*;
use burn::tensor::Distribution;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};

/// A step's randomness: the latent's N(0, 1) noise, and the generator of the photometric
/// augmentation (`align.augment`), both from (seed, step).
pub struct StepNoise {
    source: NoiseSource,
    pub augment: ChaCha8Rng,
}

/// Where a step's N(0, 1) noise comes from.
enum NoiseSource {
    /// Drawn on the host from a private stream: exact and immune to other threads, at the
    /// cost of an upload (cheap on the CPU backend, where host memory *is* device memory).
    Host(Box<ChaCha8Rng>),
    /// Drawn on the device after seeding its generator: no upload, for GPUs. Deterministic as
    /// long as nothing else in the process draws from the device generator concurrently.
    Device,
}

impl StepNoise {
    pub fn for_step(seed: u64, step: u64, device: &Device, on_host: bool) -> Self {
        let mixed = splitmix(seed ^ splitmix(step.wrapping_add(0x9e37)));
        let source = if on_host {
            NoiseSource::Host(Box::new(ChaCha8Rng::seed_from_u64(mixed)))
        } else {
            device.seed(mixed);
            NoiseSource::Device
        };
        StepNoise {
            source,
            augment: ChaCha8Rng::seed_from_u64(splitmix(mixed ^ 0xa06e_11a7)),
        }
    }

    /// `mu + n`, `n ~ N(0, 1)` of mu's shape.
    pub fn add_to(&mut self, mu: Tensor<4>) -> Tensor<4> {
        let shape = mu.shape();
        let device = mu.device();
        let noise = match &mut self.source {
            NoiseSource::Host(rng) => {
                let n = shape.num_elements();
                let v: Vec<f32> = (0..n)
                    .map(|_| StandardNormal.sample(rng.as_mut()))
                    .collect();
                Tensor::from_data(TensorData::new(v, shape), &device)
            }
            NoiseSource::Device => Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device),
        };
        mu + noise
    }
}

/// SplitMix64 finaliser: decorrelates nearby seeds.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
