//! The checkpoint the app opens on: found among the one asked for, the last one used and the
//! one shipped in `checkpoints/`, read with its curves on a job so the first frame never
//! waits.

use std::path::PathBuf;

use super::history::LossHistory;
use super::notices::{Level, Notices};
use super::options::AppOptions;
use super::settings::{self, Settings};
use crate::run::job::Job;
use crate::train::checkpoint::{self, Checkpoint};

/// The checkpoint whose model the panels show when no training snapshot is selected.
pub struct LoadedCheckpoint {
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
}

/// What reading the startup checkpoint found, off the GUI thread.
pub struct StartupLoad {
    pub loaded: Option<LoadedCheckpoint>,
    pub notices: Notices,
    pub history: Option<LossHistory>,
}

/// Read the startup checkpoint and its curves on a job; `wake` is called when it is done.
pub fn load_in_background(
    options: AppOptions,
    settings: Settings,
    wake: impl Fn() + Send + 'static,
) -> Job<StartupLoad> {
    Job::spawn(
        "checkpoint-loader",
        "loading the checkpoint",
        wake,
        move |_| {
            let mut notices = Notices::default();
            let loaded = find_checkpoint(&options, &settings, &mut notices);
            let history = loaded.as_ref().and_then(|l| {
                let h = crate::supervised::fine_tune::history_log(&l.path, &l.checkpoint)?;
                if let Some(parent) = &h.inherited {
                    notices.push(
                        Level::Info,
                        format!(
                            "curves: this checkpoint was fine-tuned from {}; its training curves up to step {} are shown",
                            parent.display(),
                            h.max_step
                        ),
                    );
                }
                Some(LossHistory::from_records(&crate::train::metrics_log::read(
                    &h.log, h.max_step,
                )))
            });
            Ok(StartupLoad {
                loaded,
                notices,
                history,
            })
        },
    )
}

pub fn find_checkpoint(
    options: &AppOptions,
    settings: &Settings,
    notices: &mut Notices,
) -> Option<LoadedCheckpoint> {
    let candidates: Vec<PathBuf> = match &options.checkpoint {
        Some(p) => vec![p.clone()],
        None => settings
            .checkpoint
            .iter()
            .cloned()
            .chain(settings::shipped_checkpoint_candidates())
            .collect(),
    };
    for path in &candidates {
        if !path.exists() {
            continue;
        }
        match checkpoint::load(path) {
            Ok(checkpoint) => {
                if let Some(n) = &checkpoint.notice {
                    notices.push(Level::Info, n.clone());
                }
                return Some(LoadedCheckpoint {
                    path: path.clone(),
                    checkpoint,
                });
            }
            Err(e) => notices.push(Level::Warning, e.to_string()),
        }
    }
    notices.push(Level::Warning, format!(
            "No checkpoint found (looked for checkpoints/{}): the image panels stay empty until you train. \
             `cargo run -- train --preset compact` makes one.",
            settings::SHIPPED_NAME
        ),
    );
    None
}
