//! A 2-D principal-component projection for the embedding map: power iteration with
//! deflation on the covariance of the (pooled) descriptors. Small dimensions only.

/// Project `n` rows of `dim` values onto their first two principal components.
pub fn pca_2d(data: &[f32], n: usize, dim: usize) -> Vec<[f32; 2]> {
    if n == 0 || dim == 0 {
        return Vec::new();
    }
    let mut mean = vec![0.0f64; dim];
    for i in 0..n {
        for j in 0..dim {
            mean[j] += data[i * dim + j] as f64 / n as f64;
        }
    }
    let mut cov = vec![0.0f64; dim * dim];
    for i in 0..n {
        let row = &data[i * dim..(i + 1) * dim];
        for a in 0..dim {
            let da = row[a] as f64 - mean[a];
            for b in a..dim {
                cov[a * dim + b] += da * (row[b] as f64 - mean[b]);
            }
        }
    }
    for a in 0..dim {
        for b in a..dim {
            cov[b * dim + a] = cov[a * dim + b];
        }
    }
    let mut components: Vec<Vec<f64>> = Vec::new();
    for k in 0..2 {
        // A fixed, non-degenerate start keeps the projection deterministic.
        let mut v: Vec<f64> = (0..dim)
            .map(|j| 1.0 + ((j * 7 + k * 13) % 11) as f64 / 10.0)
            .collect();
        for _ in 0..200 {
            let mut next = vec![0.0f64; dim];
            for a in 0..dim {
                next[a] = (0..dim).map(|b| cov[a * dim + b] * v[b]).sum();
            }
            for c in &components {
                let dot: f64 = next.iter().zip(c).map(|(x, y)| x * y).sum();
                next.iter_mut().zip(c).for_each(|(x, y)| *x -= dot * y);
            }
            let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            next.iter_mut().for_each(|x| *x /= norm);
            v = next;
        }
        components.push(v);
    }
    (0..n)
        .map(|i| {
            let row = &data[i * dim..(i + 1) * dim];
            let proj = |c: &Vec<f64>| {
                row.iter()
                    .zip(&mean)
                    .zip(c)
                    .map(|((x, m), w)| (*x as f64 - m) * w)
                    .sum::<f64>() as f32
            };
            [proj(&components[0]), proj(&components[1])]
        })
        .collect()
}
