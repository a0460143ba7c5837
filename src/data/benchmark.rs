//! The layout of the public VPR dataset downloaders (the one CosPlace, EigenPlaces and MixVPR
//! evaluate on): `DIR/database/` and `DIR/queries/`, sub-folders allowed, each image's UTM
//! position in its name, `@<easting>@<northing>@<more fields>@.jpg`. The downloaders write
//! `ROOT/images/{train,val,test}/{database,queries}`, so the dataset root is accepted too,
//! with a split (test unless `--split` says otherwise).
//!
//! The database is the dataset's day list and the queries its night list; which encoder reads
//! each is chosen ([`LayoutOptions`]), or per image by a sub-folder named `day`, `night`,
//! `sunset` or `dusk` (Tokyo 24/7's queries are a third each).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Domain};
use super::decode::{PendingSample, both_sides, decode};
use super::error::DataError;
use super::folder::relative;
use super::image_io::{LoadReport, SkippedFile, is_image_name};
use super::places::parse_domain;
use super::position::Position;

/// How a folder dataset is read beyond its layout: a positions file, which encoder reads the
/// queries and the database, and a downloader root's split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayoutOptions {
    /// `image,easting,northing` (or a header naming `lat,lon`) for images whose layout holds
    /// no position (RobotCar Seasons' reference and training images).
    pub positions: Option<PathBuf>,
    /// The encoder that reads the queries (the night list); each image's own otherwise.
    pub query_domain: Option<Domain>,
    /// The encoder that reads the database (the day list); each image's own otherwise.
    pub database_domain: Option<Domain>,
    /// A downloader root's split: `train`, `val` or `test`.
    pub split: Option<String>,
}

impl LayoutOptions {
    pub fn is_default(&self) -> bool {
        *self == LayoutOptions::default()
    }
}

pub const SPLITS: [&str; 3] = ["test", "val", "train"];

/// The folder holding `database/` and `queries/`: `dir` itself, or `dir/images/<split>`.
pub fn benchmark_root(dir: &Path, split: Option<&str>) -> Option<PathBuf> {
    let has = |d: &Path| d.join("database").is_dir() && d.join("queries").is_dir();
    if has(dir) {
        return Some(dir.to_path_buf());
    }
    let splits: Vec<&str> = match split {
        Some(s) => vec![s],
        None => SPLITS.to_vec(),
    };
    splits
        .into_iter()
        .map(|s| dir.join("images").join(s))
        .find(|d| has(d))
}

pub fn is_benchmark_layout(dir: &Path) -> bool {
    benchmark_root(dir, None).is_some()
}

/// The UTM position in a downloader's file name: `@<easting>@<northing>@…`.
pub fn position_in_name(name: &str) -> Option<Position> {
    let mut fields = name.split('@');
    if !fields.next()?.is_empty() {
        return None; // the name starts with '@'
    }
    let easting: f64 = fields.next()?.trim().parse().ok()?;
    let northing: f64 = fields.next()?.trim().parse().ok()?;
    (easting.is_finite() && northing.is_finite()).then_some(Position::Metres { easting, northing })
}

/// Every image under `dir`, recursively, sorted by path.
pub fn list_images_recursive(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|source| DataError::Io {
            path: d.clone(),
            source,
        })?;
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() && is_image_name(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The encoder a sub-folder names, the deepest such folder winning (`queries/night/x.jpg`).
fn domain_in_path(side_dir: &Path, path: &Path) -> Option<Domain> {
    let rel = path.strip_prefix(side_dir).ok()?;
    rel.parent()?
        .components()
        .filter_map(|c| parse_domain(&c.as_os_str().to_string_lossy()))
        .next_back()
}

/// Load `database/` and `queries/` at `size` px.
pub fn load_benchmark(
    dir: &Path,
    size: impl Into<super::image_io::Framing>,
    options: &LayoutOptions,
    pixels: super::pixels::Pixels,
) -> Result<(Dataset, LoadReport), DataError> {
    let root =
        benchmark_root(dir, options.split.as_deref()).ok_or_else(|| DataError::NotBenchmark {
            path: dir.to_path_buf(),
            split: options.split.clone(),
        })?;
    let mut files: Vec<(Domain, PathBuf, Option<Domain>)> = Vec::new();
    for (list, side) in [(Domain::Day, "database"), (Domain::Night, "queries")] {
        let side_dir = root.join(side);
        for p in list_images_recursive(&side_dir)? {
            let encoder = domain_in_path(&side_dir, &p);
            files.push((list, p, encoder));
        }
    }
    let mut skipped = Vec::new();
    let mut pending = Vec::new();
    for (list, path, encoder) in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(position) = position_in_name(&name) else {
            skipped.push(SkippedFile {
                path,
                reason: "no position in the name: expected @<easting>@<northing>@…".into(),
            });
            continue;
        };
        pending.push(PendingSample {
            domain: list,
            encoder: encoder.unwrap_or(list),
            place: None,
            position: Some(position),
            group: position.split_group(),
            name: relative(dir, &path),
            path,
        });
    }
    let (dataset, mut report) = decode(
        format!("{} ({})", dir.display(), relative(dir, &root)),
        size,
        pending,
        pixels,
    );
    report.skipped.extend(skipped);
    both_sides(dataset, report, &root)
}
