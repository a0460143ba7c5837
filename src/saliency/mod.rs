//! Back-propagating latent channels to pixel space (docs/design.md §5): the gradient of a channel's
//! mean activation with respect to the input image, gradient × input, SmoothGrad, and the
//! gradient of a match distance with respect to both images.

pub mod colormap;
pub mod receptive;

use burn::module::Module;
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::data::batch::host_f32;
use crate::data::{Domain, to_tensor};
use crate::model::DoubleVae;
use crate::retrieval::embed::standardize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum SaliencyMethod {
    /// ∂target/∂x.
    Grad,
    /// x ⊙ ∂target/∂x, summed over colour channels.
    GradXInput,
    /// The mean gradient over `n` copies of x with N(0, σ²) noise added.
    SmoothGrad { n: usize, sigma: f32 },
}

impl SaliencyMethod {
    pub fn name(&self) -> &'static str {
        match self {
            SaliencyMethod::Grad => "gradient",
            SaliencyMethod::GradXInput => "gradient × input",
            SaliencyMethod::SmoothGrad { .. } => "SmoothGrad",
        }
    }
}

/// What is explained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// Mean activation of one latent channel.
    Channel(usize),
    /// Σ w_c · mean(mu[c]) over the given channels (e.g. the top-k by learned weight).
    Channels(Vec<(usize, f32)>),
    /// One latent channel at one latent position (row, column).
    Position {
        channel: usize,
        row: usize,
        col: usize,
    },
}

/// A per-pixel map (`height × width`, non-negative) and the raw input gradient (`3 × H × W`).
#[derive(Debug, Clone)]
pub struct SaliencyMap {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
    pub gradient: Vec<f32>,
}

impl SaliencyMap {
    pub fn max(&self) -> f32 {
        self.values.iter().copied().fold(0.0, f32::max)
    }
}

/// The target summed over the batch, so each copy in a batch gets its own image's gradient.
fn scalar_target(mu: Tensor<4>, target: &Target) -> Tensor<1> {
    let [b, _, h, w] = mu.dims();
    // A channel's mean over one image is its sum over the batch divided by the pixels per image.
    let per_image_mean = |ch: usize| {
        mu.clone()
            .slice([0..b, ch..ch + 1, 0..h, 0..w])
            .sum()
            .div_scalar((h * w) as f32)
    };
    match target {
        Target::Channel(ch) => per_image_mean(*ch),
        Target::Channels(list) => {
            let mut total: Option<Tensor<1>> = None;
            for &(ch, wt) in list {
                let t = per_image_mean(ch).mul_scalar(wt);
                total = Some(match total {
                    Some(s) => s + t,
                    None => t,
                });
            }
            total.unwrap_or_else(|| mu.sum().mul_scalar(0.0))
        }
        Target::Position { channel, row, col } => mu
            .slice([0..b, *channel..*channel + 1, *row..*row + 1, *col..*col + 1])
            .sum(),
    }
}

/// The frozen model on the autodiff device: parameters get no gradient, the input does.
fn frozen(model: &DoubleVae, device: &Device) -> DoubleVae {
    model.valid().fork(&device.clone().autodiff()).freeze()
}

fn pixels(img: &image::RgbImage) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut v = vec![0f32; 3 * w * h];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            v[c * w * h + i] = p.0[c] as f32 / 255.0;
        }
    }
    v
}

/// Gradient of the target w.r.t. each of `batch` input copies, averaged: `3 × H × W`.
fn input_gradient(model: &DoubleVae, x: Tensor<4>, domain: Domain, target: &Target) -> Vec<f32> {
    let [b, c, h, w] = x.dims();
    let x = x.autodiff().require_grad();
    let mu = model.encode(x.clone(), domain);
    let grads = scalar_target(mu, target).backward();
    let g = x
        .grad(&grads)
        .map(host_f32)
        .unwrap_or_else(|| vec![0.0; b * c * h * w]);
    let plane = c * h * w;
    (0..plane)
        .map(|i| (0..b).map(|k| g[k * plane + i]).sum::<f32>() / b as f32)
        .collect()
}

/// Saliency of `target` for one image.
pub fn saliency(
    model: &DoubleVae,
    image: &image::RgbImage,
    domain: Domain,
    target: &Target,
    method: SaliencyMethod,
    device: &Device,
    seed: u64,
) -> SaliencyMap {
    let m = frozen(model, device);
    let ad = device.clone().autodiff();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let x0 = pixels(image);
    let gradient = match method {
        SaliencyMethod::Grad | SaliencyMethod::GradXInput => {
            input_gradient(&m, to_tensor(&[image], &ad), domain, target)
        }
        SaliencyMethod::SmoothGrad { n, sigma } => {
            let n = n.max(1);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut noisy = Vec::with_capacity(n * x0.len());
            for _ in 0..n {
                noisy.extend(x0.iter().map(|&v| {
                    v + sigma
                        * <StandardNormal as rand_distr::Distribution<f32>>::sample(
                            &StandardNormal,
                            &mut rng,
                        )
                }));
            }
            input_gradient(
                &m,
                Tensor::from_data(TensorData::new(noisy, [n, 3, h, w]), &ad),
                domain,
                target,
            )
        }
    };
    let plane = w * h;
    let values = (0..plane)
        .map(|i| match method {
            SaliencyMethod::GradXInput => (0..3)
                .map(|c| gradient[c * plane + i] * x0[c * plane + i])
                .sum::<f32>()
                .abs(),
            _ => (0..3).map(|c| gradient[c * plane + i].abs()).sum::<f32>(),
        })
        .collect();
    SaliencyMap {
        width: w,
        height: h,
        values,
        gradient,
    }
}

/// "Explain this match": the gradient of the weighted latent distance d(query, match) with
/// respect to both images, as two maps.
#[allow(clippy::too_many_arguments)]
pub fn explain_match(
    model: &DoubleVae,
    query: &image::RgbImage,
    query_domain: Domain,
    matched: &image::RgbImage,
    weights: Option<&[f32]>,
    device: &Device,
) -> (SaliencyMap, SaliencyMap) {
    let m = frozen(model, device);
    let ad = device.clone().autodiff();
    let q = to_tensor(&[query], &ad).require_grad();
    let r = to_tensor(&[matched], &ad).require_grad();
    let zq = standardize(m.encode(q.clone(), query_domain));
    let zr = standardize(m.encode(r.clone(), query_domain.other()));
    let [_, c, _, _] = zq.dims();
    let mut diff = zq - zr;
    if let Some(w) = weights {
        diff = diff
            * Tensor::<1>::from_data(TensorData::new(w.to_vec(), [c]), &ad).reshape([1, c, 1, 1]);
    }
    let d = diff.square().sum_dim(1).add_scalar(1e-12).sqrt().mean();
    let grads = d.backward();
    let to_map = |x: &Tensor<4>, img: &image::RgbImage| {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let g: Vec<f32> = x
            .grad(&grads)
            .map(host_f32)
            .unwrap_or_else(|| vec![0.0; 3 * w * h]);
        let plane = w * h;
        let values = (0..plane)
            .map(|i| (0..3).map(|c| g[c * plane + i].abs()).sum())
            .collect();
        SaliencyMap {
            width: w,
            height: h,
            values,
            gradient: g,
        }
    };
    (to_map(&q, query), to_map(&r, matched))
}

/// An `.npy` of the map (`H × W`), for analysis outside the app.
pub fn map_npy(map: &SaliencyMap) -> Vec<u8> {
    crate::retrieval::npy::npy_bytes(&map.values, &[map.height, map.width])
}

pub use colormap::{Colormap, overlay};
