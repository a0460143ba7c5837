use burn::prelude::*;
use duskmatch::data::{Domain, to_tensor};
use duskmatch::model::{DoubleVae, ModelConfig};
use duskmatch::saliency::receptive::receptive_range;
use duskmatch::saliency::{Colormap, SaliencyMethod, Target, explain_match, overlay, saliency};

use crate::common::*;

fn tiny() -> (DoubleVae, ModelConfig) {
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 32,
        ..Default::default()
    };
    (DoubleVae::new(&cfg, 9, &cpu()), cfg)
}

fn picture(size: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(size, size, |x, y| {
        let v = |k: u32| {
            ((x * 31 + y * 17 + k * 7 + seed * 13).wrapping_mul(2654435761u32.wrapping_add(k))
                >> 24) as u8
        };
        image::Rgb([v(0), v(1), v(2)])
    })
}

/// Mean of latent channel `c` for an image given as planar floats.
fn channel_mean(model: &DoubleVae, planar: &[f32], size: usize, c: usize) -> f64 {
    let x = Tensor::<4>::from_data(TensorData::new(planar.to_vec(), [1, 3, size, size]), &cpu());
    let mu = model.encode(x, Domain::Day);
    let [_, _, h, w] = mu.dims();
    let v = vec4(mu.slice([0..1, c..c + 1, 0..h, 0..w]));
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
}

#[test]
fn gradient_matches_finite_differences() {
    let (model, _) = tiny();
    let img = picture(32, 1);
    let map = saliency(
        &model,
        &img,
        Domain::Day,
        &Target::Channel(3),
        SaliencyMethod::Grad,
        &cpu(),
        0,
    );
    let base: Vec<f32> = vec4(to_tensor(&[&img], &cpu()));
    let eps = 1e-2f32;
    for &(c, y, x) in &[
        (0usize, 16usize, 16usize),
        (1, 5, 20),
        (2, 28, 3),
        (0, 0, 0),
    ] {
        let i = c * 32 * 32 + y * 32 + x;
        let mut plus = base.clone();
        plus[i] += eps;
        let mut minus = base.clone();
        minus[i] -= eps;
        let fd = (channel_mean(&model, &plus, 32, 3) - channel_mean(&model, &minus, 32, 3))
            / (2.0 * eps as f64);
        let g = map.gradient[i] as f64;
        assert!(
            (fd - g).abs() < 1e-3 * g.abs().max(1e-2),
            "pixel ({c},{y},{x}): finite difference {fd:.6} vs gradient {g:.6}"
        );
    }
    // The map is the gradient's magnitude summed over colours.
    let p = 7 * 32 + 9;
    let expect: f32 = (0..3).map(|c| map.gradient[c * 1024 + p].abs()).sum();
    assert!((map.values[p] - expect).abs() < 1e-9);
}

#[test]
fn a_latent_position_sees_only_its_receptive_field() {
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 64,
        ..Default::default()
    };
    let model = DoubleVae::new(&cfg, 9, &cpu());
    let img = picture(64, 2);
    let (row, col) = (1usize, 14usize);
    let map = saliency(
        &model,
        &img,
        Domain::Night,
        &Target::Position {
            channel: 2,
            row,
            col,
        },
        SaliencyMethod::Grad,
        &cpu(),
        0,
    );
    let (y0, y1) = receptive_range(row, cfg.image_size);
    let (x0, x1) = receptive_range(col, cfg.image_size);
    assert!(
        y1 < 63 && x0 > 0,
        "the field must leave pixels outside for this test to mean anything"
    );
    let mut inside = 0.0f32;
    for y in 0..64 {
        for x in 0..64 {
            let v = map.values[y * 64 + x];
            if (y0..=y1).contains(&y) && (x0..=x1).contains(&x) {
                inside += v;
            } else {
                assert_eq!(
                    v, 0.0,
                    "pixel ({y}, {x}) outside rows {y0}..={y1}, cols {x0}..={x1}"
                );
            }
        }
    }
    assert!(inside > 0.0);
}

#[test]
fn smoothgrad_without_noise_is_the_gradient() {
    let (model, _) = tiny();
    let img = picture(32, 3);
    let g = saliency(
        &model,
        &img,
        Domain::Day,
        &Target::Channel(5),
        SaliencyMethod::Grad,
        &cpu(),
        0,
    );
    let s = saliency(
        &model,
        &img,
        Domain::Day,
        &Target::Channel(5),
        SaliencyMethod::SmoothGrad { n: 4, sigma: 0.0 },
        &cpu(),
        7,
    );
    let scale = g.gradient.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        max_abs_diff(&g.gradient, &s.gradient) < 1e-4 * scale,
        "{} vs scale {scale}",
        max_abs_diff(&g.gradient, &s.gradient)
    );
    // With noise it differs.
    let n = saliency(
        &model,
        &img,
        Domain::Day,
        &Target::Channel(5),
        SaliencyMethod::SmoothGrad { n: 4, sigma: 0.2 },
        &cpu(),
        7,
    );
    assert!(max_abs_diff(&g.gradient, &n.gradient) > 1e-2 * scale);
    // Gradient × input weighs the gradient by the pixel values.
    let gx = saliency(
        &model,
        &img,
        Domain::Day,
        &Target::Channel(5),
        SaliencyMethod::GradXInput,
        &cpu(),
        0,
    );
    let p = 100;
    let px = img.as_raw();
    let expect: f32 = (0..3)
        .map(|c| g.gradient[c * 1024 + p] * px[p * 3 + c] as f32 / 255.0)
        .sum::<f32>()
        .abs();
    assert!((gx.values[p] - expect).abs() < 1e-6);
}

/// The distance "explain this match" differentiates, from planar floats: mean over pixels of
/// the (weighted) channel norm between the standardised codes of a night query and a day match.
fn match_distance(model: &DoubleVae, q: &[f32], m: &[f32], w: Option<&[f32]>) -> f64 {
    use duskmatch::retrieval::embed::standardize;
    let t = |p: &[f32]| Tensor::<4>::from_data(TensorData::new(p.to_vec(), [1, 3, 32, 32]), &cpu());
    let zq = standardize(model.encode(t(q), Domain::Night));
    let zm = standardize(model.encode(t(m), Domain::Day));
    let c = zq.dims()[1];
    let mut diff = zq - zm;
    if let Some(w) = w {
        diff = diff
            * Tensor::<1>::from_data(TensorData::new(w.to_vec(), [c]), &cpu())
                .reshape([1, c, 1, 1]);
    }
    scalar(diff.square().sum_dim(1).sqrt().mean()) as f64
}

#[test]
fn explaining_a_match_is_the_gradient_of_the_match_distance() {
    let (model, _) = tiny();
    let (q, m) = (picture(32, 4), picture(32, 5));
    let (qp, mp) = (
        vec4(to_tensor(&[&q], &cpu())),
        vec4(to_tensor(&[&m], &cpu())),
    );
    // One channel weighted up, one switched off: the weights must reach the gradient.
    let mut w = [1.0f32; 8];
    w[2] = 3.0;
    w[5] = 0.0;
    for weights in [None, Some(&w[..])] {
        let (gq, gm) = explain_match(&model, &q, Domain::Night, &m, weights, &cpu());
        let eps = 1e-2f32;
        for (which, g, base) in [("query", &gq, &qp), ("match", &gm, &mp)] {
            // The four pixels with the largest gradient, where a finite difference is clear.
            let mut order: Vec<usize> = (0..g.gradient.len()).collect();
            order.sort_by(|&a, &b| g.gradient[b].abs().total_cmp(&g.gradient[a].abs()));
            for &i in &order[..4] {
                let (mut plus, mut minus) = (base.clone(), base.clone());
                plus[i] += eps;
                minus[i] -= eps;
                let d = |x: &[f32]| match which {
                    "query" => match_distance(&model, x, &mp, weights),
                    _ => match_distance(&model, &qp, x, weights),
                };
                let fd = (d(&plus) - d(&minus)) / (2.0 * eps as f64);
                let grad = g.gradient[i] as f64;
                assert!(
                    (fd - grad).abs() < 0.05 * grad.abs() + 1e-4,
                    "{which} pixel {i}, weights {}: finite difference {fd:.6} vs gradient {grad:.6}",
                    weights.is_some()
                );
            }
        }
    }
    // The weights change the explanation.
    let (plain, _) = explain_match(&model, &q, Domain::Night, &m, None, &cpu());
    let (weighted, _) = explain_match(&model, &q, Domain::Night, &m, Some(&w), &cpu());
    assert!(max_abs_diff(&plain.gradient, &weighted.gradient) > 1e-4);
}

#[test]
fn overlay_blends_by_saliency_and_opacity() {
    let img = image::RgbImage::from_pixel(2, 1, image::Rgb([100, 100, 100]));
    // Zero saliency leaves the pixel; full saliency at opacity 1 shows the colour map's top.
    let out = overlay(&img, &[0.0, 2.0], 2.0, 1.0, Colormap::Gray);
    assert_eq!(out.get_pixel(0, 0).0, [100, 100, 100]);
    assert_eq!(out.get_pixel(1, 0).0, [255, 255, 255]);
    // Half saliency, opacity 0.5: alpha 0.25 towards gray 0.5.
    let out = overlay(&img, &[1.0, 0.0], 2.0, 0.5, Colormap::Gray);
    let v = 0.75 * 100.0 / 255.0 + 0.25 * 0.5;
    assert_eq!(out.get_pixel(0, 0).0[0], (v * 255.0f32).round() as u8);
    assert_eq!(Colormap::Inferno.at(0.0), [0.001, 0.0, 0.014]);
}

#[test]
fn every_overlay_setting_gets_its_own_gpu_key() {
    use duskmatch::app::saliency_panel::overlay_key;
    use duskmatch::saliency::Colormap;
    // These two collided when the key OR-ed the opacity bits with the scale bits shifted by 8:
    // 0x3F80_0000 | 0 == 0x3F00_0000 | (0x8000 << 8).
    let a = overlay_key(1, 0, Colormap::Inferno, f32::from_bits(0x3F80_0000), 0.0);
    let b = overlay_key(
        1,
        0,
        Colormap::Inferno,
        f32::from_bits(0x3F00_0000),
        f32::from_bits(0x8000),
    );
    assert_ne!(a, b);
    let mut keys = std::collections::HashSet::new();
    for job in [1u64, 2] {
        for panel in 0..2 {
            for cmap in [Colormap::Inferno, Colormap::Viridis, Colormap::Gray] {
                for opacity in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
                    for scale in [0.1f32, 0.5, 1.0, 2.0] {
                        keys.insert(overlay_key(job, panel, cmap, opacity, scale));
                    }
                }
            }
        }
    }
    assert_eq!(keys.len(), 2 * 2 * 3 * 5 * 4);
}
