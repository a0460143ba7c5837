//! The RobotCar Seasons layout: `DIR/images/<condition>/<camera>/<timestamp>.jpg`.
//! The user says which conditions count as day and which as night; there is no place ground
//! truth in this layout (poses live elsewhere), which is fine for the unsupervised stage.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Domain};
use super::decode::{PendingSample, decode};
use super::error::DataError;
use super::folder::{list_images, relative};
use super::image_io::LoadReport;

/// Which RobotCar conditions and cameras to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RobotCarSelection {
    pub day_conditions: Vec<String>,
    pub night_conditions: Vec<String>,
    /// Camera folders to read (`left`, `rear`, `right`); empty means all.
    pub cameras: Vec<String>,
}

impl Default for RobotCarSelection {
    fn default() -> Self {
        Self {
            day_conditions: vec!["overcast-reference".into()],
            night_conditions: vec!["night".into(), "night-rain".into()],
            cameras: Vec::new(),
        }
    }
}

pub fn is_robotcar_layout(dir: &Path) -> bool {
    dir.join("images").is_dir()
}

/// Condition folders present under `DIR/images`, sorted.
pub fn conditions(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("images"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn load_robotcar(
    dir: &Path,
    size: impl Into<super::image_io::Framing>,
    sel: &RobotCarSelection,
    pixels: super::pixels::Pixels,
) -> Result<(Dataset, LoadReport), DataError> {
    if !is_robotcar_layout(dir) {
        return Err(DataError::NotRobotCar {
            path: dir.to_path_buf(),
        });
    }
    let present = conditions(dir);
    let mut files: Vec<(Domain, PathBuf)> = Vec::new();
    for (domain, wanted) in [
        (Domain::Day, &sel.day_conditions),
        (Domain::Night, &sel.night_conditions),
    ] {
        if wanted.is_empty() {
            return Err(DataError::NoConditions {
                domain,
                present: present.join(", "),
            });
        }
        for cond in wanted {
            let cdir = dir.join("images").join(cond);
            if !cdir.is_dir() {
                return Err(DataError::MissingCondition {
                    condition: cond.clone(),
                    domain,
                    images: dir.join("images"),
                    present: present.join(", "),
                });
            }
            let mut cams: Vec<PathBuf> = std::fs::read_dir(&cdir)
                .map_err(|source| DataError::Io {
                    path: cdir.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .filter(|p| {
                    sel.cameras.is_empty()
                        || sel
                            .cameras
                            .iter()
                            .any(|c| p.file_name().is_some_and(|n| n == c.as_str()))
                })
                .collect();
            cams.sort();
            for cam in cams {
                let listed = list_images(&cam).map_err(|source| DataError::Io {
                    path: cam.clone(),
                    source,
                })?;
                files.extend(listed.into_iter().map(|p| (domain, p)));
            }
        }
    }
    let pending = files
        .into_iter()
        .map(|(domain, path)| {
            let rel = relative(dir, &path);
            PendingSample {
                domain,
                encoder: domain,
                place: None,
                position: None,
                group: format!("file:{rel}"),
                name: rel,
                path,
            }
        })
        .collect();
    let (dataset, report) = decode(
        format!("RobotCar Seasons ({})", dir.display()),
        size,
        pending,
        pixels,
    );
    if dataset.day.is_empty() || dataset.night.is_empty() {
        return Err(DataError::NoReadableConditions {
            path: dir.to_path_buf(),
            domain: if dataset.day.is_empty() {
                Domain::Day
            } else {
                Domain::Night
            },
            skipped: report.skipped.len(),
            present: present.join(", "),
        });
    }
    Ok((dataset, report))
}
