//! Search throughput: device-batched exact top-k over pooled descriptors, on random vectors
//! that can be exported for faiss to search too (`bench/faiss_flat.py`).

use std::path::Path;
use std::time::Instant;

use burn::prelude::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::json;

use super::distance::DeviceIndex;
use super::embed::{EmbeddingKind, Embeddings, ItemInfo};
use super::npy::write_npy;
use crate::data::Domain;

/// A nameless database row `i`.
fn row_item(i: usize) -> ItemInfo {
    ItemInfo {
        domain: Domain::Day,
        index: i,
        place: None,
        name: String::new(),
        position: None,
        encoder: Domain::Day,
    }
}

fn random_embeddings(n: usize, dim: usize, seed: u64) -> Embeddings {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let items = (0..n).map(row_item).collect();
    Embeddings {
        kind: EmbeddingKind::Pooled,
        channels: dim,
        pixels: 1,
        data,
        items,
    }
}

/// Queries per second for each database size; `export` writes the vectors and our top-k ids.
pub fn run_search_bench(
    sizes: &[usize],
    dim: usize,
    queries: usize,
    k: usize,
    device: &Device,
    export: Option<&Path>,
) -> Vec<serde_json::Value> {
    let q = random_embeddings(queries, dim, 1);
    if let Some(dir) = export {
        let _ = std::fs::create_dir_all(dir);
        let _ = write_npy(&dir.join("queries.npy"), &q.data, &[queries, dim]);
    }
    let mut out = Vec::new();
    for &n in sizes {
        let db = random_embeddings(n, dim, 1000 + n as u64);
        let (rss0, _) = crate::sysinfo::rss_mib();
        let t_build = Instant::now();
        let index = DeviceIndex::new(&db, None, device);
        let build_s = t_build.elapsed().as_secs_f64();
        let _ = index.search(&q.subset(&(0..16.min(queries)).collect::<Vec<_>>()), k); // warm-up
        let mut rates = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let t0 = Instant::now();
            let r = index.search(&q, k);
            rates.push(queries as f64 / t0.elapsed().as_secs_f64());
            ids = r;
        }
        rates.sort_by(f64::total_cmp);
        let (rss, peak) = crate::sysinfo::rss_mib();
        if let Some(dir) = export {
            let _ = write_npy(&dir.join(format!("db-{n}.npy")), &db.data, &[n, dim]);
            let flat: Vec<f32> = ids
                .iter()
                .flat_map(|r| r.iter().map(|&(i, _)| i as f32))
                .collect();
            let _ = write_npy(&dir.join(format!("ids-{n}.npy")), &flat, &[queries, k]);
        }
        out.push(json!({
            "impl": "duskmatch device top-k (burn)",
            "database": n,
            "dim": dim,
            "queries": queries,
            "k": k,
            "queries_per_s": (rates[rates.len() / 2] * 10.0).round() / 10.0,
            "index_build_s": (build_s * 1000.0).round() / 1000.0,
            "rss_mib": (rss * 10.0).round() / 10.0,
            "rss_growth_mib": ((rss - rss0) * 10.0).round() / 10.0,
            "peak_rss_mib": (peak * 10.0).round() / 10.0,
            "loadavg_1m": crate::sysinfo::loadavg(),
        }));
    }
    out
}

/// The HNSW index that `embed --global` wrote beside `STEM.npy` against flat search over the
/// same rows: its queries (the rows not of the day database), each searched one at a time, for
/// each beam width in `efs`: recall@`k` of the flat search's `k` nearest, and milliseconds a
/// query.
pub fn ann_bench(
    stem: &Path,
    efs: &[usize],
    k: usize,
    device: &Device,
) -> Result<Vec<serde_json::Value>, String> {
    use super::ann::AnnIndex;
    use super::npy::read_npy;
    let (data, shape) = read_npy(&stem.with_extension("npy")).map_err(|e| e.to_string())?;
    let meta = stem.with_extension("json");
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&meta).map_err(|e| format!("{}: {e}", meta.display()))?,
    )
    .map_err(|e| format!("{}: {e}", meta.display()))?;
    let domains: Vec<bool> = json["items"]
        .as_array()
        .ok_or_else(|| format!("{}: no items", meta.display()))?
        .iter()
        .map(|it| it["domain"] == "day")
        .collect();
    let width = shape.get(1).copied().unwrap_or(0);
    if shape.len() != 2 || domains.len() != shape[0] {
        return Err(format!(
            "{}: expected the global rows that `embed --global` writes, one per item of {}; found shape {shape:?}",
            stem.with_extension("npy").display(),
            meta.display()
        ));
    }
    let rows = |day: bool| -> Embeddings {
        let idx: Vec<usize> = (0..domains.len()).filter(|&i| domains[i] == day).collect();
        Embeddings {
            kind: EmbeddingKind::Global,
            channels: width,
            pixels: 1,
            data: idx
                .iter()
                .flat_map(|&i| data[i * width..(i + 1) * width].iter().copied())
                .collect(),
            items: idx.iter().map(|&i| row_item(i)).collect(),
        }
    };
    let (db, queries) = (rows(true), rows(false));
    let t_load = Instant::now();
    let (index, _head) =
        AnnIndex::load(&stem.with_extension("dmindex")).map_err(|e| e.to_string())?;
    let load_s = t_load.elapsed().as_secs_f64();
    // A fresh build of the same graph, timed (the loaded one is what is searched).
    let t_build = Instant::now();
    drop(AnnIndex::build(&db).map_err(|e| e.to_string())?);
    let build_s = t_build.elapsed().as_secs_f64();
    // Flat search's k nearest, as rows of the file (the index's keys).
    let t_flat = Instant::now();
    let flat: Vec<Vec<usize>> = DeviceIndex::new(&db, None, device)
        .search(&queries, k)
        .into_iter()
        .map(|near| near.into_iter().map(|(j, _)| db.items[j].index).collect())
        .collect();
    let flat_ms = t_flat.elapsed().as_secs_f64() * 1000.0 / queries.len().max(1) as f64;
    let mut out = Vec::new();
    for &ef in efs {
        index.set_expansion(ef);
        let t0 = Instant::now();
        let mut found = Vec::with_capacity(queries.len());
        for q in 0..queries.len() {
            found.push(index.search(queries.row(q), k).map_err(|e| e.to_string())?);
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0 / queries.len().max(1) as f64;
        let hits: usize = found
            .iter()
            .zip(&flat)
            .map(|(got, want)| got.iter().filter(|(j, _)| want.contains(j)).count())
            .sum();
        let recall = hits as f64 / (queries.len() * k).max(1) as f64;
        out.push(json!({
            "impl": "usearch HNSW (M = 32, efConstruction = 200)",
            "database": db.len(),
            "queries": queries.len(),
            "dim": width,
            "k": k,
            "ef_search": ef,
            "recall_at_k_vs_flat": (recall * 10000.0).round() / 10000.0,
            "ms_per_query": (ms * 1000.0).round() / 1000.0,
            "flat_ms_per_query_batched": (flat_ms * 1000.0).round() / 1000.0,
            "index_load_s": (load_s * 1000.0).round() / 1000.0,
            "build_s": (build_s * 100.0).round() / 100.0,
            "loadavg_1m": crate::sysinfo::loadavg(),
        }));
    }
    Ok(out)
}
