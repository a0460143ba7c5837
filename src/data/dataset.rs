//! A loaded dataset: its images by domain, with their place (when known) and file name.

use serde::{Deserialize, Serialize};

/// The two visual conditions: A = day, B = night.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Day,
    Night,
}

impl Domain {
    pub const BOTH: [Domain; 2] = [Domain::Day, Domain::Night];

    pub fn other(self) -> Domain {
        match self {
            Domain::Day => Domain::Night,
            Domain::Night => Domain::Day,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Domain::Day => "day",
            Domain::Night => "night",
        }
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Domain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "day" | "a" => Ok(Domain::Day),
            "night" | "b" => Ok(Domain::Night),
            _ => Err(format!("unknown domain {s:?}: expected day or night")),
        }
    }
}

/// One image of a dataset, already centre-cropped and resized to the dataset's size.
#[derive(Clone)]
pub struct Sample {
    pub domain: Domain,
    /// Ground-truth place, where known: two samples with the same place show the same spot.
    pub place: Option<u32>,
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
    pub day: Vec<Sample>,
    pub night: Vec<Sample>,
}

impl Dataset {
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

    /// Whether every sample carries a place id, so retrieval can be scored.
    pub fn has_ground_truth(&self) -> bool {
        !self.is_empty()
            && self
                .day
                .iter()
                .chain(&self.night)
                .all(|s| s.place.is_some())
    }

    /// One-line description for logs and the UI.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} day + {} night images at {} px{}",
            self.name,
            self.day.len(),
            self.night.len(),
            self.image_size,
            if self.has_ground_truth() {
                ", with place ground truth"
            } else {
                ""
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
            "Sample({} {}, place {:?})",
            self.domain, self.name, self.place
        )
    }
}
