//! The rules that plan a supervised run, in one place for the app and the command line: its
//! config from the method's defaults, the folder it writes to, and the held-out comparison
//! it ends with (retrieval before and after the stage, on the same held-out places).

use burn::prelude::Device;

use super::config::{SupervisedConfig, SupervisedMethod};
use super::trainer::Trained;
use super::weights::{Depths, Hinge};
use crate::data::{Dataset, Domain, Positives, Split};
use crate::model::DoubleVae;
use crate::retrieval::embed::embed;
use crate::retrieval::eval::{Metrics, evaluate};
use crate::retrieval::method_rows::{DepthWeights, evaluation_items, with_and_without_weights};

/// The method's defaults with the depths and hinge chosen (fine-tuning learns the latent, the
/// embedding retrieval uses, whatever `depths` says).
pub fn config(method: SupervisedMethod, depths: Depths, hinge: Hinge) -> SupervisedConfig {
    match method {
        SupervisedMethod::Weights => SupervisedConfig {
            depths,
            hinge,
            ..SupervisedConfig::default()
        },
        SupervisedMethod::FineTune => SupervisedConfig {
            hinge,
            ..SupervisedConfig::fine_tune()
        },
    }
}

/// The run folder's name: `weights-<depths>-<hinge>` or `fine-tune`.
pub fn folder_name(cfg: &SupervisedConfig) -> String {
    match cfg.method {
        SupervisedMethod::FineTune => "fine-tune".into(),
        SupervisedMethod::Weights => format!(
            "weights-{}-{}",
            cfg.depths.name().replace(' ', ""),
            cfg.hinge.name()
        ),
    }
}

/// Held-out night→day retrieval before and after the stage: the stage-one model against the
/// fine-tuned one, or (channel weights) w = 1 against the learned weights at the run's depths.
pub fn before_and_after(
    trained: &Trained,
    depths: Depths,
    stage_one: &DoubleVae,
    ds: &Dataset,
    split: &Split,
    device: &Device,
) -> (Metrics, Metrics) {
    let (items, _) = evaluation_items(ds, Some(split));
    match &trained.model {
        Some(tuned) => {
            let metrics = |m: &DoubleVae| {
                let e = embed(m, ds, items.clone(), device, 32, |_, _| {});
                evaluate(&e, Domain::Night, None, device, 0).metrics
            };
            (metrics(stage_one), metrics(tuned))
        }
        None => {
            let learned = DepthWeights {
                taps: depths.taps().to_vec(),
                vectors: trained.weights.to_vecs(),
                label: depths.name().to_string(),
            };
            let (plain, weighted) = with_and_without_weights(
                stage_one,
                ds,
                &items,
                Domain::Night,
                &learned,
                device,
                0,
                &Positives::default(),
            );
            (plain.metrics, weighted.metrics)
        }
    }
}
