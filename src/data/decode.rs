//! The second half of every folder loader: the files it listed, each with what is known of it
//! (its list, encoder, place, position, name), decoded in parallel at the dataset's size;
//! each readable file becomes a sample, each other a skipped file of the report.

use std::path::{Path, PathBuf};

use super::dataset::{Dataset, Domain, Sample};
use super::error::DataError;
use super::image_io::{Framing, LoadReport, SkippedFile};
use super::pixels::{OnDisk, Pixels};
use super::position::Position;

/// A file to be read as one sample: everything but its pixels.
pub struct PendingSample {
    pub path: PathBuf,
    pub domain: Domain,
    pub encoder: Domain,
    pub place: Option<u32>,
    pub position: Option<Position>,
    pub name: String,
    pub group: String,
}

/// Decode `files` at `size` px into a dataset named `name`; with [`Pixels::OnDisk`], list
/// them only (every one a sample, read a batch at a time later).
pub fn decode(
    name: String,
    framing: impl Into<Framing>,
    files: Vec<PendingSample>,
    pixels: Pixels,
) -> (Dataset, LoadReport) {
    let framing: Framing = framing.into();
    let mut report = LoadReport::default();
    let mut dataset = Dataset {
        name,
        image_size: framing.size,
        whole_frame: framing.whole,
        ..Default::default()
    };
    let mut push = |dataset: &mut Dataset, f: PendingSample, image| {
        let sample = Sample {
            domain: f.domain,
            encoder: f.encoder,
            place: f.place,
            position: f.position,
            name: f.name,
            group: f.group,
            image,
        };
        match sample.domain {
            Domain::Day => dataset.day.push(sample),
            Domain::Night => dataset.night.push(sample),
        }
        report.loaded += 1;
    };
    if pixels == Pixels::OnDisk {
        let (mut day, mut night) = (Vec::new(), Vec::new());
        for f in files {
            match f.domain {
                Domain::Day => day.push(f.path.clone()),
                Domain::Night => night.push(f.path.clone()),
            }
            push(&mut dataset, f, image::RgbImage::new(0, 0));
        }
        dataset.on_disk = Some(std::sync::Arc::new(OnDisk::new(day, night)));
        return (dataset, report);
    }
    let loaded = super::image_io_parallel::load_all(
        files.iter().map(|f| f.path.as_path()).collect(),
        framing,
    );
    let mut skipped = Vec::new();
    for (f, result) in files.into_iter().zip(loaded) {
        match result {
            Ok(image) => push(&mut dataset, f, image),
            Err(reason) => skipped.push(SkippedFile {
                path: f.path,
                reason: reason.to_string(),
            }),
        }
    }
    report.skipped = skipped;
    (dataset, report)
}

/// A benchmark's database (the day list) and queries (the night list) both need a readable
/// image; `path` names the folder in the error.
pub fn both_sides(
    dataset: Dataset,
    report: LoadReport,
    path: &Path,
) -> Result<(Dataset, LoadReport), DataError> {
    if dataset.day.is_empty() || dataset.night.is_empty() {
        return Err(DataError::NoReadableSide {
            path: path.to_path_buf(),
            side: if dataset.day.is_empty() {
                "database"
            } else {
                "queries"
            },
            skipped: report.skipped.len(),
        });
    }
    Ok((dataset, report))
}
