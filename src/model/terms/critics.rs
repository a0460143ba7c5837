//! The critics' own losses under the aligned objective: reported beside the terms they play
//! against, never added to the generators' total (`train::step` computes them).

use super::{TermSpec, no_settings};

pub const DISCRIMINATOR: TermSpec = TermSpec {
    label: "discriminator",
    help: "the image discriminators' own LSGAN loss",
    default_weight: 0.0,
    drag_speed: 0.0,
    compute: None,
    settings: no_settings,
};

pub const LATENT_DISCRIMINATOR: TermSpec = TermSpec {
    label: "latent discriminator",
    help: "the latent domain discriminator's own loss",
    default_weight: 0.0,
    drag_speed: 0.0,
    compute: None,
    settings: no_settings,
};
