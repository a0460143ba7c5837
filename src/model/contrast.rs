//! The translation-contrastive aligning term (docs/design.md §2b, ours): an image's code and the
//! code of its own translation must pick each other out of the batch (InfoNCE, both ways).
//! The GAN term makes translations look like the other domain; this one asks that encoding
//! the translation lands on the same place, and that every place's code stays distinct from
//! the others', which a plain latent cycle (L1 between the two codes) does not: the codes
//! may shrink together. Codes are compared standardised across channels and pooled to a
//! coarse grid, keeping the layout while forgiving a pixel of shift.
//!
//! Beside it, the domain mean gap: the squared distance between the mean pooled code of the
//! day batch and of the night batch. A linear probe of the domain reads exactly that
//! difference of means (least squares puts its weights along it), so closing the gap removes
//! what the probe of docs/design.md §4 measures, without asking any one image to change.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::module::adaptive_avg_pool2d;

/// Per-pixel standardisation across channels, then an average pool to a `grid × grid` layout
/// and an L2-normalised row per image: `[B, C·grid·grid]`.
pub fn contrast_rows(mu: Tensor<4>, grid: usize) -> Tensor<2> {
    let [b, c, _, _] = mu.dims();
    let pooled = adaptive_avg_pool2d(standardised(mu), [grid, grid]);
    let rows: Tensor<2> = pooled.reshape([b, c * grid * grid]);
    let norm = rows.clone().square().sum_dim(1).sqrt().add_scalar(1e-8);
    rows / norm
}

/// InfoNCE between two batches of codes whose rows correspond, both directions, at
/// temperature `tau`, compared on a `grid × grid` layout: the mean cross-entropy of picking
/// row `i` of `q` for row `i` of `p`.
pub fn info_nce(p: Tensor<4>, q: Tensor<4>, tau: f64, grid: usize) -> Tensor<1> {
    let (p, q) = (contrast_rows(p, grid), contrast_rows(q, grid));
    let [b, _] = p.dims();
    let logits = p.matmul(q.transpose()).div_scalar(tau);
    let eye: Tensor<2> = Tensor::eye(b, &logits.device());
    let pick = |lg: Tensor<2>| -> Tensor<1> {
        (log_softmax(lg, 1) * eye.clone())
            .sum_dim(1)
            .mean()
            .reshape([1])
            .neg()
    };
    (pick(logits.clone()) + pick(logits.transpose())).div_scalar(2.0)
}

/// Each code standardised across channels at every pixel, then averaged over pixels: `[B, C]`,
/// the features the domain probe reads.
fn pooled_standardised(mu: Tensor<4>) -> Tensor<2> {
    let [b, c, _, _] = mu.dims();
    standardised(mu).mean_dims(&[2, 3]).reshape([b, c])
}

/// Every pixel's channel vector centred and divided by its (n − 1) standard deviation, as the
/// retrieval embedding standardises codes (which lives in a higher layer), with a larger
/// epsilon so the gradient stays tame where a pixel's channels nearly agree.
pub fn standardised(mu: Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = mu.dims();
    let centred = mu.clone() - mu.mean_dim(1);
    let sd = centred
        .clone()
        .square()
        .sum_dim(1)
        .div_scalar((c.max(2) - 1) as f32)
        .sqrt()
        .add_scalar(1e-5);
    centred / sd
}

/// `‖mean_i pool(a_i) − mean_j pool(b_j)‖²` over channels, for a day batch `a` and a night
/// batch `b` of codes.
pub fn domain_mean_gap(a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
    let ma = pooled_standardised(a).mean_dim(0);
    let mb = pooled_standardised(b).mean_dim(0);
    (ma - mb).square().sum().reshape([1])
}
