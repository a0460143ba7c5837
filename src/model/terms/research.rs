//! The research objective's four terms (docs/design.md §2), computed together by
//! `loss::unit_loss` from one pass through both VAEs.

use super::{TermSpec, no_settings};

pub const RECONSTRUCTION: TermSpec = TermSpec {
    label: "reconstruction",
    help: "L1 between each image and its decoding in its own domain",
    default_weight: 10.0,
    drag_speed: 0.1,
    compute: None,
    settings: no_settings,
};

pub const KL: TermSpec = TermSpec {
    label: "KL",
    help: "mean square of the codes: their KL divergence from N(0, 1) at unit variance",
    default_weight: 0.01,
    drag_speed: 0.001,
    compute: None,
    settings: no_settings,
};

pub const CYCLE: TermSpec = TermSpec {
    label: "cycle",
    help: "L1 between each image and its translation translated back",
    default_weight: 10.0,
    drag_speed: 0.1,
    compute: None,
    settings: no_settings,
};

pub const CYCLE_KL: TermSpec = TermSpec {
    label: "cycle KL",
    help: "the KL term of the translations' codes",
    default_weight: 0.01,
    drag_speed: 0.001,
    compute: None,
    settings: no_settings,
};
