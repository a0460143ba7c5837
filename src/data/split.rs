//! The train/validation split: by group (place or stem), seeded, so a place never sits on both
//! sides and the same seed always holds out the same places.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::dataset::{Dataset, Domain, Sample};
use super::error::DataError;
use super::position::{GroundTruth, Position, Positives, pair_by_position};

/// Indices into a dataset's day and night lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub train_day: Vec<usize>,
    pub train_night: Vec<usize>,
    pub val_day: Vec<usize>,
    pub val_night: Vec<usize>,
}

impl Split {
    /// Hold out `fraction` of the groups (rounded, at least one group when fraction > 0 and
    /// there are two or more groups), chosen by `seed`.
    pub fn new(ds: &Dataset, fraction: f64, seed: u64) -> Split {
        let groups: BTreeSet<&str> = ds
            .day
            .iter()
            .chain(&ds.night)
            .map(|s| s.group.as_str())
            .collect();
        let mut groups: Vec<&str> = groups.into_iter().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5b11_7000_0000);
        groups.shuffle(&mut rng);
        let mut n_val = (groups.len() as f64 * fraction).round() as usize;
        if fraction > 0.0 && n_val == 0 && groups.len() >= 2 {
            n_val = 1;
        }
        n_val = n_val.min(groups.len().saturating_sub(1));
        let val: BTreeSet<&str> = groups[..n_val].iter().copied().collect();
        let mut split = Split::default();
        for domain in Domain::BOTH {
            for (i, s) in ds.domain(domain).iter().enumerate() {
                let held = val.contains(s.group.as_str());
                let list = match (domain, held) {
                    (Domain::Day, false) => &mut split.train_day,
                    (Domain::Night, false) => &mut split.train_night,
                    (Domain::Day, true) => &mut split.val_day,
                    (Domain::Night, true) => &mut split.val_night,
                };
                list.push(i);
            }
        }
        split
    }

    pub fn train(&self, domain: Domain) -> &[usize] {
        match domain {
            Domain::Day => &self.train_day,
            Domain::Night => &self.train_night,
        }
    }

    pub fn val(&self, domain: Domain) -> &[usize] {
        match domain {
            Domain::Day => &self.val_day,
            Domain::Night => &self.val_night,
        }
    }
}

/// The fewest places, each with a day and a night image, that a retrieval evaluation needs:
/// with one, every query's own place is the whole database, so Recall is 1 by construction
/// and the triplet loss and distance ratio are undefined.
pub const MIN_EVAL_PLACES: usize = 2;

/// Places with both a day and a night image among `day` and `night` indices of `ds`, by place
/// id: `(place, day index, night index)`, the first image of each, in place order.
pub fn paired_places(ds: &Dataset, day: &[usize], night: &[usize]) -> Vec<(u32, usize, usize)> {
    // Data known by position alone: a night image and its nearest day positive are a place.
    if ds.ground_truth() == GroundTruth::Positions && ds.day.iter().all(|s| s.place.is_none()) {
        let located = |list: &[Sample], rows: &[usize]| -> Vec<(usize, Position)> {
            rows.iter()
                .filter_map(|&i| list[i].position.map(|p| (i, p)))
                .collect()
        };
        return pair_by_position(
            &located(&ds.day, day),
            &located(&ds.night, night),
            &Positives::default(),
        )
        .into_iter()
        .enumerate()
        .map(|(k, (d, n))| (k as u32, d, n))
        .collect();
    }
    let mut by_place = std::collections::BTreeMap::new();
    for &i in day {
        if let Some(p) = ds.day[i].place {
            by_place.entry(p).or_insert((None, None)).0.get_or_insert(i);
        }
    }
    for &i in night {
        if let Some(p) = ds.night[i].place {
            by_place.entry(p).or_insert((None, None)).1.get_or_insert(i);
        }
    }
    by_place
        .into_iter()
        .filter_map(|(p, (d, n))| Some((p, d?, n?)))
        .collect()
}

impl Split {
    /// Held-out places with both a day and a night image.
    pub fn val_places(&self, ds: &Dataset) -> usize {
        paired_places(ds, &self.val_day, &self.val_night).len()
    }

    /// Refuse a split whose held-out part is too small to evaluate (`fraction` > 0, fewer
    /// than [`MIN_EVAL_PLACES`] held-out places), naming the minimum and what to change. Data
    /// without place labels passes: it has no retrieval to score, only validation losses.
    pub fn check_evaluable(&self, ds: &Dataset, fraction: f64) -> Result<(), DataError> {
        let held = self.val_places(ds);
        if fraction <= 0.0 || held >= MIN_EVAL_PLACES || !ds.has_ground_truth() {
            return Ok(());
        }
        let all = paired_places(
            ds,
            &[self.train_day.as_slice(), &self.val_day].concat(),
            &[self.train_night.as_slice(), &self.val_night].concat(),
        )
        .len();
        Err(DataError::TooFewPlaces {
            fraction,
            held,
            all,
            min: MIN_EVAL_PLACES,
            needed: min_places_for(fraction),
        })
    }
}

/// The fewest places at which `fraction` holds out [`MIN_EVAL_PLACES`].
fn min_places_for(fraction: f64) -> usize {
    (MIN_EVAL_PLACES..10_000)
        .find(|&n| {
            let held = ((n as f64 * fraction).round() as usize).max(1).min(n - 1);
            held >= MIN_EVAL_PLACES
        })
        .unwrap_or(10_000)
}
