//! How the app starts: the remembered settings, the checkpoint to show, the backend, where
//! runs go.

use std::path::PathBuf;

use super::settings::Settings;
use crate::data::DataSource;
use crate::device::BackendChoice;

/// How the app starts.
#[derive(Clone)]
pub struct AppOptions {
    pub settings: Settings,
    /// A checkpoint to show; None looks for the one shipped in `checkpoints/`.
    pub checkpoint: Option<PathBuf>,
    /// Skip the shipped checkpoint entirely (tests).
    pub no_checkpoint: bool,
    pub backend: BackendChoice,
    /// Where new runs are written.
    pub runs_dir: PathBuf,
    /// A dataset to open on instead of the remembered one (`duskmatch --data DIR`).
    pub data: Option<DataSource>,
    /// When the process started (for the first-frame time).
    pub launched: std::time::Instant,
    /// Run folders to open the Runs tab on (`duskmatch --runs DIR…`).
    pub runs: Vec<PathBuf>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            checkpoint: None,
            no_checkpoint: false,
            backend: BackendChoice::Auto,
            runs_dir: PathBuf::from("runs"),
            data: None,
            launched: std::time::Instant::now(),
            runs: Vec::new(),
        }
    }
}
