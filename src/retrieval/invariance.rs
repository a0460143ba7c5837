//! How much domain is left in an embedding (docs/design.md §4): a linear probe's held-out accuracy
//! at telling day codes from night codes (0.5 = no domain left, 1.0 = two separate clouds), and
//! the mean same-place distance over the mean other-place distance (below 1 means the true
//! match is nearer than the rest on average).

use super::embed::Embeddings;
use super::metrics::Ranking;
use crate::data::Domain;

/// Ridge strength of the probe, relative to the number of training rows.
const PROBE_RIDGE: f64 = 1e-3;

/// Each row's channels averaged over its pixels.
pub fn pooled_features(e: &Embeddings) -> Vec<Vec<f64>> {
    let (c, p) = (e.channels, e.pixels);
    (0..e.len())
        .map(|i| {
            let row = e.row(i);
            (0..c)
                .map(|ch| {
                    row[ch * p..(ch + 1) * p]
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>()
                        / p as f64
                })
                .collect()
        })
        .collect()
}

/// Which half of the probe an item falls in: by place when known (a place is never on both
/// sides, so the probe cannot recognise places instead of domains), else by row.
fn probe_half(key: u64) -> bool {
    let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) & 1 == 0
}

/// Held-out accuracy of a least-squares linear classifier (ridge, features z-scored on the
/// training half) that tells day rows from night rows of `e`, on pooled features. `None` when
/// either half lacks a domain.
pub fn domain_probe(e: &Embeddings) -> Option<f64> {
    let x = pooled_features(e);
    let y: Vec<f64> = e
        .items
        .iter()
        .map(|it| {
            if it.domain == Domain::Night {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let train: Vec<bool> = e
        .items
        .iter()
        .enumerate()
        .map(|(i, it)| probe_half(it.place.map(u64::from).unwrap_or(i as u64)))
        .collect();
    probe_accuracy(&x, &y, &train)
}

/// The probe on given features, targets ±1 and a train mask; accuracy on the other rows.
pub fn probe_accuracy(x: &[Vec<f64>], y: &[f64], train: &[bool]) -> Option<f64> {
    let rows = |t: bool| (0..x.len()).filter(move |&i| train[i] == t);
    let both = |t: bool| rows(t).any(|i| y[i] > 0.0) && rows(t).any(|i| y[i] < 0.0);
    if x.is_empty() || !both(true) || !both(false) {
        return None;
    }
    let d = x[0].len();
    let n_train = rows(true).count() as f64;
    let mean: Vec<f64> = (0..d)
        .map(|j| rows(true).map(|i| x[i][j]).sum::<f64>() / n_train)
        .collect();
    let std: Vec<f64> = (0..d)
        .map(|j| {
            let v = rows(true).map(|i| (x[i][j] - mean[j]).powi(2)).sum::<f64>() / n_train;
            v.sqrt().max(1e-12)
        })
        .collect();
    // Design rows: z-scored features and a bias.
    let z = |i: usize| -> Vec<f64> {
        let mut r: Vec<f64> = (0..d).map(|j| (x[i][j] - mean[j]) / std[j]).collect();
        r.push(1.0);
        r
    };
    let k = d + 1;
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for i in rows(true) {
        let r = z(i);
        for p in 0..k {
            b[p] += r[p] * y[i];
            for q in 0..k {
                a[p * k + q] += r[p] * r[q];
            }
        }
    }
    for p in 0..d {
        a[p * k + p] += PROBE_RIDGE * n_train;
    }
    let w = solve(a, b, k)?;
    let (mut right, mut total) = (0usize, 0usize);
    for i in rows(false) {
        let s: f64 = z(i).iter().zip(&w).map(|(u, v)| u * v).sum();
        right += ((s > 0.0) == (y[i] > 0.0)) as usize;
        total += 1;
    }
    Some(right as f64 / total as f64)
}

/// Gaussian elimination with partial pivoting of the `k × k` system `a w = b`.
fn solve(mut a: Vec<f64>, mut b: Vec<f64>, k: usize) -> Option<Vec<f64>> {
    for col in 0..k {
        let piv =
            (col..k).max_by(|&i, &j| a[i * k + col].abs().total_cmp(&a[j * k + col].abs()))?;
        if a[piv * k + col].abs() < 1e-12 {
            return None;
        }
        if piv != col {
            for j in 0..k {
                a.swap(piv * k + j, col * k + j);
            }
            b.swap(piv, col);
        }
        for i in col + 1..k {
            let f = a[i * k + col] / a[col * k + col];
            for j in col..k {
                a[i * k + j] -= f * a[col * k + j];
            }
            b[i] -= f * b[col];
        }
    }
    let mut w = vec![0.0; k];
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|j| a[i * k + j] * w[j]).sum();
        w[i] = (b[i] - s) / a[i * k + i];
    }
    Some(w)
}

/// Mean distance to the true matches over mean distance to the other database items, over
/// every query that has both.
pub fn distance_ratio(rankings: &[Ranking]) -> Option<f64> {
    let (mut same, mut ns, mut other, mut no) = (0.0f64, 0usize, 0.0f64, 0usize);
    for r in rankings {
        // An infinite distance marks an image left out of the ranking (the strict rule).
        for (d, &rel) in r.distances.iter().zip(&r.relevant) {
            if !d.is_finite() {
                continue;
            }
            if rel {
                same += *d as f64;
                ns += 1;
            } else {
                other += *d as f64;
                no += 1;
            }
        }
    }
    (ns > 0 && no > 0 && other > 0.0).then(|| (same / ns as f64) / (other / no as f64))
}
