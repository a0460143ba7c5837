use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use burn::module::Module;
use duskmatch::data::synth::SynthConfig;
use duskmatch::data::{DataSource, Dataset};
use duskmatch::device;
use duskmatch::model::ModelConfig;
use duskmatch::train::checkpoint::{self, LATEST, write_atomic};
use duskmatch::train::{
    Command, Preset, StopReason, TrainEvent, TrainSummary, Trainer, TrainingConfig,
};

use crate::common::*;

/// The tiny preset on a synthetic town of `places` places (seed 3), loaded.
pub(crate) fn tiny(places: usize) -> (TrainingConfig, Arc<Dataset>) {
    let mut cfg = Preset::Tiny.config();
    cfg.data = DataSource::Synth(SynthConfig {
        places,
        seed: 3,
        ..Default::default()
    });
    let (ds, _) = cfg.data.load(cfg.model.image_size as u32).unwrap();
    (cfg, Arc::new(ds))
}

/// Bitwise the same weights (a sample of every part) and the same last total loss.
fn assert_same_weights_and_loss(straight: &TrainSummary, resumed: &TrainSummary) {
    let (a, b) = (weights(&straight.model), weights(&resumed.model));
    assert!(
        a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
        "resumed weights differ by {}",
        max_abs_diff(&a, &b)
    );
    assert_eq!(straight.last.total.to_bits(), resumed.last.total.to_bits());
}

fn weights(model: &duskmatch::model::DoubleVae) -> Vec<f32> {
    let mut all = Vec::new();
    all.extend(vec4(model.enc_day.conv1.weight.val()));
    match (&model.enc_night, &model.enc_norms) {
        (Some(night), _) => all.extend(vec4(night.conv2_2.weight.val())),
        (None, Some(norms)) => {
            let g = norms[1].norms[2].gamma.as_ref().unwrap().val();
            all.extend(g.into_data().try_to_vec::<f32>().unwrap());
            all.extend(vec4(model.enc_day.conv2_2.weight.val()));
        }
        (None, None) => unreachable!("a model has a night encoder or night norms"),
    }
    all.extend(vec4(model.enc_shared.blocks[1].conv_b.weight.val()));
    all.extend(vec4(model.dec_shared.blocks[0].conv_a.weight.val()));
    all.extend(vec4(model.dec_day.up1.conv.weight.val()));
    all.extend(vec4(model.dec_night.out.weight.val()));
    let rm: Vec<f32> = model
        .dec_day
        .up2
        .norm
        .running_mean
        .value()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    all.extend(rm);
    all
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let (mut cfg, ds) = tiny(24);
    cfg.epochs = 100;
    cfg.max_steps = 10;
    // The latent domain discriminator too, so its weights and optimiser must round-trip.
    cfg.align.weights.latent = 0.5;
    let dir = tempdir();
    let straight = Trainer::new(
        cfg.clone(),
        ds.clone(),
        device::cpu(),
        dir.path().join("straight"),
    )
    .unwrap()
    .train()
    .unwrap();
    assert_eq!(straight.progress.step, 10);
    assert_eq!(straight.reason, StopReason::MaxSteps);

    let mut half = cfg.clone();
    half.max_steps = 6; // crosses an epoch boundary (4 steps per epoch): validation, scheduler, save
    let run = dir.path().join("halves");
    let first = Trainer::new(half, ds.clone(), device::cpu(), &run).unwrap();
    assert_eq!(first.steps_per_epoch(), 4);
    let first = first.train().unwrap();
    assert_eq!(first.progress.step, 6);
    let ck = checkpoint::load(&run).unwrap();
    assert_eq!(
        (
            ck.header.state.at.epoch,
            ck.header.state.at.step_in_epoch,
            ck.header.state.at.step
        ),
        (1, 2, 6)
    );
    // The default objective has image discriminators: they and their optimiser are saved.
    assert!(ck.discriminators.is_some() && ck.discriminator_optimizer.is_some());
    assert!(ck.latent_discriminator.is_some() && ck.latent_discriminator_optimizer.is_some());
    // Bitwise: the same seeds, the same data order, the restored optimisers and
    // discriminators, and Flex's deterministic kernels give the very same floats.
    let resumed = resumes_bitwise(&cfg, &ds, ck, &run, &straight);
    assert_eq!(resumed.progress.step, 10);
    // The GAN terms depend on the discriminators' weights: equal only if they were restored.
    assert!(straight.last.gan > 0.0 && straight.last.latent > 0.0);
    assert_eq!(
        (
            straight.last.gan.to_bits(),
            straight.last.discriminator.to_bits(),
            straight.last.latent.to_bits(),
            straight.last.latent_discriminator.to_bits()
        ),
        (
            resumed.last.gan.to_bits(),
            resumed.last.discriminator.to_bits(),
            resumed.last.latent.to_bits(),
            resumed.last.latent_discriminator.to_bits()
        ),
        "{:?} vs {:?}",
        straight.last,
        resumed.last
    );
    // And the run really moved the weights.
    let (mut cfg0, _) = tiny(24);
    cfg0.max_steps = 1;
    let init = duskmatch::model::DoubleVae::new(&cfg0.model, cfg0.seed, &cpu());
    assert!(max_abs_diff(&weights(&init), &weights(&straight.model)) > 1e-4);
}

#[test]
fn a_few_hundred_tiny_steps_lower_the_losses() {
    let (mut cfg, ds) = tiny(64);
    cfg.epochs = 1000;
    cfg.max_steps = 300;
    let dir = tempdir();
    let (tx, rx) = mpsc::channel();
    let summary = Trainer::new(cfg, ds, device::cpu(), dir.path())
        .unwrap()
        .with_events(tx)
        .train()
        .unwrap();
    let steps: Vec<_> = rx
        .try_iter()
        .filter_map(|e| {
            if let TrainEvent::Step(r) = e {
                Some(r.losses)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(steps.len(), 300);
    let mean = |s: &[duskmatch::model::LossValues]| duskmatch::model::LossValues::mean(s);
    let (first, last) = (mean(&steps[..10]), mean(&steps[290..]));
    eprintln!(
        "first 10 steps: {first:?}\nlast 10 steps: {last:?}\nval: {:?}",
        summary.val
    );
    assert!(
        last.total < 0.6 * first.total,
        "total {} -> {}",
        first.total,
        last.total
    );
    assert!(
        last.reconstruction < 0.6 * first.reconstruction,
        "rec {} -> {}",
        first.reconstruction,
        last.reconstruction
    );
}

#[test]
fn another_architecture_is_refused_naming_both_shapes() {
    let (mut cfg, ds) = tiny(12);
    cfg.max_steps = 1;
    let dir = tempdir();
    Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path())
        .unwrap()
        .train()
        .unwrap();
    let ck = checkpoint::load(dir.path()).unwrap();
    let mut wider = cfg.clone();
    wider.model = ModelConfig {
        base_width: 8,
        image_size: 32,
        ..Default::default()
    };
    let e = Trainer::new(wider, ds, device::cpu(), dir.path())
        .unwrap()
        .resume_from(ck)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("base width 4") && e.contains("base width 8"),
        "{e}"
    );
    assert!(
        e.contains("latent 16×8×8") && e.contains("latent 32×8×8"),
        "{e}"
    );
}

#[test]
fn pause_stops_steps_and_stop_saves() {
    let (mut cfg, ds) = tiny(16);
    cfg.epochs = 10_000;
    let dir = tempdir();
    let (etx, erx) = mpsc::channel();
    let (ctx, crx) = mpsc::channel();
    let trainer = Trainer::new(cfg, ds, device::cpu(), dir.path())
        .unwrap()
        .with_events(etx)
        .with_commands(crx);
    let worker = std::thread::spawn(move || trainer.train());
    let next_step = |timeout| loop {
        match erx.recv_timeout(timeout) {
            Ok(TrainEvent::Step(r)) => return Some(r.progress.step),
            Ok(TrainEvent::Paused { step }) => return Some(step + 1_000_000),
            Ok(_) => continue,
            Err(_) => return None,
        }
    };
    assert!(next_step(Duration::from_secs(60)).is_some());
    ctx.send(Command::Pause).unwrap();
    // Drain until the pause is acknowledged, then nothing more may arrive.
    let paused_at = loop {
        let s = next_step(Duration::from_secs(60)).expect("pause acknowledged");
        if s >= 1_000_000 {
            break s - 1_000_000;
        }
    };
    assert_eq!(
        next_step(Duration::from_millis(700)),
        None,
        "a step ran while paused"
    );
    // Save-now while paused writes latest.dmck at the paused step, and says so.
    let _ = std::fs::remove_file(dir.path().join(LATEST));
    ctx.send(Command::SaveNow).unwrap();
    let saved = loop {
        match erx
            .recv_timeout(Duration::from_secs(60))
            .expect("save acknowledged")
        {
            TrainEvent::CheckpointWritten { path, step } => break (path, step),
            TrainEvent::Step(_) => panic!("a step ran while paused"),
            _ => continue,
        }
    };
    assert_eq!(saved, (dir.path().join(LATEST), paused_at));
    let ck = checkpoint::load(&dir.path().join(LATEST)).unwrap();
    assert_eq!(ck.header.state.at.step, paused_at);
    assert!(ck.optimizer.is_some());
    ctx.send(Command::Resume).unwrap();
    let after = next_step(Duration::from_secs(60)).unwrap();
    assert_eq!(after, paused_at + 1);
    ctx.send(Command::Stop).unwrap();
    let summary = worker.join().unwrap().unwrap();
    assert_eq!(summary.reason, StopReason::Stopped);
    let ck = checkpoint::load(&dir.path().join(LATEST)).unwrap();
    assert_eq!(ck.header.state.at.step, summary.progress.step);
    assert!(ck.optimizer.is_some());
}

#[test]
fn checkpoint_writes_are_atomic_and_bad_files_are_refused() {
    let dir = tempdir();
    let path = dir.path().join("latest.dmck");
    write_atomic(&path, |f| std::io::Write::write_all(f, b"first")).unwrap();
    let failed = write_atomic(&path, |f| {
        std::io::Write::write_all(f, b"half of the seco")?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(failed.unwrap_err().to_string().contains("disk full"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"first",
        "the previous checkpoint survives"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "latest.dmck")
        .collect();
    assert!(leftovers.is_empty(), "temp files left behind");

    let e = checkpoint::load(&path).err().unwrap().to_string();
    assert!(e.contains("not a usable duskmatch checkpoint"), "{e}");
    let e = checkpoint::load(&dir.path().join("nope"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");

    // A real checkpoint cut short is refused, not half-loaded.
    let (mut cfg, ds) = tiny(12);
    cfg.max_steps = 1;
    let run = dir.path().join("run");
    Trainer::new(cfg, ds, device::cpu(), &run)
        .unwrap()
        .train()
        .unwrap();
    let bytes = std::fs::read(run.join(LATEST)).unwrap();
    std::fs::write(run.join("cut.dmck"), &bytes[..bytes.len() - 100]).unwrap();
    let e = checkpoint::load(&run.join("cut.dmck"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    let ok = checkpoint::load(&run).unwrap();
    let model = ok.build_model(&cpu()).unwrap();
    assert_eq!(
        model.num_params(),
        duskmatch::model::DoubleVae::new(&ok.model_config(), 0, &cpu()).num_params()
    );
}

#[test]
fn two_runs_started_in_the_same_second_get_two_folders() {
    use duskmatch::train::run_dir::run_dir_in;
    let root = tempdir();
    let first = run_dir_in(root.path(), "");
    std::fs::create_dir_all(&first).unwrap();
    let second = run_dir_in(root.path(), "");
    std::fs::create_dir_all(&second).unwrap();
    let third = run_dir_in(root.path(), "");
    // Within one second the stamp repeats, so the suffix must tell them apart; across a
    // second boundary the stamps already differ.
    assert_ne!(first, second);
    assert_ne!(second, third);
    assert!(!third.exists());
}

/// Train `cfg` into `out`, stopping through the command channel at step `stop`: the event
/// sink runs on the trainer's thread and queues Stop as that step is reported, so the loop
/// finds it at its next poll, whatever the machine's load. Returns the checkpoint it left.
fn stopped_at(
    cfg: &TrainingConfig,
    ds: &Arc<Dataset>,
    out: &std::path::Path,
    stop: u64,
) -> checkpoint::Checkpoint {
    let (tx, rx) = mpsc::channel();
    let summary = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), out)
        .unwrap()
        .with_commands(rx)
        .with_event_sink(Box::new(move |e| {
            if let TrainEvent::Step(r) = &e
                && r.progress.step == stop
            {
                tx.send(Command::Stop).unwrap();
            }
            true
        }))
        .train()
        .unwrap();
    assert_eq!(
        (summary.reason, summary.progress.step),
        (StopReason::Stopped, stop)
    );
    checkpoint::load(out).unwrap()
}

/// Resume `ck` to `cfg.max_steps`, check it lands bitwise where `straight` did, and return
/// the resumed run.
fn resumes_bitwise(
    cfg: &TrainingConfig,
    ds: &Arc<Dataset>,
    ck: checkpoint::Checkpoint,
    out: &std::path::Path,
    straight: &TrainSummary,
) -> TrainSummary {
    let resumed = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), out)
        .unwrap()
        .resume_from(ck)
        .unwrap()
        .train()
        .unwrap();
    assert_eq!(resumed.progress.step, straight.progress.step);
    assert_same_weights_and_loss(straight, &resumed);
    resumed
}

#[test]
fn a_run_resumed_from_step_one_lands_where_a_straight_run_lands() {
    let (mut cfg, ds) = tiny(24);
    cfg.epochs = 100;
    cfg.max_steps = 6;
    let dir = tempdir();
    let straight = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path().join("a"))
        .unwrap()
        .train()
        .unwrap();
    let run = dir.path().join("b");
    let ck = stopped_at(&cfg, &ds, &run, 1);
    let at = ck.header.state.at;
    assert_eq!((at.epoch, at.step_in_epoch, at.step), (0, 1, 1));
    resumes_bitwise(&cfg, &ds, ck, &run, &straight);
}

#[test]
fn stop_exactly_at_an_epoch_boundary_with_undefined_scores_then_continue_lands_bitwise() {
    // Two held-out places, both on one side of the domain probe's split: the probe is
    // undefined. Such a checkpoint once held `null` and could not be read back, so Continue
    // failed; Stop at the boundary comes right after the epoch's evaluation and save.
    let (mut cfg, ds) = tiny(12);
    cfg.seed = UNDEFINED_PROBE_SEED;
    cfg.epochs = 100;
    let dir = tempdir();
    let spe = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path().join("x"))
        .unwrap()
        .steps_per_epoch() as u64;
    cfg.max_steps = 2 * spe + 1;
    let straight = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path().join("a"))
        .unwrap()
        .train()
        .unwrap();
    let run = dir.path().join("b");
    let ck = stopped_at(&cfg, &ds, &run, spe);
    let at = ck.header.state.at;
    assert_eq!((at.epoch, at.step_in_epoch, at.step), (1, 0, spe));
    let best = ck.header.state.best.expect("scores after the first epoch");
    assert_eq!(best.domain_probe, None, "the premise: an undefined score");
    assert!(best.distance_ratio.is_some());
    resumes_bitwise(&cfg, &ds, ck, &run, &straight);
}

/// A run seed whose split of the 12-place town holds out two places on one side of the
/// domain probe's split (found by trying seeds; the test above checks it still holds).
pub(crate) const UNDEFINED_PROBE_SEED: u64 = 3;

#[test]
fn unlabelled_unpaired_data_still_trains_and_only_labelled_data_needs_two_held_out_places() {
    // Stage one needs no pairs: day and night stems differ and there is no places.csv, so
    // there is no retrieval to score and the held-out minimum does not apply.
    let dir = tempdir();
    let town = duskmatch::data::synth::generate(
        &SynthConfig {
            places: 3,
            seed: 5,
            ..Default::default()
        },
        32,
    );
    for (sub, list) in [("day", &town.day), ("night", &town.night)] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for (i, s) in list.iter().enumerate() {
            let name = format!("{sub}-{i}.png");
            duskmatch::data::image_io::save_png(&s.image, &dir.path().join(sub).join(name))
                .unwrap();
        }
    }
    let mut cfg = Preset::Tiny.config();
    cfg.data = DataSource::from_dir(dir.path(), Default::default()).unwrap();
    let (ds, _) = cfg.data.load(32).unwrap();
    assert!(!ds.has_ground_truth());
    assert!(
        Trainer::new(
            cfg.clone(),
            Arc::new(ds),
            device::cpu(),
            dir.path().join("r")
        )
        .is_ok()
    );
    // The same three places with their labels hold out one: refused, naming the minimum.
    let (mut cfg, ds) = tiny(3);
    cfg.epochs = 1;
    let e = Trainer::new(cfg, ds, device::cpu(), dir.path().join("s"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("too few places") && e.contains("at least 2"),
        "{e}"
    );
}

#[test]
fn the_pretrained_preset_saves_loads_and_resumes_bitwise() {
    // The preset at 64 px (a 2×2 latent after the stride-32 network) and two places a step,
    // so the test stays short; every part of it is the preset's.
    let mut cfg = Preset::Pretrained.config();
    cfg.model.image_size = 64;
    cfg.align.contrast_grid = 2;
    cfg.batch_size = 2;
    cfg.epochs = 100;
    cfg.max_steps = 6;
    cfg.data = DataSource::Synth(SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    });
    let (ds, _) = cfg.data.load(64).unwrap();
    let ds = Arc::new(ds);
    let dir = tempdir();
    let straight = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path().join("a"))
        .unwrap()
        .train()
        .unwrap();
    let mut half = cfg.clone();
    half.max_steps = 4; // past the epoch boundary (steps of 2 over 9 training places)
    let run = dir.path().join("b");
    Trainer::new(half, ds.clone(), device::cpu(), &run)
        .unwrap()
        .train()
        .unwrap();
    let ck = checkpoint::load(&run).unwrap();
    assert_eq!(ck.header.state.at.step, 4);
    assert_eq!(ck.header.config.model.backbone, cfg.model.backbone);
    let resumed = resumes_bitwise(&cfg, &ds, ck, &run, &straight);
    // The frozen network is the compiled-in one on both sides, and training left it alone.
    let net =
        |m: &duskmatch::model::DoubleVae| vec4(m.backbone.as_ref().unwrap().stem.weight.clone());
    let fresh = duskmatch::model::backbone::Backbone::pretrained(&device::cpu().device).unwrap();
    assert_eq!(net(&resumed.model), vec4(fresh.stem.weight));
}
