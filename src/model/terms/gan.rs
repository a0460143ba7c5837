//! The generators' LSGAN term against the per-domain image discriminators (docs/design.md
//! §2b, UNIT's GAN term). It plays against a critic that the step updates first, so
//! `train::step` computes it.

use super::{TermSpec, no_settings};

pub const GAN: TermSpec = TermSpec {
    label: "GAN",
    help: "the generators' LSGAN term against the per-domain image discriminators (UNIT weighs it 1)",
    default_weight: 1.0,
    drag_speed: 0.05,
    compute: None,
    settings: no_settings,
};
