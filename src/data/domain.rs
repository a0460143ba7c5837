//! The two visual conditions a dataset's images fall in.

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
