//! Where an image was taken, for ground truth by position (the field's benchmarks: a database
//! image is a positive for a query when it lies within a radius, 25 m by convention), and the
//! rule that turns positions or place ids into positives.

use serde::{Deserialize, Serialize};

/// Mean Earth radius (IUGG), metres: what the haversine distance uses.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A position in one of three frames; two positions compare only within one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Position {
    /// Projected metres (UTM easting and northing, or any local metric frame).
    Metres { easting: f64, northing: f64 },
    /// WGS84 degrees; distances are great-circle (haversine).
    Degrees { lat: f64, lon: f64 },
    /// A frame of a frame-aligned sequence (Nordland): the same index is the same place.
    Frame { index: i64 },
}

impl Position {
    /// Distance to `other` in this frame's unit (metres, or frames); `None` across frames.
    pub fn distance(&self, other: &Position) -> Option<f64> {
        match (self, other) {
            (
                Position::Metres {
                    easting: e1,
                    northing: n1,
                },
                Position::Metres {
                    easting: e2,
                    northing: n2,
                },
            ) => Some((e1 - e2).hypot(n1 - n2)),
            (Position::Degrees { lat: a1, lon: o1 }, Position::Degrees { lat: a2, lon: o2 }) => {
                Some(haversine_m(*a1, *o1, *a2, *o2))
            }
            (Position::Frame { index: a }, Position::Frame { index: b }) => {
                Some((a - b).unsigned_abs() as f64)
            }
            _ => None,
        }
    }

    /// Which frame, for messages ("metres", "degrees", "frames").
    pub fn frame_name(&self) -> &'static str {
        match self {
            Position::Metres { .. } => "metres",
            Position::Degrees { .. } => "degrees",
            Position::Frame { .. } => "frames",
        }
    }

    /// A point to draw on a map: (easting, northing) in metres, or (lon, lat) in degrees, or
    /// (frame, 0).
    pub fn xy(&self) -> (f64, f64) {
        match *self {
            Position::Metres { easting, northing } => (easting, northing),
            Position::Degrees { lat, lon } => (lon, lat),
            Position::Frame { index } => (index as f64, 0.0),
        }
    }
}

/// Great-circle distance in metres between two WGS84 points given in degrees.
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// When a database image is a positive for a query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Positives {
    /// Positions in metres (or degrees): within this many metres, the bound included.
    pub radius_m: f64,
    /// Frame-aligned sequences: within this many frames, the bound included.
    pub frame_tolerance: u32,
    /// K of mAP@K under positions (and how many ranks `eval` writes out per query).
    pub top: usize,
    /// The strict rule (VPR_Tutorial's, under which HDC-DELF was published on Gardens Point):
    /// only the database image nearest the query (its own frame) is a hit; the others within
    /// the bound are left out of the ranking, neither hit nor miss. Off: every image within
    /// the bound is a hit (the dilated rule).
    #[serde(default)]
    pub strict: bool,
}

/// What one database image is to one query under a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relevance {
    Hit,
    Miss,
    /// Within the bound but not the query's nearest, under the strict rule: ranked last and
    /// counted neither way.
    LeftOut,
}

impl Default for Positives {
    /// The field's common settings: 25 m (Pittsburgh, Tokyo 24/7, SF-XL, MSLS), 10 frames
    /// (Nordland, about 25 m), and K = 20, the largest N the tables report.
    fn default() -> Self {
        Self {
            radius_m: 25.0,
            frame_tolerance: 10,
            top: 20,
            strict: false,
        }
    }
}

/// What decides relevance on a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroundTruth {
    /// Every image has a position: positives lie within the radius (or frame tolerance).
    Positions,
    /// Every image has a place id: positives share it.
    Places,
    /// Neither on every image: ranked, not scored.
    None,
}

impl GroundTruth {
    /// Positions win where every image has one (the field's benchmarks are scored by them);
    /// place ids otherwise.
    pub fn of(items: impl Iterator<Item = (Option<u32>, Option<Position>)>) -> Self {
        let mut any = false;
        let (mut all_pos, mut all_place) = (true, true);
        for (place, pos) in items {
            any = true;
            all_pos &= pos.is_some();
            all_place &= place.is_some();
        }
        match (any, all_pos, all_place) {
            (false, _, _) => GroundTruth::None,
            (true, true, _) => GroundTruth::Positions,
            (true, false, true) => GroundTruth::Places,
            _ => GroundTruth::None,
        }
    }

    /// What decides relevance, in words; `example` is one image's position (its frame decides
    /// the unit of the bound).
    pub fn describe(self, rule: &Positives, example: Option<Position>) -> String {
        match (self, example) {
            (GroundTruth::Positions, Some(Position::Frame { .. })) => format!(
                "positions: {}",
                rule.describe_bound(rule.frame_tolerance as f64, "frames", "frame")
            ),
            (GroundTruth::Positions, _) => format!(
                "positions: {}",
                rule.describe_bound(rule.radius_m, "m", "position")
            ),
            (GroundTruth::Places, _) => "place ids".to_string(),
            (GroundTruth::None, _) => "none".to_string(),
        }
    }
}

impl Positives {
    /// Whether a database image at `db` is within the bound of a query at `query`.
    pub fn within(&self, query: &Position, db: &Position) -> bool {
        let Some(d) = query.distance(db) else {
            return false;
        };
        match query {
            Position::Frame { .. } => d <= self.frame_tolerance as f64,
            _ => d <= self.radius_m,
        }
    }

    /// What a database image at `db` is to a query at `query`, given the distance from the
    /// query to its nearest database image (`nearest`; only the strict rule reads it).
    pub fn relevance(&self, query: &Position, db: &Position, nearest: f64) -> Relevance {
        if !self.within(query, db) {
            return Relevance::Miss;
        }
        let d = query.distance(db).unwrap_or(f64::INFINITY);
        match self.strict && d > nearest {
            true => Relevance::LeftOut,
            false => Relevance::Hit,
        }
    }

    /// "within 8 frames" or "strict: only the query's own frame is a hit, the others within 8
    /// frames left out".
    fn describe_bound(&self, bound: f64, unit: &str, own: &str) -> String {
        match self.strict {
            false => format!("within {bound} {unit}"),
            true => format!(
                "strict: only the database {own} nearest the query is a hit, the others within {bound} {unit} left out"
            ),
        }
    }
}

impl Position {
    /// Planar coordinates in the unit of the rule's bound (metres; frames), for bucketing
    /// nearby positions: degrees are projected equirectangularly (the exact test stays the
    /// great-circle distance).
    fn planar(&self) -> (f64, f64) {
        let m = EARTH_RADIUS_M.to_radians();
        match *self {
            Position::Metres { easting, northing } => (easting, northing),
            Position::Degrees { lat, lon } => (lon * m * lat.to_radians().cos(), lat * m),
            Position::Frame { index } => (index as f64, 0.0),
        }
    }

    /// The split's group of an image known only by its position: a 50 m cell (50 frames), so
    /// that images of one spot land on the same side of the train/held-out split.
    pub fn split_group(&self) -> String {
        let (x, y) = self.planar();
        let cell = 50.0;
        format!(
            "cell:{}:{}:{}",
            self.frame_name(),
            (x / cell).floor(),
            (y / cell).floor()
        )
    }
}

/// Pairs of a night image with the nearest day image that is a positive for it (each day image
/// used once, night images in the order given): the places of position-only data, for the
/// split and the supervised stage. Day and night are `(index, position)` lists.
pub fn pair_by_position(
    day: &[(usize, Position)],
    night: &[(usize, Position)],
    rule: &Positives,
) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    let bound = |p: &Position| match p {
        Position::Frame { .. } => rule.frame_tolerance.max(1) as f64,
        _ => rule.radius_m.max(1e-9),
    };
    let key = |p: &Position| {
        let (x, y) = p.planar();
        let b = bound(p);
        ((x / b).floor() as i64, (y / b).floor() as i64)
    };
    let mut grid: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
    for (k, (_, p)) in day.iter().enumerate() {
        grid.entry(key(p)).or_default().push(k);
    }
    let mut used = vec![false; day.len()];
    let mut out = Vec::new();
    for &(n, ref pn) in night {
        let (cx, cy) = key(pn);
        let mut best: Option<(f64, usize)> = None;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &k in grid.get(&(cx + dx, cy + dy)).map_or(&[][..], |v| v) {
                    let (_, pd) = &day[k];
                    if used[k] || !rule.within(pn, pd) {
                        continue;
                    }
                    let d = pn.distance(pd).unwrap_or(f64::INFINITY);
                    if best.is_none_or(|(bd, bk)| (d, k) < (bd, bk)) {
                        best = Some((d, k));
                    }
                }
            }
        }
        if let Some((_, k)) = best {
            used[k] = true;
            out.push((day[k].0, n));
        }
    }
    out
}
