//! The train/validation split: by group (place or stem), seeded, so a place never sits on both
//! sides and the same seed always holds out the same places.

use std::collections::BTreeSet;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Domain};

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
