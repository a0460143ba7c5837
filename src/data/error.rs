//! What can go wrong reading data, each naming the file or folder and what was expected.

use std::path::PathBuf;

use super::domain::Domain;
use super::layout::LAYOUT_HELP;
use super::limits::{MAX_SIDE, MIN_SIDE};
use crate::error::ConfigError;
use crate::store::StoreError;

/// Why one image cannot become a training image (the file is then skipped with this reason).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read: {0}")]
    Io(#[source] std::io::Error),
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("not a PNG or JPEG image (unrecognised content)")]
    NotAnImage,
    #[error("too large: header claims {w}×{h}, the limit is {max} px a side", max = MAX_SIDE)]
    TooLarge { w: u32, h: u32 },
    #[error("too small: {w}×{h}, at least {min}×{min} is needed", min = MIN_SIDE)]
    TooSmall { w: u32, h: u32 },
    #[error("unreadable header (corrupt or truncated?): {0}")]
    Header(#[source] image::ImageError),
    #[error("cannot decode (corrupt or truncated?): {0}")]
    Decode(#[source] image::ImageError),
    #[error("the image decoder failed on this file")]
    DecoderPanicked,
    #[error("cannot encode {}: {source}", path.display())]
    Encode {
        path: PathBuf,
        source: image::ImageError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a dataset cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{} does not exist: expected `synth` or a folder laid out as {help}", path.display(), help = LAYOUT_HELP)]
    Missing { path: PathBuf },
    #[error("{} is a file, not a folder: expected {help}", path.display(), help = LAYOUT_HELP)]
    NotAFolder { path: PathBuf },
    #[error("{} has neither day/ and night/ nor images/: expected {help}; found: {found}", path.display(), help = LAYOUT_HELP)]
    UnknownLayout { path: PathBuf, found: String },
    #[error("{} is not a dataset folder: expected {help}", path.display(), help = LAYOUT_HELP)]
    NotFolderLayout { path: PathBuf },
    #[error("{} is not a RobotCar Seasons folder: expected {help}", path.display(), help = LAYOUT_HELP)]
    NotRobotCar { path: PathBuf },
    #[error("{} has no database/ and queries/{}: expected {help}", path.display(), split.as_ref().map(|s| format!(" (nor images/{s}/database and images/{s}/queries)")).unwrap_or_default(), help = LAYOUT_HELP)]
    NotBenchmark {
        path: PathBuf,
        split: Option<String>,
    },
    #[error("{} does not hold two frame-aligned sequence folders: expected {help}", path.display(), help = LAYOUT_HELP)]
    NotSequences { path: PathBuf },
    #[error("{}: no readable images in {side} ({skipped} files skipped): both the database and the queries need images", path.display())]
    NoReadableSide {
        path: PathBuf,
        side: &'static str,
        skipped: usize,
    },
    #[error("{}: {found} of the {total} images have no row in {} (first: {first}); a positions file names every image, by its path relative to the dataset, its file name or its stem", dataset.display(), file.display())]
    MissingPositions {
        dataset: PathBuf,
        file: PathBuf,
        found: usize,
        total: usize,
        first: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} line {line}: expected {expected}, found {found:?}", path.display())]
    PlacesCsv {
        path: PathBuf,
        line: usize,
        found: String,
        expected: String,
    },
    #[error("{} has day/ and night/ but no PNG or JPEG images in them: expected {help}", path.display(), help = LAYOUT_HELP)]
    NoImages { path: PathBuf },
    #[error("{}: no readable images in {folder} ({skipped} files skipped): both domains need images; expected {help}", path.display(), help = LAYOUT_HELP)]
    NoReadable {
        path: PathBuf,
        folder: &'static str,
        skipped: usize,
    },
    #[error("no {domain} conditions chosen; conditions present: {present}")]
    NoConditions { domain: Domain, present: String },
    #[error("condition {condition:?} (chosen as {domain}) is not in {}; conditions present: {present}", images.display())]
    MissingCondition {
        condition: String,
        domain: Domain,
        images: PathBuf,
        present: String,
    },
    #[error("{}: no readable {domain} images for the chosen conditions ({skipped} files skipped); conditions present: {present}", path.display())]
    NoReadableConditions {
        path: PathBuf,
        domain: Domain,
        skipped: usize,
        present: String,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "too few places to evaluate: validation_fraction = {fraction} holds out {held} of the {all} places with a day and a night image, and held-out evaluation needs at least {min}; use more places (at least {needed} at this fraction), a larger validation_fraction, or validation_fraction = 0 to train without held-out evaluation"
    )]
    TooFewPlaces {
        fraction: f64,
        held: usize,
        all: usize,
        min: usize,
        needed: usize,
    },
}

/// The layers above still speak in messages in places; the message is the error's text.
impl From<DataError> for String {
    fn from(e: DataError) -> String {
        e.to_string()
    }
}

impl From<ImageError> for String {
    fn from(e: ImageError) -> String {
        e.to_string()
    }
}
