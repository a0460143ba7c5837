//! Ground truth from a CSV file: `places.csv` beside the images, or a positions file given
//! with `--positions`. A row names an image (by its path relative to the dataset, its file
//! name or its stem) and gives a place id, a position, or both, and optionally the domain
//! (day or night) whose encoder reads it:
//!
//! - `file,place` (with or without that header): place ids, as before;
//! - `file,easting,northing`: metres (UTM or any local metric frame);
//! - `file,lat,lon` (or `latitude,longitude`): degrees, compared by great-circle distance;
//! - any of these together, plus an optional `domain` column.
//!
//! A header names the columns; a file without one is `file,place` (or `file,easting,northing`
//! when both values are numbers, the layout of a RobotCar positions file).

use std::collections::HashMap;
use std::path::Path;

use super::dataset::Domain;
use super::error::DataError;
use super::position::Position;

/// What one row says about one image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlaceRow {
    pub place: Option<String>,
    pub position: Option<Position>,
    pub domain: Option<Domain>,
}

/// The rows of a ground-truth file, by the name in its first column.
#[derive(Debug, Clone, Default)]
pub struct PlaceTable {
    rows: HashMap<String, PlaceRow>,
}

/// Where each column is.
struct Columns {
    file: usize,
    place: Option<usize>,
    east_north: Option<(usize, usize)>,
    lat_lon: Option<(usize, usize)>,
    domain: Option<usize>,
}

impl Columns {
    fn from_header(h: &csv::StringRecord) -> Option<Columns> {
        let find = |names: &[&str]| {
            h.iter()
                .position(|c| names.iter().any(|n| c.trim().eq_ignore_ascii_case(n)))
        };
        let file = find(&["file", "name", "image", "path"])?;
        let pair = |a: &[&str], b: &[&str]| find(a).zip(find(b));
        Some(Columns {
            file,
            place: find(&["place", "place_id"]),
            east_north: pair(
                &["easting", "utm_east", "x"],
                &["northing", "utm_north", "y"],
            ),
            lat_lon: pair(&["lat", "latitude"], &["lon", "lng", "longitude"]),
            domain: find(&["domain"]),
        })
    }
}

impl PlaceTable {
    pub fn read(path: &Path) -> Result<PlaceTable, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse `text`; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<PlaceTable, DataError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let bad = |line: usize, found: String, expected: &str| DataError::PlacesCsv {
            path: path.to_path_buf(),
            line,
            found,
            expected: expected.to_string(),
        };
        let mut records = Vec::new();
        for r in reader.records() {
            let r = r.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line() as usize);
                bad(line, e.to_string(), "a CSV row")
            })?;
            if r.iter().all(|f| f.is_empty()) {
                continue;
            }
            let line = r.position().map_or(0, |p| p.line() as usize);
            records.push((line, r));
        }
        let mut table = PlaceTable::default();
        let Some((_, first)) = records.first() else {
            return Ok(table);
        };
        let number = |s: &str| s.parse::<f64>().ok().filter(|v| v.is_finite());
        let (cols, skip) = match Columns::from_header(first) {
            Some(c) => (c, 1),
            // No header: `file,place`, or `file,easting,northing` when both are numbers.
            None if first.len() >= 3
                && number(&first[1]).is_some()
                && number(&first[2]).is_some() =>
            {
                (
                    Columns {
                        file: 0,
                        place: None,
                        east_north: Some((1, 2)),
                        lat_lon: None,
                        domain: None,
                    },
                    0,
                )
            }
            None => (
                Columns {
                    file: 0,
                    place: Some(1),
                    east_north: None,
                    lat_lon: None,
                    domain: None,
                },
                0,
            ),
        };
        if cols.place.is_none() && cols.east_north.is_none() && cols.lat_lon.is_none() {
            return Err(bad(
                records[0].0,
                first.iter().collect::<Vec<_>>().join(","),
                "a header naming `place`, `easting,northing` or `lat,lon` beside `file`",
            ));
        }
        for (line, r) in records.iter().skip(skip) {
            let found = || r.iter().collect::<Vec<_>>().join(",");
            let field = |i: usize| r.get(i).filter(|s| !s.is_empty());
            let Some(file) = field(cols.file) else {
                return Err(bad(*line, found(), "a file name in the first column"));
            };
            let coords = |(a, b): (usize, usize), what: &str| -> Result<(f64, f64), DataError> {
                match (field(a).and_then(number), field(b).and_then(number)) {
                    (Some(x), Some(y)) => Ok((x, y)),
                    _ => Err(bad(*line, found(), what)),
                }
            };
            let mut row = PlaceRow {
                place: cols.place.and_then(field).map(str::to_string),
                ..Default::default()
            };
            if let Some(c) = cols.east_north {
                let (easting, northing) = coords(c, "finite easting and northing in metres")?;
                row.position = Some(Position::Metres { easting, northing });
            } else if let Some(c) = cols.lat_lon {
                let (lat, lon) = coords(c, "latitude and longitude in degrees")?;
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=360.0).contains(&lon) {
                    return Err(bad(
                        *line,
                        found(),
                        "latitude in [-90, 90] and longitude in degrees",
                    ));
                }
                row.position = Some(Position::Degrees { lat, lon });
            }
            if let Some(d) = cols.domain.and_then(field) {
                row.domain = Some(
                    parse_domain(d).ok_or_else(|| bad(*line, found(), "domain day or night"))?,
                );
            }
            if row.place.is_none() && row.position.is_none() {
                return Err(bad(*line, found(), "a place or a position for the file"));
            }
            table.rows.insert(file.replace('\\', "/"), row);
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row for an image at `rel` (its path relative to the dataset): by that path, by its
    /// file name, or by its stem.
    pub fn lookup(&self, rel: &str) -> Option<&PlaceRow> {
        let rel = rel.replace('\\', "/");
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        self.rows
            .get(&rel)
            .or_else(|| self.rows.get(name))
            .or_else(|| self.rows.get(stem))
    }
}

/// `day` or `night`, and the names a benchmark uses for its conditions: Tokyo 24/7's
/// `sunset` is read by the night encoder (low light), `dusk` likewise.
pub fn parse_domain(s: &str) -> Option<Domain> {
    match s.trim().to_ascii_lowercase().as_str() {
        "day" | "a" | "daytime" => Some(Domain::Day),
        "night" | "b" | "sunset" | "dusk" | "nighttime" => Some(Domain::Night),
        _ => None,
    }
}
