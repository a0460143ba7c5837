//! What the app remembers between runs (eframe persistence): the dataset, the config, the
//! last checkpoint and view options. Window layout is remembered by eframe itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::data::DataSource;
use crate::data::synth::SynthConfig;
use crate::train::{Preset, TrainingConfig};

pub const STORAGE_KEY: &str = "duskmatch-settings";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Tab {
    #[default]
    Training,
    Retrieval,
    Saliency,
    Runs,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub config: TrainingConfig,
    /// The checkpoint shown at start (the shipped one unless the user trained another).
    pub checkpoint: Option<PathBuf>,
    /// Refresh the image grids every this many steps.
    pub snapshot_every: u64,
    pub ema: f64,
    pub log_y: bool,
    pub x_in_epochs: bool,
    pub tab: Tab,
    /// Rebuild the retrieval index at every new snapshot while training.
    pub retrieval_follows_training: bool,
}

impl Default for Settings {
    fn default() -> Self {
        let mut config = Preset::Compact.config();
        config.data = DataSource::Synth(SynthConfig::default());
        Self {
            config,
            checkpoint: None,
            snapshot_every: 25,
            ema: 0.6,
            log_y: false,
            x_in_epochs: false,
            tab: Tab::Training,
            retrieval_follows_training: false,
        }
    }
}

/// Where the shipped checkpoint is looked for, in order.
pub fn shipped_checkpoint_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("DUSKMATCH_CHECKPOINT") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("checkpoints").join(SHIPPED_NAME));
    v.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("checkpoints")
            .join(SHIPPED_NAME),
    );
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        v.push(dir.join("checkpoints").join(SHIPPED_NAME));
    }
    v
}

pub const SHIPPED_NAME: &str = "compact-town.dmck";
