//! Weight initialisation from our own seeded generator rather than the backend's global one:
//! the same seed gives the same weights on every device, and concurrent work elsewhere in the
//! process (another model, a test thread) cannot shift the stream.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Init {
    rng: ChaCha8Rng,
}

impl Init {
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0x1417);
        Self { rng }
    }

    /// `n` values uniform in `[-bound, bound)`.
    pub fn uniform(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect()
    }
}
