//! Classical place-recognition descriptors (docs/design.md §4), computed on the same images as the
//! model so that every table has honest rows to beat: patch-normalised grayscale (the "SAD"
//! baseline of visual place recognition) and z-scored gradient magnitude. Both are one-channel
//! maps, so the retrieval distance (mean over pixels of the channel norm) is their mean
//! absolute difference.

use image::RgbImage;
use image::imageops::{FilterType, resize};

use super::embed::{EmbeddingKind, Embeddings, ItemInfo, embed_rows};
use crate::data::Dataset;

/// Side of each normalised patch of the SAD baseline.
pub const SAD_PATCH: usize = 4;

/// Luma of an RGB image in [0, 1] (ITU-R BT.601 weights), row-major.
fn gray(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            (0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32) / 255.0
        })
        .collect()
}

/// Each `patch × patch` block shifted to mean 0 and scaled to standard deviation 1 (population
/// std; a flat patch becomes all zeros). `side` must be a multiple of `patch`.
pub fn patch_normalise(g: &[f32], side: usize, patch: usize) -> Vec<f32> {
    let mut out = vec![0.0; g.len()];
    let n = (patch * patch) as f32;
    for by in (0..side).step_by(patch) {
        for bx in (0..side).step_by(patch) {
            let at = |y: usize, x: usize| (by + y) * side + bx + x;
            let cells = || (0..patch).flat_map(|y| (0..patch).map(move |x| (y, x)));
            let mean = cells().map(|(y, x)| g[at(y, x)]).sum::<f32>() / n;
            let var = cells()
                .map(|(y, x)| (g[at(y, x)] - mean).powi(2))
                .sum::<f32>()
                / n;
            let std = var.sqrt();
            for (y, x) in cells() {
                out[at(y, x)] = if std > 1e-6 {
                    (g[at(y, x)] - mean) / std
                } else {
                    0.0
                };
            }
        }
    }
    out
}

/// Gradient magnitude by central differences (one-sided at the border), then z-scored over the
/// whole map (population std; a flat image becomes all zeros).
pub fn gradient_magnitude_z(g: &[f32], side: usize) -> Vec<f32> {
    let at = |y: usize, x: usize| g[y * side + x];
    let diff = |lo: f32, hi: f32, span: usize| (hi - lo) / span as f32;
    let mut m = Vec::with_capacity(g.len());
    for y in 0..side {
        for x in 0..side {
            let (x0, x1) = (x.saturating_sub(1), (x + 1).min(side - 1));
            let (y0, y1) = (y.saturating_sub(1), (y + 1).min(side - 1));
            let gx = if x1 > x0 {
                diff(at(y, x0), at(y, x1), x1 - x0)
            } else {
                0.0
            };
            let gy = if y1 > y0 {
                diff(at(y0, x), at(y1, x), y1 - y0)
            } else {
                0.0
            };
            m.push((gx * gx + gy * gy).sqrt());
        }
    }
    let n = m.len().max(1) as f32;
    let mean = m.iter().sum::<f32>() / n;
    let std = (m.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    m.iter()
        .map(|v| if std > 1e-6 { (v - mean) / std } else { 0.0 })
        .collect()
}

/// One-channel embeddings of `items`: each image converted to grayscale at `side` px and
/// passed through `describe`.
fn gray_embeddings(
    ds: &Dataset,
    items: Vec<ItemInfo>,
    side: u32,
    kind: EmbeddingKind,
    describe: impl Fn(&[f32], usize) -> Vec<f32>,
) -> Embeddings {
    embed_rows(ds, &items, kind, (1, (side * side) as usize), |imgs| {
        gray_rows(imgs, side, &describe)
    })
}

/// One batch's grayscale rows at `side` px, each passed through `describe`.
pub fn gray_rows(
    imgs: &[&RgbImage],
    side: u32,
    describe: &dyn Fn(&[f32], usize) -> Vec<f32>,
) -> Vec<f32> {
    let mut data = Vec::with_capacity(imgs.len() * (side * side) as usize);
    for img in imgs {
        let small = if img.width() == side && img.height() == side {
            (*img).clone()
        } else {
            resize(*img, side, side, FilterType::Triangle)
        };
        data.extend(describe(&gray(&small), side as usize));
    }
    data
}

/// [`sad_embeddings`]' side: `side` rounded down to a multiple of [`SAD_PATCH`].
pub fn sad_side(side: u32) -> u32 {
    let p = SAD_PATCH as u32;
    (side / p).max(1) * p
}

/// [`sad_embeddings`]' describer: patch normalisation.
pub fn sad_describe(g: &[f32], side: usize) -> Vec<f32> {
    patch_normalise(g, side, SAD_PATCH)
}

/// Patch-normalised grayscale at `side` px, rounded down to a multiple of [`SAD_PATCH`].
pub fn sad_embeddings(ds: &Dataset, items: Vec<ItemInfo>, side: u32) -> Embeddings {
    gray_embeddings(
        ds,
        items,
        sad_side(side),
        EmbeddingKind::PatchNormalised,
        sad_describe,
    )
}

/// Z-scored gradient magnitude of the grayscale image at `side` px.
pub fn gradient_embeddings(ds: &Dataset, items: Vec<ItemInfo>, side: u32) -> Embeddings {
    gray_embeddings(
        ds,
        items,
        side,
        EmbeddingKind::GradientMagnitude,
        gradient_magnitude_z,
    )
}
