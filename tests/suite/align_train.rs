//! Training with the aligning objective: held-out retrieval tracked at every epoch and equal to
//! what `eval` computes from that epoch's checkpoint, the best checkpoint kept, and checkpoints
//! from before the discriminators still resumed.

use std::sync::mpsc;

use duskmatch::data::{Domain, Split};
use duskmatch::device;
use duskmatch::model::Objective;
use duskmatch::retrieval::method_rows::{compare_methods, evaluation_items};
use duskmatch::train::checkpoint::{self, BEST, LATEST};
use duskmatch::train::metrics_log::{self, Record};
use duskmatch::train::{TrainEvent, Trainer};

use crate::common::*;
use crate::train::tiny;

#[test]
fn epoch_retrieval_equals_eval_of_that_checkpoint_and_best_is_kept() {
    let (mut cfg, ds) = tiny(40);
    cfg.epochs = 2;
    cfg.save_every = 1;
    let dir = tempdir();
    Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path())
        .unwrap()
        .train()
        .unwrap();
    let records = metrics_log::read(&dir.path().join(metrics_log::FILE), u64::MAX);
    let scores: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Epoch {
                step, retrieval, ..
            } => Some((*step, retrieval.expect("held-out scores at every epoch"))),
            _ => None,
        })
        .collect();
    assert_eq!(scores.len(), 2);
    // Recompute epoch 1 from its numbered checkpoint, as `duskmatch eval` does.
    let ck = checkpoint::load(&dir.path().join("epoch-0001.dmck")).unwrap();
    assert_eq!(ck.header.state.at.step, scores[0].0);
    let model = ck.build_model(&cpu()).unwrap();
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let (items, _) = evaluation_items(&ds, Some(&split));
    let methods = compare_methods(
        &model,
        &cfg.model,
        &ds,
        &items,
        Domain::Night,
        false,
        None,
        &cpu(),
        cfg.seed,
    );
    let m = &methods[0].evaluation.metrics;
    let s = scores[0].1;
    assert_eq!(Some(s.recall_1), m.recall_1);
    assert_eq!(Some(s.recall_10), m.recall_10);
    assert_eq!(Some(s.map), m.map);
    assert_eq!(s.domain_probe, m.domain_probe);
    // Sums of the same f32 distances in f64: equal to the last bits that printing shows.
    let (probe, ratio) = (s.domain_probe.unwrap(), s.distance_ratio.unwrap());
    assert!((ratio - m.distance_ratio.unwrap()).abs() < 1e-12);
    assert!((0.0..=1.0).contains(&probe) && ratio > 0.0);

    // best.dmck holds the epoch with the better scores, and says so in its state.
    let best = checkpoint::load(&dir.path().join(BEST)).unwrap();
    let kept = best.header.state.best.unwrap();
    let want = if scores[1].1.better_than(&scores[0].1) {
        scores[1]
    } else {
        scores[0]
    };
    assert_eq!(kept, want.1);
    assert_eq!(best.header.state.at.step, want.0);
}

#[test]
fn a_checkpoint_from_before_the_discriminators_resumes_with_fresh_ones() {
    let (mut cfg, ds) = tiny(12);
    cfg.objective = Objective::Research;
    cfg.max_steps = 2;
    let dir = tempdir();
    Trainer::new(cfg.clone(), ds.clone(), device::cpu(), dir.path())
        .unwrap()
        .train()
        .unwrap();
    // Files written before the discriminators end after the optimiser section: drop the four
    // empty trailing sections (image and latent discriminators and their optimisers, each a
    // zero length and the zero checksum of no bytes) that a research run now writes.
    let path = dir.path().join(LATEST);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[bytes.len() - 48..], &[0u8; 48]);
    std::fs::write(&path, &bytes[..bytes.len() - 48]).unwrap();
    let ck = checkpoint::load(&path).unwrap();
    assert!(ck.discriminators.is_none() && ck.optimizer.is_some());
    assert!(ck.latent_discriminator.is_none());

    let mut aligned = cfg;
    aligned.objective = Objective::Aligned;
    aligned.align.weights.latent = 0.5;
    aligned.max_steps = 4;
    let (tx, rx) = mpsc::channel();
    let summary = Trainer::new(aligned, ds, device::cpu(), dir.path())
        .unwrap()
        .with_events(tx)
        .resume_from(ck)
        .unwrap()
        .train()
        .unwrap();
    assert_eq!(summary.progress.step, 4);
    assert!(summary.last.gan > 0.0);
    // The preset's translation-contrastive term and domain mean gap are on and counted in
    // the total.
    let l = summary.last;
    assert!(l.contrast > 0.0 && l.mean_gap > 0.0, "{l:?}");
    let sum = 10.0 * l.reconstruction
        + 0.01 * l.kl
        + 10.0 * l.cycle
        + 0.01 * l.cycle_kl
        + l.gan
        + l.contrast
        + l.mean_gap
        + 0.5 * l.latent;
    assert!(l.latent > 0.0 && l.latent_discriminator > 0.0, "{l:?}");
    assert!((l.total - sum).abs() < 1e-3 * sum.abs().max(1.0), "{l:?}");
    let warnings: Vec<String> = rx
        .try_iter()
        .filter_map(|e| match e {
            TrainEvent::Warning(w) => Some(w),
            _ => None,
        })
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("no image discriminators")
                && w.contains("no latent domain discriminator")),
        "{warnings:?}"
    );
    // The shipped checkpoint (written before this change) still loads.
    let shipped = checkpoint::load(std::path::Path::new("checkpoints/compact-town.dmck")).unwrap();
    assert!(shipped.build_model(&cpu()).is_ok());
}

#[test]
fn the_aligning_terms_lower_the_domain_probe_below_the_research_objective() {
    use duskmatch::retrieval::embed::{all_items, embed};
    use duskmatch::retrieval::invariance::domain_probe;
    let (mut cfg, ds) = tiny(64);
    cfg.max_steps = 200;
    cfg.epochs = 1000;
    let probe = |objective: Objective| {
        let mut c = cfg.clone();
        c.objective = objective;
        let dir = tempdir();
        let run = Trainer::new(c, ds.clone(), device::cpu(), dir.path())
            .unwrap()
            .train()
            .unwrap();
        // Every place of the town, so the probe's held-out half has 64 rows.
        let e = embed(&run.model, &ds, all_items(&ds), &cpu(), 32, |_, _| {});
        domain_probe(&e).unwrap()
    };
    let research = probe(Objective::Research);
    let aligned = probe(Objective::Aligned);
    eprintln!("domain probe after 200 tiny steps: research {research:.3}, aligned {aligned:.3}");
    assert!(
        aligned < research - 0.1,
        "research {research}, aligned {aligned}"
    );
}
