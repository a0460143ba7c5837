use burn::module::Module;
use burn::prelude::*;
use duskmatch::data::Domain;
use duskmatch::model::loss::{l1, mean_square, unit_loss_with};
use duskmatch::model::summary::{layer_table, table_total, trainable_params};
use duskmatch::model::{DoubleVae, LossWeights, ModelConfig};

use crate::common::*;

#[test]
fn paper_model_has_17_560_326_parameters() {
    let cfg = ModelConfig::PAPER;
    let model = DoubleVae::new(&cfg, 0, &cpu());
    assert_eq!(trainable_params(&model), 17_560_326);
    // burn's own count adds the 768 BatchNorm running statistics (2 domains × 2 layers × mean+var).
    assert_eq!(model.num_params(), 17_560_326 + 768);
    // The printed table accounts for every parameter.
    assert_eq!(table_total(&layer_table(&model, &cfg)), 17_560_326);
}

#[test]
fn latent_channels_are_four_times_base_width() {
    for w in [4, 16, 64] {
        let cfg = ModelConfig {
            base_width: w,
            image_size: 64,
            ..Default::default()
        };
        assert_eq!(cfg.latent_shape(), [4 * w, 16, 16]);
    }
}

#[test]
fn output_and_latent_shapes_at_64_128_256() {
    let dev = cpu();
    for size in [64, 128, 256] {
        let cfg = ModelConfig {
            base_width: 2,
            image_size: size,
            ..Default::default()
        };
        let model = DoubleVae::new(&cfg, 1, &dev).valid();
        let x = Tensor::<4>::zeros([2, 3, size, size], &dev);
        for d in Domain::BOTH {
            let mu = model.encode(x.clone(), d);
            assert_eq!(mu.dims(), [2, 8, size / 4, size / 4], "latent at {size}px");
            let y = model.decode(mu, d);
            assert_eq!(y.dims(), [2, 3, size, size], "output at {size}px");
            // Sigmoid output.
            let v = vec4(y);
            assert!(v.iter().all(|&p| (0.0..=1.0).contains(&p)));
        }
        let taps = model.encode_taps(x, Domain::Day);
        assert_eq!(taps.len(), duskmatch::model::vae::ENCODER_TAPS);
        assert_eq!(taps[0].dims(), [2, 2, size, size]);
        assert_eq!(taps[1].dims(), [2, 4, size / 2, size / 2]);
        assert_eq!(taps.last().unwrap().dims(), [2, 8, size / 4, size / 4]);
    }
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 32,
        ..Default::default()
    };
    let dev = cpu();
    let w = |seed| vec4(DoubleVae::new(&cfg, seed, &dev).enc_day.conv1.weight.val());
    assert_eq!(w(3), w(3));
    assert_ne!(w(3), w(4));
    // PyTorch's Conv2d init: uniform in ±1/sqrt(fan_in), fan_in = 3·7·7.
    let bound = 1.0 / (147f32).sqrt();
    let v = w(3);
    assert!(v.iter().all(|x| x.abs() <= bound));
    assert!(v.iter().any(|x| x.abs() > 0.8 * bound));
}

#[test]
fn l1_and_mean_square_match_hand_values() {
    let dev = cpu();
    let a = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 0.5, 1.0, 0.25], [1, 1, 2, 2]),
        &dev,
    );
    let b = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32, 0.5, 0.0, 0.75], [1, 1, 2, 2]),
        &dev,
    );
    // |0-1| + 0 + |1-0| + |0.25-0.75| = 2.5, over 4 elements.
    assert!((scalar(l1(a.clone(), b)) - 0.625).abs() < 1e-7);
    // (0 + 0.25 + 1 + 0.0625) / 4
    assert!((scalar(mean_square(a)) - 0.328125).abs() < 1e-7);
}

/// Each term of the objective, recomputed by hand from the model's parts with the same noise.
#[test]
fn unit_loss_terms_match_a_hand_computation() {
    let dev = cpu();
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 16,
        ..Default::default()
    };
    let model = DoubleVae::new(&cfg, 5, &dev).valid();
    let px = |seed: u64| {
        let v: Vec<f32> = (0..2 * 3 * 16 * 16)
            .map(|i| ((i as u64 * 7919 + seed * 104729) % 1000) as f32 / 999.0)
            .collect();
        Tensor::<4>::from_data(TensorData::new(v, [2, 3, 16, 16]), &dev)
    };
    let (a, b) = (px(1), px(2));
    let w = LossWeights {
        reconstruction: 10.0,
        kl: 0.01,
        cycle: 10.0,
        cycle_kl: 0.01,
    };
    // Deterministic "noise": each call adds a different constant, in call order.
    let offsets = [0.1f32, -0.2, 0.3, -0.4];
    let mut k = 0;
    let got = unit_loss_with(&model, a.clone(), b.clone(), &w, |mu| {
        let o = offsets[k];
        k += 1;
        mu.add_scalar(o)
    })
    .values();
    assert_eq!(
        k, 4,
        "four noisy latents per step: za, zb and the two cycle latents"
    );

    let mu_a = model.encode(a.clone(), Domain::Day);
    let mu_b = model.encode(b.clone(), Domain::Night);
    let a_rec = model.decode(mu_a.clone().add_scalar(0.1), Domain::Day);
    let a2b = model.decode(mu_a.clone().add_scalar(0.1), Domain::Night);
    let b_rec = model.decode(mu_b.clone().add_scalar(-0.2), Domain::Night);
    let b2a = model.decode(mu_b.clone().add_scalar(-0.2), Domain::Day);
    let mu_ab = model.encode(a2b, Domain::Night);
    let mu_ba = model.encode(b2a, Domain::Day);
    let a_cyc = model.decode(mu_ab.clone().add_scalar(0.3), Domain::Day);
    let b_cyc = model.decode(mu_ba.clone().add_scalar(-0.4), Domain::Night);
    let mean_abs = |x: Tensor<4>, y: Tensor<4>| {
        let (x, y) = (vec4(x), vec4(y));
        x.iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs() as f64)
            .sum::<f64>()
            / x.len() as f64
    };
    let mean_sq = |x: Tensor<4>| {
        let x = vec4(x);
        x.iter().map(|p| (*p as f64).powi(2)).sum::<f64>() / x.len() as f64
    };
    let rec = mean_abs(a_rec, a.clone()) + mean_abs(b_rec, b.clone());
    let kl = mean_sq(mu_a) + mean_sq(mu_b);
    let cyc = mean_abs(a_cyc, a) + mean_abs(b_cyc, b);
    let klc = mean_sq(mu_ab) + mean_sq(mu_ba);
    let total = 10.0 * rec + 0.01 * kl + 10.0 * cyc + 0.01 * klc;
    let close = |x: f32, y: f64, what: &str| {
        assert!(
            (x as f64 - y).abs() < 1e-5 * y.abs().max(1.0),
            "{what}: {x} vs {y}"
        )
    };
    close(got.reconstruction, rec, "reconstruction");
    close(got.kl, kl, "kl");
    close(got.cycle, cyc, "cycle");
    close(got.cycle_kl, klc, "cycle_kl");
    close(got.total, total, "total");
}

#[test]
fn views_have_four_columns_of_images() {
    let dev = cpu();
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 16,
        ..Default::default()
    };
    let model = DoubleVae::new(&cfg, 5, &dev).valid();
    let x = Tensor::<4>::ones([3, 3, 16, 16], &dev).mul_scalar(0.5);
    let v = model.views(x.clone(), Domain::Night);
    for t in [&v.original, &v.reconstruction, &v.cycle, &v.translation] {
        assert_eq!(t.dims(), [3, 3, 16, 16]);
    }
    // The translation of a night image is the day decoder's output of its latent.
    let expect = model.decode(model.encode(x, Domain::Night), Domain::Day);
    assert!(max_abs_diff(&vec4(v.translation), &vec4(expect)) < 1e-6);
}

/// Output, then the gradients of `sum(f(conv, x) ⊙ r)` with respect to x, the weight and the
/// bias, for `f` applied to a copy of `base` whose parameters are tracked.
fn output_and_gradients(
    base: &burn::nn::conv::Conv2d,
    x0: &Tensor<4>,
    r: &Tensor<4>,
    f: impl Fn(&burn::nn::conv::Conv2d, Tensor<4>) -> Tensor<4>,
) -> [Vec<f32>; 4] {
    use burn::module::Param;
    let x = x0.clone().require_grad();
    let w = base.weight.val().detach().require_grad();
    let b = base.bias.as_ref().unwrap().val().detach().require_grad();
    let mut c = base.clone();
    c.weight = Param::from_tensor(w.clone());
    c.bias = Some(Param::from_tensor(b.clone()));
    let y = f(&c, x.clone());
    assert_eq!(y.dims(), r.dims());
    let grads = (y.clone() * r.clone()).sum().backward();
    [
        vec4(y),
        vec4(x.grad(&grads).expect("input gradient")),
        vec4(w.grad(&grads).expect("weight gradient")),
        b.grad(&grads)
            .expect("bias gradient")
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
    ]
}

/// A tensor of uniform values in ±1 from seed `seed`.
fn uniform4(seed: u64, shape: [usize; 4], dev: &Device) -> Tensor<4> {
    let n = shape.iter().product();
    let data = duskmatch::model::init::Init::new(seed).uniform(n, 1.0);
    Tensor::<4>::from_data(TensorData::new(data, shape), dev)
}

#[test]
fn upsample_conv_by_phases_equals_upsample_then_conv_with_gradients() {
    use duskmatch::model::blocks::{conv, upsample_conv, upsample_conv_plain};
    use duskmatch::model::init::Init;

    let dev = cpu().autodiff();
    let base = conv(3, 4, 5, 1, 2, &dev, &mut Init::new(7));
    // Odd, non-square input so edges and both phases are exercised.
    let x0 = uniform4(11, [2, 3, 5, 6], &dev);
    let r = uniform4(12, [2, 4, 10, 12], &dev);
    let phases = output_and_gradients(&base, &x0, &r, upsample_conv);
    let plain = output_and_gradients(&base, &x0, &r, upsample_conv_plain);
    for (what, tol, p, q) in [
        ("outputs", 1e-5, &phases[0], &plain[0]),
        ("input gradients", 1e-4, &phases[1], &plain[1]),
        ("weight gradients", 1e-4, &phases[2], &plain[2]),
        ("bias gradients", 1e-4, &phases[3], &plain[3]),
    ] {
        let d = max_abs_diff(p, q);
        assert!(d < tol, "{what} differ by {d}");
    }
    // Not vacuous: the plain path's gradients are far from zero.
    assert!(plain[2].iter().map(|v| v.abs()).sum::<f32>() > 1.0);
}

#[test]
fn the_last_layer_as_a_transposed_convolution_equals_the_convolution_with_gradients() {
    use duskmatch::model::blocks::{conv, conv_via_transpose};
    use duskmatch::model::init::Init;

    let dev = cpu().autodiff();
    let base = conv(6, 3, 7, 1, 3, &dev, &mut Init::new(5));
    let x0 = uniform4(21, [2, 6, 9, 11], &dev);
    let r = uniform4(22, [2, 3, 9, 11], &dev);
    let transposed = output_and_gradients(&base, &x0, &r, conv_via_transpose);
    let plain = output_and_gradients(&base, &x0, &r, |c, x| c.forward(x));
    for (what, p, q) in [
        ("outputs", &transposed[0], &plain[0]),
        ("input gradients", &transposed[1], &plain[1]),
        ("weight gradients", &transposed[2], &plain[2]),
        ("bias gradients", &transposed[3], &plain[3]),
    ] {
        let d = max_abs_diff(p, q);
        assert!(d < 1e-4, "{what} differ by {d}");
    }
    assert!(plain[2].iter().map(|v| v.abs()).sum::<f32>() > 1.0);
}
