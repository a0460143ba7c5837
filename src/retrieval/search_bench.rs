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

fn random_embeddings(n: usize, dim: usize, seed: u64) -> Embeddings {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<f32> = (0..n * dim)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let items = (0..n)
        .map(|i| ItemInfo {
            domain: Domain::Day,
            index: i,
            place: None,
            name: String::new(),
            position: None,
            encoder: Domain::Day,
        })
        .collect();
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
