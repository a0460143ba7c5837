//! The one run loop, driven with a stage that only records what it was asked to do.

use std::sync::mpsc;

use duskmatch::train::RunError;
use duskmatch::train::run_loop::{self, Counters, Plan, Stage, seeded_order};
use duskmatch::train::{Command, StopReason};

#[derive(Default)]
struct Recorder {
    at: Counters,
    log: Vec<String>,
    /// The step at which the loss turns non-finite, if any.
    nan_at: Option<u64>,
    /// Commands sent from inside the step with this index (as a GUI would between steps).
    send_at: Option<(u64, Vec<Command>)>,
    tx: Option<mpsc::Sender<Command>>,
}

impl Stage for Recorder {
    fn counters(&mut self) -> &mut Counters {
        &mut self.at
    }
    fn begin_epoch(&mut self, epoch: usize) {
        self.log.push(format!("begin {epoch}"));
    }
    fn step(&mut self, at: Counters) -> Result<(), run_loop::NonFiniteLoss> {
        if self.nan_at == Some(at.step) {
            return Err(run_loop::NonFiniteLoss("total NaN".into()));
        }
        if let (Some((k, cmds)), Some(tx)) = (&self.send_at, &self.tx)
            && *k == at.step
        {
            for c in cmds {
                tx.send(*c).unwrap();
            }
        }
        self.log.push(format!("step {}", at.step));
        Ok(())
    }
    fn report_step(&mut self, _at: Counters) -> bool {
        true
    }
    fn end_epoch(&mut self, finished: usize, at: Counters) -> Result<(), RunError> {
        self.log.push(format!("end {finished} at {}", at.step));
        Ok(())
    }
    fn save_latest(&mut self, at: Counters, boundary: bool) -> Result<(), RunError> {
        self.log.push(format!("save {} {boundary}", at.step));
        Ok(())
    }
    fn paused(&mut self, step: u64) {
        self.log.push(format!("paused {step}"));
    }
    fn resumed(&mut self, step: u64) {
        self.log.push(format!("resumed {step}"));
    }
    fn error(&mut self, message: String) {
        self.log.push(format!("error {message}"));
    }
}

fn plan(epochs: usize, steps_per_epoch: usize, max_steps: u64, save_every: usize) -> Plan {
    Plan {
        epochs,
        steps_per_epoch,
        max_steps,
        save_every,
    }
}

#[test]
fn the_loop_counts_steps_and_epochs_and_saves_by_its_policy() {
    let mut s = Recorder::default();
    let reason = run_loop::run(&mut s, plan(3, 2, 0, 2), None).unwrap();
    assert_eq!(reason, StopReason::Finished);
    let expect = [
        "begin 0",
        "step 0",
        "step 1",
        "end 0 at 2",
        "begin 1",
        "step 2",
        "step 3",
        "end 1 at 4",
        "save 4 true",
        "begin 2",
        "step 4",
        "step 5",
        "end 2 at 6",
        "save 6 true",
    ];
    assert_eq!(s.log, expect);
    assert_eq!(
        s.at,
        Counters {
            epoch: 3,
            step_in_epoch: 0,
            step: 6
        }
    );
}

#[test]
fn a_resumed_run_continues_mid_epoch_and_max_steps_stops_with_a_save() {
    let mut s = Recorder {
        at: Counters {
            epoch: 1,
            step_in_epoch: 1,
            step: 4,
        },
        ..Default::default()
    };
    let reason = run_loop::run(&mut s, plan(5, 3, 7, 10), None).unwrap();
    assert_eq!(reason, StopReason::MaxSteps);
    assert_eq!(
        s.log,
        [
            "begin 1",
            "step 4",
            "step 5",
            "end 1 at 6",
            "begin 2",
            "step 6",
            "save 7 false"
        ]
    );
    // Nothing left to do: the state is still written once.
    let mut done = Recorder {
        at: Counters {
            epoch: 5,
            step_in_epoch: 0,
            step: 15,
        },
        ..Default::default()
    };
    assert_eq!(
        run_loop::run(&mut done, plan(5, 3, 0, 10), None).unwrap(),
        StopReason::Finished
    );
    assert_eq!(done.log, ["save 15 false"]);
}

#[test]
fn every_command_is_answered_between_steps() {
    let (tx, rx) = mpsc::channel();
    let mut s = Recorder {
        send_at: Some((
            1,
            vec![
                Command::SaveNow,
                Command::Pause,
                Command::Pause,
                Command::Resume,
                Command::Stop,
            ],
        )),
        tx: Some(tx.clone()),
        ..Default::default()
    };
    let reason = run_loop::run(&mut s, plan(2, 4, 0, 1), Some(&rx)).unwrap();
    assert_eq!(reason, StopReason::Stopped);
    // Sent during step 1, applied before step 2: a save, one pause (the second is a no-op),
    // the resume, then the stop, and the state reached is saved.
    assert_eq!(
        s.log,
        [
            "begin 0",
            "step 0",
            "step 1",
            "save 2 false",
            "paused 2",
            "resumed 2",
            "save 2 false"
        ]
    );
}

#[test]
fn a_paused_run_whose_owner_goes_away_stops_and_saves() {
    let (tx, rx) = mpsc::channel();
    tx.send(Command::Pause).unwrap();
    drop(tx);
    let mut s = Recorder::default();
    let reason = run_loop::run(&mut s, plan(1, 4, 0, 1), Some(&rx)).unwrap();
    assert_eq!(reason, StopReason::Stopped);
    assert_eq!(s.log, ["begin 0", "paused 0", "save 0 false"]);
}

#[test]
fn a_non_finite_loss_stops_with_an_error_naming_the_step_and_keeps_the_last_checkpoint() {
    let mut s = Recorder {
        nan_at: Some(3),
        ..Default::default()
    };
    let e = run_loop::run(&mut s, plan(4, 2, 0, 1), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("non-finite at step 3") && e.contains("total NaN"),
        "{e}"
    );
    // No save after the bad step: the file on disk is the last good one (after epoch 1).
    assert_eq!(s.log.last().unwrap(), &format!("error {e}"));
    assert_eq!(s.log.iter().filter(|l| l.starts_with("save")).count(), 1);
}

#[test]
fn seeded_orders_are_permutations_fixed_by_seed_and_stream() {
    let v: Vec<usize> = (0..50).collect();
    let (a, _) = seeded_order(&v, 7, 1);
    let (b, _) = seeded_order(&v, 7, 1);
    let (c, _) = seeded_order(&v, 7, 2);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, v);
}
