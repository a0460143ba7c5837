use std::sync::Arc;

use burn::prelude::*;
use duskmatch::data::synth::SynthConfig;
use duskmatch::data::{DataSource, Domain, Split};
use duskmatch::device;
use duskmatch::model::DoubleVae;
use duskmatch::supervised::checkpoint;
use duskmatch::supervised::weights::{
    ChannelWeights, share_for_mass, triplet_objective, weighted_distance,
};
use duskmatch::supervised::{Depths, Hinge, SupervisedConfig, SupervisedTrainer};
use duskmatch::train::{Preset, Trainer};

use crate::common::*;

fn t1(v: &[f32]) -> Tensor<1> {
    Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &cpu())
}

#[test]
fn both_hinge_forms_match_hand_values() {
    let (ap, an) = ([1.0f32, 3.0], [2.5f32, 1.0]);
    // Per triplet: max(1 − 2.5 + 1, 0) = 0 and max(3 − 1 + 1, 0) = 3: mean 1.5.
    assert!((scalar(triplet_objective(t1(&ap), t1(&an), 1.0, Hinge::Triplet)) - 1.5).abs() < 1e-6);
    // Batch mean: max(2 − 1.75 + 1, 0) = 1.25.
    assert!(
        (scalar(triplet_objective(t1(&ap), t1(&an), 1.0, Hinge::BatchMean)) - 1.25).abs() < 1e-6
    );
    // The batch-mean form can be zero while a triplet still violates the margin.
    let (ap, an) = ([0.0f32, 4.0], [5.0f32, 3.5]);
    assert_eq!(
        scalar(triplet_objective(t1(&ap), t1(&an), 1.0, Hinge::BatchMean)),
        0.0
    );
    assert!(scalar(triplet_objective(t1(&ap), t1(&an), 1.0, Hinge::Triplet)) > 0.0);
}

#[test]
fn weighted_distance_matches_the_formula() {
    let dev = cpu();
    // C = 2, one pixel: p − q = (3, 4); w = (1, 1) -> 5; w = (2, 0.5) -> sqrt(36 + 4).
    let p = Tensor::<4>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2, 1, 1]), &dev);
    let q = Tensor::<4>::zeros([1, 2, 1, 1], &dev);
    let mut w = ChannelWeights::ones(&[2], &dev);
    assert!(
        (scalar(weighted_distance(
            &w,
            std::slice::from_ref(&p),
            std::slice::from_ref(&q)
        )) - 5.0)
            .abs()
            < 1e-5
    );
    w.depths[0] = burn::module::Param::from_tensor(t1(&[2.0, 0.5]));
    assert!((scalar(weighted_distance(&w, &[p], &[q])) - 40f32.sqrt()).abs() < 1e-5);
}

#[test]
fn importance_share_counts_the_heaviest_channels() {
    // 90 % of |w| = 9: the 8 and the 1 reach it; 2 of 5 channels.
    assert_eq!(share_for_mass(&[0.0, 8.0, -1.0, 0.5, 0.5], 0.9), (2, 0.4));
    assert_eq!(share_for_mass(&[1.0; 4], 0.9), (4, 1.0));
}

#[test]
fn learning_the_weights_lowers_held_out_triplet_loss_and_round_trips() {
    let dir = tempdir();
    // A short stage one on the tiny town, then the siamese stage on its frozen encoder.
    let mut cfg = Preset::Tiny.config();
    cfg.data = DataSource::Synth(SynthConfig {
        places: 80,
        seed: 5,
        ..Default::default()
    });
    cfg.max_steps = 60;
    cfg.epochs = 100;
    let (ds, _) = cfg.data.load(32).unwrap();
    let ds = Arc::new(ds);
    let run = dir.path().join("stage1");
    let stage1 = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), &run)
        .unwrap()
        .train()
        .unwrap();
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let wc = SupervisedConfig {
        depths: Depths::Latent,
        hinge: Hinge::Triplet,
        epochs: 12,
        batch_size: 16,
        learning_rate: 1e-2,
        ..Default::default()
    };
    let out = dir.path().join("weights");
    let trainer = SupervisedTrainer::new(
        wc.clone(),
        &stage1.model,
        cfg.model,
        ds.clone(),
        &split,
        device::cpu(),
        &out,
        (run.clone(), 60),
    )
    .unwrap();
    let before = trainer
        .validation_loss(&ChannelWeights::ones(&[16], &cpu()))
        .unwrap();
    let duskmatch::supervised::Trained {
        weights: w, state, ..
    } = trainer.train().unwrap();
    let after = state.history.last().unwrap().val.unwrap();
    eprintln!("held-out triplet loss: {before:.4} with w = 1, {after:.4} learned");
    assert!(
        after < before - 0.02,
        "held-out triplet loss {before} -> {after}"
    );
    assert_eq!(
        state.history[0].val,
        Some(before),
        "the curve starts at w = 1"
    );
    assert_eq!(state.history.len(), 13);

    // Saving and loading the weights round-trips.
    let ck = checkpoint::load(&out).unwrap();
    assert_eq!(ck.header.channels, vec![16]);
    assert_eq!(ck.header.state, state);
    assert_eq!(ck.vectors().unwrap(), w.to_vecs());
    assert_eq!(ck.header.config, wc);
    assert!(ck.optimizer.is_some());
    // Another architecture is refused.
    let other = SupervisedTrainer::new(
        SupervisedConfig {
            depths: Depths::Three,
            ..wc
        },
        &stage1.model,
        cfg.model,
        ds,
        &split,
        device::cpu(),
        dir.path().join("w3"),
        (run, 60),
    )
    .unwrap();
    assert!(
        other
            .resume_from(ck)
            .err()
            .unwrap()
            .to_string()
            .contains("latent")
    );
}

#[test]
fn three_and_six_depths_have_a_weight_vector_per_depth() {
    let dev = cpu();
    let cfg = duskmatch::model::ModelConfig {
        base_width: 2,
        image_size: 16,
        ..Default::default()
    };
    let model = DoubleVae::new(&cfg, 1, &dev);
    let x = Tensor::<4>::ones([1, 3, 16, 16], &dev);
    for (d, chans) in [
        (Depths::Latent, vec![8]),
        (Depths::Three, vec![8, 8, 8]),
        (Depths::Six, vec![4, 8, 8, 8, 8, 8]),
    ] {
        assert_eq!(d.channels(2), chans);
        let f = duskmatch::supervised::weights::features(&model, x.clone(), Domain::Day, d);
        assert_eq!(f.iter().map(|t| t.dims()[1]).collect::<Vec<_>>(), chans);
    }
}

#[test]
fn the_weights_stage_answers_pause_save_resume_and_stop() {
    use duskmatch::supervised::SupervisedEvent;
    use duskmatch::train::Command;
    use std::sync::mpsc;
    use std::time::Duration;
    let dir = tempdir();
    let (cfg, ds) = crate::train::tiny(40);
    let model = DoubleVae::new(&cfg.model, 1, &cpu());
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let (etx, erx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    let trainer = SupervisedTrainer::new(
        SupervisedConfig {
            epochs: 10_000,
            batch_size: 4,
            ..Default::default()
        },
        &model,
        cfg.model,
        ds,
        &split,
        device::cpu(),
        dir.path(),
        (dir.path().join("stage1.dmck"), 0),
    )
    .unwrap()
    .with_events(etx)
    .with_commands(crx);
    let worker = std::thread::spawn(move || trainer.train());
    let wait = |want: &dyn Fn(&SupervisedEvent) -> bool, timeout| loop {
        match erx.recv_timeout(timeout) {
            Ok(e) if want(&e) => return Some(e),
            Ok(_) => continue,
            Err(_) => return None,
        }
    };
    let long = Duration::from_secs(60);
    assert!(wait(&|e| matches!(e, SupervisedEvent::Step { .. }), long).is_some());
    ctx.send(Command::Pause).unwrap();
    let Some(SupervisedEvent::Paused { step: paused_at }) =
        wait(&|e| matches!(e, SupervisedEvent::Paused { .. }), long)
    else {
        panic!("pause not acknowledged")
    };
    // Nothing steps while paused; save-now writes the file at the paused step.
    assert!(
        wait(
            &|e| matches!(e, SupervisedEvent::Step { .. }),
            Duration::from_millis(700)
        )
        .is_none(),
        "a step ran while paused"
    );
    ctx.send(Command::SaveNow).unwrap();
    assert!(
        wait(
            &|e| matches!(e, SupervisedEvent::CheckpointWritten { .. }),
            long
        )
        .is_some()
    );
    assert_eq!(
        checkpoint::load(dir.path()).unwrap().header.state.at.step,
        paused_at
    );
    ctx.send(Command::Resume).unwrap();
    assert!(matches!(
        wait(&|e| matches!(e, SupervisedEvent::Resumed { .. }), long),
        Some(SupervisedEvent::Resumed { step }) if step == paused_at
    ));
    let Some(SupervisedEvent::Step { step, .. }) =
        wait(&|e| matches!(e, SupervisedEvent::Step { .. }), long)
    else {
        panic!("no step after resuming")
    };
    assert_eq!(step, paused_at + 1);
    ctx.send(Command::Stop).unwrap();
    let done = worker.join().unwrap().unwrap();
    assert_eq!(
        checkpoint::load(dir.path()).unwrap().header.state.at.step,
        done.state.at.step
    );
}

#[test]
fn a_resumed_weights_run_lands_where_a_straight_one_does() {
    use duskmatch::supervised::Resume;
    let dir = tempdir();
    let (cfg, ds) = crate::train::tiny(40);
    let model = DoubleVae::new(&cfg.model, 1, &cpu());
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let make = |out: &std::path::Path, epochs: usize| {
        SupervisedTrainer::new(
            SupervisedConfig {
                epochs,
                batch_size: 4,
                learning_rate: 1e-2,
                ..Default::default()
            },
            &model,
            cfg.model,
            ds.clone(),
            &split,
            device::cpu(),
            out,
            (dir.path().join("stage1.dmck"), 0),
        )
        .unwrap()
    };
    let straight = make(&dir.path().join("a"), 4).train().unwrap();
    make(&dir.path().join("b"), 2).train().unwrap();
    let file = Resume::load(&dir.path().join("b")).unwrap();
    let resumed = make(&dir.path().join("b"), 4)
        .resume_with(file)
        .unwrap()
        .train()
        .unwrap();
    assert_eq!(resumed.state.at.step, straight.state.at.step);
    assert_eq!(resumed.state.history.len(), straight.state.history.len());
    let (a, b) = (straight.weights.to_vecs(), resumed.weights.to_vecs());
    assert_eq!(a, b, "a resumed run is bitwise the straight one");
    // The same step label on another stage-one model is refused: the file records the
    // model's fingerprint, not only its step.
    let other_model = DoubleVae::new(&cfg.model, 2, &cpu());
    let e = SupervisedTrainer::new(
        SupervisedConfig {
            epochs: 4,
            batch_size: 4,
            learning_rate: 1e-2,
            ..Default::default()
        },
        &other_model,
        cfg.model,
        ds.clone(),
        &split,
        device::cpu(),
        dir.path().join("d"),
        (dir.path().join("stage1.dmck"), 0),
    )
    .unwrap()
    .resume_with(Resume::load(&dir.path().join("b")).unwrap())
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("another stage-one model"), "{e}");
    // A file without its optimiser is refused for resuming.
    let mut ck = checkpoint::load(&dir.path().join("b")).unwrap();
    ck.optimizer = None;
    let e = make(&dir.path().join("c"), 4)
        .resume_from(ck)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no optimiser"), "{e}");
}

#[test]
fn the_fingerprint_is_the_models_values_not_its_instance() {
    use duskmatch::model::fingerprint::fingerprint;
    let dir = tempdir();
    let cfg = duskmatch::train::Preset::Tiny.config();
    let path = dir.path().join("c.dmck");
    let saved = save_untrained(&path, &cfg, 3, 5);
    let loaded = duskmatch::train::checkpoint::load(&path)
        .unwrap()
        .build_model(&cpu())
        .unwrap();
    let f = fingerprint(&saved);
    assert!(f.starts_with("crc32c:") && f.len() == 15, "{f}");
    assert_eq!(
        fingerprint(&loaded),
        f,
        "a checkpoint read back is the same model"
    );
    assert_eq!(fingerprint(&saved.clone()), f);
    assert_ne!(fingerprint(&DoubleVae::new(&cfg.model, 6, &cpu())), f);
}

/// A supervised run of `wc` on the 12-place town whose held-out probe is undefined, trained
/// straight for three epochs, and again stopped through the command channel as step
/// `stop(steps_per_epoch)` is reported (the sink queues Stop on the run's thread, so the loop
/// finds it at its next poll), then resumed from the file it left: both land bitwise.
/// `check` looks at that file first.
fn supervised_resume_lands_bitwise(
    wc: SupervisedConfig,
    stop: impl Fn(u64) -> u64,
    check: impl Fn(&duskmatch::supervised::Resume),
) {
    use duskmatch::supervised::{Resume, SupervisedEvent};
    use std::sync::mpsc;
    let dir = tempdir();
    let (mut cfg, ds) = crate::train::tiny(12);
    cfg.seed = crate::train::UNDEFINED_PROBE_SEED;
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let stage_one = dir.path().join("stage1.dmck");
    let model = save_untrained(&stage_one, &cfg, 0, 1);
    let header = duskmatch::train::checkpoint::load(&stage_one)
        .unwrap()
        .header;
    let make = |out: &std::path::Path| {
        SupervisedTrainer::new(
            SupervisedConfig {
                epochs: 3,
                ..wc.clone()
            },
            &model,
            cfg.model,
            ds.clone(),
            &split,
            device::cpu(),
            out,
            (stage_one.clone(), 0),
        )
        .unwrap()
        .with_stage_one_header(header.clone())
    };
    let straight = make(&dir.path().join("a")).train().unwrap();
    let run = dir.path().join("b");
    let first = make(&run);
    let stop = stop(first.steps_per_epoch() as u64);
    let (tx, rx) = mpsc::channel();
    let stopped = first
        .with_commands(rx)
        .with_event_sink(Box::new(move |e| {
            if let SupervisedEvent::Step { step, .. } = e
                && step == stop
            {
                tx.send(duskmatch::train::Command::Stop).unwrap();
            }
            true
        }))
        .train()
        .unwrap();
    assert_eq!(stopped.state.at.step, stop);
    let file = Resume::load(&run).unwrap();
    check(&file);
    let resumed = make(&run).resume_with(file).unwrap().train().unwrap();
    assert_eq!(resumed.state.at.step, straight.state.at.step);
    assert_eq!(resumed.state.history.len(), straight.state.history.len());
    assert_eq!(
        straight.weights.to_vecs(),
        resumed.weights.to_vecs(),
        "a resumed run is bitwise the straight one"
    );
    if let (Some(a), Some(b)) = (&straight.model, &resumed.model) {
        let (a, b) = (
            vec4(a.enc_day.conv2_2.weight.val()),
            vec4(b.enc_day.conv2_2.weight.val()),
        );
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}

fn state_of(
    file: &duskmatch::supervised::Resume,
) -> duskmatch::supervised::checkpoint::SupervisedState {
    match file {
        duskmatch::supervised::Resume::Weights(w) => w.header.state.clone(),
        duskmatch::supervised::Resume::FineTune { stamp, .. } => stamp.state.clone(),
    }
}

fn small_batches(wc: SupervisedConfig) -> SupervisedConfig {
    SupervisedConfig {
        batch_size: 4,
        learning_rate: 1e-2,
        ..wc
    }
}

#[test]
fn the_weights_stage_resumes_bitwise_from_step_one_and_from_an_epoch_end() {
    let wc = small_batches(SupervisedConfig::default());
    supervised_resume_lands_bitwise(
        wc.clone(),
        |_| 1,
        |f| {
            let at = state_of(f).at;
            assert_eq!((at.epoch, at.step_in_epoch, at.step), (0, 1, 1));
        },
    );
    supervised_resume_lands_bitwise(
        wc,
        |spe| spe,
        |f| {
            let s = state_of(f);
            assert_eq!((s.at.epoch, s.at.step_in_epoch), (1, 0));
            assert_eq!(s.history.len(), 2, "the start and the first epoch");
        },
    );
}

#[test]
fn fine_tuning_resumes_bitwise_from_step_one_and_from_an_epoch_end_with_undefined_scores() {
    let wc = small_batches(SupervisedConfig::fine_tune());
    supervised_resume_lands_bitwise(
        wc.clone(),
        |_| 1,
        |f| {
            let at = state_of(f).at;
            assert_eq!((at.epoch, at.step_in_epoch, at.step), (0, 1, 1));
        },
    );
    supervised_resume_lands_bitwise(
        wc,
        |spe| spe,
        |f| {
            let s = state_of(f);
            assert_eq!((s.at.epoch, s.at.step_in_epoch), (1, 0));
            let best = s.best.expect("held-out scores after the first epoch");
            assert_eq!(best.domain_probe, None, "the premise: an undefined score");
        },
    );
}
