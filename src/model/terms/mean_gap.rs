//! The domain mean gap (docs/design.md §2b): the squared distance between the day and the
//! night batch's mean pooled code, what a linear domain probe reads.

use burn::prelude::*;

use super::{AlignConfig, LossTensors, TermSpec, no_settings};
use crate::model::contrast::domain_mean_gap;

pub const MEAN_GAP: TermSpec = TermSpec {
    label: "domain mean gap",
    help: "the distance between the day and the night batch's mean pooled code, what a linear domain probe reads",
    default_weight: 0.0,
    drag_speed: 0.05,
    compute: Some(loss),
    settings: no_settings,
};

fn loss(t: &LossTensors, _: &AlignConfig) -> Tensor<1> {
    domain_mean_gap(t.mu_a.clone(), t.mu_b.clone())
}
