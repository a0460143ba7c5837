//! Evaluation at benchmark scale: one walk over the images, a batch decoded at a time, every
//! row of the table (the model, the baselines) computed from that batch; each row's queries
//! kept in memory and its database rows written to a file as they come
//! ([`StreamedBuilder`]); then each query's nearest K found by the exact distance, reading the
//! database back a block at a time. Nothing holds every image or every database embedding.

use std::path::{Path, PathBuf};

use burn::prelude::Device;
use image::RgbImage;

use super::distance::{DeviceIndex, exact, sort_nearest};
use super::embed::{EmbeddingKind, Embeddings, ItemInfo, for_each_batch};
use super::eval::{Evaluation, RESCORE, evaluate_top};
use super::global::describe_side;
use super::streamed::{StreamError, StreamedBuilder};
use crate::data::{Dataset, Domain, Positives};

/// Above this many images `eval` reads them from disk a batch at a time and ranks each
/// query to its nearest K ([`evaluate_at_scale`]); below, every image and every embedding is
/// held and each query ranked against the whole database, with the scores that need it
/// (the in-memory path held about 1 GiB at 2,000 images: docs/benchmarks.md).
pub const STREAM_ABOVE_IMAGES: usize = 4000;

/// Candidates of the first stage that the exact distance re-ranks, by default, at scale.
pub const DEFAULT_CANDIDATES: usize = 100;

/// Turns one batch of images, all read by one encoder, into rows: the data, channels, pixels.
pub type Describe<'a> = Box<dyn Fn(&[&RgbImage], Domain) -> (Vec<f32>, usize, usize) + 'a>;

/// One row of the table at scale.
pub struct ScaledRow<'a> {
    pub kind: EmbeddingKind,
    pub describe: Describe<'a>,
    /// Pool each image's rows into the global descriptor before searching.
    pub pooled: bool,
    /// Channel weights of the distance, if any.
    pub weights: Option<Vec<f32>>,
    /// Rank in two stages, as Patch-NetVLAD and hloc do: the global descriptor's this many
    /// nearest first, re-ranked by the exact distance (`StreamedIndex::search`; spatial
    /// rows without weights only). `None`: the exact distance to every database row.
    pub candidates: Option<usize>,
    /// Also rank by the global descriptor alone (the first stage as a row of its own).
    pub global_row: bool,
}

/// One row's evaluation at scale, and its global descriptor's where asked for: that
/// evaluation, the input and the descriptor's width.
pub struct ScaledEvaluation {
    pub evaluation: Evaluation,
    pub global: Option<(Evaluation, usize, usize)>,
}

/// Evaluate every row of `rows` on `items` of `ds`, queries from `query`, each query ranked
/// to its nearest `k` (at least 20, the largest N reported). Database rows go to unlinked
/// files in `scratch`. `progress(done, total)` follows the images, `searching(row)` the
/// searches that follow.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_at_scale(
    ds: &Dataset,
    items: &[ItemInfo],
    query: Domain,
    rows: &[ScaledRow<'_>],
    rule: &Positives,
    k: usize,
    scratch: &Path,
    device: &Device,
    progress: impl FnMut(usize, usize),
    mut searching: impl FnMut(usize),
) -> Result<Vec<ScaledEvaluation>, StreamError> {
    let k = k.max(20);
    let stem = format!("duskmatch-eval-{}", std::process::id());
    let files: Vec<PathBuf> = (0..rows.len())
        .map(|r| scratch.join(format!("{stem}-{r}.f32")))
        .collect();
    let mut builders = Vec::with_capacity(rows.len());
    for path in &files {
        builders.push(StreamedBuilder::scratch(path)?);
    }
    // Each row's queries, gathered batch by batch.
    let mut queries: Vec<Embeddings> = rows
        .iter()
        .map(|row| Embeddings {
            kind: row.kind,
            channels: 0,
            pixels: 0,
            data: Vec::new(),
            items: Vec::new(),
        })
        .collect();
    let mut failed: Option<StreamError> = None;
    for_each_batch(ds, items, 32, progress, |batch, imgs, encoder| {
        if failed.is_some() {
            return;
        }
        for (r, row) in rows.iter().enumerate() {
            let (data, c, p) = (row.describe)(imgs, encoder);
            let e = Embeddings {
                kind: row.kind,
                channels: c,
                pixels: p,
                data,
                items: batch.to_vec(),
            };
            let e = if row.pooled { e.pooled() } else { e };
            let (q, db) = (
                e.subset(&e.of_domain(query)),
                e.subset(&e.of_domain(query.other())),
            );
            let gathered = &mut queries[r];
            (gathered.kind, gathered.channels, gathered.pixels) = (e.kind, e.channels, e.pixels);
            gathered.data.extend(q.data);
            gathered.items.extend(q.items);
            if !db.is_empty()
                && let Err(e) = builders[r].add_rows(db.items, db.data, e.channels, e.pixels)
            {
                failed = Some(e);
                return;
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let mut out = Vec::with_capacity(rows.len());
    for (r, ((row, builder), queries)) in rows.iter().zip(builders).zip(queries).enumerate() {
        searching(r);
        let index = builder.finish()?;
        let nearest = match row.candidates {
            _ if index.is_empty() => vec![Vec::new(); queries.len()],
            Some(c) if queries.pixels > 1 && row.weights.is_none() => {
                index.search(&queries, c.max(k), k, device)?
            }
            _ => index.exact_search(&queries, k, row.weights.as_deref(), device)?,
        };
        let global = match &index.head {
            Some(head) if row.global_row => {
                let q = describe_side(head, &queries);
                let all = Embeddings {
                    kind: EmbeddingKind::Global,
                    channels: q.channels,
                    pixels: 1,
                    data: [q.data, index.global.data.clone()].concat(),
                    items: [q.items, index.global.items.clone()].concat(),
                };
                Some((
                    evaluate_nearest(&all, query, rule, device),
                    head.input,
                    head.width(),
                ))
            }
            _ => None,
        };
        let database = index.items().to_vec();
        drop(index);
        out.push(ScaledEvaluation {
            evaluation: evaluate_top(queries.kind, query, queries, database, nearest, k, rule),
            global,
        });
    }
    Ok(out)
}

/// Embeddings already in memory (imported descriptors) evaluated as at scale: each query
/// ranked to its nearest `rule.top` (at least 20), the nearest rescored exactly.
pub fn evaluate_nearest(
    all: &Embeddings,
    query: Domain,
    rule: &Positives,
    device: &Device,
) -> Evaluation {
    let k = rule.top.max(20);
    let queries = all.subset(&all.of_domain(query));
    let database = all.subset(&all.of_domain(query.other()));
    let nearest = if database.is_empty() {
        vec![Vec::new(); queries.len()]
    } else {
        DeviceIndex::new(&database, None, device)
            .search(&queries, k.max(RESCORE))
            .into_iter()
            .enumerate()
            .map(|(q, near)| {
                let mut near: Vec<(usize, f32)> = near
                    .into_iter()
                    .map(|(j, _)| {
                        let d = exact(
                            queries.row(q),
                            database.row(j),
                            database.channels,
                            database.pixels,
                            None,
                        );
                        (j, d)
                    })
                    .collect();
                sort_nearest(&mut near);
                near.truncate(k);
                near
            })
            .collect()
    };
    evaluate_top(all.kind, query, queries, database.items, nearest, k, rule)
}
