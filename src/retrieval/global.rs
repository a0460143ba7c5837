//! The global descriptor: one short vector per image whose nearest neighbours are the spatial
//! embedding's nearest neighbours, so that a first stage on it finds the candidates that the
//! exact distance then re-ranks.
//!
//! It is a linear head on the flattened spatial row, learned without labels from the database
//! itself: the principal directions of the database's rows (randomised PCA, Halko, Martinsson
//! and Tropp, SIAM Review 2011), each side then centred on its own mean (as `Embeddings::
//! centred_by_domain` does for the spatial rows) and L2-normalised. The squared L2 distance
//! between flattened rows is what the per-position distance sums, and the projection onto the
//! leading directions keeps the most of it that any linear map of that width can, so the head
//! distils the exact ranking into a vector of [`GLOBAL_DIMS`]. Pooling over positions (the
//! mean, GeM) throws the layout away instead, and measured far worse: docs/benchmarks.md.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::embed::{EmbeddingKind, Embeddings};
use crate::data::Domain;

/// Width of the global descriptor (the bound is 512; 128–512 ranked alike on the town
/// and on Gardens Point, docs/benchmarks.md).
pub const GLOBAL_DIMS: usize = 256;

/// The most database rows that the head is fitted on: evenly spaced over the database.
pub const FIT_SAMPLE: usize = 2048;

/// Extra random directions beyond the width, and subspace iterations, of the randomised PCA
/// (the paper's usual choices: its error bound falls fast in both).
const OVERSAMPLE: usize = 16;
const POWER_ITERATIONS: usize = 2;
const SEED: u64 = 0x6c0b_a1d5;

/// Rows projected per task when a set is described.
const PROJECT_BLOCK: usize = 512;

/// A fitted head: `y = Vᵀ (x − m)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalHead {
    /// Length of an input row (`C × P`).
    pub input: usize,
    /// The database sample's mean row.
    pub mean: Vec<f32>,
    /// The leading principal directions, one per row of a `width × input` matrix.
    pub basis: DMatrix<f32>,
}

impl GlobalHead {
    /// Fit on `rows` (row-major, `input` floats each) to at most `width` directions (fewer where
    /// the rows span fewer). `None` with fewer than two rows, or rows that do not differ.
    pub fn fit(rows: &[f32], input: usize, width: usize) -> Option<GlobalHead> {
        if input == 0 {
            return None;
        }
        let n = rows.len() / input;
        let width = width.min(n.saturating_sub(1)).min(input);
        if width == 0 {
            return None;
        }
        // Column-major `input × n`: each column is a row of the database.
        let mut x = DMatrix::from_column_slice(input, n, &rows[..n * input]);
        let mean: DVector<f32> = x.column_mean();
        for mut col in x.column_iter_mut() {
            col -= &mean;
        }
        let l = (width + OVERSAMPLE).min(n);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
        let omega = DMatrix::<f32>::from_fn(n, l, |_, _| StandardNormal.sample(&mut rng));
        // Products with explicit transposes: nalgebra's `tr_mul` takes a dot-product path that
        // measured many times slower than its blocked product.
        let xt = x.transpose();
        let mut q = orthonormal(&x * omega);
        for _ in 0..POWER_ITERATIONS {
            let z = orthonormal(&xt * &q);
            q = orthonormal(&x * z);
        }
        if q.ncols() == 0 {
            return None;
        }
        // The leading left singular vectors of `x` from those of the small `Qᵀ x`.
        let b = q.transpose() * &x;
        let eig = SymmetricEigen::new(&b * b.transpose());
        let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
        order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
        let u = &q * eig.eigenvectors;
        let width = width.min(order.len());
        if width == 0 {
            return None;
        }
        let basis = DMatrix::from_fn(width, input, |r, c| u[(c, order[r])]);
        Some(GlobalHead {
            input,
            mean: mean.iter().copied().collect(),
            basis,
        })
    }

    /// Fit on the rows of `e` that [`fit_sample`] picks.
    pub fn fit_on(e: &Embeddings, width: usize) -> Option<GlobalHead> {
        let dim = e.channels * e.pixels;
        let sample: Vec<f32> = fit_sample(e.len())
            .into_iter()
            .flat_map(|i| e.row(i).iter().copied())
            .collect();
        Self::fit(&sample, dim, width)
    }

    /// The descriptor's width.
    pub fn width(&self) -> usize {
        self.basis.nrows()
    }

    /// `rows` (row-major) projected, not yet centred or normalised: `width` floats a row.
    pub fn project(&self, rows: &[f32]) -> Vec<f32> {
        let w = self.width();
        let shift = &self.basis * DVector::from_column_slice(&self.mean);
        let mut out = vec![0.0f32; rows.len() / self.input * w];
        out.par_chunks_mut(PROJECT_BLOCK * w)
            .zip(rows.par_chunks(PROJECT_BLOCK * self.input))
            .for_each(|(out, rows)| {
                let n = rows.len() / self.input;
                let x = DMatrix::from_column_slice(self.input, n, rows);
                let mut y = &self.basis * x;
                for mut col in y.column_iter_mut() {
                    col -= &shift;
                }
                out.copy_from_slice(y.as_slice());
            });
        out
    }
}

/// The rows of a database of `n` that the head is fitted on: up to [`FIT_SAMPLE`], evenly
/// spaced. One rule for the rows in memory and the rows on disk, so both fit the same head.
pub fn fit_sample(n: usize) -> Vec<usize> {
    let take = n.min(FIT_SAMPLE);
    (0..take).map(|s| s * n / take).collect()
}

/// An orthonormal basis of `y`'s columns, from the eigen-decomposition of the small `yᵀy`,
/// applied twice (CholeskyQR2-style: the second pass restores the orthogonality that the first
/// loses to rounding); directions at the rounding noise of an f32 product are dropped. It costs two thin matrix
/// products, where a Householder QR of a tall matrix measured tens of times slower.
fn orthonormal(mut y: DMatrix<f32>) -> DMatrix<f32> {
    for _ in 0..2 {
        if y.ncols() == 0 {
            break;
        }
        let eig = SymmetricEigen::new(y.transpose() * &y);
        let top = eig.eigenvalues.iter().copied().fold(0.0f32, f32::max);
        let keep: Vec<usize> = (0..eig.eigenvalues.len())
            .filter(|&i| eig.eigenvalues[i] > top * 1e-7 && eig.eigenvalues[i] > 0.0)
            .collect();
        let scale = DMatrix::from_fn(eig.eigenvalues.len(), keep.len(), |r, c| {
            eig.eigenvectors[(r, keep[c])] / eig.eigenvalues[keep[c]].sqrt()
        });
        y = &y * scale;
    }
    y
}

/// The fewest rows a side needs to be centred on its own mean; fewer (a single query, say) are
/// left on the database's mean, as their own mean would be mostly themselves.
pub const MIN_ROWS_TO_CENTRE: usize = 16;

/// Centre projected rows (`width` floats each) on their own mean (from
/// [`MIN_ROWS_TO_CENTRE`] rows on) and L2-normalise each: what a domain adds to every image of
/// one side would otherwise dominate the first stage.
pub fn centre_and_normalise(data: &mut [f32], width: usize) {
    if width == 0 || data.is_empty() {
        return;
    }
    let n = data.len() / width;
    let mut mean = vec![0.0f64; width];
    if n >= MIN_ROWS_TO_CENTRE {
        for row in data.chunks_exact(width) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
    }
    for row in data.chunks_exact_mut(width) {
        row.iter_mut().zip(&mean).for_each(|(v, &m)| *v -= m as f32);
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
}

/// One side of a comparison described by `head`: projected, centred on its own mean,
/// normalised.
pub fn describe_side(head: &GlobalHead, e: &Embeddings) -> Embeddings {
    let mut data = head.project(&e.data);
    centre_and_normalise(&mut data, head.width());
    Embeddings {
        kind: EmbeddingKind::Global,
        channels: head.width(),
        pixels: 1,
        data,
        items: e.items.clone(),
    }
}

/// Every row of `e` as a global descriptor, the head fitted on the database side (the domain
/// other than `query`), each domain centred on its own. `None` where the database has fewer
/// than two rows. No label is read.
pub fn global_descriptors(e: &Embeddings, query: Domain) -> Option<(Embeddings, GlobalHead)> {
    let database = e.subset(&e.of_domain(query.other()));
    let head = GlobalHead::fit_on(&database, GLOBAL_DIMS)?;
    let w = head.width();
    let mut data = vec![0.0f32; e.len() * w];
    for domain in [query, query.other()] {
        let rows = e.of_domain(domain);
        if rows.is_empty() {
            continue;
        }
        let side = describe_side(&head, &e.subset(&rows));
        for (k, &i) in rows.iter().enumerate() {
            data[i * w..(i + 1) * w].copy_from_slice(side.row(k));
        }
    }
    let out = Embeddings {
        kind: EmbeddingKind::Global,
        channels: w,
        pixels: 1,
        data,
        items: e.items.clone(),
    };
    Some((out, head))
}

/// Which descriptor a search compares: the spatial rows position by position, their mean
/// over positions (the research's pooled descriptor), or the global descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Descriptor {
    #[default]
    Spatial,
    Pooled,
    Global,
}

impl Descriptor {
    pub fn kind(self) -> EmbeddingKind {
        match self {
            Descriptor::Spatial => EmbeddingKind::Spatial,
            Descriptor::Pooled => EmbeddingKind::Pooled,
            Descriptor::Global => EmbeddingKind::Global,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows on a known 3-dimensional subspace of R^8: the head finds it, so projected distances
    /// equal the rows' own distances.
    #[test]
    fn the_head_keeps_distances_on_the_subspace_that_the_rows_span() {
        let dirs = [
            [1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.6, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5],
        ];
        let mut rows = Vec::new();
        for i in 0..40 {
            let a = [
                (i as f32 * 0.37).sin() * 3.0,
                (i as f32 * 0.11).cos() * 2.0,
                i as f32 * 0.05,
            ];
            let mut r = [0.25f32; 8];
            for (k, d) in dirs.iter().enumerate() {
                r.iter_mut().zip(d).for_each(|(x, &v)| *x += a[k] * v);
            }
            rows.extend(r);
        }
        let head = GlobalHead::fit(&rows, 8, 5).unwrap();
        let w = head.width();
        assert!(
            (3..=5).contains(&w),
            "{w}: three directions, and at most rounding noise"
        );
        let y = head.project(&rows);
        let dist = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f32>()
                .sqrt()
        };
        for (i, j) in [(0, 1), (3, 17), (5, 39), (20, 21)] {
            let full = dist(&rows[i * 8..(i + 1) * 8], &rows[j * 8..(j + 1) * 8]);
            let short = dist(&y[i * w..(i + 1) * w], &y[j * w..(j + 1) * w]);
            assert!(
                (full - short).abs() < 1e-4 * full.max(1.0),
                "{full} vs {short}"
            );
        }
        // The mean row maps to the origin; the directions are orthonormal.
        let m = head.project(&head.mean);
        assert!(m.iter().all(|v| v.abs() < 1e-5), "{m:?}");
        let gram = &head.basis * head.basis.transpose();
        for r in 0..3 {
            assert!((gram[(r, r)] - 1.0).abs() < 1e-4);
        }
        // Leading variance first: the first direction is the largest spread (3 along e1).
        let var = |k: usize| y.chunks_exact(w).map(|r| r[k] * r[k]).sum::<f32>();
        assert!(var(0) >= var(1) && var(1) >= var(2));
        assert!((3..w).all(|k| var(k) < 1e-6 * var(0)));
    }

    #[test]
    fn too_few_rows_give_no_head_and_the_width_is_bounded_by_the_rows() {
        assert!(GlobalHead::fit(&[1.0, 2.0], 2, 4).is_none());
        assert!(GlobalHead::fit(&[], 0, 4).is_none());
        assert!(
            GlobalHead::fit(&[1.0, 2.0, 1.0, 2.0, 1.0, 2.0], 2, 4).is_none(),
            "no spread"
        );
        let head = GlobalHead::fit(&[1.0, 2.0, 3.0, 0.0, 5.0, 1.0], 2, 4).unwrap();
        assert_eq!(head.width(), 2);
    }

    #[test]
    fn each_side_is_centred_and_normalised() {
        // Sixteen rows: (1,2), (3,2), (5,6), then thirteen of (3, 10/3): mean (3, 10/3).
        let mut d = vec![1.0, 2.0, 3.0, 2.0, 5.0, 6.0];
        for _ in 0..13 {
            d.extend([3.0, 10.0 / 3.0]);
        }
        centre_and_normalise(&mut d, 2);
        for r in d.chunks_exact(2).take(3) {
            assert!(((r[0] * r[0] + r[1] * r[1]).sqrt() - 1.0).abs() < 1e-6);
        }
        // (1,2) minus the mean: (-2,-4/3), normalised.
        let n = (4.0f32 + 16.0 / 9.0).sqrt();
        assert!((d[0] + 2.0 / n).abs() < 1e-5 && (d[1] + 4.0 / 3.0 / n).abs() < 1e-5);
        // A single query is not centred on itself (it would vanish): normalised only.
        let mut one = vec![3.0, 4.0];
        centre_and_normalise(&mut one, 2);
        assert_eq!(one, [0.6, 0.8]);
    }
}
