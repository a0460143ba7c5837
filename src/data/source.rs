//! Where a dataset comes from: the embedded synthetic town, or a folder on disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dataset::Dataset;
use super::error::DataError;
use super::folder::{is_folder_layout, load_folder};
use super::image_io::LoadReport;
use super::robotcar::{RobotCarSelection, is_robotcar_layout, load_robotcar};
use super::synth::{SynthConfig, generate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataSource {
    /// The procedural day/night town: no files needed.
    Synth(SynthConfig),
    /// `DIR/day`, `DIR/night`, optional `DIR/places.csv`.
    Folder { path: PathBuf },
    /// `DIR/images/<condition>/<camera>/*.jpg`.
    RobotCar {
        path: PathBuf,
        selection: RobotCarSelection,
    },
}

impl Default for DataSource {
    fn default() -> Self {
        DataSource::Synth(SynthConfig::default())
    }
}

impl DataSource {
    /// `synth` or a directory, whose layout is detected.
    pub fn parse(
        spec: &str,
        synth: SynthConfig,
        robotcar: RobotCarSelection,
    ) -> Result<Self, DataError> {
        if spec.eq_ignore_ascii_case("synth") {
            synth.validate()?;
            return Ok(DataSource::Synth(synth));
        }
        Self::from_dir(Path::new(spec), robotcar)
    }

    /// Detect the layout of a directory (used for `--data DIR` and for folders dropped on the app).
    pub fn from_dir(path: &Path, robotcar: RobotCarSelection) -> Result<Self, DataError> {
        if !path.exists() {
            return Err(DataError::Missing {
                path: path.to_path_buf(),
            });
        }
        if !path.is_dir() {
            return Err(DataError::NotAFolder {
                path: path.to_path_buf(),
            });
        }
        if is_folder_layout(path) {
            Ok(DataSource::Folder {
                path: path.to_path_buf(),
            })
        } else if is_robotcar_layout(path) {
            Ok(DataSource::RobotCar {
                path: path.to_path_buf(),
                selection: robotcar,
            })
        } else {
            let mut found: Vec<String> = std::fs::read_dir(path)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .take(8)
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            Err(DataError::UnknownLayout {
                path: path.to_path_buf(),
                found: if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                },
            })
        }
    }

    /// Load every image at `size` px.
    pub fn load(&self, size: u32) -> Result<(Dataset, LoadReport), DataError> {
        match self {
            DataSource::Synth(cfg) => {
                let ds = generate(cfg, size);
                let report = LoadReport {
                    loaded: ds.len(),
                    skipped: Vec::new(),
                };
                Ok((ds, report))
            }
            DataSource::Folder { path } => load_folder(path, size),
            DataSource::RobotCar { path, selection } => load_robotcar(path, size, selection),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DataSource::Synth(c) => {
                format!("synthetic town ({} places, seed {})", c.places, c.seed)
            }
            DataSource::Folder { path } => format!("folder {}", path.display()),
            DataSource::RobotCar { path, selection } => format!(
                "RobotCar Seasons {} (day: {}; night: {})",
                path.display(),
                selection.day_conditions.join(","),
                selection.night_conditions.join(",")
            ),
        }
    }
}
