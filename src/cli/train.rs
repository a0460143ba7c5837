//! `duskmatch train`: the Trainer on a worker thread, a progress bar on this one.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{DataArgs, default_preset, default_run_dir};
use crate::data::DataSource;
use crate::device::{self, BackendChoice};
use crate::model::terms::{self, Section, Term};
use crate::model::{LossValues, Objective, TERMS};
use crate::train::{Preset, TrainEvent, Trainer, TrainingConfig};
use crate::train::{checkpoint, plan};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML file overriding fields of the preset (every field optional).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Starting point: paper (GPU) or compact (CPU); default follows the device.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Train this many epochs in total (a resumed run counts the epochs it has done).
    #[arg(long, conflicts_with_all = ["steps", "more_epochs"])]
    pub epochs: Option<usize>,
    /// With --resume: train this many epochs more than the checkpoint has done (what the
    /// app's Continue does with its epochs field).
    #[arg(long, requires = "resume", conflicts_with = "steps")]
    pub more_epochs: Option<usize>,
    /// Stop after this many steps in total.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Run folder for checkpoints and logs (default runs/<timestamp>/, or the resumed folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from a run folder or checkpoint file.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto, help = super::backend_help())]
    pub backend: BackendChoice,
    /// Seed for weights, data order, noise and the split.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Images per domain per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// research: docs/design.md §2 exactly; aligned: + image discriminators (§2b, the default).
    #[arg(long, value_enum)]
    pub objective: Option<Objective>,
    /// One flag per aligning term of the registry (`--gan`, `--contrast`, `--mean-gap`,
    /// `--latent`, …): its weight under the aligned objective; 0 turns it off.
    #[command(flatten)]
    pub terms: TermFlags,
    /// No progress bar; one line per epoch.
    #[arg(long)]
    pub quiet: bool,
}

/// The config a run will use: checkpoint or preset, then the TOML file, then flags.
fn resolve_config(
    args: &TrainArgs,
    is_gpu: bool,
    resumed: Option<&checkpoint::Checkpoint>,
) -> Result<TrainingConfig, String> {
    let mut cfg = match resumed {
        Some(ck) => ck.header.config.clone(),
        None => args.preset.unwrap_or(default_preset(is_gpu)).config(),
    };
    if let (Some(ck), Some(p)) = (resumed, args.preset) {
        ck.check_architecture(&p.config().model)
            .map_err(|e| format!("--preset {}: {e}", p.name()))?;
    }
    if let Some(path) = &args.config {
        cfg = cfg.merge_file(path)?;
        if let Some(ck) = resumed {
            ck.check_architecture(&cfg.model)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if let Some(spec) = &args.data.data {
        let synth = match &cfg.data {
            DataSource::Synth(s) => *s,
            _ => Default::default(),
        };
        cfg.data = DataSource::parse_with(
            spec,
            args.data.synth(synth),
            args.data.robotcar(),
            args.data.layout(),
        )?;
    } else if let DataSource::Synth(s) = &cfg.data {
        cfg.data = DataSource::Synth(args.data.synth(*s));
    }
    if let Some(e) = args.epochs {
        cfg.epochs = e;
        cfg.max_steps = 0;
    }
    if let Some(ck) = resumed {
        let at = ck.header.state.at;
        if let Some(more) = args.more_epochs {
            plan::extend_by_epochs(&mut cfg, at, more)?;
        }
        // Both count the whole run, so a value the checkpoint has already reached trains nothing.
        plan::check_limits(at, args.steps, args.epochs)?;
    }
    if let Some(s) = args.steps {
        cfg.max_steps = s;
        cfg.epochs = cfg.epochs.max(1_000_000); // steps decide
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(b) = args.batch_size {
        cfg.batch_size = b;
    }
    if let Some(o) = args.objective {
        cfg.objective = o;
    }
    for (term, w) in &args.terms.0 {
        if let Some(slot) = term.weight_mut(&mut cfg.loss_weights, &mut cfg.align.weights) {
            *slot = *w;
        }
    }

    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

pub fn run(args: TrainArgs) -> Result<(), String> {
    let dev = device::select(args.backend)?;
    eprintln!("device: {}", dev.label);
    if let Some(note) = &dev.note {
        eprintln!("note: {note}");
    }
    let resumed = match &args.resume {
        Some(p) => Some(super::load_checkpoint(p)?),
        None => None,
    };
    let cfg = resolve_config(&args, dev.is_gpu, resumed.as_ref())?;
    let out = match (&args.out, &args.resume) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) if r.is_dir() => r.clone(),
        (None, Some(r)) => r
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_else(default_run_dir),
        (None, None) => default_run_dir(),
    };
    eprintln!(
        "data: {} at {} px",
        cfg.data.describe(),
        cfg.model.image_size
    );
    let (dataset, report) = cfg.data.load(cfg.model.framing())?;
    for s in &report.skipped {
        eprintln!("warning: {s}");
    }
    eprintln!("{}: {}", dataset.describe(), report.summary());

    let mut trainer = Trainer::new(cfg.clone(), Arc::new(dataset), dev, &out)?;
    if let Some(ck) = resumed {
        trainer = trainer.resume_from(ck)?;
    }
    eprintln!("run folder: {}", out.display());
    eprintln!(
        "objective: {}{}",
        cfg.objective.describe(),
        terms::describe_aligning(cfg.objective, &cfg.align)
    );
    let job = super::spawn_stage("trainer", "training", move |link| {
        Ok(trainer
            .with_events(link.events)
            .with_commands(link.commands)
            .train()?)
    });

    let summary = super::progress::follow(job, args.quiet, |event, out| match event {
        TrainEvent::Started {
            progress,
            resumed: true,
            ..
        } => out.line(format!(
            "resumed at epoch {} step {}",
            progress.epoch + 1,
            progress.step
        )),
        TrainEvent::Step(r) => out.status(format!(
            "ep {}/{}  {}  {:.2} steps/s  {:.1} img/s",
            r.progress.epoch + 1,
            r.progress.epochs,
            losses_text(&r.losses, &cfg, "  ", false),
            r.steps_per_sec,
            r.images_per_sec
        )),
        TrainEvent::Epoch(r) => {
            let val = r
                .val
                .map(|v| format!("val {}", losses_text(&v, &cfg, " ", true)))
                .unwrap_or_else(|| "no validation set".into());
            let retrieval = r
                .retrieval
                .map(|s| {
                    format!(
                        "  held-out R@1 {:.3} R@10 {:.3} mAP {:.3} probe {} ratio {}",
                        s.recall_1,
                        s.recall_10,
                        s.map,
                        crate::retrieval::eval::score_text(s.domain_probe, 2),
                        crate::retrieval::eval::score_text(s.distance_ratio, 3)
                    )
                })
                .unwrap_or_default();
            out.line(format!(
                "epoch {:>3}: train total {:.4}  {val}{retrieval}  lr {:.2e}{}",
                r.epoch + 1,
                r.train.total,
                r.lr,
                if r.lr_reduced {
                    " (reduced on plateau)"
                } else {
                    ""
                }
            ));
        }
        TrainEvent::Finished {
            reason, progress, ..
        } => {
            // Epochs counted from 1, as the other lines print them.
            let spe = progress.steps_per_epoch as u64;
            let place = if spe > 0 && progress.step.is_multiple_of(spe) {
                format!("after epoch {}", progress.epoch)
            } else {
                format!("in epoch {}", progress.epoch + 1)
            };
            out.line(format!(
                "finished ({reason:?}) at step {} ({place})",
                progress.step
            ));
        }
        _ => {}
    })?;
    println!(
        "final training losses: {}",
        losses_text(&summary.last, &cfg, ", ", false)
    );
    if let Some(v) = summary.val {
        println!(
            "final validation losses: {}",
            losses_text(&v, &cfg, ", ", true)
        );
    }
    if let Some(c) = summary.checkpoint {
        println!("checkpoint: {}", c.display());
    }
    Ok(())
}

/// "total 1.2345, reconstruction …" over the total and every term the run's objective adds
/// (validation computes the research terms only; a critic that was not built reports 0).
fn losses_text(l: &LossValues, cfg: &TrainingConfig, sep: &str, validation: bool) -> String {
    let active = TERMS
        .iter()
        .filter(|t| t.active(cfg.objective, &cfg.loss_weights, &cfg.align.weights))
        .filter(|t| !validation || t.section == Section::Research)
        .map(|t| (t, l.get(t.name).unwrap_or(f32::NAN)))
        .filter(|(t, v)| t.section != Section::Critic || *v != 0.0)
        .map(|(t, v)| (t.name, v));
    std::iter::once(("total", l.total))
        .chain(active)
        .map(|(name, v)| format!("{name} {v:.4}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// The weight flags of the registry's aligning terms, built from it (so a new term gets its
/// flag with no line here): `(term, weight)` for each flag given.
#[derive(Debug, Clone, Default)]
pub struct TermFlags(pub Vec<(&'static Term, f64)>);

fn aligning_terms() -> impl Iterator<Item = &'static Term> {
    TERMS.iter().filter(|t| t.section == Section::Aligning)
}

impl clap::FromArgMatches for TermFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = TermFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        for term in aligning_terms() {
            if let Some(&w) = m.get_one::<f64>(term.name) {
                self.0.retain(|(t, _)| t.name != term.name);
                self.0.push((term, w));
            }
        }
        Ok(())
    }
}

impl clap::Args for TermFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        aligning_terms().fold(cmd, |cmd, term| {
            cmd.arg(
                clap::Arg::new(term.name)
                    .long(term.flag())
                    .value_name("WEIGHT")
                    .value_parser(clap::value_parser!(f64))
                    .help(format!(
                        "Weight of the {} term (aligned objective; 0 turns it off): {}",
                        term.spec.label, term.spec.help
                    )),
            )
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}
