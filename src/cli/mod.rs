//! The command line: with no subcommand the app opens; the subcommands serve servers and
//! scripts with the same code the app uses.

pub mod bench;
pub mod eval;
pub mod figure;
pub mod info;
pub mod progress;
pub mod runs;
pub mod saliency;
pub mod synth;
pub mod train;
pub mod value;
pub mod weights;

use clap::{Args, Parser, Subcommand};

use std::path::PathBuf;

use crate::data::robotcar::RobotCarSelection;
use crate::data::synth::SynthConfig;
use crate::data::{Domain, LayoutOptions};
use crate::train::Preset;
pub use crate::train::run_dir::{default_run_dir, format_timestamp};

/// Run a training stage as a job (its panic caught) whose Ctrl+C stops it; the caller reads
/// its events with [`Job::next_event`](crate::run::Job::next_event) and then waits.
pub fn spawn_stage<T: Send + 'static, E: Send + 'static>(
    name: &str,
    what: &str,
    work: impl FnOnce(crate::run::RunLink<E>) -> Result<T, String> + Send + 'static,
) -> crate::run::Job<T, E> {
    let job = crate::run::Job::spawn_run(name, what, || {}, work);
    stop_on_ctrl_c(job.commander());
    job
}

/// Ctrl+C stops the run in progress through its command channel (it saves on its way out).
/// The handler is set once per process; each run of a command registers its own sender.
fn stop_on_ctrl_c(commander: Option<std::sync::mpsc::Sender<crate::train::Command>>) {
    use std::sync::{Mutex, OnceLock};
    type Slot = Mutex<Option<std::sync::mpsc::Sender<crate::train::Command>>>;
    static CURRENT: OnceLock<Slot> = OnceLock::new();
    let mut first = false;
    let slot = CURRENT.get_or_init(|| {
        first = true;
        Mutex::new(None)
    });
    if let Ok(mut s) = slot.lock() {
        *s = commander;
    }
    if first {
        let _ = ctrlc::set_handler(|| {
            if let Some(Ok(s)) = CURRENT.get().map(|m| m.lock())
                && let Some(tx) = s.as_ref()
            {
                let _ = tx.send(crate::train::Command::Stop);
            }
        });
    }
}

/// Read a model checkpoint for a command, telling stderr what the file itself warrants
/// (one from before section checksums).
pub fn load_checkpoint(
    path: &std::path::Path,
) -> Result<crate::train::checkpoint::Checkpoint, String> {
    let ck = crate::train::checkpoint::load(path)?;
    if let Some(n) = &ck.notice {
        eprintln!("note: {n}");
    }
    Ok(ck)
}

#[derive(Parser, Debug)]
#[command(
    name = "duskmatch",
    version,
    about = "Learn to recognise the same place by day and by night."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// (app) Show this checkpoint instead of the one shipped in checkpoints/.
    #[arg(long, global = false)]
    pub checkpoint: Option<std::path::PathBuf>,
    /// (app) Open on this dataset: `synth` or a folder in any layout `--data` reads.
    #[arg(long = "data", global = false, value_name = "DIR")]
    pub app_data: Option<String>,
    /// (app) Device for training and inference.
    #[arg(long, value_enum, default_value_t = crate::device::BackendChoice::Auto, help = backend_help())]
    pub backend: crate::device::BackendChoice,
    /// (app) Open on the Runs tab with these run folders (or folders of runs) side by side.
    #[arg(long = "runs", global = false, value_name = "DIR", num_args = 1..)]
    pub app_runs: Vec<std::path::PathBuf>,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Cmd {
    /// Train the double VAE headlessly, with a progress bar.
    Train(train::TrainArgs),
    /// Write the synthetic day/night town to a folder (day/, night/, places.csv).
    Synth(synth::SynthArgs),
    /// Print the layer table and parameter count of a preset, or describe a checkpoint.
    Info(info::InfoArgs),
    /// Retrieval metrics of a checkpoint beside the pixel and random-encoder baselines.
    Eval(eval::EvalArgs),
    /// Export embeddings as .npy (+ .json with file names, domains and places).
    Embed(eval::EmbedArgs),
    /// Learn the siamese channel weighting of a trained model (the supervised stage).
    Weights(weights::WeightsArgs),
    /// Back-propagate a latent channel to the pixels of an image (overlay PNG + .npy).
    Saliency(saliency::SaliencyArgs),
    /// Render the four-column figure (original, reconstruction, cycle, translation) to a PNG.
    Figure(figure::FigureArgs),
    /// Measure training and encoding throughput (JSON lines, as the PyTorch reference).
    Bench(bench::BenchArgs),
    /// Several runs side by side: last and best held-out scores, and the settings that differ.
    Runs(runs::RunsArgs),
}

/// Where images come from, shared by every subcommand that reads a dataset.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// `synth` for the synthetic town, or a folder (DIR/day + DIR/night, or RobotCar Seasons).
    #[arg(long)]
    pub data: Option<String>,
    /// Places in the synthetic town.
    #[arg(long)]
    pub places: Option<usize>,
    /// Seed of the synthetic town.
    #[arg(long)]
    pub synth_seed: Option<u64>,
    /// How the synthetic town's night (query) images are rendered: the usual night, or a
    /// condition no model trains on (dusk, fog, rain, warm, cool, dark, bright, noise,
    /// jitter). The day database is the same whatever it is.
    #[arg(long, value_enum)]
    pub condition: Option<crate::data::synth::Condition>,
    /// RobotCar conditions read as day (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub day_conditions: Vec<String>,
    /// RobotCar conditions read as night (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub night_conditions: Vec<String>,
    /// RobotCar cameras to read (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub cameras: Vec<String>,
    /// Positions of the images: a CSV of `image,easting,northing` (metres), or with a header
    /// naming `file` and `easting,northing` or `lat,lon`; every image must have a row.
    #[arg(long, value_name = "FILE")]
    pub positions: Option<PathBuf>,
    /// The encoder that reads the queries (default: each image's own domain; night for a
    /// benchmark's queries/ unless a sub-folder or places.csv says otherwise).
    #[arg(long, value_name = "DOMAIN")]
    pub query_domain: Option<Domain>,
    /// The encoder that reads the database (default day; Pittsburgh and SF-XL are day
    /// against day: --query-domain day).
    #[arg(long, value_name = "DOMAIN")]
    pub database_domain: Option<Domain>,
    /// A VPR downloader root's split: images/<SPLIT>/{database,queries} (default: test, else
    /// val, else train).
    #[arg(long, value_name = "SPLIT", value_parser = ["train", "val", "test"])]
    pub split: Option<String>,
}

impl DataArgs {
    pub fn synth(&self, base: SynthConfig) -> SynthConfig {
        SynthConfig {
            places: self.places.unwrap_or(base.places),
            seed: self.synth_seed.unwrap_or(base.seed),
            condition: self.condition.unwrap_or(base.condition),
        }
    }

    pub fn layout(&self) -> LayoutOptions {
        LayoutOptions {
            positions: self.positions.clone(),
            query_domain: self.query_domain,
            database_domain: self.database_domain,
            split: self.split.clone(),
        }
    }

    pub fn robotcar(&self) -> RobotCarSelection {
        let mut sel = RobotCarSelection::default();
        if !self.day_conditions.is_empty() {
            sel.day_conditions = self.day_conditions.clone();
        }
        if !self.night_conditions.is_empty() {
            sel.night_conditions = self.night_conditions.clone();
        }
        sel.cameras = self.cameras.clone();
        sel
    }
}

/// The preset to start from when none is named: the paper model on a GPU, compact on a CPU.
pub fn default_preset(is_gpu: bool) -> Preset {
    if is_gpu {
        Preset::Paper
    } else {
        Preset::Compact
    }
}

pub fn backend_help() -> &'static str {
    "auto: a hardware GPU through wgpu, else the CPU; gpu: wgpu even on a software adapter; cpu: burn Flex"
}
