//! Throughput of the real training step and of the encoder, reported in the same JSON shape
//! as `bench/torch_reference.py` so the two can be put side by side.

use std::time::Instant;

use burn::prelude::*;
use burn::tensor::Distribution;
use serde_json::json;

use super::noise::StepNoise;
use super::step::Adversary;
use super::step::train_step;
use crate::data::Domain;
use crate::device::ComputeDevice;
use crate::model::config::EncoderSharing;
use crate::model::summary::trainable_params;
use crate::model::{AlignConfig, DoubleVae, LossWeights, ModelConfig, Objective};
use crate::sysinfo::{loadavg, rss_mib};

#[derive(Debug, Clone)]
pub struct TrainBench {
    pub width: usize,
    pub size: usize,
    /// Images per domain per step.
    pub batch: usize,
    pub steps: usize,
    pub repeats: usize,
    pub warmup: usize,
    pub infer_batches: Vec<usize>,
    pub infer_iters: usize,
    pub lr: f64,
    /// `aligned` adds the image discriminators' update to each step.
    pub objective: Objective,
    pub encoder: EncoderSharing,
}

impl Default for TrainBench {
    fn default() -> Self {
        Self {
            width: 64,
            size: 64,
            batch: 8,
            steps: 10,
            repeats: 5,
            warmup: 3,
            infer_batches: vec![8, 64],
            infer_iters: 5,
            lr: 1e-4,
            objective: Objective::Research,
            encoder: EncoderSharing::Private,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// Train on fixed random images (as the reference does), then time the encoder.
pub fn run_train_bench(b: &TrainBench, dev: &ComputeDevice, threads: usize) -> serde_json::Value {
    let (rss_start, _) = rss_mib();
    let cfg = ModelConfig {
        base_width: b.width,
        image_size: b.size,
        encoder: b.encoder,
        backbone: None,
        whole_frame: false,
    };
    let ad = dev.device.clone().autodiff();
    let mut model = DoubleVae::new(&cfg, 0, &ad);
    let params = trainable_params(&model);
    let mut optim = burn::optim::AdamConfig::new().with_epsilon(1e-8).init();
    let shape = [b.batch, 3, b.size, b.size];
    let xa = Tensor::<4>::random(shape, Distribution::Default, &ad);
    let xb = Tensor::<4>::random(shape, Distribution::Default, &ad);
    let w = LossWeights::default();
    // The aligning terms as the presets train them (discriminators, translation contrast,
    // domain mean gap), so the figure is the cost of the step that runs.
    let align: AlignConfig = super::Preset::Compact.config().align;
    let mut adversary = (b.objective == Objective::Aligned)
        .then(|| Adversary::new(&align, cfg.latent_channels(), 1e-8, 0, &ad));
    let mut step = 0u64;
    let mut last = f32::NAN;
    let mut one = |model: DoubleVae, optim: &mut burn::optim::ModuleOptimizer| {
        let mut noise = StepNoise::for_step(0, step, &ad, !dev.is_gpu);
        step += 1;
        let (m, v) = train_step(
            model,
            optim,
            adversary.as_mut(),
            xa.clone(),
            xb.clone(),
            b.objective,
            &w,
            &align,
            &mut noise,
            b.lr,
        );
        last = v.total;
        m
    };
    for _ in 0..b.warmup {
        model = one(model, &mut optim);
    }
    let mut rates = Vec::new();
    for _ in 0..b.repeats {
        let t0 = Instant::now();
        for _ in 0..b.steps {
            model = one(model, &mut optim);
        }
        rates.push(b.steps as f64 / t0.elapsed().as_secs_f64());
    }
    let sps = median(rates.clone());
    let (_, peak_train) = rss_mib();

    // Encoder only, inference copy (BatchNorm in eval mode, no autodiff).
    let enc = model.valid();
    let mut infer = serde_json::Map::new();
    let mut batches = b.infer_batches.clone();
    batches.push(b.batch);
    batches.sort_unstable();
    batches.dedup();
    for &bs in &batches {
        let x = Tensor::<4>::random([bs, 3, b.size, b.size], Distribution::Default, &dev.device);
        let _ = enc.encode(x.clone(), Domain::Day).into_data(); // warm-up
        let mut r = Vec::new();
        for _ in 0..b.infer_iters {
            let t0 = Instant::now();
            let _ = enc.encode(x.clone(), Domain::Day).into_data();
            r.push(bs as f64 / t0.elapsed().as_secs_f64());
        }
        infer.insert(bs.to_string(), json!(round(median(r), 2)));
    }
    let (_, peak) = rss_mib();
    json!({
        "impl": "duskmatch-burn",
        "backend": dev.label,
        "width": b.width,
        "threads": threads,
        "size": b.size,
        "batch": b.batch,
        "loss": "l1",
        "objective": b.objective.name(),
        "encoder": b.encoder.name(),
        "params": params,
        "latent_shape": cfg.latent_shape(),
        "train_steps_per_s": round(sps, 3),
        "train_steps_per_s_all": rates.iter().map(|r| round(*r, 3)).collect::<Vec<_>>(),
        "train_pairs_per_s": round(sps * b.batch as f64, 2),
        "train_images_per_s": round(sps * b.batch as f64 * 2.0, 2),
        "final_loss": round(last as f64, 5),
        "infer_encoder_images_per_s": infer,
        "rss_mib_at_start": round(rss_start, 1),
        "peak_rss_mib_after_train": round(peak_train, 1),
        "peak_rss_mib": round(peak, 1),
        "loadavg_1m": round(loadavg(), 2),
        "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
    })
}
