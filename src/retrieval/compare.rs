//! The model beside its baselines, computed the same way on the same images: raw downscaled
//! pixels, and an untrained encoder of the same architecture (fixed seed).

use burn::prelude::Device;

use super::embed::{Embeddings, ItemInfo, embed, pixel_embeddings};
use super::eval::{Evaluation, evaluate};
use crate::data::{Dataset, Domain, Split};
use crate::model::{DoubleVae, ModelConfig};

/// Seed of the random-encoder baseline.
pub const RANDOM_ENCODER_SEED: u64 = 1234;

/// Held-out images when the dataset is the one the model trained on, else all of them.
pub fn evaluation_items(ds: &Dataset, split: Option<&Split>) -> (Vec<ItemInfo>, &'static str) {
    let all = super::embed::all_items(ds);
    match split {
        Some(s) if !s.val_day.is_empty() && !s.val_night.is_empty() => {
            let keep = |it: &ItemInfo| s.val(it.domain).contains(&it.index);
            (all.into_iter().filter(keep).collect(), "held-out places")
        }
        _ => (all, "all images"),
    }
}

pub struct Method {
    pub name: String,
    pub evaluation: Evaluation,
}

/// Evaluate the model and both baselines with queries from `query`.
#[allow(clippy::too_many_arguments)]
pub fn compare_methods(
    model: &DoubleVae,
    config: &ModelConfig,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    pooled: bool,
    weights: Option<&[f32]>,
    device: &Device,
    seed: u64,
) -> Vec<Method> {
    let finish = |e: Embeddings| if pooled { e.pooled() } else { e };
    let trained = finish(embed(model, ds, items.to_vec(), device, 32, |_, _| {}));
    let random = DoubleVae::new(config, RANDOM_ENCODER_SEED, device);
    let random = finish(embed(&random, ds, items.to_vec(), device, 32, |_, _| {}));
    let side = (config.image_size / 4) as u32;
    let pixels = finish(pixel_embeddings(ds, items.to_vec(), side));
    let mut out = vec![Method {
        name: "model".into(),
        evaluation: evaluate(&trained, query, None, device, seed),
    }];
    if let Some(w) = weights {
        out.push(Method {
            name: "model + learned weights".into(),
            evaluation: evaluate(&trained, query, Some(w), device, seed),
        });
    }
    out.push(Method {
        name: "pixels".into(),
        evaluation: evaluate(&pixels, query, None, device, seed),
    });
    out.push(Method {
        name: "random-encoder".into(),
        evaluation: evaluate(&random, query, None, device, seed),
    });
    out
}
