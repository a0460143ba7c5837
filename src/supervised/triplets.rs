//! Triplets of place-labelled images: a place by day (anchor), the same place by night
//! (positive), and another place by day or by night, drawn 50/50 (negative).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::data::Domain;

/// A triplet of dataset indices: day anchor, night positive, negative in its domain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: (Domain, usize),
}

/// One triplet per place in `order`, negatives drawn from `rng`.
pub fn triplets(
    places: &[(u32, usize, usize)],
    order: &[usize],
    rng: &mut ChaCha8Rng,
) -> Vec<Triplet> {
    order
        .iter()
        .map(|&k| {
            let mut other = rng.random_range(0..places.len() - 1);
            if other >= k {
                other += 1;
            }
            let negative = if rng.random_bool(0.5) {
                (Domain::Day, places[other].1)
            } else {
                (Domain::Night, places[other].2)
            };
            Triplet {
                anchor: places[k].1,
                positive: places[k].2,
                negative,
            }
        })
        .collect()
}
