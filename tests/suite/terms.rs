//! The registry of loss terms: every term has its field in every file that holds terms, its
//! weight its key in the config and its flag on the command line, and the configured objective
//! (not whether a critic exists) decides which terms a step adds.

use burn::optim::AdamConfig;
use burn::prelude::*;
use clap::Parser;
use duskmatch::cli::{Cli, Cmd};
use duskmatch::model::terms::Section;
use duskmatch::model::{
    AlignConfig, DoubleVae, LossSums, LossValues, LossWeights, ModelConfig, Objective, TERMS,
};
use duskmatch::train::noise::StepNoise;
use duskmatch::train::step::train_step;
use duskmatch::train::{Preset, TrainingConfig};

use crate::common::*;

fn keys(v: serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn names(section: Option<Section>) -> Vec<String> {
    TERMS
        .iter()
        .filter(|t| section.is_none_or(|s| t.section == s))
        .map(|t| t.name.to_string())
        .collect()
}

#[test]
fn every_term_has_its_field_in_every_file_that_holds_terms() {
    let mut all = names(None);
    all.push("total".into());
    let all = sorted(all);
    let values = serde_json::to_value(LossValues::default()).unwrap();
    assert_eq!(sorted(keys(values)), all);
    let sums = serde_json::to_value(LossSums::default()).unwrap();
    assert_eq!(sorted(keys(sums)), all);
    assert_eq!(
        sorted(LossValues::NAMES.iter().map(|s| s.to_string()).collect()),
        all
    );
    let research = serde_json::to_value(LossWeights::default()).unwrap();
    assert_eq!(
        sorted(keys(research)),
        sorted(names(Some(Section::Research)))
    );
    // The aligning weights are keys of `align` itself, beside its other settings.
    let align = keys(serde_json::to_value(AlignConfig::default()).unwrap());
    for name in names(Some(Section::Aligning)) {
        assert!(align.contains(&name), "align lacks {name}: {align:?}");
    }
    // The shipped defaults, from the term files.
    let w = LossWeights::default();
    assert_eq!(
        (w.reconstruction, w.kl, w.cycle, w.cycle_kl),
        (10.0, 0.01, 10.0, 0.01)
    );
    assert_eq!(AlignConfig::default().weights.gan, 1.0);
}

#[test]
fn a_sum_of_values_reads_back_term_by_term() {
    let mut sums = LossSums::default();
    let mut v = LossValues::default();
    for (i, name) in LossValues::NAMES.iter().enumerate() {
        *v.get_mut(name).unwrap() = i as f32 + 1.0;
    }
    sums.add(&v);
    sums.add(&v);
    assert_eq!(sums.mean(2), v);
}

#[test]
fn a_misspelt_or_negative_weight_in_a_config_file_is_refused_by_name() {
    let base = Preset::Tiny.config();
    let e = base
        .merge_toml("[align]\ncontrst = 1.0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("contrst"), "{e}");
    let e = base
        .merge_toml("[align]\nmean_gap = -2.0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("align.mean_gap"), "{e}");
    let e = base
        .merge_toml("[loss_weights]\ncycle = -1.0\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loss_weights.cycle"), "{e}");
    let ok = base
        .merge_toml("[align]\nmean_gap = 0.25\ngan = 2\n")
        .unwrap();
    assert_eq!(
        (ok.align.weights.mean_gap, ok.align.weights.gan),
        (0.25, 2.0)
    );
    // Written and read back through TOML and JSON unchanged.
    let back = TrainingConfig::default().merge_toml(&ok.to_toml()).unwrap();
    assert_eq!(back.align, ok.align);
    let json: TrainingConfig = serde_json::from_str(&serde_json::to_string(&ok).unwrap()).unwrap();
    assert_eq!(json.align, ok.align);
}

#[test]
fn every_aligning_term_has_its_weight_flag() {
    let help = {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        cmd.find_subcommand_mut("train")
            .unwrap()
            .render_long_help()
            .to_string()
    };
    for t in TERMS.iter().filter(|t| t.section == Section::Aligning) {
        assert!(help.contains(&format!("--{}", t.flag())), "{help}");
    }
    let parsed = Cli::try_parse_from(["duskmatch", "train", "--mean-gap", "0.25", "--gan", "2"])
        .unwrap()
        .command
        .unwrap();
    let Cmd::Train(args) = parsed else {
        panic!("not train")
    };
    let mut got: Vec<(&str, f64)> = args.terms.0.iter().map(|(t, w)| (t.name, *w)).collect();
    got.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(got, vec![("gan", 2.0), ("mean_gap", 0.25)]);
    let e = Cli::try_parse_from(["duskmatch", "train", "--contrast", "lots"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--contrast"), "{e}");
}

/// One step of a small model with the translation contrast and mean gap weighted 1.
fn one_step(objective: Objective) -> duskmatch::model::LossValues {
    let ad = cpu().autodiff();
    let cfg = ModelConfig {
        base_width: 4,
        image_size: 16,
        ..ModelConfig::default()
    };
    let model = DoubleVae::new(&cfg, 3, &ad);
    let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
    let mut noise = StepNoise::for_step(0, 0, &ad, true);
    let mut align = AlignConfig::default();
    align.weights.contrast = 1.0;
    align.weights.mean_gap = 1.0;
    align.contrast_grid = 2;
    let a = Tensor::<4>::random([4, 3, 16, 16], burn::tensor::Distribution::Default, &ad);
    let b = a.clone().mul_scalar(0.3);
    let (_, values) = train_step(
        model,
        &mut optim,
        None,
        a,
        b,
        objective,
        &LossWeights::default(),
        &align,
        &mut noise,
        1e-3,
    );
    values
}

#[test]
fn the_configured_objective_decides_which_terms_a_step_adds() {
    let research = one_step(Objective::Research);
    assert_eq!((research.contrast, research.mean_gap), (0.0, 0.0));
    let w = LossWeights::default();
    let sum = |v: &LossValues| {
        w.reconstruction as f32 * v.reconstruction
            + w.kl as f32 * v.kl
            + w.cycle as f32 * v.cycle
            + w.cycle_kl as f32 * v.cycle_kl
    };
    assert!((research.total - sum(&research)).abs() < 1e-4 * research.total.abs());
    // Aligned with no critics built: the terms that need none still join.
    let aligned = one_step(Objective::Aligned);
    assert!(
        aligned.contrast > 0.0 && aligned.mean_gap > 0.0,
        "{aligned:?}"
    );
    let expected = sum(&aligned) + aligned.contrast + aligned.mean_gap;
    assert!(
        (aligned.total - expected).abs() < 1e-4 * expected.abs(),
        "{aligned:?}"
    );
}

#[test]
fn photometric_augmentation_changes_each_image_stays_in_range_and_repeats_with_its_seed() {
    use duskmatch::data::augment::photometric;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![0.5f32; 4 * 3 * 8 * 8], [4, 3, 8, 8]),
        &cpu(),
    );
    let run = |seed| vec4(photometric(x.clone(), &mut ChaCha8Rng::seed_from_u64(seed)));
    let a = run(1);
    assert_eq!(a, run(1), "the same seed draws the same changes");
    assert_ne!(a, run(2));
    assert!(
        a.iter().all(|v| (0.0..=1.0).contains(v)),
        "clamped to [0, 1]"
    );
    // Each image draws its own exposure and white balance: their mean colours differ.
    let means: Vec<[f32; 3]> = a
        .chunks(3 * 64)
        .map(|img| {
            let m = |c: usize| img[c * 64..(c + 1) * 64].iter().sum::<f32>() / 64.0;
            [m(0), m(1), m(2)]
        })
        .collect();
    for i in 0..4 {
        for j in i + 1..4 {
            assert!(
                means[i]
                    .iter()
                    .zip(&means[j])
                    .any(|(p, q)| (p - q).abs() > 1e-3),
                "{means:?}"
            );
        }
        // White balance tints: the channels of one image differ.
        assert!((means[i][0] - means[i][2]).abs() > 1e-3, "{means:?}");
    }
}
