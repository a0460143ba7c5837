//! The fine-tuning stage: the in-batch hard-negative hinge against hand values, and a short
//! fine-tuning of a tiny stage one that lifts held-out retrieval, saves an ordinary model
//! checkpoint, refuses to be resumed by stage one and resumes itself exactly.

use std::sync::Arc;

use burn::prelude::*;
use duskmatch::data::Split;
use duskmatch::device;
use duskmatch::retrieval::eval::held_out_scores;
use duskmatch::retrieval::method_rows::evaluation_items;
use duskmatch::supervised::weights::{
    ChannelWeights, batch_hard_objective, pair_distances, weighted_distance,
};
use duskmatch::supervised::{
    Depths, FineTuneStamp, Mining, Resume, SupervisedConfig, SupervisedMethod, SupervisedTrainer,
};
use duskmatch::train::{Trainer, checkpoint};

use crate::common::*;

#[test]
fn batch_hard_hinge_matches_hand_values() {
    // Rows are night anchors, columns day images; margin 1.
    // Night 0: positive 1, nearest other day 3 -> 0. Night 1: 2 against 0.5 -> 2.5.
    // Day 0: positive 1, nearest other night 0.5 -> 1.5. Day 1: 2 against 3 -> 0.
    // Mean of the four hinges: 1.0.
    let d = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 3.0, 0.5, 2.0], [2, 2]), &cpu());
    let l = scalar(batch_hard_objective(d.clone(), 1.0));
    assert!((l - 1.0).abs() < 1e-6, "{l}");
    // A wide enough gap on both sides costs nothing.
    let far = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, 5.0, 5.0, 0.2], [2, 2]), &cpu());
    assert_eq!(scalar(batch_hard_objective(far, 1.0)), 0.0);
}

#[test]
fn pair_distances_are_the_weighted_distance_of_every_pair() {
    let dev = cpu();
    let p = Tensor::<4>::random(
        [3, 4, 2, 2],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let q = Tensor::<4>::random(
        [3, 4, 2, 2],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let mut w = ChannelWeights::ones(&[4], &dev);
    w.depths[0] = burn::module::Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![0.5f32, 2.0, 1.0, -1.5], [4]),
        &dev,
    ));
    let all = pair_distances(&w, std::slice::from_ref(&p), std::slice::from_ref(&q))
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for i in 0..3 {
        for j in 0..3 {
            let one = scalar(weighted_distance(
                &w,
                &[p.clone().slice(i..i + 1)],
                &[q.clone().slice(j..j + 1)],
            ));
            assert!((all[i * 3 + j] - one).abs() < 1e-5, "pair ({i}, {j})");
        }
    }
}

#[test]
fn fine_tuning_config_is_checked() {
    let bad = SupervisedConfig {
        depths: Depths::Three,
        ..SupervisedConfig::fine_tune()
    };
    assert!(bad.validate().unwrap_err().to_string().contains("depths"));
    let bad = SupervisedConfig {
        batch_size: 1,
        ..SupervisedConfig::fine_tune()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
    // A weights config written before fine-tuning existed reads as the channel weighting.
    let old: SupervisedConfig =
        serde_json::from_str(r#"{"depths": "latent", "epochs": 3}"#).unwrap();
    assert_eq!(
        (old.method, old.mining),
        (SupervisedMethod::Weights, Mining::Random)
    );
}

#[test]
fn fine_tuning_lifts_held_out_recall_saves_a_model_and_resumes_exactly() {
    let dir = tempdir();
    let (mut cfg, ds) = crate::train::tiny(96);
    cfg.max_steps = 60;
    cfg.epochs = 100;
    let run = dir.path().join("stage1");
    let stage1 = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), &run)
        .unwrap()
        .train()
        .unwrap();
    let stage1_ck = checkpoint::load(&run).unwrap();
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let (items, _) = evaluation_items(&ds, Some(&split));
    let before = held_out_scores(&stage1.model, &ds, &items, &cpu(), 0).unwrap();
    let wc = SupervisedConfig {
        epochs: 4,
        learning_rate: 1e-3,
        ..SupervisedConfig::fine_tune()
    };
    let step = stage1_ck.header.state.at.step;
    let make = |out: &std::path::Path, epochs: usize| {
        SupervisedTrainer::new(
            SupervisedConfig {
                epochs,
                ..wc.clone()
            },
            &stage1.model,
            cfg.model,
            Arc::clone(&ds),
            &split,
            device::cpu(),
            out,
            (run.clone(), step),
        )
        .unwrap()
        .with_stage_one_header(stage1_ck.header.clone())
    };
    let straight = dir.path().join("straight");
    let done = make(&straight, 4).train().unwrap();
    let best = done.state.best.expect("held-out scores every epoch");
    eprintln!(
        "held-out night->day R@1 {:.3} before fine-tuning, best {:.3} after",
        before.recall_1, best.recall_1
    );
    assert!(
        best.recall_1 >= before.recall_1 + 0.1,
        "R@1 {} -> {}",
        before.recall_1,
        best.recall_1
    );
    assert!(
        best.map > before.map + 0.1,
        "mAP {} -> {}",
        before.map,
        best.map
    );
    assert_eq!(done.state.history.len(), 5, "the start and four epochs");

    // The result is an ordinary model checkpoint under stage one's header, stamped.
    let ck = checkpoint::load(&straight).unwrap();
    let stamp = FineTuneStamp::of(&ck).unwrap().expect("stamped");
    assert_eq!(
        stamp.config,
        SupervisedConfig {
            epochs: 4,
            ..wc.clone()
        }
    );
    assert_eq!(stamp.stage_one_step, step);
    assert_eq!(stamp.state.history, done.state.history);
    // (JSON's last digit of an f64 may differ.)
    assert!((stamp.state.best.unwrap().map - best.map).abs() < 1e-12);
    assert_eq!(
        ck.header.state.at.step, step,
        "stage one's progress is kept"
    );
    let loaded = ck.build_model(&cpu()).unwrap();
    let model = done.model.expect("the fine-tuned model");
    assert_eq!(
        vec4(loaded.enc_day.conv1.weight.val()),
        vec4(model.enc_day.conv1.weight.val())
    );
    // What the file evaluates to is what the last epoch reported.
    let reloaded = held_out_scores(&loaded, &ds, &items, &cpu(), 0).unwrap();
    let last_epoch = checkpoint::load(&straight.join(checkpoint::LATEST)).unwrap();
    assert_eq!(
        reloaded.recall_1,
        held_out_scores(
            &last_epoch.build_model(&cpu()).unwrap(),
            &ds,
            &items,
            &cpu(),
            0
        )
        .unwrap()
        .recall_1
    );
    assert!(straight.join(checkpoint::BEST).is_file());
    // The fine-tuning moved the encoder, not the decoders.
    assert_ne!(
        vec4(model.enc_day.conv1.weight.val()),
        vec4(stage1.model.enc_day.conv1.weight.val())
    );
    assert_eq!(
        vec4(model.dec_day.out.weight.val()),
        vec4(stage1.model.dec_day.out.weight.val())
    );

    // Stage one refuses to resume a fine-tuned file.
    let err = Trainer::new(
        cfg.clone(),
        ds.clone(),
        device::cpu(),
        dir.path().join("again"),
    )
    .unwrap()
    .resume_from(ck)
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("fine-tuned"), "{err}");

    // Two epochs, then a resumed run to four, lands where four straight epochs did.
    let split_run = dir.path().join("resumed");
    make(&split_run, 2).train().unwrap();
    let resumed = make(&split_run, 4)
        .resume_with(Resume::load(&split_run).unwrap())
        .unwrap()
        .train()
        .unwrap();
    assert_eq!(resumed.state.at.step, done.state.at.step);
    let diff = max_abs_diff(
        &vec4(
            resumed.model.unwrap().enc_shared.blocks[1]
                .conv_b
                .weight
                .val(),
        ),
        &vec4(model.enc_shared.blocks[1].conv_b.weight.val()),
    );
    assert_eq!(
        diff, 0.0,
        "resumed weights differ by {diff} (resume is bitwise)"
    );

    // A file learned on another stage-one step is refused.
    let other = SupervisedTrainer::new(
        wc.clone(),
        &stage1.model,
        cfg.model,
        ds,
        &split,
        device::cpu(),
        dir.path().join("other"),
        (run.clone(), step + 1),
    )
    .unwrap()
    .resume_with(Resume::load(&straight).unwrap())
    .err()
    .unwrap()
    .to_string();
    assert!(other.contains("stage-one"), "{other}");
}

#[test]
fn the_best_checkpoint_order_breaks_saturated_ties_by_the_distance_ratio() {
    use duskmatch::retrieval::eval::HeldOutScores;
    let s = |recall_1, map, distance_ratio| HeldOutScores {
        recall_1,
        recall_10: 1.0,
        map,
        domain_probe: Some(0.5),
        distance_ratio: Some(distance_ratio),
    };
    // Both saturated: the better separated one wins.
    assert!(s(1.0, 1.0, 0.6).better_than(&s(1.0, 1.0, 0.7)));
    assert!(!s(1.0, 1.0, 0.7).better_than(&s(1.0, 1.0, 0.6)));
    // Recall@1 and then mAP still come first.
    assert!(!s(0.9, 1.0, 0.1).better_than(&s(1.0, 1.0, 0.9)));
    assert!(s(1.0, 0.9, 0.9).better_than(&s(0.9, 1.0, 0.1)));
    assert!(!s(1.0, 0.9, 0.1).better_than(&s(1.0, 0.95, 0.9)));
    // Equal is not better (the first epoch to reach it is kept).
    assert!(!s(1.0, 1.0, 0.6).better_than(&s(1.0, 1.0, 0.6)));
    // An undefined ratio (too few held-out places) ranks below a defined one.
    let undefined = HeldOutScores {
        distance_ratio: None,
        ..s(1.0, 1.0, 0.6)
    };
    assert!(s(1.0, 1.0, 0.9).better_than(&undefined));
    assert!(!undefined.better_than(&s(1.0, 1.0, 0.9)));
    assert!(!undefined.better_than(&undefined));
}

#[test]
fn a_fine_tuned_checkpoint_opens_with_its_stage_one_curves_up_to_the_step_it_left() {
    use duskmatch::supervised::fine_tune::history_log;
    use duskmatch::train::metrics_log::{self, Record};
    let path = std::path::Path::new("checkpoints/compact-town-self-trained.dmck");
    let ck = checkpoint::load(path).unwrap();
    let stamp = FineTuneStamp::of(&ck)
        .unwrap()
        .expect("the shipped file is fine-tuned");
    let h = history_log(path, &ck).expect("the parent's log");
    assert_eq!(
        h.log,
        std::path::Path::new("checkpoints/compact-town.metrics.jsonl")
    );
    assert_eq!(h.max_step, stamp.stage_one_step);
    assert_eq!(h.inherited.as_deref(), Some(stamp.stage_one.as_path()));
    let records = metrics_log::read(&h.log, h.max_step);
    let last = records.iter().map(|r| match r {
        Record::Step { step, .. } | Record::Epoch { step, .. } => *step,
    });
    assert_eq!(
        last.max(),
        Some(stamp.stage_one_step),
        "the curves end where it left"
    );
    // The stage-one file keeps its own log, not inherited.
    let own = std::path::Path::new("checkpoints/compact-town.dmck");
    let h = history_log(own, &checkpoint::load(own).unwrap()).unwrap();
    assert_eq!(h.inherited, None);
    assert!(h.log.ends_with("compact-town.metrics.jsonl"));
    // A fine-tuned file copied elsewhere, with no log beside it, still finds its parent
    // where the stamp names it.
    let dir = tempdir();
    let moved = dir.path().join("alone.dmck");
    std::fs::copy(path, &moved).unwrap();
    let far = history_log(&moved, &checkpoint::load(&moved).unwrap()).unwrap();
    assert_eq!(far.inherited.as_deref(), Some(stamp.stage_one.as_path()));
}
