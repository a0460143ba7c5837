//! Embeddings (docs/design.md §3): the encoder's `mu` for the image's own domain, standardised per
//! pixel across channels, `(x − mean_C) / (std_C + 1e-8)` (std with Bessel's correction, as
//! `torch.std`). Also the baselines, computed the same way: raw downscaled pixels and an
//! untrained encoder of the same architecture.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::batch::host_f32;
use crate::data::{Dataset, Domain, to_tensor};
use crate::model::DoubleVae;

/// What an embedding is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbeddingKind {
    /// Standardised `mu`, `C × H/4 × W/4`, compared pixel by pixel.
    Spatial,
    /// The spatial embedding averaged over pixels and L2-normalised: one `C` vector per image,
    /// for large databases.
    Pooled,
    /// The global descriptor (`retrieval::global`): the flattened spatial embedding projected
    /// on the database's leading directions, each side centred, L2-normalised.
    Global,
    /// Raw RGB downscaled to the latent's resolution (a baseline).
    Pixels,
    /// Grayscale with each 4×4 patch normalised (the "SAD" baseline of place recognition).
    PatchNormalised,
    /// Z-scored gradient magnitude of the grayscale image (a baseline).
    GradientMagnitude,
    /// Descriptors read from an `.npy` file (`eval --descriptors`).
    Imported,
}

impl EmbeddingKind {
    pub fn describe(self) -> &'static str {
        match self {
            EmbeddingKind::Spatial => "spatial (standardised mu, distance averaged over pixels)",
            EmbeddingKind::Pooled => "pooled global descriptor (mean over pixels, L2-normalised)",
            EmbeddingKind::Global => {
                "global descriptor (spatial rows on the database's leading directions, each side centred, L2-normalised)"
            }
            EmbeddingKind::Pixels => "raw downscaled pixels",
            EmbeddingKind::PatchNormalised => "patch-normalised grayscale (SAD)",
            EmbeddingKind::GradientMagnitude => "z-scored gradient magnitude",
            EmbeddingKind::Imported => "imported descriptors",
        }
    }
}

/// Which image an embedding row belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemInfo {
    /// The dataset's list it is in (day: the database side; night: the query side).
    pub domain: Domain,
    /// Index into the dataset's list for that domain.
    pub index: usize,
    pub place: Option<u32>,
    pub name: String,
    /// Where it was taken, when known.
    pub position: Option<crate::data::Position>,
    /// The encoder that reads it (its list's domain unless the dataset says otherwise).
    pub encoder: Domain,
}

impl ItemInfo {
    /// The row of `ds`'s sample `index` of `domain`.
    pub fn of(ds: &Dataset, domain: Domain, index: usize) -> ItemInfo {
        let s = &ds.domain(domain)[index];
        ItemInfo {
            domain,
            index,
            place: s.place,
            name: s.name.clone(),
            position: s.position,
            encoder: s.encoder,
        }
    }
}

/// `n` embeddings of `channels × pixels` floats each, row-major.
#[derive(Debug, Clone)]
pub struct Embeddings {
    pub kind: EmbeddingKind,
    pub channels: usize,
    pub pixels: usize,
    pub data: Vec<f32>,
    pub items: Vec<ItemInfo>,
}

impl Embeddings {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.channels * self.pixels
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim()..(i + 1) * self.dim()]
    }

    /// The rows at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Embeddings {
        let mut data = Vec::with_capacity(idx.len() * self.dim());
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Embeddings {
            kind: self.kind,
            channels: self.channels,
            pixels: self.pixels,
            data,
            items: idx.iter().map(|&i| self.items[i].clone()).collect(),
        }
    }

    /// Indices of the rows from one domain.
    pub fn of_domain(&self, d: Domain) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.items[i].domain == d)
            .collect()
    }

    /// Each domain's mean embedding subtracted from its rows, then every pixel standardised
    /// across channels again: removes what a domain adds to every image (an unsupervised,
    /// per-domain affine map before comparison; it uses only the images being compared).
    pub fn centred_by_domain(&self) -> Embeddings {
        let (c, p) = (self.channels, self.pixels);
        let dim = self.dim();
        let mut data = self.data.clone();
        for d in [Domain::Day, Domain::Night] {
            let rows = self.of_domain(d);
            if rows.is_empty() {
                continue;
            }
            let mut mean = vec![0.0f64; dim];
            for &i in &rows {
                mean.iter_mut()
                    .zip(self.row(i))
                    .for_each(|(m, &v)| *m += v as f64);
            }
            let n = rows.len() as f64;
            for &i in &rows {
                let row = &mut data[i * dim..(i + 1) * dim];
                row.iter_mut()
                    .zip(&mean)
                    .for_each(|(v, m)| *v -= (*m / n) as f32);
                standardise_row(row, c, p);
            }
        }
        Embeddings {
            data,
            ..self.clone()
        }
    }

    /// Average over pixels and L2-normalise: the pooled global descriptor.
    pub fn pooled(&self) -> Embeddings {
        let (c, p) = (self.channels, self.pixels);
        let mut data = Vec::with_capacity(self.len() * c);
        for i in 0..self.len() {
            let row = self.row(i);
            let mut v: Vec<f32> = (0..c)
                .map(|ch| row[ch * p..(ch + 1) * p].iter().sum::<f32>() / p as f32)
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            data.extend(v);
        }
        Embeddings {
            kind: EmbeddingKind::Pooled,
            channels: c,
            pixels: 1,
            data,
            items: self.items.clone(),
        }
    }
}

/// [`standardize`] of one host row laid out channel-major (`C × P`).
pub(super) fn standardise_row(row: &mut [f32], c: usize, p: usize) {
    for px in 0..p {
        let mean = (0..c).map(|ch| row[ch * p + px]).sum::<f32>() / c as f32;
        let var = (0..c)
            .map(|ch| (row[ch * p + px] - mean).powi(2))
            .sum::<f32>()
            / (c.max(2) - 1) as f32;
        let sd = var.sqrt() + 1e-8;
        for ch in 0..c {
            row[ch * p + px] = (row[ch * p + px] - mean) / sd;
        }
    }
}

/// Per-pixel standardisation across channels of a `[B, C, H, W]` tensor.
pub fn standardize(x: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = x.dims();
    let mean = x.clone().mean_dim(1);
    let centred = x - mean;
    let var = centred
        .clone()
        .square()
        .sum_dim(1)
        .div_scalar((c.max(2) - 1) as f32);
    centred / var.sqrt().add_scalar(1e-8)
}

/// Embedding rows are produced domain by domain (each domain has its own encoder): the items
/// in that order.
pub(crate) fn day_then_night(items: &[ItemInfo]) -> Vec<ItemInfo> {
    let mut ordered: Vec<ItemInfo> = items
        .iter()
        .filter(|it| it.domain == Domain::Day)
        .cloned()
        .collect();
    ordered.extend(
        items
            .iter()
            .filter(|it| it.domain == Domain::Night)
            .cloned(),
    );
    ordered
}

/// Which rows of which domain to embed.
pub fn all_items(ds: &Dataset) -> Vec<ItemInfo> {
    let mut items = Vec::with_capacity(ds.len());
    for d in Domain::BOTH {
        items.extend((0..ds.domain(d).len()).map(|i| ItemInfo::of(ds, d, i)));
    }
    items
}

/// Embed `items` with `model` on `device`, `batch` images at a time; `progress(done, total)`
/// is called after each batch.
pub fn embed(
    model: &DoubleVae,
    ds: &Dataset,
    items: Vec<ItemInfo>,
    device: &Device,
    batch: usize,
    progress: impl FnMut(usize, usize),
) -> Embeddings {
    let mut one = embed_depths(model, ds, items, device, batch, &[LATENT_TAP], progress);
    one.pop().expect("one depth")
}

pub use crate::model::vae::LATENT_TAP;

/// Embed `items` at several encoder depths (indices into [`DoubleVae::encode_taps`]), each
/// standardised per pixel like `mu`: one [`Embeddings`] per tap, same images, same order.
pub fn embed_depths(
    model: &DoubleVae,
    ds: &Dataset,
    items: Vec<ItemInfo>,
    device: &Device,
    batch: usize,
    taps: &[usize],
    progress: impl FnMut(usize, usize),
) -> Vec<Embeddings> {
    let mut data = vec![Vec::new(); taps.len()];
    let mut shapes = vec![(0, 0); taps.len()];
    let kept = for_each_batch(ds, &items, batch, progress, |_, imgs, encoder| {
        for (k, (rows, c, p)) in encode_batch(model, imgs, encoder, device, taps)
            .into_iter()
            .enumerate()
        {
            shapes[k] = (c, p);
            data[k].extend(rows);
        }
    });
    data.into_iter()
        .zip(shapes)
        .map(|(data, (channels, pixels))| Embeddings {
            kind: EmbeddingKind::Spatial,
            channels,
            pixels,
            data,
            items: kept.clone(),
        })
        .collect()
}

/// The one walk over a dataset's images that every embedding makes: `items` day then night,
/// in batches of at most `batch` images read by one encoder (each domain has its own), each
/// batch's images decoded once (from disk when the dataset's pixels stay there; an unreadable
/// file is left out) and handed to `visit` with their items and encoder. Returns the items
/// visited, in order; `progress(done, total)` follows each batch.
pub fn for_each_batch(
    ds: &Dataset,
    items: &[ItemInfo],
    batch: usize,
    mut progress: impl FnMut(usize, usize),
    mut visit: impl FnMut(&[ItemInfo], &[&image::RgbImage], Domain),
) -> Vec<ItemInfo> {
    let ordered = day_then_night(items);
    let total = ordered.len();
    let mut done = 0;
    let mut kept = Vec::with_capacity(total);
    for run in ordered.chunk_by(|a, b| a.encoder == b.encoder) {
        let encoder = run[0].encoder;
        for chunk in run.chunks(batch.max(1)) {
            let refs: Vec<(Domain, usize)> = chunk.iter().map(|it| (it.domain, it.index)).collect();
            let images = ds.images(&refs);
            let these: Vec<ItemInfo> = images.kept.iter().map(|&k| chunk[k].clone()).collect();
            if !these.is_empty() {
                visit(&these, &images.refs(), encoder);
            }
            drop(images);
            kept.extend(these);
            done += chunk.len();
            progress(done, total);
        }
    }
    kept
}

/// The standardised latent of `imgs` read by the `encoder` of `model`: `imgs.len()` rows of
/// `channels × pixels`, and that shape. What [`embed`] computes for one batch, for callers
/// that hold images rather than a dataset (streaming at benchmark scale).
pub fn embed_images(
    model: &DoubleVae,
    imgs: &[&image::RgbImage],
    encoder: Domain,
    device: &Device,
) -> (Vec<f32>, usize, usize) {
    if imgs.is_empty() {
        return (Vec::new(), 0, 0);
    }
    encode_batch(model, imgs, encoder, device, &[LATENT_TAP])
        .pop()
        .expect("one tap")
}

/// One batch read by `encoder`, standardised at each of `taps`: per tap, the rows and their
/// `(channels, pixels)`.
fn encode_batch(
    model: &DoubleVae,
    imgs: &[&image::RgbImage],
    encoder: Domain,
    device: &Device,
    taps: &[usize],
) -> Vec<(Vec<f32>, usize, usize)> {
    let x = to_tensor(imgs, device);
    let acts = if taps == [LATENT_TAP] {
        vec![model.encode(x, encoder)]
    } else {
        let all = model.encode_taps(x, encoder);
        taps.iter().map(|&t| all[t].clone()).collect()
    };
    acts.into_iter()
        .map(|z| {
            let z = standardize(z);
            let [_, c, h, w] = z.dims();
            (host_f32(z), c, h * w)
        })
        .collect()
}

/// The raw-pixel baseline: each image box-filtered to `side × side`, RGB in [0, 1].
pub fn pixel_embeddings(ds: &Dataset, items: Vec<ItemInfo>, side: u32) -> Embeddings {
    embed_rows(
        ds,
        &items,
        EmbeddingKind::Pixels,
        (3, (side * side) as usize),
        |imgs| pixel_rows(imgs, side),
    )
}

/// `items`' embeddings of `(channels, pixels)` from `rows`, a function of a batch's images
/// alone (the classical baselines), in one walk over the images.
pub fn embed_rows(
    ds: &Dataset,
    items: &[ItemInfo],
    kind: EmbeddingKind,
    (channels, pixels): (usize, usize),
    rows: impl Fn(&[&image::RgbImage]) -> Vec<f32>,
) -> Embeddings {
    let mut data = Vec::new();
    let kept = for_each_batch(
        ds,
        items,
        64,
        |_, _| {},
        |_, imgs, _| data.extend(rows(imgs)),
    );
    Embeddings {
        kind,
        channels,
        pixels,
        data,
        items: kept,
    }
}

/// [`pixel_embeddings`]' rows of one batch.
pub fn pixel_rows(imgs: &[&image::RgbImage], side: u32) -> Vec<f32> {
    let mut data = Vec::with_capacity(imgs.len() * 3 * (side * side) as usize);
    for img in imgs {
        let small =
            image::imageops::resize(*img, side, side, image::imageops::FilterType::Triangle);
        for c in 0..3 {
            data.extend(small.pixels().map(|px| px.0[c] as f32 / 255.0));
        }
    }
    data
}

/// The pretrained network alone, never trained on the data (the research's comparison with a
/// pretrained VGG-16, made on the user's images): its last block's map (320 channels),
/// standardised per pixel as the model's latent, and its head's map (1280), raw, in one walk
/// over the images. The images are read at the dataset's size.
pub fn backbone_embeddings(
    net: &crate::model::backbone::Backbone,
    ds: &Dataset,
    items: &[ItemInfo],
    device: &Device,
) -> [Embeddings; 2] {
    let (mut trunk, mut head) = (Vec::new(), Vec::new());
    let mut shapes = [(0, 0); 2];
    let kept = for_each_batch(
        ds,
        items,
        32,
        |_, _| {},
        |_, imgs, _| {
            let t = net.trunk(to_tensor(imgs, device));
            let h = net.head_map_of_trunk(t.clone());
            // The trunk as the model's latent is compared; the head raw, as the network's own
            // descriptor (its global average pool) reads it.
            for (k, (z, out)) in [(standardize(t), &mut trunk), (h, &mut head)]
                .into_iter()
                .enumerate()
            {
                let [_, c, hh, ww] = z.dims();
                shapes[k] = (c, hh * ww);
                out.extend(host_f32(z));
            }
        },
    );
    let make = |data: Vec<f32>, (channels, pixels): (usize, usize)| Embeddings {
        kind: EmbeddingKind::Spatial,
        channels,
        pixels,
        data,
        items: kept.clone(),
    };
    [make(trunk, shapes[0]), make(head, shapes[1])]
}
