//! The Rust port of EfficientNet-Lite0 against the reference values of onnxruntime on the same
//! weights (tests/fixtures/pretrained/reference.json, written by
//! scripts/pretrained/reference_values.py): layer by layer on one photograph, the pooled head
//! features within a relative L2 error of 1e-3, and the top-1 ImageNet class of four photographs.

use std::path::Path;

use burn::prelude::*;
use duskmatch::data::batch::to_tensor;
use duskmatch::model::backbone::{Backbone, HEAD_CHANNELS, block_specs};
use serde::Deserialize;

use super::common::{cpu, vec4};

#[derive(Deserialize)]
struct Reference {
    images: std::collections::BTreeMap<String, ImageRef>,
    layers: Vec<LayerRef>,
}

#[derive(Deserialize)]
struct ImageRef {
    top1: usize,
    pooled: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct LayerRef {
    name: String,
    shape: Vec<usize>,
    mean: f64,
    mean_square: f64,
    at: Vec<usize>,
    values: Vec<f32>,
}

const FIXTURES: &str = "tests/fixtures/pretrained";

fn reference() -> Reference {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn photo(name: &str, device: &Device) -> Tensor<4> {
    let img = image::open(Path::new(FIXTURES).join(name))
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (224, 224), "{name}");
    to_tensor(&[&img], device)
}

#[test]
fn every_layer_matches_the_reference_on_a_photograph() {
    let device = cpu();
    let net = Backbone::pretrained(&device).unwrap();
    let r = reference();
    let x = Backbone::scale_input(photo("chelsea.png", &device));
    let mut layers = net.layers(x);
    let head = vec4(net.head_map(photo("chelsea.png", &device)));
    assert_eq!(layers.len(), 1 + block_specs().len());
    assert_eq!(r.layers.len(), layers.len() + 1);
    let mut ours: Vec<(Vec<usize>, Vec<f32>)> = layers
        .drain(..)
        .map(|t| (t.dims()[1..].to_vec(), vec4(t)))
        .collect();
    ours.push((vec![HEAD_CHANNELS, 7, 7], head));
    for (layer, (shape, values)) in r.layers.iter().zip(&ours) {
        assert_eq!(&layer.shape, shape, "{}", layer.name);
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let ms = values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
        let scale = layer.mean_square.sqrt();
        assert!(
            (mean - layer.mean).abs() <= 1e-4 * scale,
            "{}: mean {mean} against {}",
            layer.name,
            layer.mean
        );
        assert!(
            (ms - layer.mean_square).abs() <= 1e-4 * layer.mean_square,
            "{}: mean square {ms} against {}",
            layer.name,
            layer.mean_square
        );
        for (&i, &v) in layer.at.iter().zip(&layer.values) {
            assert!(
                (values[i] - v).abs() <= 1e-3 * scale as f32,
                "{} at {i}: {} against {v}",
                layer.name,
                values[i]
            );
        }
    }
}

#[test]
fn pooled_features_match_within_1e3_and_every_top1_class_agrees() {
    let device = cpu();
    let net = Backbone::pretrained(&device).unwrap();
    let r = reference();
    assert_eq!(r.images.len(), 4);
    for (name, want) in &r.images {
        let map = net.head_map(photo(name, &device));
        let logits = net.classify(map.clone());
        let l: Vec<f32> = logits
            .inner()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap();
        let top1 = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap();
        assert_eq!(top1, want.top1, "{name}: top-1 class");
        if let Some(pooled) = &want.pooled {
            let ours = vec4(map.mean_dim(3).mean_dim(2));
            let err: f32 = ours.iter().zip(pooled).map(|(a, b)| (a - b).powi(2)).sum();
            let norm: f32 = pooled.iter().map(|b| b * b).sum();
            let rel = (err / norm).sqrt();
            assert!(rel <= 1e-3, "{name}: relative L2 error {rel}");
        }
    }
}

#[test]
fn same_padding_gives_ceil_of_the_size_over_the_stride_at_odd_sizes() {
    // TensorFlow's SAME: 225 px → 113 after the stem, ⌈225 / 32⌉ = 8 at the end.
    let device = cpu();
    let net = Backbone::pretrained(&device).unwrap();
    let x = Tensor::<4>::zeros([1, 3, 225, 97], &device);
    let layers = net.layers(Backbone::scale_input(x.clone()));
    assert_eq!(layers[0].dims(), [1, 32, 113, 49]);
    assert_eq!(net.trunk(x).dims(), [1, 320, 8, 4]);
}

#[test]
fn the_pretrained_presets_latent_starts_as_a_projection_of_the_pretrained_map() {
    use duskmatch::data::Domain;
    use duskmatch::model::DoubleVae;
    use duskmatch::train::Preset;
    let device = cpu();
    let cfg = Preset::Pretrained.config().model;
    let model = DoubleVae::new(&cfg, 3, &device);
    let x = photo("chelsea.png", &device);
    let mu = model.encode(x.clone(), Domain::Night);
    let net = model.backbone.as_ref().unwrap();
    let projected = model.enc_day.conv1.forward(net.trunk(x));
    assert_eq!(mu.dims(), [1, 4 * cfg.base_width, 7, 7]);
    let (a, b) = (vec4(mu), vec4(projected));
    assert!(a.iter().any(|v| *v != 0.0));
    assert!(super::common::max_abs_diff(&a, &b) < 1e-5);
}
