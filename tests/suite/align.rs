//! The aligning objective (docs/design.md §2b) and the invariance measures (§4), against hand values.

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
                position: None,
                encoder: d,
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
        encoder: domain,
        place: Some(place),
        position: None,
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
        whole_frame: false,
        day: vec![sample(Domain::Day, 0, ramp)],
        night: vec![sample(Domain::Night, 0, dim)],
        on_disk: None,
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

#[test]
fn a_shared_encoder_has_one_first_stage_and_per_domain_norms() {
    use burn::module::Module;
    use duskmatch::model::config::EncoderSharing;
    use duskmatch::model::{DoubleVae, ModelConfig};
    let private = ModelConfig {
        base_width: 4,
        image_size: 32,
        encoder: EncoderSharing::Private,
        backbone: None,
        whole_frame: false,
    };
    let shared = ModelConfig {
        encoder: EncoderSharing::Shared,
        ..private
    };
    let p = DoubleVae::new(&private, 1, &cpu());
    let s = DoubleVae::new(&shared, 1, &cpu());
    // One private encoder fewer; per domain, γ and β for 4 + 8 + 16 channels.
    let encoder = p.enc_night.as_ref().unwrap().num_params();
    assert_eq!(
        s.num_params(),
        p.num_params() - encoder + 2 * 2 * (4 + 8 + 16)
    );
    // Fresh norms are the identity affine in both domains: the same code for the same image.
    let x = Tensor::<4>::random([2, 3, 32, 32], burn::tensor::Distribution::Default, &cpu());
    let (day, night) = (
        vec4(s.encode(x.clone(), Domain::Day)),
        vec4(s.encode(x, Domain::Night)),
    );
    assert!(max_abs_diff(&day, &night) < 1e-6);
}

#[test]
fn domain_centring_subtracts_each_domains_mean_then_restandardises() {
    let item = |domain, index| ItemInfo {
        domain,
        index,
        place: Some(index as u32),
        name: String::new(),
        position: None,
        encoder: domain,
    };
    // Two channels, one pixel; rows are [channel 0, channel 1].
    let e = Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: 2,
        pixels: 1,
        data: vec![1.0, 3.0, 3.0, 1.0, 10.0, 0.0, 12.0, 4.0],
        items: vec![
            item(Domain::Day, 0),
            item(Domain::Day, 1),
            item(Domain::Night, 0),
            item(Domain::Night, 1),
        ],
    };
    // Day mean (2, 2): rows (−1, 1), (1, −1). Night mean (11, 2): rows (−1, −2), (1, 2).
    // Each then standardised across its two channels (Bessel): ±1/√2.
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let want = [-h, h, h, -h, h, -h, -h, h];
    let got = e.centred_by_domain().data;
    assert!(max_abs_diff(&got, &want) < 1e-6, "{got:?}");
}

#[test]
fn a_config_without_an_objective_is_a_research_run_and_overlays_keep_the_preset() {
    use duskmatch::model::Objective;
    use duskmatch::train::{Preset, TrainingConfig};
    let mut v = serde_json::to_value(Preset::Compact.config()).unwrap();
    v.as_object_mut().unwrap().remove("objective");
    let old: TrainingConfig = serde_json::from_value(v).unwrap();
    assert_eq!(old.objective, Objective::Research);
    // A TOML overlay is merged onto the whole preset: the preset's objective stays.
    let merged = Preset::Compact.config().merge_toml("epochs = 3").unwrap();
    assert_eq!(merged.objective, Objective::Aligned);
    let research = Preset::Compact
        .config()
        .merge_toml("objective = \"research\"")
        .unwrap();
    assert_eq!(research.objective, Objective::Research);
    let e = Preset::Compact
        .config()
        .merge_toml("objective = \"gan\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("objective") || e.contains("gan"), "{e}");
}

#[test]
fn discriminator_weight_gradients_match_finite_differences() {
    use burn::module::Param;
    let cfg = DiscriminatorConfig {
        width: 4,
        layers: 2,
        scales: 2,
    };
    let x = |dev: &Device| {
        let v: Vec<f32> = (0..2 * 3 * 16 * 16)
            .map(|i| ((i * 37 % 101) as f32) / 100.0)
            .collect();
        Tensor::<4>::from_data(TensorData::new(v, [2, 3, 16, 16]), dev)
    };
    let loss_of = |d: &Discriminators, dev: &Device| {
        lsgan_discriminator_loss(
            d.night.forward(x(dev)),
            d.night.forward(x(dev).mul_scalar(0.5)),
        )
    };
    let ad = cpu().autodiff();
    let d = Discriminators::new(&cfg, 5, &ad);
    let g = loss_of(&d, &ad).backward();
    let grad = vec4(d.night.scales[0].convs[0].weight.val().grad(&g).unwrap());
    // Central differences in f64 terms of f32 losses, on a few elements of the first conv.
    let base = Discriminators::new(&cfg, 5, &cpu());
    let w0 = vec4(base.night.scales[0].convs[0].weight.val());
    let shape = base.night.scales[0].convs[0].weight.val().dims();
    let eps = 1e-2f32;
    for &k in &[0usize, 7, 50, 101, 191] {
        let at = |delta: f32| {
            let mut d = Discriminators::new(&cfg, 5, &cpu());
            let mut w = w0.clone();
            w[k] += delta;
            d.night.scales[0].convs[0].weight = Param::from_data(TensorData::new(w, shape), &cpu());
            scalar(loss_of(&d, &cpu())) as f64
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
        assert!(
            (fd - grad[k] as f64).abs() < 2e-3 + 0.02 * fd.abs(),
            "element {k}: finite difference {fd}, backward {}",
            grad[k]
        );
    }
}

#[test]
fn contrast_rows_are_unit_rows_blind_to_a_per_pixel_affine_change() {
    use duskmatch::model::contrast::contrast_rows;
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let v: Vec<f32> = (0..2 * 3 * 8 * 8)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mu = t(&v, [2, 3, 8, 8]);
    let rows = contrast_rows(mu.clone(), 4);
    assert_eq!(rows.dims(), [2, 3 * 4 * 4]);
    let r = rows.clone().into_data().try_to_vec::<f32>().unwrap();
    for row in r.chunks(48) {
        let n: f32 = row.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5, "row norm² {n}");
    }
    // Scaling every channel of a pixel by 3 and shifting it by 2 changes nothing: the codes
    // are standardised across channels first.
    let moved = contrast_rows(mu.mul_scalar(3.0).add_scalar(2.0), 4);
    let m = moved.into_data().try_to_vec::<f32>().unwrap();
    assert!(max_abs_diff(&r, &m) < 1e-4);
}

#[test]
fn info_nce_is_ln_b_for_identical_codes_and_small_for_matched_distinct_ones() {
    use duskmatch::model::contrast::info_nce;
    // Every code the same: each row's pick is a uniform guess among B = 4, ln 4 both ways.
    let one: Vec<f32> = (0..64).map(|i| [0.0, 1.0, 2.0, 0.5, 3.0][i % 5]).collect();
    let same = t(&one.repeat(4), [4, 4, 4, 4]);
    let l = scalar(info_nce(same.clone(), same, 0.1, 4));
    assert!((l - 4f32.ln()).abs() < 1e-4, "{l}");
    // Distinct codes matched with themselves are picked out at a low temperature...
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let v: Vec<f32> = (0..4 * 4 * 4 * 4)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let p = t(&v, [4, 4, 4, 4]);
    let matched = scalar(info_nce(p.clone(), p.clone(), 0.05, 4));
    assert!(matched < 0.1, "{matched}");
    // ...and paired with the wrong rows they cost more than a guess.
    let rolled = Tensor::cat(vec![p.clone().slice(1..4), p.clone().slice(0..1)], 0);
    let wrong = scalar(info_nce(p, rolled, 0.05, 4));
    assert!(wrong > 4f32.ln(), "{wrong}");
}

#[test]
fn contrast_settings_are_checked() {
    use duskmatch::model::AlignConfig;
    let mut bad = AlignConfig::default();
    bad.weights.contrast = -1.0;
    assert!(
        bad.validate(16, 64)
            .unwrap_err()
            .to_string()
            .contains("align.contrast")
    );
    let bad = AlignConfig {
        contrast_temperature: 0.0,
        ..AlignConfig::default()
    };
    assert!(
        bad.validate(16, 64)
            .unwrap_err()
            .to_string()
            .contains("align.contrast_temperature")
    );
    let bad = AlignConfig {
        contrast_grid: 17,
        ..AlignConfig::default()
    };
    assert!(
        bad.validate(16, 64)
            .unwrap_err()
            .to_string()
            .contains("align.contrast_grid = 17")
    );
    // An aligned config written before the term existed keeps it off.
    let old: AlignConfig = serde_json::from_str(r#"{"gan": 1.0}"#).unwrap();
    assert_eq!(old.weights.contrast, 0.0);
}

#[test]
fn the_domain_mean_gap_is_the_squared_distance_of_the_pooled_means() {
    use duskmatch::model::contrast::domain_mean_gap;
    // One pixel, two channels: (1, -1) standardises to (1/√2, -1/√2) (n - 1 = 1), its
    // mirror to the opposite, so the gap is 2 · (√2)² = 4.
    let a = t(&[1.0, -1.0], [1, 2, 1, 1]);
    let b = t(&[-1.0, 1.0], [1, 2, 1, 1]);
    let g = scalar(domain_mean_gap(a.clone(), b));
    assert!((g - 4.0).abs() < 1e-3, "{g}");
    // Batches with the same mean have no gap, whatever their images.
    let two = t(&[1.0, -1.0, -1.0, 1.0], [2, 2, 1, 1]);
    let swapped = t(&[-1.0, 1.0, 1.0, -1.0], [2, 2, 1, 1]);
    assert!(scalar(domain_mean_gap(two, swapped)) < 1e-9);
    // Scaling a code does not move it: the gap reads standardised codes.
    let g2 = scalar(domain_mean_gap(
        a.mul_scalar(5.0),
        t(&[-1.0, 1.0], [1, 2, 1, 1]),
    ));
    assert!((g2 - 4.0).abs() < 1e-3, "{g2}");
}

#[test]
fn latent_discriminator_losses_match_hand_values() {
    use duskmatch::model::latent_discriminator::{
        latent_confusion_loss, latent_discriminator_loss,
    };
    let day = t(&[1.0, 0.5, 0.0, 2.0], [1, 1, 2, 2]);
    let night = t(&[0.0, 1.0, -1.0, 0.5], [1, 1, 2, 2]);
    // D: mean((day − 1)²) = (0 + .25 + 1 + 1)/4; mean(night²) = (0 + 1 + 1 + .25)/4.
    let d = scalar(latent_discriminator_loss(day.clone(), night.clone()));
    assert!((d - (0.5625 + 0.5625)).abs() < 1e-6, "{d}");
    // Encoders: every score to ½: (.25 + 0 + .25 + 2.25)/4 and (.25 + .25 + 2.25 + 0)/4.
    let c = scalar(latent_confusion_loss(day, night));
    assert!((c - (0.6875 + 0.6875)).abs() < 1e-6, "{c}");
}

/// Codes `[2, 4, 3, 3]` from a fixed pattern, `scale`d and shifted per pixel.
fn latent_codes(dev: &Device, shift: f32) -> Tensor<4> {
    let v: Vec<f32> = (0..2 * 4 * 3 * 3)
        .map(|i| ((i * 29 % 53) as f32) / 20.0 - 1.0 + shift)
        .collect();
    Tensor::<4>::from_data(TensorData::new(v, [2, 4, 3, 3]), dev)
}

#[test]
fn the_latent_discriminator_reads_codes_as_retrieval_compares_them() {
    use duskmatch::model::LatentDiscriminator;
    let d = LatentDiscriminator::new(4, 8, 3, &cpu());
    let x = latent_codes(&cpu(), 0.0);
    let s = vec4(d.forward(x.clone()));
    assert_eq!(s.len(), 2 * 3 * 3, "one score per latent pixel");
    // Retrieval standardises each pixel across channels, so an offset and a gain common to a
    // pixel's channels is invisible to it, and must be to the discriminator.
    let moved = vec4(d.forward(x.mul_scalar(3.0).add_scalar(2.0)));
    assert!(
        max_abs_diff(&s, &moved) < 1e-4,
        "{}",
        max_abs_diff(&s, &moved)
    );
}

#[test]
fn the_encoders_gradient_through_the_latent_discriminator_matches_finite_differences_and_confuses_it()
 {
    use duskmatch::model::LatentDiscriminator;
    use duskmatch::model::latent_discriminator::latent_confusion_loss;
    let loss_at = |day: Tensor<4>, night: Tensor<4>, dev: &Device| {
        let d = LatentDiscriminator::new(4, 8, 3, dev);
        latent_confusion_loss(d.forward(day), d.forward(night))
    };
    let ad = cpu().autodiff();
    let day = latent_codes(&ad, 0.3).require_grad();
    let night = latent_codes(&ad, -0.2).mul_scalar(0.7).require_grad();
    let g = loss_at(day.clone(), night.clone(), &ad).backward();
    let grad = vec4(day.grad(&g).unwrap());
    let day0 = vec4(latent_codes(&cpu(), 0.3));
    let night0 = latent_codes(&cpu(), -0.2).mul_scalar(0.7);
    let shape = [2, 4, 3, 3];
    let with = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, shape), &cpu());
    let eps = 1e-2f32;
    for &k in &[0usize, 5, 17, 40, 71] {
        let at = |delta: f32| {
            let mut v = day0.clone();
            v[k] += delta;
            scalar(loss_at(with(v), night0.clone(), &cpu())) as f64
        };
        let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
        assert!(
            (fd - grad[k] as f64).abs() < 2e-3 + 0.02 * fd.abs(),
            "element {k}: finite difference {fd}, backward {}",
            grad[k]
        );
    }
    // The sign: a step of the day codes down this gradient brings the discriminator's
    // answers closer to ½ (the encoders confuse it, they do not flip it).
    let before = scalar(loss_at(with(day0.clone()), night0.clone(), &cpu()));
    let stepped: Vec<f32> = day0.iter().zip(&grad).map(|(x, g)| x - 0.05 * g).collect();
    let after = scalar(loss_at(with(stepped), night0, &cpu()));
    assert!(after < before, "confusion {before} → {after}");
}

#[test]
fn latent_discriminator_settings_are_checked() {
    let mut a = duskmatch::model::AlignConfig::default();
    a.weights.latent = -1.0;
    let e = a.validate(16, 64).unwrap_err().to_string();
    assert!(e.contains("align.latent") && e.contains("≥ 0"), "{e}");
    a.weights.latent = 1.0;
    a.latent_width = 0;
    let e = a.validate(16, 64).unwrap_err().to_string();
    assert!(
        e.contains("align.latent_width") && e.contains("1 to 1024"),
        "{e}"
    );
}
