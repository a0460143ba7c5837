//! The aligning objective (DESIGN.md §2b) and the invariance measures (§4), against hand values.

use burn::prelude::*;
use duskmatch::data::Domain;
use duskmatch::model::discriminator::{lsgan_discriminator_loss, lsgan_generator_loss};
use duskmatch::model::{DiscriminatorConfig, Discriminators};
use duskmatch::retrieval::embed::{EmbeddingKind, Embeddings, ItemInfo};
use duskmatch::retrieval::invariance::{distance_ratio, domain_probe};
use duskmatch::retrieval::metrics::Ranking;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::common::*;

fn t(v: &[f32], shape: [usize; 4]) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), &cpu())
}

#[test]
fn lsgan_losses_match_hand_values() {
    // Two scales: a 1×1×2×2 map and a 1×1×1×1 map.
    let real = vec![
        t(&[1.0, 0.5, 0.0, 2.0], [1, 1, 2, 2]),
        t(&[0.25], [1, 1, 1, 1]),
    ];
    let fake = vec![
        t(&[0.0, 1.0, -1.0, 0.5], [1, 1, 2, 2]),
        t(&[0.5], [1, 1, 1, 1]),
    ];
    // D: mean((r-1)²) per scale + mean(f²) per scale.
    //   real: (0 + .25 + 1 + 1)/4 = 0.5625; (.75²) = 0.5625
    //   fake: (0 + 1 + 1 + .25)/4 = 0.5625; .25
    let d = scalar(lsgan_discriminator_loss(real, fake.clone()));
    assert!((d - (0.5625 + 0.5625 + 0.5625 + 0.25)).abs() < 1e-6, "{d}");
    // G: mean((f-1)²): (1 + 0 + 4 + .25)/4 = 1.3125; .25
    let g = scalar(lsgan_generator_loss(fake));
    assert!((g - (1.3125 + 0.25)).abs() < 1e-6, "{g}");
}

#[test]
fn discriminators_score_patches_at_each_scale() {
    let cfg = DiscriminatorConfig {
        width: 4,
        layers: 3,
        scales: 2,
    };
    let d = Discriminators::new(&cfg, 1, &cpu());
    let outs = d
        .of(Domain::Night)
        .forward(Tensor::zeros([2, 3, 32, 32], &cpu()));
    let shapes: Vec<[usize; 4]> = outs.iter().map(|o| o.dims()).collect();
    // 32 → 16 → 8 → 4 patches; the second scale sees the image pooled to 16 px → 2.
    assert_eq!(shapes, vec![[2, 1, 4, 4], [2, 1, 2, 2]]);
    // The two domains' discriminators are different networks.
    let day = vec4(
        d.of(Domain::Day)
            .forward(Tensor::ones([1, 3, 32, 32], &cpu()))[0]
            .clone(),
    );
    let night = vec4(
        d.of(Domain::Night)
            .forward(Tensor::ones([1, 3, 32, 32], &cpu()))[0]
            .clone(),
    );
    assert!(max_abs_diff(&day, &night) > 1e-4);
}

#[test]
fn discriminator_config_names_the_field_and_range() {
    let bad = DiscriminatorConfig {
        width: 32,
        layers: 3,
        scales: 4,
    };
    let e = bad.validate(32).unwrap_err().to_string();
    assert!(
        e.contains("discriminator.scales") && e.contains("1 to 3"),
        "{e}"
    );
    assert!(DiscriminatorConfig::default().validate(64).is_ok());
}

/// `n` places by day and night, each a `dim`-vector: `shared(place) + offset(domain) + noise`.
fn codes(n: usize, dim: usize, domain_offset: f32, seed: u64) -> Embeddings {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let place: Vec<Vec<f32>> = (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut data = Vec::new();
    let mut items = Vec::new();
    for d in Domain::BOTH {
        let off = if d == Domain::Night {
            domain_offset
        } else {
            0.0
        };
        for (i, p) in place.iter().enumerate() {
            data.extend(p.iter().map(|v| v + off + rng.random_range(-0.1..0.1)));
            items.push(ItemInfo {
                domain: d,
                index: i,
                place: Some(i as u32),
                name: format!("{i}"),
            });
        }
    }
    Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: dim,
        pixels: 1,
        data,
        items,
    }
}

#[test]
fn domain_probe_is_one_for_offset_codes_and_a_half_for_one_distribution() {
    let offset = domain_probe(&codes(200, 8, 2.0, 3)).unwrap();
    assert!(offset > 0.97, "offset codes: {offset}");
    // Day and night of a place are the same vector up to small noise: nothing to tell apart.
    let mixed = domain_probe(&codes(200, 8, 0.0, 4)).unwrap();
    assert!((mixed - 0.5).abs() < 0.1, "one distribution: {mixed}");
}

#[test]
fn distance_ratio_is_same_place_over_other_place_mean() {
    let r = vec![
        Ranking::new(vec![1.0, 3.0, 5.0], vec![true, false, false]),
        Ranking::new(vec![4.0, 2.0, 6.0], vec![false, true, false]),
    ];
    // same: (1 + 2)/2 = 1.5; other: (3 + 5 + 4 + 6)/4 = 4.5
    let v = distance_ratio(&r).unwrap();
    assert!((v - 1.5 / 4.5).abs() < 1e-9, "{v}");
}

fn sample(domain: Domain, place: u32, pixel: impl Fn(u32, u32) -> u8) -> duskmatch::data::Sample {
    let image = image::RgbImage::from_fn(4, 4, |x, y| {
        let v = pixel(x, y);
        image::Rgb([v, v, v])
    });
    duskmatch::data::Sample {
        domain,
        place: Some(place),
        name: format!("{domain}-{place}"),
        group: place.to_string(),
        image,
    }
}

#[test]
fn classical_baselines_match_hand_computation_on_two_images() {
    use duskmatch::retrieval::baselines::{gradient_embeddings, sad_embeddings};
    use duskmatch::retrieval::embed::all_items;
    // Gray values 0, 17, …: one 4×4 patch of a horizontal ramp (columns 0, 51, 102, 153),
    // and its night: the same ramp at a third of the brightness, plus a flat place.
    let ramp = |x: u32, _y: u32| (x * 51) as u8;
    let dim = |x: u32, _y: u32| (x * 17) as u8;
    let ds = duskmatch::data::Dataset {
        name: "two".into(),
        image_size: 4,
        day: vec![sample(Domain::Day, 0, ramp)],
        night: vec![sample(Domain::Night, 0, dim)],
    };
    let sad = sad_embeddings(&ds, all_items(&ds), 4);
    // Each row is x-mean over std: columns at −1.5, −0.5, 0.5, 1.5 steps, std √1.25 steps.
    let col = [-1.5f32, -0.5, 0.5, 1.5].map(|c| c / 1.25f32.sqrt());
    for row in [sad.row(0), sad.row(1)] {
        for (i, v) in row.iter().enumerate() {
            assert!(
                (v - col[i % 4]).abs() < 1e-4,
                "SAD {i}: {v} vs {}",
                col[i % 4]
            );
        }
    }
    // Brightness drops out: the day and night maps are equal, so their distance is 0.
    let grad = gradient_embeddings(&ds, all_items(&ds), 4);
    // Central differences of a ramp: the same slope everywhere, so the magnitude is flat and
    // its z-score is 0 (a flat map has no spread).
    assert!(
        grad.row(0).iter().all(|v| v.abs() < 1e-5),
        "{:?}",
        grad.row(0)
    );
    assert_eq!(grad.channels, 1);
    assert_eq!(grad.pixels, 16);
}

#[test]
fn gradient_magnitude_is_z_scored_central_differences() {
    use duskmatch::retrieval::baselines::gradient_magnitude_z;
    // 3×3 with a single bright centre pixel.
    let g = [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    let z = gradient_magnitude_z(&g, 3);
    // Corners: one-sided differences of 0 → 0. Edges: e.g. (0,1): gx = (0−0)/2 = 0 (x from 0
    // to 2: row 0 is 0,0,0), gy = (1−0)/1 = 1 → 1. Centre: gx = (0−0)/2, gy = 0 → 0.
    let m = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0f32];
    let mean = 4.0 / 9.0;
    let std = ((4.0 * (1.0f32 - mean).powi(2) + 5.0 * mean * mean) / 9.0).sqrt();
    for (i, (a, b)) in z.iter().zip(m).enumerate() {
        assert!((a - (b - mean) / std).abs() < 1e-5, "{i}: {a}");
    }
}
