//! The augmentation-contrastive term: an image's code and the code of the same image under a
//! random photometric change (exposure, white balance, gamma, contrast, noise:
//! `data::augment`) must pick each other out of the batch (InfoNCE, both domains). It asks
//! the encoders for what the place is, not how it was lit or exposed, without any label.

use burn::prelude::*;

use super::{AlignConfig, LossTensors, TermSpec, contrast_settings};
use crate::model::contrast::info_nce;

pub const AUGMENT: TermSpec = TermSpec {
    label: "augmentation contrast",
    help: "an image's code and its photometrically augmented copy's code must pick each other out of the batch (InfoNCE)",
    default_weight: 0.0,
    drag_speed: 0.05,
    compute: Some(loss),
    settings: contrast_settings,
};

fn loss(t: &LossTensors, a: &AlignConfig) -> Tensor<1> {
    let (tau, grid) = (a.contrast_temperature, a.contrast_grid);
    match (&t.mu_a_aug, &t.mu_b_aug) {
        (Some(a_aug), Some(b_aug)) => {
            info_nce(t.mu_a.clone(), a_aug.clone(), tau, grid)
                + info_nce(t.mu_b.clone(), b_aug.clone(), tau, grid)
        }
        // The step computes the augmented codes whenever the term is on.
        _ => t.kl.clone().mul_scalar(0.0),
    }
}
