//! Channel weights of the siamese stage (docs/design.md §3) and the weighted distance they define,
//! differentiable so the weights can be learned.

use burn::module::Param;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::Domain;
use crate::data::batch::host_f32;
use crate::model::DoubleVae;
use crate::model::vae::LATENT_TAP;
use crate::retrieval::embed::standardize;

/// Which encoder depths are matched: the latent only, or 3 or 6 depths (deep feature matching,
/// after LPIPS). Indices into [`DoubleVae::encode_taps`]: conv1, conv2_1, conv2_2, res 3–6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Depths {
    Latent,
    #[value(name = "3")]
    #[serde(rename = "3")]
    Three,
    #[value(name = "6")]
    #[serde(rename = "6")]
    Six,
}

impl Depths {
    pub const ALL: [Depths; 3] = [Depths::Latent, Depths::Three, Depths::Six];

    pub fn taps(self) -> &'static [usize] {
        match self {
            Depths::Latent => &[LATENT_TAP],
            Depths::Three => &[2, 4, LATENT_TAP],
            Depths::Six => &[1, 2, 3, 4, 5, LATENT_TAP],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Depths::Latent => "latent",
            Depths::Three => "3 depths",
            Depths::Six => "6 depths",
        }
    }

    /// Channels at each matched depth for a model of base width `w`.
    pub fn channels(self, w: usize) -> Vec<usize> {
        let per_tap = [w, 2 * w, 4 * w, 4 * w, 4 * w, 4 * w, 4 * w];
        self.taps().iter().map(|&t| per_tap[t]).collect()
    }
}

/// How the triplet hinge is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Hinge {
    /// `mean(max(d(a,p) − d(a,n) + m, 0))`: the textbook form.
    Triplet,
    /// `max(mean d(a,p) − mean d(a,n) + m, 0)`: what the research did.
    BatchMean,
}

impl Hinge {
    /// As on the command line and in folder names.
    pub fn name(self) -> &'static str {
        match self {
            Hinge::Triplet => "triplet",
            Hinge::BatchMean => "batch-mean",
        }
    }
}

/// One weight vector per matched depth, initialised to ones.
#[derive(Module, Debug)]
pub struct ChannelWeights {
    pub depths: Vec<Param<Tensor<1>>>,
}

impl ChannelWeights {
    pub fn ones(channels: &[usize], device: &Device) -> Self {
        Self {
            depths: channels
                .iter()
                .map(|&c| Param::from_tensor(Tensor::ones([c], device)))
                .collect(),
        }
    }

    pub fn to_vecs(&self) -> Vec<Vec<f32>> {
        self.depths.iter().map(|p| host_f32(p.val())).collect()
    }
}

/// Standardised activations of the matched depths for a batch (no gradient through the
/// encoder: it is frozen).
pub fn features(model: &DoubleVae, x: Tensor<4>, domain: Domain, depths: Depths) -> Vec<Tensor<4>> {
    let taps = model.encode_taps(x, domain);
    depths
        .taps()
        .iter()
        .map(|&t| standardize(taps[t].clone()))
        .collect()
}

/// `d(p, q)` per batch item, averaged over depths: mean over pixels of ‖w ⊙ (p − q)‖₂.
/// A tiny epsilon inside the root keeps the gradient finite where p = q.
pub fn weighted_distance(w: &ChannelWeights, p: &[Tensor<4>], q: &[Tensor<4>]) -> Tensor<1> {
    let mut total: Option<Tensor<1>> = None;
    for ((wd, a), b) in w.depths.iter().zip(p).zip(q) {
        let [bsz, c, _, _] = a.dims();
        let wv = wd.val().reshape([1, c, 1, 1]);
        let diff = (a.clone() - b.clone()) * wv;
        let d: Tensor<1> = diff
            .square()
            .sum_dim(1)
            .add_scalar(1e-12)
            .sqrt()
            .mean_dims(&[2, 3])
            .reshape([bsz]);
        total = Some(match total {
            Some(t) => t + d,
            None => d,
        });
    }
    total
        .expect("at least one depth")
        .div_scalar(w.depths.len() as f32)
}

/// The triplet objective, margin `margin`.
pub fn triplet_objective(d_ap: Tensor<1>, d_an: Tensor<1>, margin: f32, hinge: Hinge) -> Tensor<1> {
    match hinge {
        Hinge::Triplet => (d_ap - d_an).add_scalar(margin).clamp_min(0.0).mean(),
        Hinge::BatchMean => (d_ap.mean() - d_an.mean())
            .add_scalar(margin)
            .clamp_min(0.0),
    }
}

/// Channels sorted by |weight|, largest first: `(channel, |w|)`.
pub fn importance(w: &[f32]) -> Vec<(usize, f32)> {
    let mut v: Vec<(usize, f32)> = w.iter().map(|x| x.abs()).enumerate().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// How many of the largest channels carry `mass` (e.g. 0.9) of the total |weight|, and that
/// count as a share of all channels.
pub fn share_for_mass(w: &[f32], mass: f32) -> (usize, f32) {
    let imp = importance(w);
    let total: f32 = imp.iter().map(|x| x.1).sum();
    if total <= 0.0 || w.is_empty() {
        return (0, 0.0);
    }
    let mut acc = 0.0;
    for (k, (_, v)) in imp.iter().enumerate() {
        acc += v;
        if acc >= mass * total - 1e-6 * total {
            return (k + 1, (k + 1) as f32 / w.len() as f32);
        }
    }
    (w.len(), 1.0)
}

/// `d(p_i, q_j)` for every pair of a batch, `[B, B]`, averaged over depths like
/// [`weighted_distance`].
pub fn pair_distances(w: &ChannelWeights, p: &[Tensor<4>], q: &[Tensor<4>]) -> Tensor<2> {
    let mut total: Option<Tensor<2>> = None;
    for ((wd, a), b) in w.depths.iter().zip(p).zip(q) {
        let [bsz, c, h, wid] = a.dims();
        let px = h * wid;
        let wv = wd.val().reshape([1, 1, c, 1]);
        let a = a.clone().reshape([bsz, 1, c, px]);
        let b = b.clone().reshape([1, bsz, c, px]);
        let d: Tensor<2> = ((a - b) * wv)
            .square()
            .sum_dim(2)
            .add_scalar(1e-12)
            .sqrt()
            .mean_dim(3)
            .reshape([bsz, bsz]);
        total = Some(match total {
            Some(t) => t + d,
            None => d,
        });
    }
    total
        .expect("at least one depth")
        .div_scalar(w.depths.len() as f32)
}

/// The triplet hinge with in-batch hard negatives, both ways: for each night anchor `i` the
/// positive is day `i` and the negative the nearest other day image, and the same for each
/// day anchor against the night images. `d` is `[B, B]`, `d[i][j] = d(night_i, day_j)`.
pub fn batch_hard_objective(d: Tensor<2>, margin: f32) -> Tensor<1> {
    let [b, _] = d.dims();
    let device = d.device();
    let eye: Tensor<2> = Tensor::eye(b, &device);
    let positive: Tensor<1> = (d.clone() * eye.clone()).sum_dim(1).reshape([b]);
    // Push the diagonal out of reach of the minimum.
    let off = d + eye.mul_scalar(1e6);
    let hardest_day: Tensor<1> = off.clone().min_dim(1).reshape([b]);
    let hardest_night: Tensor<1> = off.min_dim(0).reshape([b]);
    let night_anchor = (positive.clone() - hardest_day)
        .add_scalar(margin)
        .clamp_min(0.0);
    let day_anchor = (positive - hardest_night).add_scalar(margin).clamp_min(0.0);
    (night_anchor + day_anchor).mean().div_scalar(2.0)
}
