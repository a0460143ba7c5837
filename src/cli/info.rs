//! `duskmatch info`: the architecture of a preset, or what a checkpoint holds.

use std::path::PathBuf;

use burn::prelude::Device;
use clap::Args;

use crate::model::DoubleVae;
use crate::model::summary::{layer_table, render_table, table_total, trainable_params};
use crate::train::{Preset, checkpoint};

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[arg(long, value_enum, default_value_t = Preset::Paper)]
    pub preset: Preset,
    /// Describe this checkpoint (file or run folder) instead of a preset.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
}

pub fn run(args: InfoArgs) -> Result<(), String> {
    let (cfg, source) = match &args.checkpoint {
        Some(p) => {
            let ck = super::load_checkpoint(p)?;
            let s = &ck.header.state;
            println!("checkpoint {}", checkpoint::resolve(p)?.display());
            println!(
                "  epoch {} (step {} in it), {} steps in all, learning rate {:.3e}, optimiser state: {}",
                s.at.epoch,
                s.at.step_in_epoch,
                s.at.step,
                s.scheduler.lr,
                if ck.optimizer.is_some() {
                    "yes (resumable)"
                } else {
                    "no (weights only)"
                }
            );
            println!("  data: {}", ck.header.config.data.describe());
            if let Some(t) = crate::supervised::FineTuneStamp::of(&ck)? {
                println!(
                    "  fine-tuned on {}: epoch {} of {} ({} steps) from the stage-one checkpoint {} at step {}; the optimiser state is the fine-tuning's (resume it with `weights --method fine-tune --resume`)",
                    if t.config.pseudo_labels {
                        "its own mutual matches, no place labels"
                    } else {
                        "place labels"
                    },
                    t.state.at.epoch,
                    t.config.epochs,
                    t.state.at.step,
                    t.stage_one.display(),
                    t.stage_one_step
                );
            }
            (ck.header.config, "checkpoint")
        }
        None => (args.preset.config(), args.preset.name()),
    };
    let model = DoubleVae::new(&cfg.model, 0, &Device::flex());
    let rows = layer_table(&model, &cfg.model);
    println!("model ({source}): {}", cfg.model.describe());
    print!("{}", render_table(&rows));
    // The total is the model's own count; the rows are read off the same modules, so they
    // add up to it (tests/suite/cli.rs checks both on every preset and shipped file).
    let n = trainable_params(&model);
    println!("trainable parameters: {n}");
    if model.backbone.is_some() {
        let frozen: usize = rows.iter().map(|r| r.frozen).sum();
        println!(
            "pretrained, frozen: {frozen} weights of {} (compiled in; not in checkpoints, not trained)",
            crate::model::backbone::SOURCE
        );
    }
    let listed = table_total(&rows);
    if listed != n {
        println!("(the rows above list {listed} of them)");
    }
    Ok(())
}
