//! Place labels from the model's own matches, so that the supervised stages can run on data
//! without any (self-training, as in unsupervised domain adaptation). Among the training
//! images, a night image and a day image that are each other's nearest neighbour (a mutual
//! match) are taken to show one place; the matches whose nearest neighbour stands out most
//! from the second nearest (the lowest ratio, Lowe's test) are kept. Every training image's
//! own place id is dropped first, so none reaches the stage; the held-out images keep theirs,
//! to score the result as before.

use burn::prelude::Device;

use crate::data::split::paired_places;
use crate::data::{Dataset, Domain, Split};
use crate::model::DoubleVae;
use crate::retrieval::distance::DeviceIndex;
use crate::retrieval::embed::{ItemInfo, embed};
use crate::retrieval::mutual::mutual_matches;

/// What the labelling found.
#[derive(Debug, Clone, PartialEq)]
pub struct PseudoReport {
    /// Night training images with a mutual match among the day training images.
    pub mutual: usize,
    /// Matches kept as places.
    pub kept: usize,
    /// Of those, how many pair one true place, where the data says (never used to choose).
    pub correct: Option<usize>,
}

impl PseudoReport {
    pub fn describe(&self) -> String {
        let precision = self
            .correct
            .map(|c| {
                format!(
                    "; {c} of them pair one true place ({:.0} %, measured only)",
                    100.0 * c as f64 / self.kept.max(1) as f64
                )
            })
            .unwrap_or_default();
        format!(
            "pseudo-labels: {} mutual matches among the training images, {} kept as places{precision}",
            self.mutual, self.kept
        )
    }
}

/// A copy of `ds` whose training images carry place ids from `model`'s confident mutual
/// matches (the `keep` share of the mutual matches with the lowest nearest/second-nearest
/// ratio) and no other; held-out images keep theirs (data known by position alone: the
/// held-out images get places from their positions).
pub fn pseudo_label(
    model: &DoubleVae,
    ds: &Dataset,
    split: &Split,
    keep: f64,
    device: &Device,
) -> (Dataset, PseudoReport) {
    let items: Vec<ItemInfo> = split
        .train_day
        .iter()
        .map(|&i| ItemInfo::of(ds, Domain::Day, i))
        .chain(
            split
                .train_night
                .iter()
                .map(|&i| ItemInfo::of(ds, Domain::Night, i)),
        )
        .collect();
    let e = embed(model, ds, items, device, 32, |_, _| {});
    let (day, night) = (
        e.subset(&e.of_domain(Domain::Day)),
        e.subset(&e.of_domain(Domain::Night)),
    );
    let mut out = ds.clone();
    for &i in &split.train_day {
        out.day[i].place = None;
    }
    for &i in &split.train_night {
        out.night[i].place = None;
    }
    if day.is_empty() || night.is_empty() {
        let report = PseudoReport {
            mutual: 0,
            kept: 0,
            correct: None,
        };
        return (out, report);
    }
    let (nd, nn) = (day.len(), night.len());
    let m = DeviceIndex::new(&day, None, device).distance_matrix(&night); // nn × nd
    let mut mutual: Vec<(f32, usize, usize)> = mutual_matches(&m, nn, nd)
        .into_iter()
        .map(|x| (x.ratio, x.database, x.query))
        .collect();
    let found = mutual.len();
    mutual.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    mutual.truncate(((found as f64) * keep.clamp(0.0, 1.0)).round() as usize);
    // Ids above every real one, so a pseudo place never meets a held-out place.
    let first = ds
        .day
        .iter()
        .chain(&ds.night)
        .filter_map(|s| s.place)
        .max()
        .map_or(0, |p| p + 1);
    let mut correct = 0;
    for (k, &(_, j, q)) in mutual.iter().enumerate() {
        let (di, ni) = (day.items[j].index, night.items[q].index);
        correct += (ds.day[di].place.is_some() && ds.day[di].place == ds.night[ni].place) as usize;
        out.day[di].place = Some(first + k as u32);
        out.night[ni].place = Some(first + k as u32);
    }
    // Data known by position alone: the held-out images are paired by position, as the
    // supervised stages pair them, so that they still score the result.
    if ds.day.iter().chain(&ds.night).all(|s| s.place.is_none()) {
        let next = first + mutual.len() as u32;
        for (k, (_, d, n)) in paired_places(ds, &split.val_day, &split.val_night)
            .into_iter()
            .enumerate()
        {
            out.day[d].place = Some(next + k as u32);
            out.night[n].place = Some(next + k as u32);
        }
    }
    let labelled = split.train_day.iter().all(|&i| ds.day[i].place.is_some());
    let report = PseudoReport {
        mutual: found,
        kept: mutual.len(),
        correct: labelled.then_some(correct),
    };
    (out, report)
}
