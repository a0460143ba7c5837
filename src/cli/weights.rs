//! `duskmatch weights`: the supervised stage. By default the siamese channel weighting of a
//! trained model, with the share of channels that carry 90 % of the weight; `--compare-depths`
//! trains 1, 3 and 6 depths and writes their held-out triplet-loss curves side by side (the
//! research's figure). `--method fine-tune` trains the encoders themselves on the place
//! labels and writes a model checkpoint (`latest.dmck`, `best.dmck`).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::DataArgs;
use super::eval::load_for_eval;
use crate::data::Split;
use crate::device::BackendChoice;
use crate::retrieval::eval::score_text;
use crate::supervised::plan;
use crate::supervised::weights::{importance, share_for_mass};
use crate::supervised::{
    Depths, Hinge, Mining, Resume, SupervisedConfig, SupervisedEvent, SupervisedMethod,
    SupervisedTrainer, Trained,
};
use crate::train::checkpoint;

#[derive(Args, Debug)]
pub struct WeightsArgs {
    /// Stage-one checkpoint (file or run folder).
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// weights: learn channel weights of the frozen encoder; fine-tune: train the encoders
    /// on the place labels (triplets with in-batch hard negatives).
    #[arg(long, value_enum, default_value_t = SupervisedMethod::Weights)]
    pub method: SupervisedMethod,
    #[arg(long, value_enum, default_value_t = Depths::Latent)]
    pub depths: Depths,
    #[arg(long, value_enum, default_value_t = Hinge::Triplet)]
    pub hinge: Hinge,
    /// Negatives: random (default for weights) or batch-hard (default for fine-tuning).
    #[arg(long, value_enum)]
    pub mining: Option<Mining>,
    /// Epochs in total (default 30 for weights, 12 for fine-tuning).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Adam learning rate (default 1e-3 for weights, 1e-4 for fine-tuning).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Triplet margin (default 1).
    #[arg(long)]
    pub margin: Option<f32>,
    /// Places per batch (default 16).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Output folder (default: beside the checkpoint, weights-<depths>-<hinge>/ or
    /// fine-tune/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from this weights file, fine-tuned checkpoint, or their folder.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Train the latent, 3-depth and 6-depth weightings and write their curves side by side.
    #[arg(long)]
    pub compare_depths: bool,
    /// Learn from the model's own confident matches instead of the place labels (which are
    /// dropped from the training images): a night and a day training image that are each
    /// other's nearest neighbour are one place. No label reaches the stage.
    #[arg(long)]
    pub pseudo_labels: bool,
    /// With --pseudo-labels: the share of the mutual matches kept, the most distinct first
    /// (lowest nearest/second-nearest distance ratio); 1 keeps every mutual match.
    #[arg(long, default_value_t = 1.0)]
    pub pseudo_keep: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// No progress bar; one line per epoch.
    #[arg(long)]
    pub quiet: bool,
}

pub fn run(args: WeightsArgs) -> Result<(), String> {
    let (ck, model, ds, split, dev) =
        load_for_eval(&args.checkpoint, &args.data, args.backend, |_| {
            crate::data::Pixels::Decoded
        })?;
    let cfg = ck.header.config.clone();
    let split = split.unwrap_or_else(|| Split::new(&ds, cfg.validation_fraction, cfg.seed));
    let ds = if args.pseudo_labels {
        if !(args.pseudo_keep > 0.0 && args.pseudo_keep <= 1.0) {
            return Err(format!(
                "--pseudo-keep {} is not allowed: expected a share in (0, 1]",
                args.pseudo_keep
            ));
        }
        let (relabelled, report) = crate::supervised::pseudo::pseudo_label(
            &model,
            &ds,
            &split,
            args.pseudo_keep,
            &dev.device,
        );
        println!("{}", report.describe());
        relabelled
    } else {
        ds
    };
    let ds = Arc::new(ds);
    let stage_one = (
        checkpoint::resolve(&args.checkpoint)?,
        ck.header.state.at.step,
    );
    let base = args
        .checkpoint
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let runs: Vec<Depths> = if args.compare_depths {
        Depths::ALL.to_vec()
    } else {
        vec![args.depths]
    };
    if args.compare_depths && args.method == SupervisedMethod::FineTune {
        return Err(
            "--compare-depths compares channel weightings; drop it with --method fine-tune".into(),
        );
    }
    let mut curves = serde_json::Map::new();
    for depths in runs {
        let defaults = plan::config(args.method, depths, args.hinge);
        let wc = SupervisedConfig {
            mining: args.mining.unwrap_or(defaults.mining),
            epochs: args.epochs.unwrap_or(defaults.epochs),
            learning_rate: args.lr.unwrap_or(defaults.learning_rate),
            margin: args.margin.unwrap_or(defaults.margin),
            batch_size: args.batch_size.unwrap_or(defaults.batch_size),
            seed: args.seed,
            pseudo_labels: args.pseudo_labels,
            ..defaults
        };
        wc.validate().map_err(|e| e.to_string())?;
        let out = match &args.out {
            Some(o) if args.compare_depths => o.join(plan::folder_name(&wc)),
            Some(o) => o.clone(),
            None => base.join(plan::folder_name(&wc)),
        };
        let mut trainer = SupervisedTrainer::new(
            wc.clone(),
            &model,
            cfg.model,
            ds.clone(),
            &split,
            dev.clone(),
            &out,
            stage_one.clone(),
        )?
        .with_stage_one_header(ck.header.clone());
        if let Some(r) = &args.resume {
            trainer = trainer.resume_with(Resume::load(r)?)?;
        }
        let t0 = std::time::Instant::now();
        let job = super::spawn_stage("supervised", "the supervised stage", move |link| {
            Ok(trainer
                .with_events(link.events)
                .with_commands(link.commands)
                .train()?)
        });
        let trained = super::progress::follow(job, args.quiet, |e, out| {
            match e {
            SupervisedEvent::Started {
                steps_per_epoch,
                train_places,
                val_places,
                ..
            } => out.line(format!(
                "{}: {train_places} training places, {val_places} held-out triplets, {steps_per_epoch} steps per epoch",
                depths.name()
            )),
            SupervisedEvent::Step { loss, .. } => out.status(format!("triplet {loss:.4}")),
            SupervisedEvent::Epoch {
                epoch,
                train,
                val,
                share90,
                retrieval,
                ..
            } => {
                let val = crate::retrieval::eval::score_text(val.map(f64::from), 4);
                out.line(match retrieval {
                    Some(r) => format!(
                        "epoch {:>3}: train {train:.4}  held-out triplet loss {val}  night->day R@1 {:.3} R@10 {:.3} mAP {:.3} probe {}",
                        epoch + 1,
                        r.recall_1,
                        r.recall_10,
                        r.map,
                        crate::retrieval::eval::score_text(r.domain_probe, 2)
                    ),
                    None => format!(
                        "epoch {:>3}: train {train:.4}  held-out triplet loss {val}  channels for 90% of |w|: {:.1}%",
                        epoch + 1,
                        share90 * 100.0
                    ),
                })
            }
            _ => {}
        }
        })?;
        let secs = t0.elapsed().as_secs_f64();
        // The app's closing comparison: held-out retrieval before and after the stage.
        let (before, after) =
            plan::before_and_after(&trained, wc.depths, &model, &ds, &split, &dev.device);
        let pair =
            |b: Option<f64>, a: Option<f64>| format!("{} → {}", score_text(b, 3), score_text(a, 3));
        println!(
            "{}: held-out night->day R@1 {}, R@10 {}, mAP {} ({})",
            plan::folder_name(&wc),
            pair(before.recall_1, after.recall_1),
            pair(before.recall_10, after.recall_10),
            pair(before.map, after.map),
            match args.method {
                SupervisedMethod::Weights => "w = 1 → learned weights",
                SupervisedMethod::FineTune => "stage one → fine-tuned",
            }
        );
        let Trained {
            weights: w, state, ..
        } = trained;
        if args.method == SupervisedMethod::FineTune {
            let first = state
                .history
                .first()
                .and_then(|h| h.val)
                .unwrap_or(f32::NAN);
            let last = state.history.last().and_then(|h| h.val).unwrap_or(f32::NAN);
            println!(
                "fine-tuning: held-out triplet loss {first:.4} at the start, {last:.4} after; {secs:.0} s; model in {} (best held-out R@1 in {})",
                out.join(checkpoint::LATEST).display(),
                out.join(checkpoint::BEST).display()
            );
            if let Some(b) = state.best {
                println!(
                    "fine-tuning: best held-out night->day R@1 {:.3} R@10 {:.3} mAP {:.3}",
                    b.recall_1, b.recall_10, b.map
                );
            }
            continue;
        }
        let vecs = w.to_vecs();
        let latent = vecs.last().cloned().unwrap_or_default();
        let (k, share) = share_for_mass(&latent, 0.9);
        let top: Vec<String> = importance(&latent)
            .iter()
            .take(8)
            .map(|(c, v)| format!("{c}:{v:.2}"))
            .collect();
        println!(
            "{}: {k} of {} latent channels ({:.1}%) carry 90% of the total |weight|; top channels {}; {secs:.0} s; weights in {}",
            depths.name(),
            latent.len(),
            share * 100.0,
            top.join(" "),
            out.join(crate::supervised::checkpoint::WEIGHTS_FILE)
                .display()
        );
        let first = state
            .history
            .first()
            .and_then(|h| h.val)
            .unwrap_or(f32::NAN);
        let last = state.history.last().and_then(|h| h.val).unwrap_or(f32::NAN);
        println!(
            "{}: held-out triplet loss {first:.4} with w = 1, {last:.4} learned",
            depths.name()
        );
        curves.insert(
            depths.name().into(),
            serde_json::json!({"history": state.history, "seconds": secs, "share90": share, "channels_for_90": k}),
        );
    }
    if args.compare_depths {
        let dir = args.out.clone().unwrap_or(base);
        let path = dir.join("depth-comparison.json");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        crate::store::write_file(
            &path,
            serde_json::to_string_pretty(&curves)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        )?;
        println!(
            "wrote {} (held-out triplet loss per epoch for each depth choice)",
            path.display()
        );
    }
    Ok(())
}
