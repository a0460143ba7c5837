//! The encoders' confusion of the latent domain discriminator (docs/design.md §2b, DANN). It
//! plays against a critic that the step updates first, so `train::step` computes it.

use super::{AlignConfig, TermSpec};

pub const LATENT: TermSpec = TermSpec {
    label: "latent domain discriminator",
    help: "the encoders' confusion of the latent domain discriminator (DANN): a small classifier of the codes learns to tell day from night, and the encoders are pushed to make it answer one half",
    default_weight: 0.0,
    drag_speed: 0.05,
    compute: None,
    settings: width,
};

fn width(a: &AlignConfig) -> String {
    format!("width {}", a.latent_width)
}
