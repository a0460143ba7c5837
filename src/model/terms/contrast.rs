//! The translation-contrastive term (docs/design.md §2b): an image's code and its
//! translation's code must pick each other out of the batch (InfoNCE, both ways).

use burn::prelude::*;

use super::{AlignConfig, LossTensors, TermSpec, contrast_settings};
use crate::model::contrast::info_nce;

pub const CONTRAST: TermSpec = TermSpec {
    label: "translation contrast",
    help: "an image's code and its translation's code must pick each other out of the batch (InfoNCE)",
    default_weight: 0.0,
    drag_speed: 0.05,
    compute: Some(loss),
    settings: contrast_settings,
};

fn loss(t: &LossTensors, a: &AlignConfig) -> Tensor<1> {
    let (tau, grid) = (a.contrast_temperature, a.contrast_grid);
    info_nce(t.mu_a.clone(), t.mu_ab.clone(), tau, grid)
        + info_nce(t.mu_b.clone(), t.mu_ba.clone(), tau, grid)
}
