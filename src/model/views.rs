//! What the model makes of an image at inference (no noise, `mu` only): the four columns the
//! research shows side by side.

use burn::prelude::*;

use super::vae::DoubleVae;
use crate::data::Domain;

/// Original, reconstruction, cycle reconstruction and translation of one batch, all `[B,3,H,W]`.
pub struct Views {
    pub original: Tensor<4>,
    pub reconstruction: Tensor<4>,
    pub cycle: Tensor<4>,
    /// Day→night for day inputs, night→day for night inputs.
    pub translation: Tensor<4>,
}

impl DoubleVae {
    /// The four views of a batch from `domain`. Use a `valid()` model so BatchNorm uses its
    /// running statistics.
    pub fn views(&self, x: Tensor<4>, domain: Domain) -> Views {
        let other = domain.other();
        let mu = self.encode(x.clone(), domain);
        let (day, night) = self.decode_both(mu);
        let (reconstruction, translation) = match domain {
            Domain::Day => (day, night),
            Domain::Night => (night, day),
        };
        let back = self.encode(translation.clone(), other);
        let cycle = self.decode(back, domain);
        Views {
            original: x,
            reconstruction,
            cycle,
            translation,
        }
    }
}
