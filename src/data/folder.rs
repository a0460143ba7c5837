//! The plain folder layout: `DIR/day/*`, `DIR/night/*` (PNG/JPEG), optional `DIR/places.csv`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Domain, Sample};
use super::error::DataError;
use super::image_io::{LoadReport, SkippedFile, is_image_name};
pub use super::layout::LAYOUT_HELP;

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

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `file,place` rows; a file may be named by relative path (`day/x.png`), name or stem.
pub fn read_places_csv(path: &Path) -> Result<HashMap<String, String>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut cols = line.splitn(2, ',').map(str::trim);
        let (Some(file), Some(place)) = (cols.next(), cols.next()) else {
            return Err(DataError::PlacesCsv {
                path: path.to_path_buf(),
                line: i + 1,
                found: line.to_string(),
            });
        };
        if i == 0 && file.eq_ignore_ascii_case("file") {
            continue; // header
        }
        map.insert(file.to_string(), place.to_string());
    }
    Ok(map)
}

/// Load the plain folder layout at `size` px. Bad files are skipped and reported.
pub fn load_folder(dir: &Path, size: u32) -> Result<(Dataset, LoadReport), DataError> {
    if !is_folder_layout(dir) {
        return Err(DataError::NotFolderLayout {
            path: dir.to_path_buf(),
        });
    }
    let places_csv = dir.join("places.csv");
    let places = if places_csv.is_file() {
        Some(read_places_csv(&places_csv)?)
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
    let mut place_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut place_of = |domain: Domain, path: &Path| -> Option<u32> {
        let label = match &places {
            Some(map) => {
                let name = path.file_name()?.to_string_lossy().into_owned();
                let rel = format!("{}/{}", domain.name(), name);
                map.get(&rel)
                    .or_else(|| map.get(&name))
                    .or_else(|| map.get(&stem(path)))
                    .cloned()
            }
            None => {
                let s = stem(path);
                (day_stems.contains(&s) && night_stems.contains(&s)).then_some(s)
            }
        }?;
        let next = place_ids.len() as u32;
        Some(*place_ids.entry(label).or_insert(next))
    };
    let labelled: Vec<(Domain, PathBuf, Option<u32>)> = files
        .into_iter()
        .map(|(d, p)| (d, p.clone(), place_of(d, &p)))
        .collect();

    let loaded = super::image_io_parallel::load_all(
        labelled.iter().map(|(_, p, _)| p.as_path()).collect(),
        size,
    );
    let mut report = LoadReport::default();
    let mut dataset = Dataset {
        name: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string()),
        image_size: size,
        ..Default::default()
    };
    for ((domain, path, place), result) in labelled.into_iter().zip(loaded) {
        match result {
            Ok(image) => {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let group = match place {
                    Some(p) => format!("place:{p}"),
                    None => format!("stem:{}", stem(&path)),
                };
                let sample = Sample {
                    domain,
                    place,
                    name: rel,
                    group,
                    image,
                };
                match domain {
                    Domain::Day => dataset.day.push(sample),
                    Domain::Night => dataset.night.push(sample),
                }
                report.loaded += 1;
            }
            Err(reason) => report.skipped.push(SkippedFile {
                path,
                reason: reason.to_string(),
            }),
        }
    }
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
