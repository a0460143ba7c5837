//! A loaded dataset: its images by domain, with their place (when known) and file name.

pub use super::domain::Domain;
use super::pixels::{ImageBatch, OnDisk};
use super::position::{GroundTruth, Position};

/// One image of a dataset, already centre-cropped and resized to the dataset's size.
#[derive(Clone)]
pub struct Sample {
    /// The list it is in: day (the database side of a benchmark) or night (the query side).
    pub domain: Domain,
    /// The encoder that reads it: its list's domain, unless the layout or the user says
    /// otherwise (Pittsburgh's queries are day images; Tokyo 24/7's are day, sunset, night).
    pub encoder: Domain,
    /// Ground-truth place, where known: two samples with the same place show the same spot.
    pub place: Option<u32>,
    /// Where it was taken, where known: positives then lie within a radius.
    pub position: Option<Position>,
    /// What the user recognises it by: a file path relative to the dataset, or a synthetic id.
    pub name: String,
    /// Groups samples that must land on the same side of the train/validation split (the place
    /// when known, else the file stem, so that stem-paired images stay together).
    pub group: String,
    pub image: image::RgbImage,
}

/// All images of a dataset, by domain, at one size.
#[derive(Clone, Default)]
pub struct Dataset {
    pub name: String,
    pub image_size: u32,
    /// Whole frames resized into the square rather than its centre cut out
    /// ([`super::image_io::Framing`]).
    pub whole_frame: bool,
    pub day: Vec<Sample>,
    pub night: Vec<Sample>,
    /// Where the pixels stay on disk until a batch asks for them (`eval` and `embed` at
    /// scale): then every sample's `image` is empty.
    pub on_disk: Option<std::sync::Arc<OnDisk>>,
}

impl Dataset {
    /// How its images were framed.
    pub fn framing(&self) -> super::image_io::Framing {
        super::image_io::Framing {
            size: self.image_size,
            whole: self.whole_frame,
        }
    }

    /// The images of `refs` (list, index): in memory, borrowed; on disk, decoded in parallel
    /// at the dataset's size, the unreadable ones left out (see [`ImageBatch::kept`]).
    pub fn images(&self, refs: &[(Domain, usize)]) -> ImageBatch<'_> {
        match self.on_disk.as_deref() {
            Some(disk) => disk.decode(refs, self.framing()),
            None => ImageBatch::borrowed(
                refs.iter()
                    .map(|&(d, i)| &self.domain(d)[i].image)
                    .collect(),
            ),
        }
    }

    /// Whether the pixels stay on disk until asked for.
    pub fn is_on_disk(&self) -> bool {
        self.on_disk.is_some()
    }

    pub fn domain(&self, domain: Domain) -> &[Sample] {
        match domain {
            Domain::Day => &self.day,
            Domain::Night => &self.night,
        }
    }

    pub fn len(&self) -> usize {
        self.day.len() + self.night.len()
    }

    pub fn is_empty(&self) -> bool {
        self.day.is_empty() && self.night.is_empty()
    }

    /// Whether every sample carries a place id or every one a position, so retrieval can be
    /// scored.
    pub fn has_ground_truth(&self) -> bool {
        self.ground_truth() != GroundTruth::None
    }

    /// What decides relevance here: positions where every image has one, else place ids.
    pub fn ground_truth(&self) -> GroundTruth {
        GroundTruth::of(
            self.day
                .iter()
                .chain(&self.night)
                .map(|s| (s.place, s.position)),
        )
    }

    /// One-line description for logs and the UI.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} day + {} night images at {} px{}",
            self.name,
            self.day.len(),
            self.night.len(),
            self.image_size,
            match self.ground_truth() {
                GroundTruth::Positions => ", with positions",
                GroundTruth::Places => ", with place ground truth",
                GroundTruth::None => "",
            }
        )
    }
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sample({} {}, place {:?}, position {:?})",
            self.domain, self.name, self.place, self.position
        )
    }
}
