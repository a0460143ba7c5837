//! The plain folder layout: `DIR/day/*`, `DIR/night/*` (PNG/JPEG), optional `DIR/places.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Domain};
use super::decode::{PendingSample, decode};
use super::error::DataError;
use super::image_io::{LoadReport, is_image_name};
pub use super::layout::LAYOUT_HELP;
use super::places::{PlaceRow, PlaceTable};

/// Whether `dir` looks like the plain layout.
pub fn is_folder_layout(dir: &Path) -> bool {
    dir.join("day").is_dir() && dir.join("night").is_dir()
}

/// List image files of one directory, sorted by name so datasets load in a stable order.
pub fn list_images(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_name(p))
        .collect();
    files.sort();
    Ok(files)
}

/// An image's place id and its row of `places.csv`.
type Truth = (Option<u32>, Option<PlaceRow>);

/// Place labels numbered in order of first appearance.
#[derive(Default)]
pub struct PlaceIds(BTreeMap<String, u32>);

impl PlaceIds {
    pub fn id(&mut self, label: &str) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(label.to_string()).or_insert(next)
    }
}

/// `path` relative to the dataset folder `dir`, with `/` separators (how images are named in
/// every file the project reads or writes).
pub fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Load the plain folder layout at `size` px. Bad files are skipped and reported.
pub fn load_folder(
    dir: &Path,
    size: impl Into<super::image_io::Framing>,
    pixels: super::pixels::Pixels,
) -> Result<(Dataset, LoadReport), DataError> {
    if !is_folder_layout(dir) {
        return Err(DataError::NotFolderLayout {
            path: dir.to_path_buf(),
        });
    }
    let places_csv = dir.join("places.csv");
    let places = if places_csv.is_file() {
        Some(PlaceTable::read(&places_csv)?)
    } else {
        None
    };

    let mut files: Vec<(Domain, PathBuf)> = Vec::new();
    for domain in Domain::BOTH {
        let sub = dir.join(domain.name());
        let listed = list_images(&sub).map_err(|source| DataError::Io {
            path: sub.clone(),
            source,
        })?;
        files.extend(listed.into_iter().map(|p| (domain, p)));
    }
    if files.is_empty() {
        return Err(DataError::NoImages {
            path: dir.to_path_buf(),
        });
    }

    // Ground truth: places.csv if present, else the file stem for stems present in both domains.
    let day_stems: std::collections::HashSet<String> = files
        .iter()
        .filter(|(d, _)| *d == Domain::Day)
        .map(|(_, p)| stem(p))
        .collect();
    let night_stems: std::collections::HashSet<String> = files
        .iter()
        .filter(|(d, _)| *d == Domain::Night)
        .map(|(_, p)| stem(p))
        .collect();
    let mut place_ids = PlaceIds::default();
    let mut truth_of = |path: &Path| -> (Option<u32>, Option<PlaceRow>) {
        let rel = relative(dir, path);
        match &places {
            Some(table) => {
                let row = table.lookup(&rel).cloned();
                let place = row
                    .as_ref()
                    .and_then(|r| r.place.as_deref())
                    .map(|p| place_ids.id(p));
                (place, row)
            }
            None => {
                let s = stem(path);
                let paired = day_stems.contains(&s) && night_stems.contains(&s);
                (paired.then(|| place_ids.id(&s)), None)
            }
        }
    };
    let labelled: Vec<(Domain, PathBuf, Truth)> = files
        .into_iter()
        .map(|(d, p)| (d, p.clone(), truth_of(&p)))
        .collect();

    let pending = labelled
        .into_iter()
        .map(|(domain, path, (place, row))| {
            let row = row.unwrap_or_default();
            let group = match (place, row.position) {
                (Some(p), _) => format!("place:{p}"),
                (None, Some(pos)) => pos.split_group(),
                (None, None) => format!("stem:{}", stem(&path)),
            };
            PendingSample {
                domain,
                encoder: row.domain.unwrap_or(domain),
                place,
                position: row.position,
                name: relative(dir, &path),
                group,
                path,
            }
        })
        .collect();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let (dataset, report) = decode(name, size, pending, pixels);
    if dataset.day.is_empty() || dataset.night.is_empty() {
        return Err(DataError::NoReadable {
            path: dir.to_path_buf(),
            folder: if dataset.day.is_empty() {
                "day"
            } else {
                "night"
            },
            skipped: report.skipped.len(),
        });
    }
    Ok((dataset, report))
}
