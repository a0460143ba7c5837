//! Frame-aligned sequences (Nordland): two folders whose files of the same name show the same
//! place, frame after frame. A database image is a positive for a query within
//! `--frame-tolerance` frames. The folder first in name order is the database (the day list),
//! the other the queries (the night list); which encoder reads each is chosen as for any
//! layout.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Domain};
use super::decode::{PendingSample, both_sides, decode};
use super::error::DataError;
use super::folder::{list_images, relative};
use super::image_io::{LoadReport, SkippedFile};
use super::position::Position;

/// The two sequence folders of `dir` (sorted), when it holds exactly two folders of images
/// that share most of their file names, and neither is named `day` or `night`.
pub fn sequence_folders(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter(|p| list_images(p).is_ok_and(|l| !l.is_empty()))
        .collect();
    subs.sort();
    let [a, b] = <[PathBuf; 2]>::try_from(subs).ok()?;
    let named = |p: &Path, n: &str| p.file_name().is_some_and(|f| f == n);
    if [&a, &b]
        .iter()
        .any(|p| named(p, "day") || named(p, "night"))
    {
        return None;
    }
    let names = |p: &Path| -> HashSet<String> {
        list_images(p)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect()
    };
    let (na, nb) = (names(&a), names(&b));
    let common = na.intersection(&nb).count();
    (common * 2 > na.len().max(nb.len())).then_some((a, b))
}

pub fn is_sequence_layout(dir: &Path) -> bool {
    sequence_folders(dir).is_some()
}

/// Load both sequences at `size` px; a file's frame is its rank among the names both share.
pub fn load_sequences(
    dir: &Path,
    size: impl Into<super::image_io::Framing>,
    pixels: super::pixels::Pixels,
) -> Result<(Dataset, LoadReport), DataError> {
    let (db, q) = sequence_folders(dir).ok_or_else(|| DataError::NotSequences {
        path: dir.to_path_buf(),
    })?;
    let name_of = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let (db_files, q_files) = (
        list_images(&db).map_err(|source| DataError::Io {
            path: db.clone(),
            source,
        })?,
        list_images(&q).map_err(|source| DataError::Io {
            path: q.clone(),
            source,
        })?,
    );
    let q_names: HashSet<String> = q_files.iter().map(|p| name_of(p)).collect();
    let mut shared: Vec<String> = db_files
        .iter()
        .map(|p| name_of(p))
        .filter(|n| q_names.contains(n))
        .collect();
    shared.sort();
    let frame = |n: &str| shared.binary_search_by(|s| s.as_str().cmp(n)).ok();
    let mut files: Vec<(Domain, PathBuf, i64)> = Vec::new();
    let mut report = LoadReport::default();
    for (list, listed) in [(Domain::Day, db_files), (Domain::Night, q_files)] {
        for p in listed {
            match frame(&name_of(&p)) {
                Some(f) => files.push((list, p, f as i64)),
                None => report.skipped.push(SkippedFile {
                    path: p,
                    reason: "no file of this name in the other sequence".into(),
                }),
            }
        }
    }
    let pending = files
        .into_iter()
        .map(|(list, path, index)| PendingSample {
            domain: list,
            encoder: list,
            place: None,
            position: Some(Position::Frame { index }),
            group: format!("frame:{index}"),
            name: relative(dir, &path),
            path,
        })
        .collect();
    let (dataset, loaded) = decode(
        format!(
            "{} ({} against {})",
            dir.display(),
            relative(dir, &q),
            relative(dir, &db)
        ),
        size,
        pending,
        pixels,
    );
    report.loaded = loaded.loaded;
    report.skipped.extend(loaded.skipped);
    both_sides(dataset, report, dir)
}
