//! Where a dataset comes from: the embedded synthetic town, or a folder on disk.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::benchmark::{LayoutOptions, is_benchmark_layout, load_benchmark};
use super::dataset::{Dataset, Domain};
use super::error::DataError;
use super::folder::{is_folder_layout, load_folder};
use super::image_io::{Framing, LoadReport};
use super::pixels::Pixels;
use super::places::PlaceTable;
use super::robotcar::{RobotCarSelection, is_robotcar_layout, load_robotcar};
use super::sequences::{is_sequence_layout, load_sequences};
use super::synth::{SynthConfig, generate};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DataSource {
    /// The procedural day/night town: no files needed.
    Synth(SynthConfig),
    /// `DIR/day`, `DIR/night`, optional `DIR/places.csv`.
    Folder {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "LayoutOptions::is_default")]
        options: LayoutOptions,
    },
    /// `DIR/images/<condition>/<camera>/*.jpg`.
    RobotCar {
        path: PathBuf,
        selection: RobotCarSelection,
        #[serde(default, skip_serializing_if = "LayoutOptions::is_default")]
        options: LayoutOptions,
    },
    /// `DIR/database/` and `DIR/queries/`, positions in the names (the VPR downloaders').
    Benchmark {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "LayoutOptions::is_default")]
        options: LayoutOptions,
    },
    /// Two frame-aligned sequence folders (Nordland).
    Sequences {
        path: PathBuf,
        #[serde(default, skip_serializing_if = "LayoutOptions::is_default")]
        options: LayoutOptions,
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
        Self::parse_with(spec, synth, robotcar, LayoutOptions::default())
    }

    /// [`parse`](Self::parse) with the layout options given (`--positions`, `--query-domain`,
    /// `--database-domain`, `--split`).
    pub fn parse_with(
        spec: &str,
        synth: SynthConfig,
        robotcar: RobotCarSelection,
        options: LayoutOptions,
    ) -> Result<Self, DataError> {
        if spec.eq_ignore_ascii_case("synth") {
            synth.validate()?;
            return Ok(DataSource::Synth(synth));
        }
        Self::from_dir_with(Path::new(spec), robotcar, options)
    }

    /// Detect the layout of a directory (used for `--data DIR` and for folders dropped on the app).
    pub fn from_dir(path: &Path, robotcar: RobotCarSelection) -> Result<Self, DataError> {
        Self::from_dir_with(path, robotcar, LayoutOptions::default())
    }

    /// [`from_dir`](Self::from_dir) with the layout options given.
    pub fn from_dir_with(
        path: &Path,
        robotcar: RobotCarSelection,
        options: LayoutOptions,
    ) -> Result<Self, DataError> {
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
        let path = path.to_path_buf();
        // The downloaders' root holds images/ too: benchmarks are recognised before RobotCar.
        if is_folder_layout(&path) {
            Ok(DataSource::Folder { path, options })
        } else if is_benchmark_layout(&path) || options.split.is_some() {
            Ok(DataSource::Benchmark { path, options })
        } else if is_robotcar_layout(&path) {
            Ok(DataSource::RobotCar {
                path,
                selection: robotcar,
                options,
            })
        } else if is_sequence_layout(&path) {
            Ok(DataSource::Sequences { path, options })
        } else {
            let mut found: Vec<String> = std::fs::read_dir(&path)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .take(8)
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            Err(DataError::UnknownLayout {
                path,
                found: if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                },
            })
        }
    }

    /// Load every image at `size` px, then apply the layout options (a positions file, the
    /// encoders of the queries and the database).
    pub fn load(&self, size: impl Into<Framing>) -> Result<(Dataset, LoadReport), DataError> {
        self.load_pixels(size, Pixels::Decoded)
    }

    /// [`load`](Self::load), decoding the images now or leaving them on disk to be read a
    /// batch at a time ([`Pixels::OnDisk`]; the town is always generated in memory).
    pub fn load_pixels(
        &self,
        size: impl Into<Framing>,
        pixels: Pixels,
    ) -> Result<(Dataset, LoadReport), DataError> {
        let size: Framing = size.into();
        let (mut ds, report) = match self {
            // The town is rendered square: there is no frame to cut.
            DataSource::Synth(cfg) => {
                let ds = generate(cfg, size.size);
                let report = LoadReport {
                    loaded: ds.len(),
                    skipped: Vec::new(),
                };
                return Ok((ds, report));
            }
            DataSource::Folder { path, .. } => load_folder(path, size, pixels)?,
            DataSource::RobotCar {
                path, selection, ..
            } => load_robotcar(path, size, selection, pixels)?,
            DataSource::Benchmark { path, options } => load_benchmark(path, size, options, pixels)?,
            DataSource::Sequences { path, .. } => load_sequences(path, size, pixels)?,
        };
        if let Some(options) = self.options() {
            apply_options(&mut ds, self.path().unwrap_or(Path::new("")), options)?;
        }
        Ok((ds, report))
    }

    /// The folder, for every source but the town.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataSource::Synth(_) => None,
            DataSource::Folder { path, .. }
            | DataSource::RobotCar { path, .. }
            | DataSource::Benchmark { path, .. }
            | DataSource::Sequences { path, .. } => Some(path),
        }
    }

    /// The layout options, for every source but the town.
    pub fn options(&self) -> Option<&LayoutOptions> {
        match self {
            DataSource::Synth(_) => None,
            DataSource::Folder { options, .. }
            | DataSource::RobotCar { options, .. }
            | DataSource::Benchmark { options, .. }
            | DataSource::Sequences { options, .. } => Some(options),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            DataSource::Synth(c) => {
                format!("synthetic town ({} places, seed {})", c.places, c.seed)
            }
            DataSource::Folder { path, .. } => format!("folder {}", path.display()),
            DataSource::RobotCar {
                path, selection, ..
            } => format!(
                "RobotCar Seasons {} (day: {}; night: {})",
                path.display(),
                selection.day_conditions.join(","),
                selection.night_conditions.join(",")
            ),
            DataSource::Benchmark { path, .. } => {
                format!("benchmark {} (database/ against queries/)", path.display())
            }
            DataSource::Sequences { path, .. } => {
                format!("frame-aligned sequences {}", path.display())
            }
        }
    }
}

/// A positions file's positions on every image it names (every image must be named), then the
/// chosen encoders of the queries (the night list) and the database (the day list).
fn apply_options(ds: &mut Dataset, dir: &Path, options: &LayoutOptions) -> Result<(), DataError> {
    if let Some(file) = &options.positions {
        let table = PlaceTable::read(file)?;
        let mut missing = Vec::new();
        let total = ds.len();
        for s in ds.day.iter_mut().chain(ds.night.iter_mut()) {
            match table.lookup(&s.name).and_then(|r| r.position) {
                Some(p) => {
                    s.position = Some(p);
                    if s.place.is_none() {
                        s.group = p.split_group();
                    }
                }
                None => missing.push(s.name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(DataError::MissingPositions {
                dataset: dir.to_path_buf(),
                file: file.clone(),
                found: missing.len(),
                total,
                first: missing[0].clone(),
            });
        }
    }
    for (list, chosen) in [
        (Domain::Night, options.query_domain),
        (Domain::Day, options.database_domain),
    ] {
        if let Some(encoder) = chosen {
            let samples = match list {
                Domain::Day => &mut ds.day,
                Domain::Night => &mut ds.night,
            };
            samples.iter_mut().for_each(|s| s.encoder = encoder);
        }
    }
    Ok(())
}
