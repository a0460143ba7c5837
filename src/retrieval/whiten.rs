//! A metric learned from the model's own mutual matches, with no labels: the covariance of
//! the differences between matched night and day features (what changes between two views of
//! one place: light, season, a step to the side) is whitened away, so that the directions in
//! which true pairs disagree count less and those in which they agree count more. This is the
//! within-pair half of KISS metric learning (Köstinger et al., CVPR 2012), estimated on
//! pseudo-pairs. It adapts to the images being compared, as domain centring does, and is
//! labelled so in every table ("adapted, no labels").

use burn::prelude::Device;
use nalgebra::{DMatrix, SymmetricEigen};

use super::distance::DeviceIndex;
use super::embed::{Embeddings, standardise_row};
use super::mutual::mutual_matches;
use crate::data::Domain;

/// Ridge added to the within-pair covariance, as a share of its mean eigenvalue: keeps the
/// directions that no pair spans (fewer pairs than channels) from being blown up.
const RIDGE: f64 = 1e-3;

/// The whitened embeddings and what they were learned from.
#[derive(Debug, Clone)]
pub struct Whitened {
    pub embeddings: Embeddings,
    /// Mutual matches between the query and the database domain that the metric came from.
    pub pairs: usize,
}

/// `e` with every pixel's channel vector mapped by `W⁻¹ᐟ²` and standardised again, where `W`
/// is the covariance of matched night–day differences over the mutual matches of `e` itself
/// (queries from `query`, the database from the other domain), pixel by pixel. `None` where
/// fewer than two mutual matches exist.
pub fn whiten_on_mutual_matches(
    e: &Embeddings,
    query: Domain,
    device: &Device,
) -> Option<Whitened> {
    let (qrows, drows) = (e.of_domain(query), e.of_domain(query.other()));
    if qrows.is_empty() || drows.is_empty() {
        return None;
    }
    let (queries, db) = (e.subset(&qrows), e.subset(&drows));
    let m = DeviceIndex::new(&db, None, device).distance_matrix(&queries);
    let matches = mutual_matches(&m, queries.len(), db.len());
    if matches.len() < 2 {
        return None;
    }
    let (c, p) = (e.channels, e.pixels);
    let n = matches.len() * p;
    let diffs = DMatrix::<f64>::from_fn(n, c, |r, ch| {
        let (k, px) = (r / p, r % p);
        let (q, d) = (queries.row(matches[k].query), db.row(matches[k].database));
        (q[ch * p + px] - d[ch * p + px]) as f64
    });
    let map = inverse_sqrt(&covariance(diffs));
    let mut data = Vec::with_capacity(e.data.len());
    for i in 0..e.len() {
        // A row is channel-major: `c` rows of `p` pixels.
        let x = DMatrix::from_row_iterator(c, p, e.row(i).iter().map(|&v| v as f64));
        let start = data.len();
        data.extend((&map * x).transpose().iter().map(|&v| v as f32));
        standardise_row(&mut data[start..], c, p);
    }
    Some(Whitened {
        embeddings: Embeddings { data, ..e.clone() },
        pairs: matches.len(),
    })
}

/// How the compared rows are adapted to the images being compared, with no label: as they
/// are, each domain centred ([`Embeddings::centred_by_domain`]), or centred and then whitened on
/// their own mutual matches ([`whiten_on_mutual_matches`]; centred alone where fewer than two
/// mutual matches exist). The same three rows `eval` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adaptation {
    #[default]
    None,
    Centred,
    Whitened,
}

impl Adaptation {
    pub fn apply(self, e: &Embeddings, query: Domain, device: &Device) -> Embeddings {
        match self {
            Adaptation::None => e.clone(),
            Adaptation::Centred => e.centred_by_domain(),
            Adaptation::Whitened => {
                let centred = e.centred_by_domain();
                whiten_on_mutual_matches(&centred, query, device).map_or(centred, |w| w.embeddings)
            }
        }
    }
}

/// Covariance of the rows of `x` (each column a variable), mean removed, with the ridge added.
fn covariance(mut x: DMatrix<f64>) -> DMatrix<f64> {
    let n = x.nrows() as f64;
    for mut col in x.column_iter_mut() {
        let mean = col.sum() / n;
        col.add_scalar_mut(-mean);
    }
    // An explicit transpose: nalgebra's `tr_mul` takes a slow dot-product path (global.rs).
    let mut cov = (x.transpose() * &x) / (n - 1.0).max(1.0);
    let ridge = RIDGE * cov.trace() / cov.nrows() as f64;
    for i in 0..cov.nrows() {
        cov[(i, i)] += ridge.max(f64::MIN_POSITIVE);
    }
    cov
}

/// `S⁻¹ᐟ²` of a symmetric positive-definite `S`, through its eigen-decomposition.
fn inverse_sqrt(s: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = SymmetricEigen::new(s.clone());
    let scale = eig
        .eigenvalues
        .map(|l| 1.0 / l.max(f64::MIN_POSITIVE).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&scale) * eig.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_whitens_the_covariance_it_came_from() {
        let s = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        let w = inverse_sqrt(&s);
        let id = &w * &s * &w;
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!(
                    (id[(i, j)] - want).abs() < 1e-12,
                    "({i},{j}) = {}",
                    id[(i, j)]
                );
            }
        }
        // The covariance: mean removed, n − 1, the ridge on the diagonal.
        let x = DMatrix::from_row_slice(3, 2, &[1.0, 2.0, 3.0, 2.0, 5.0, 8.0]);
        let cov = covariance(x);
        let ridge = RIDGE * (4.0 + 12.0) / 2.0;
        assert!((cov[(0, 0)] - (4.0 + ridge)).abs() < 1e-12);
        assert!((cov[(1, 1)] - (12.0 + ridge)).abs() < 1e-12);
        assert!((cov[(0, 1)] - 6.0).abs() < 1e-12);
    }
}
