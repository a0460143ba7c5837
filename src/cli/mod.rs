//! The command line: with no subcommand the app opens; the subcommands serve servers and
//! scripts with the same code the app uses.

pub mod info;
pub mod synth;
pub mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::data::robotcar::RobotCarSelection;
use crate::data::synth::SynthConfig;
use crate::train::Preset;

#[derive(Parser, Debug)]
#[command(
    name = "duskmatch",
    version,
    about = "Learn to recognise the same place by day and by night."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
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
    /// RobotCar conditions read as day (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub day_conditions: Vec<String>,
    /// RobotCar conditions read as night (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub night_conditions: Vec<String>,
    /// RobotCar cameras to read (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    pub cameras: Vec<String>,
}

impl DataArgs {
    pub fn synth(&self, base: SynthConfig) -> SynthConfig {
        SynthConfig {
            places: self.places.unwrap_or(base.places),
            seed: self.synth_seed.unwrap_or(base.seed),
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

pub fn default_run_dir() -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from("runs").join(format_timestamp(secs))
}

/// `YYYYmmdd-HHMMSS` in UTC, without a date library.
pub fn format_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn backend_help() -> &'static str {
    "auto: a hardware GPU through wgpu, else the CPU; gpu: wgpu even on a software adapter; cpu: burn Flex"
}
