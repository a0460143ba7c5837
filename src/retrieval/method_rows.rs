//! The model beside its baselines, computed the same way on the same images: raw downscaled
//! pixels, and an untrained encoder of the same architecture (fixed seed).

use burn::prelude::Device;

use super::baselines::{gradient_embeddings, sad_embeddings};
use super::embed::{Embeddings, ItemInfo, LATENT_TAP, embed, embed_depths, pixel_embeddings};
use super::eval::{Evaluation, evaluate_depths_with, evaluate_with};
use super::global::global_descriptors;
use super::whiten::whiten_on_mutual_matches;
use crate::data::{Dataset, Domain, Positives, Split};
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

/// Images too few to score: retrieval needs [`MIN_EVAL_PLACES`](crate::data::split::MIN_EVAL_PLACES)
/// places with a day and a night image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "too few places to evaluate: the {scope} hold {paired} place(s) with both a day and a night image, and retrieval needs at least {min}"
)]
pub struct TooFewPlaces {
    pub scope: String,
    pub paired: usize,
    pub min: usize,
}

impl From<TooFewPlaces> for String {
    fn from(e: TooFewPlaces) -> String {
        e.to_string()
    }
}

/// Refuse to score `items` that carry ground truth on fewer than
/// [`MIN_EVAL_PLACES`](crate::data::split::MIN_EVAL_PLACES) places with both a day and a night
/// image: their Recall would be 1 by construction. Items without places (no ground truth)
/// pass: they are ranked, not scored.
pub fn check_evaluable(ds: &Dataset, items: &[ItemInfo], scope: &str) -> Result<(), TooFewPlaces> {
    use crate::data::split::{MIN_EVAL_PLACES, paired_places};
    if items.iter().all(|it| it.place.is_none()) {
        return Ok(());
    }
    let rows = |d: Domain| -> Vec<usize> {
        items
            .iter()
            .filter(|it| it.domain == d)
            .map(|it| it.index)
            .collect()
    };
    let paired = paired_places(ds, &rows(Domain::Day), &rows(Domain::Night)).len();
    if paired < MIN_EVAL_PLACES {
        return Err(TooFewPlaces {
            scope: scope.to_string(),
            paired,
            min: MIN_EVAL_PLACES,
        });
    }
    Ok(())
}

pub struct MethodRow {
    pub name: String,
    pub evaluation: Evaluation,
}

/// Learned channel weights: one vector per matched encoder depth.
pub struct DepthWeights {
    /// Indices into `DoubleVae::encode_taps`.
    pub taps: Vec<usize>,
    pub vectors: Vec<Vec<f32>>,
    /// How the depths are named in tables, e.g. "3 depths".
    pub label: String,
}

impl DepthWeights {
    pub fn is_latent(&self) -> bool {
        self.taps == [LATENT_TAP]
    }
}

/// Retrieval with `w` = 1 and with the learned weights at the depths `weights` matches:
/// `(plain, weighted)`. For the latent alone, `plain` is the model's usual evaluation.
#[allow(clippy::too_many_arguments)]
pub fn with_and_without_weights(
    model: &DoubleVae,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    weights: &DepthWeights,
    device: &Device,
    seed: u64,
    rule: &Positives,
) -> (Evaluation, Evaluation) {
    let depths = embed_depths(
        model,
        ds,
        items.to_vec(),
        device,
        32,
        &weights.taps,
        |_, _| {},
    );
    let ones = vec![None; depths.len()];
    let learned: Vec<Option<&[f32]>> = weights.vectors.iter().map(|v| Some(&v[..])).collect();
    (
        evaluate_depths_with(&depths, &ones, query, device, seed, rule),
        evaluate_depths_with(&depths, &learned, query, device, seed, rule),
    )
}

/// Evaluate the model and both baselines with queries from `query`, positives by the field's
/// defaults.
#[allow(clippy::too_many_arguments)]
pub fn compare_methods(
    model: &DoubleVae,
    config: &ModelConfig,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    pooled: bool,
    weights: Option<&DepthWeights>,
    device: &Device,
    seed: u64,
) -> Vec<MethodRow> {
    compare_methods_with(
        model,
        config,
        ds,
        items,
        query,
        pooled,
        weights,
        device,
        seed,
        &Positives::default(),
    )
}

/// [`compare_methods`] with the positives' rule given: every row on the same positives.
#[allow(clippy::too_many_arguments)]
pub fn compare_methods_with(
    model: &DoubleVae,
    config: &ModelConfig,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    pooled: bool,
    weights: Option<&DepthWeights>,
    device: &Device,
    seed: u64,
    rule: &Positives,
) -> Vec<MethodRow> {
    let evaluate = |e: &Embeddings, q: Domain, w: Option<&[f32]>, d: &Device, s: u64| {
        evaluate_with(e, q, w, d, s, rule)
    };
    let finish = |e: Embeddings| if pooled { e.pooled() } else { e };
    let trained = finish(embed(model, ds, items.to_vec(), device, 32, |_, _| {}));
    let random = DoubleVae::new(config, RANDOM_ENCODER_SEED, device);
    let random = finish(embed(&random, ds, items.to_vec(), device, 32, |_, _| {}));
    let side = (config.image_size / 4) as u32;
    let pixels = finish(pixel_embeddings(ds, items.to_vec(), side));
    let mut out = vec![MethodRow {
        name: "model".into(),
        evaluation: evaluate(&trained, query, None, device, seed),
    }];
    if !pooled {
        let centred = trained.centred_by_domain();
        out.push(MethodRow {
            name: "model, domain-centred".into(),
            evaluation: evaluate(&centred, query, None, device, seed),
        });
        out.extend(whitened_row(
            "model, domain-centred",
            &centred,
            query,
            device,
            |e| evaluate(e, query, None, device, seed),
        ));
        out.extend(global_row("model", &trained, query, |e| {
            evaluate(e, query, None, device, seed)
        }));
    }
    match weights {
        Some(w) if w.is_latent() => out.push(MethodRow {
            name: "model + learned weights".into(),
            evaluation: evaluate(
                &trained,
                query,
                w.vectors.last().map(|v| &v[..]),
                device,
                seed,
            ),
        }),
        Some(w) => {
            let (plain, weighted) =
                with_and_without_weights(model, ds, items, query, w, device, seed, rule);
            out.push(MethodRow {
                name: format!("model, {}, w = 1", w.label),
                evaluation: plain,
            });
            out.push(MethodRow {
                name: format!("model + weights, {}", w.label),
                evaluation: weighted,
            });
        }
        None => {}
    }
    if let Some(net) = &model.backbone {
        out.extend(backbone_rows(
            net, ds, items, query, pooled, device, seed, rule,
        ));
    }
    out.push(MethodRow {
        name: "pixels".into(),
        evaluation: evaluate(&pixels, query, None, device, seed),
    });
    out.push(MethodRow {
        name: "random-encoder".into(),
        evaluation: evaluate(&random, query, None, device, seed),
    });
    // One-channel maps: pooling would leave a constant, so these rows are spatial only.
    if !pooled {
        let half = (config.image_size / 2) as u32;
        let full = config.image_size as u32;
        out.push(MethodRow {
            name: "patch-normalised (SAD)".into(),
            evaluation: evaluate(
                &sad_embeddings(ds, items.to_vec(), half),
                query,
                None,
                device,
                seed,
            ),
        });
        out.push(MethodRow {
            name: "gradient magnitude".into(),
            evaluation: evaluate(
                &gradient_embeddings(ds, items.to_vec(), full),
                query,
                None,
                device,
                seed,
            ),
        });
    }
    out
}

/// The pretrained network alone, never trained on the data, beside a model built on it: its
/// pooled head (global average pool, the network's own descriptor) and, unless `pooled`, its
/// last block's map and its head's map compared position by position; each plain and with
/// each domain's mean removed (no labels). What the training added is the model's rows
/// against the best of these.
#[allow(clippy::too_many_arguments)]
pub fn backbone_rows(
    net: &crate::model::backbone::Backbone,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    pooled: bool,
    device: &Device,
    seed: u64,
    rule: &Positives,
) -> Vec<MethodRow> {
    let [trunk, head] = super::embed::backbone_embeddings(net, ds, items, device);
    let mut variants = vec![("pooled head (GAP, 1280)", head.pooled())];
    if !pooled {
        variants.push(("last block's map (320 channels)", trunk));
        variants.push(("head's map (1280 channels)", head));
    }
    let mut out = Vec::new();
    for (name, e) in variants {
        out.push(MethodRow {
            name: format!("ImageNet backbone alone: {name}"),
            evaluation: evaluate_with(&e, query, None, device, seed, rule),
        });
        let centred = e.centred_by_domain();
        out.push(MethodRow {
            name: format!("ImageNet backbone alone: {name}, domain-centred"),
            evaluation: evaluate_with(&centred, query, None, device, seed, rule),
        });
        if centred.pixels > 1 {
            let name = format!("ImageNet backbone alone: {name}, domain-centred");
            out.extend(whitened_row(&name, &centred, query, device, |e| {
                evaluate_with(e, query, None, device, seed, rule)
            }));
        }
    }
    out
}

/// The row of `e` whitened on its own mutual matches (see [`whiten_on_mutual_matches`]),
/// named after `name` with the number of matches it learned from; none where too few exist.
fn whitened_row(
    name: &str,
    e: &Embeddings,
    query: Domain,
    device: &Device,
    evaluate: impl Fn(&Embeddings) -> Evaluation,
) -> Option<MethodRow> {
    let w = whiten_on_mutual_matches(e, query, device)?;
    Some(MethodRow {
        name: format!("{name}, whitened on its {} mutual matches", w.pairs),
        evaluation: evaluate(&w.embeddings),
    })
}

/// The global descriptor of `e` (`retrieval::global`: the head fitted on the database side, no
/// labels) as a row of its own, beside the spatial one that it stands in for.
pub fn global_row(
    name: &str,
    e: &Embeddings,
    query: Domain,
    evaluate: impl Fn(&Embeddings) -> Evaluation,
) -> Option<MethodRow> {
    let (g, head) = global_descriptors(e, query)?;
    Some(MethodRow {
        name: global_row_name(name, head.input, head.width()),
        evaluation: evaluate(&g),
    })
}

fn global_row_name(name: &str, input: usize, width: usize) -> String {
    format!("{name}, global descriptor ({width} of {input} dimensions, fitted on the database)")
}

/// [`compare_methods_with`] at benchmark scale ([`evaluate_at_scale`]): the same rows (and
/// a row for each of `also`, after the model's) from one walk over the images, each query ranked to its nearest `top`, but the domain-centred row
/// (it needs every embedding at once) and depth weights beyond the latent (refused by the
/// caller). `scratch` holds the database rows while they are searched.
#[allow(clippy::too_many_arguments)]
pub fn compare_methods_at_scale(
    model: &DoubleVae,
    config: &ModelConfig,
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    pooled: bool,
    latent_weights: Option<&[f32]>,
    also: &[(String, DoubleVae)],
    candidates: Option<usize>,
    device: &Device,
    rule: &Positives,
    scratch: &std::path::Path,
    progress: impl FnMut(usize, usize),
    mut searching: impl FnMut(&str),
) -> Result<Vec<MethodRow>, super::streamed::StreamError> {
    use super::baselines::{gradient_magnitude_z, gray_rows, sad_describe, sad_side};
    use super::embed::{EmbeddingKind, embed_images, pixel_rows};
    use super::scaled::{ScaledRow, evaluate_at_scale};
    let random = DoubleVae::new(config, RANDOM_ENCODER_SEED, device);
    fn encoder<'a>(m: &'a DoubleVae, device: &'a Device) -> super::scaled::Describe<'a> {
        Box::new(move |imgs, d| embed_images(m, imgs, d, device))
    }
    // Every row ranks in two stages when `candidates` is given, each by its own global
    // descriptor (a row with channel weights always ranks exactly).
    let row = |kind, describe, pooled, weights: Option<Vec<f32>>| ScaledRow {
        kind,
        describe,
        pooled,
        candidates: candidates.filter(|_| weights.is_none()),
        weights,
        global_row: false,
    };
    // The model's global descriptor gets a row of its own, as in memory.
    let model_row = |m| ScaledRow {
        global_row: !pooled,
        ..row(EmbeddingKind::Spatial, encoder(m, device), pooled, None)
    };
    let mut rows = vec![("model".to_string(), model_row(model))];
    // Further checkpoints rank as the model does, with no global row (as in memory).
    for (name, m) in also {
        rows.push((
            name.clone(),
            row(EmbeddingKind::Spatial, encoder(m, device), pooled, None),
        ));
    }
    if let Some(w) = latent_weights {
        rows.push((
            "model + learned weights".into(),
            row(
                EmbeddingKind::Spatial,
                encoder(model, device),
                false,
                Some(w.to_vec()),
            ),
        ));
    }
    let side = (config.image_size / 4) as u32;
    rows.push((
        "pixels".into(),
        row(
            EmbeddingKind::Pixels,
            Box::new(move |imgs, _| (pixel_rows(imgs, side), 3, (side * side) as usize)),
            pooled,
            None,
        ),
    ));
    rows.push((
        "random-encoder".into(),
        row(
            EmbeddingKind::Spatial,
            encoder(&random, device),
            pooled,
            None,
        ),
    ));
    // One-channel maps: pooling would leave a constant, so these rows are spatial only.
    if !pooled {
        let gray = |kind, side: u32, describe: fn(&[f32], usize) -> Vec<f32>| {
            row(
                kind,
                Box::new(move |imgs, _| {
                    (gray_rows(imgs, side, &describe), 1, (side * side) as usize)
                }),
                false,
                None,
            )
        };
        let half = sad_side((config.image_size / 2) as u32);
        rows.push((
            "patch-normalised (SAD)".into(),
            gray(EmbeddingKind::PatchNormalised, half, sad_describe),
        ));
        rows.push((
            "gradient magnitude".into(),
            gray(
                EmbeddingKind::GradientMagnitude,
                config.image_size as u32,
                gradient_magnitude_z,
            ),
        ));
    }
    let (names, specs): (Vec<String>, Vec<ScaledRow>) = rows.into_iter().unzip();
    let evaluations = evaluate_at_scale(
        ds,
        items,
        query,
        &specs,
        rule,
        rule.top,
        scratch,
        device,
        progress,
        |r| searching(&names[r]),
    )?;
    let mut out = Vec::with_capacity(names.len() + 1);
    for (name, scaled) in names.into_iter().zip(evaluations) {
        let global = scaled.global.map(|(evaluation, input, width)| MethodRow {
            name: global_row_name(&name, input, width),
            evaluation,
        });
        out.push(MethodRow {
            name,
            evaluation: scaled.evaluation,
        });
        out.extend(global);
    }
    Ok(out)
}
