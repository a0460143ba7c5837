//! The run-planning rules the app and the command line share, the lifecycle every stage's
//! events report through, and the command line's progress consumer end to end.

use duskmatch::run::{Lifecycle, Phase, RunStatus, StageEvent};
use duskmatch::supervised::plan::{config, folder_name};
use duskmatch::supervised::{Depths, Hinge, SupervisedEvent, SupervisedMethod};
use duskmatch::train::Preset;
use duskmatch::train::plan::{PlanError, check_limits, extend_by_epochs, snapshot_header};
use duskmatch::train::run_loop::Counters;

use crate::common::*;

fn at(epoch: usize, step: u64) -> Counters {
    Counters {
        epoch,
        step_in_epoch: 0,
        step,
    }
}

#[test]
fn a_continued_run_counts_its_epochs_from_the_checkpoint() {
    let mut cfg = Preset::Tiny.config();
    cfg.max_steps = 7;
    extend_by_epochs(&mut cfg, at(3, 12), 2).unwrap();
    assert_eq!((cfg.epochs, cfg.max_steps), (5, 0));
    assert_eq!(
        extend_by_epochs(&mut cfg, at(3, 12), 0),
        Err(PlanError::NoMoreEpochs)
    );
    let e = check_limits(at(3, 12), Some(12), None).unwrap_err();
    assert!(e.to_string().contains("--steps 12 trains nothing"), "{e}");
    let e = check_limits(at(3, 12), None, Some(3)).unwrap_err();
    assert!(e.to_string().contains("has done 3"), "{e}");
    check_limits(at(3, 12), Some(13), Some(4)).unwrap();
}

#[test]
fn a_snapshot_is_known_by_its_run_config_and_step() {
    let cfg = Preset::Tiny.config();
    let h = snapshot_header(&cfg, 4, 10);
    assert_eq!(
        h.state.at,
        Counters {
            epoch: 2,
            step_in_epoch: 2,
            step: 10
        }
    );
    assert_eq!(h.config, cfg);
}

#[test]
fn supervised_runs_are_planned_from_the_method() {
    let w = config(SupervisedMethod::Weights, Depths::Three, Hinge::BatchMean);
    assert_eq!(
        (w.depths, w.hinge, w.epochs),
        (Depths::Three, Hinge::BatchMean, 30)
    );
    assert_eq!(folder_name(&w), "weights-3depths-batch-mean");
    let f = config(SupervisedMethod::FineTune, Depths::Six, Hinge::Triplet);
    assert_eq!(f.depths, Depths::Latent, "fine-tuning learns the latent");
    f.validate().unwrap();
    assert_eq!(folder_name(&f), "fine-tune");
}

#[test]
fn run_status_follows_any_stage_through_its_lifecycle() {
    let events = [
        SupervisedEvent::Started {
            method: SupervisedMethod::Weights,
            depths: Depths::Latent,
            steps_per_epoch: 4,
            total_steps: 8,
            step: 2,
            train_places: 10,
            val_places: 2,
            resumed: true,
            initial_val: None,
        },
        SupervisedEvent::Step {
            step: 3,
            epoch: 0,
            loss: 1.0,
        },
        SupervisedEvent::Paused { step: 3 },
    ];
    let mut s = RunStatus::default();
    for e in &events {
        s.observe(e);
    }
    assert_eq!((s.phase, s.step, s.total_steps), (Phase::Paused, 3, 8));
    assert_eq!(s.toggle_command(), Some(duskmatch::train::Command::Resume));
    assert_eq!(
        events[0].lifecycle(),
        Some(Lifecycle::Started {
            step: 2,
            total_steps: 8,
            resumed: true
        })
    );
    s.observe(&SupervisedEvent::Resumed { step: 3 });
    assert!(s.is_active() && !s.is_paused());
    s.observe(&SupervisedEvent::Finished {
        step: 8,
        weights: vec![],
        checkpoint: None,
    });
    assert_eq!((s.phase, s.step), (Phase::Finished, 8));
    assert_eq!(s.toggle_command(), None);
    // Stage one's events speak the same lifecycle.
    let mut t = RunStatus::default();
    t.observe(&duskmatch::train::TrainEvent::Paused { step: 5 });
    assert_eq!((t.phase, t.step), (Phase::Paused, 5));
}

#[test]
fn the_weights_command_reports_its_epochs_and_the_before_and_after_comparison() {
    let dir = tempdir();
    let mut cfg = Preset::Tiny.config();
    cfg.data = duskmatch::data::DataSource::Synth(duskmatch::data::synth::SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    });
    let ck = dir.path().join("m.dmck");
    save_untrained(&ck, &cfg, 3, 5);
    let (code, stdout, stderr) = run_duskmatch(&[
        "weights",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Not a terminal: the bar is hidden and every line reaches stderr.
    assert!(
        stderr.contains("epoch   1:") && stderr.contains("epoch   2:"),
        "{stderr}"
    );
    assert!(
        stdout.contains("weights-latent-triplet: held-out night->day R@1 ")
            && stdout.contains("(w = 1 → learned weights)"),
        "{stdout}"
    );
    // The folder the plan names, beside the checkpoint.
    assert!(
        dir.path()
            .join("weights-latent-triplet")
            .join(duskmatch::supervised::checkpoint::WEIGHTS_FILE)
            .exists()
    );
}
