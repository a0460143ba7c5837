//! Retrieval at benchmark scale, measured: a synthetic database of `n` day images at the
//! model's size, rendered, embedded and stored batch by batch ([`super::streamed`]), searched
//! by night queries of evenly spaced places in two stages; beside it, today's in-memory path
//! (the whole town decoded, every embedding in memory, the full distance matrix) at the sizes
//! it can run. Peak RSS is the process's high-water mark, so run one size per process for a
//! clean figure.

use std::path::Path;
use std::time::Instant;

use burn::prelude::Device;
use rayon::prelude::*;
use serde_json::json;

use super::embed::{EmbeddingKind, Embeddings, ItemInfo, all_items, embed, embed_images};
use super::eval::evaluate;
use super::streamed::{StreamError, StreamedBuilder};
use crate::data::Domain;
use crate::data::synth::{SynthConfig, generate, render_day, render_place};
use crate::model::DoubleVae;

/// Seed of the benchmark's town.
const SEED: u64 = 20_261_206;
/// Images rendered and embedded per batch.
const BATCH: usize = 256;

fn item(domain: Domain, index: usize) -> ItemInfo {
    ItemInfo {
        domain,
        index,
        place: Some(index as u32),
        name: format!("place-{index:06}/{domain}"),
        position: None,
        encoder: domain,
    }
}

/// The streamed two-stage path on `n` database images and `queries` night queries.
pub fn streamed(
    model: &DoubleVae,
    n: usize,
    queries: usize,
    candidates: usize,
    size: u32,
    device: &Device,
    dir: &Path,
) -> Result<serde_json::Value, StreamError> {
    let (_, peak0) = crate::sysinfo::rss_mib();
    let t0 = Instant::now();
    let mut builder = StreamedBuilder::create(&dir.join(format!("spatial-{n}.f32")))?;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let batch: Vec<(ItemInfo, image::RgbImage)> = (start..end)
            .into_par_iter()
            .map(|p| (item(Domain::Day, p), render_day(SEED, p, size)))
            .collect();
        builder.add_batch(model, batch, Domain::Day, device)?;
        start = end;
    }
    let index = builder.finish()?;
    let build_s = t0.elapsed().as_secs_f64();
    // Night queries of evenly spaced places; each one's positive is its place's day image.
    let places: Vec<usize> = (0..queries).map(|i| i * n / queries.max(1)).collect();
    let nights: Vec<image::RgbImage> = places
        .par_iter()
        .map(|&p| render_place(SEED, p, size).1)
        .collect();
    let refs: Vec<&image::RgbImage> = nights.iter().collect();
    let (data, c, p) = embed_images(model, &refs, Domain::Night, device);
    let q = Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: c,
        pixels: p,
        data,
        items: places.iter().map(|&p| item(Domain::Night, p)).collect(),
    };
    let t1 = Instant::now();
    let found = index.search(&q, candidates, 20, device)?;
    let search_s = t1.elapsed().as_secs_f64();
    let recall = |k: usize| {
        found
            .iter()
            .zip(&places)
            .filter(|(r, p)| r.iter().take(k).any(|&(j, _)| j == **p))
            .count() as f64
            / queries.max(1) as f64
    };
    let (rss, peak) = crate::sysinfo::rss_mib();
    Ok(json!({
        "path": "streamed two-stage (global descriptor search, spatial re-rank from disk)",
        "database": n,
        "queries": queries,
        "candidates": candidates,
        "image_size": size,
        "build_s": round(build_s, 1),
        "images_per_s": round(n as f64 / build_s, 1),
        "search_ms_per_query": round(search_s * 1000.0 / queries.max(1) as f64, 2),
        "recall@1": round(recall(1), 3),
        "recall@10": round(recall(10), 3),
        "spatial_file_mib": round((n * c * p * 4) as f64 / 1_048_576.0, 1),
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_rss_before_mib": round(peak0, 1),
        "loadavg_1m": crate::sysinfo::loadavg(),
    }))
}

/// Today's in-memory path on a town of `n` places: every image decoded, every embedding in
/// memory, night queries against the whole day database, the full matrix (what `eval` does).
pub fn in_memory(model: &DoubleVae, n: usize, size: u32, device: &Device) -> serde_json::Value {
    let t0 = Instant::now();
    let ds = generate(
        &SynthConfig {
            places: n,
            seed: SEED,
            ..Default::default()
        },
        size,
    );
    let e = embed(model, &ds, all_items(&ds), device, 32, |_, _| {});
    let build_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let ev = evaluate(&e, Domain::Night, None, device, 0);
    let search_s = t1.elapsed().as_secs_f64();
    let (rss, peak) = crate::sysinfo::rss_mib();
    json!({
        "path": "in memory (today's eval: all images and embeddings, full matrix)",
        "database": n,
        "queries": n,
        "image_size": size,
        "build_s": round(build_s, 1),
        "search_ms_per_query": round(search_s * 1000.0 / n as f64, 2),
        "recall@1": ev.metrics.recall_1.map(|v| round(v, 3)),
        "recall@10": ev.metrics.recall_10.map(|v| round(v, 3)),
        "rss_mib": round(rss, 1),
        "peak_rss_mib": round(peak, 1),
        "loadavg_1m": crate::sysinfo::loadavg(),
    })
}

fn round(v: f64, decimals: i32) -> f64 {
    let s = 10f64.powi(decimals);
    (v * s).round() / s
}
