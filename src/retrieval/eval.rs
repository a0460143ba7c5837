//! Retrieval across domains (docs/design.md §4): every query of one domain against every image of
//! the other, Recall@N, mAP, the precision–recall curve, the held-out triplet loss and the
//! silhouette of embeddings grouped by place.

use burn::prelude::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::distance::{DeviceIndex, exact, rescore_nearest};
use super::embed::{EmbeddingKind, Embeddings, ItemInfo};
use super::invariance::{distance_ratio, domain_probe};
use super::metrics::{
    Ranking, interpolated_precision_recall, mean_average_precision, mean_average_precision_at,
    recall_at, silhouette, triplet_loss,
};
use crate::data::position::Relevance;
use crate::data::{Domain, GroundTruth, Positives};

pub const RECALL_AT: [usize; 4] = [1, 5, 10, 20];

/// Recall levels of the interpolated precision–recall curve: 0, 0.05, …, 1.
const PR_LEVELS: usize = 21;

/// How a score is printed: `decimals` places, or "—" where it is not defined (too few
/// images to define it), everywhere a score is shown.
pub fn score_text(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "—".into(),
    }
}
/// Nearest candidates rescored exactly per query.
pub(crate) const RESCORE: usize = 64;

/// Scores of one embedding on one direction.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    #[serde(rename = "recall@1")]
    #[serde(default, with = "crate::json_float::option")]
    pub recall_1: Option<f64>,
    #[serde(rename = "recall@5")]
    #[serde(default, with = "crate::json_float::option")]
    pub recall_5: Option<f64>,
    #[serde(rename = "recall@10")]
    #[serde(default, with = "crate::json_float::option")]
    pub recall_10: Option<f64>,
    #[serde(rename = "recall@20")]
    #[serde(default, with = "crate::json_float::option")]
    pub recall_20: Option<f64>,
    #[serde(rename = "mAP")]
    #[serde(default, with = "crate::json_float::option")]
    pub map: Option<f64>,
    #[serde(default, with = "crate::json_float::option")]
    pub triplet_loss: Option<f64>,
    #[serde(default, with = "crate::json_float::option")]
    pub silhouette: Option<f64>,
    /// Held-out accuracy of a linear day/night classifier on pooled embeddings (0.5 = none).
    #[serde(default, with = "crate::json_float::option")]
    pub domain_probe: Option<f64>,
    /// Mean same-place over mean other-place distance.
    #[serde(default, with = "crate::json_float::option")]
    pub distance_ratio: Option<f64>,
    pub queries: usize,
    pub database: usize,
    /// Queries with no positive in the database (left out of the recalls and mAP above).
    pub queries_without_positive: usize,
    /// Recall@1, 5, 10, 20 with those queries counted as misses (what evaluation codes that
    /// keep every query report); equal to the above when every query has a positive.
    #[serde(rename = "recall@N counting queries without a positive")]
    pub recall_all: [Option<f64>; 4],
    /// What decided relevance: "positions: within 25 m", "place ids", or "none".
    pub ground_truth: String,
}

impl Metrics {
    pub fn recall(&self, n: usize) -> Option<f64> {
        match n {
            1 => self.recall_1,
            5 => self.recall_5,
            10 => self.recall_10,
            20 => self.recall_20,
            _ => None,
        }
    }
}

/// Ranked matches of every query, and the scores.
pub struct Evaluation {
    pub kind: EmbeddingKind,
    pub query_domain: Domain,
    pub queries: Embeddings,
    pub database: Embeddings,
    /// `queries × database` distances, row-major.
    pub matrix: Vec<f32>,
    /// One ranking per query; relevance is empty when there is no ground truth.
    pub rankings: Vec<Ranking>,
    /// At scale ([`evaluate_top`]): the database row of each entry of each query's ranking
    /// (its nearest, then its positives beyond them), and `matrix` and `database`'s data are
    /// empty. Empty when every ranking covers the whole database.
    pub candidates: Vec<Vec<usize>>,
    pub ground_truth: bool,
    pub metrics: Metrics,
    /// Interpolated precision–recall, averaged over the queries with a positive, as
    /// `(precision, recall)` at [`PR_LEVELS`] recall levels.
    pub pr_curve: Vec<(f64, f64)>,
}

impl Evaluation {
    /// Database rows ranked for query `q`: `(row, distance, is_true_match)`.
    pub fn ranked(&self, q: usize) -> Vec<(usize, f32, Option<bool>)> {
        let r = &self.rankings[q];
        let row = |j: usize| self.candidates.get(q).map_or(j, |rows| rows[j]);
        r.order
            .iter()
            .filter(|&&j| r.distances[j].is_finite() || self.candidates.is_empty())
            .map(|&j| {
                (
                    row(j),
                    r.distances[j],
                    self.ground_truth.then(|| r.relevant[j]),
                )
            })
            .collect()
    }

    /// 1-based rank of query `q`'s true match.
    /// The query row of image `index` of `domain`, if it is one of the queries.
    pub fn query_row(&self, domain: Domain, index: usize) -> Option<usize> {
        if domain != self.query_domain {
            return None;
        }
        self.queries.items.iter().position(|it| it.index == index)
    }

    pub fn true_match_rank(&self, q: usize) -> Option<usize> {
        if !self.ground_truth {
            return None;
        }
        let r = &self.rankings[q];
        // At scale a positive beyond the ranked nearest has no rank.
        r.first_relevant_rank()
            .filter(|&k| self.candidates.is_empty() || r.distances[r.order[k - 1]].is_finite())
    }
}

/// Evaluate `all` (both domains) with queries from `query_domain`. `w` weights channels.
/// Positives follow the field's defaults (25 m, 10 frames, mAP@20 under positions).
pub fn evaluate(
    all: &Embeddings,
    query_domain: Domain,
    w: Option<&[f32]>,
    device: &Device,
    seed: u64,
) -> Evaluation {
    evaluate_with(all, query_domain, w, device, seed, &Positives::default())
}

/// [`evaluate`] with the positives' rule given (`eval --radius`, `--frame-tolerance`, `--top`).
pub fn evaluate_with(
    all: &Embeddings,
    query_domain: Domain,
    w: Option<&[f32]>,
    device: &Device,
    seed: u64,
    rule: &Positives,
) -> Evaluation {
    evaluate_depths_with(
        std::slice::from_ref(all),
        &[w],
        query_domain,
        device,
        seed,
        rule,
    )
}

/// Deep feature matching (docs/design.md §3): `depths[k]` holds the same images embedded at one
/// encoder depth, weighted by `w[k]`; the distance is the mean of the per-depth distances.
/// The returned queries and database are those of the last (deepest) depth.
pub fn evaluate_depths(
    depths: &[Embeddings],
    w: &[Option<&[f32]>],
    query_domain: Domain,
    device: &Device,
    seed: u64,
) -> Evaluation {
    evaluate_depths_with(depths, w, query_domain, device, seed, &Positives::default())
}

/// [`evaluate_depths`] with the positives' rule given.
pub fn evaluate_depths_with(
    depths: &[Embeddings],
    w: &[Option<&[f32]>],
    query_domain: Domain,
    device: &Device,
    seed: u64,
    rule: &Positives,
) -> Evaluation {
    assert!(
        !depths.is_empty() && depths.len() == w.len(),
        "one weight vector (or none) per depth"
    );
    let all = depths.last().expect("at least one depth");
    let (query_rows, database_rows) = (
        all.of_domain(query_domain),
        all.of_domain(query_domain.other()),
    );
    let mut matrix: Vec<f32> = Vec::new();
    // The deepest depth's queries and database are the ones returned.
    let mut last = None;
    for (e, &w) in depths.iter().zip(w) {
        assert_eq!(e.items, all.items, "every depth embeds the same images");
        let (queries, database) = (e.subset(&query_rows), e.subset(&database_rows));
        let index = DeviceIndex::new(&database, w, device);
        let mut m = index.distance_matrix(&queries);
        rescore_nearest(&mut m, &queries, &database, w, RESCORE);
        if matrix.is_empty() {
            matrix = m;
        } else {
            matrix.iter_mut().zip(&m).for_each(|(a, b)| *a += b);
        }
        last = Some((queries, database));
    }
    let (queries, database) = last.expect("at least one depth");
    let scale = 1.0 / depths.len() as f32;
    matrix.iter_mut().for_each(|v| *v *= scale);

    let truth = ground_truth_of(&queries, &database.items);
    let n = database.len();
    let rankings: Vec<Ranking> = (0..queries.len())
        .map(|q| {
            let judge = Judge::new(truth, rule, &queries.items[q], &database.items);
            let mut row = matrix[q * n..(q + 1) * n].to_vec();
            let rel = database
                .items
                .iter()
                .zip(&mut row)
                .map(|(it, d)| judge.relevant(it, d))
                .collect();
            Ranking::new(row, rel)
        })
        .collect();
    let ground_truth = truth != GroundTruth::None;
    let (metrics, pr_curve) = score(
        &rankings,
        &queries,
        n,
        truth,
        rule,
        Scope::Full {
            triplet: ground_truth
                .then(|| held_out_triplet_loss_depths(depths, w, seed))
                .flatten(),
            silhouette: ground_truth
                .then(|| place_silhouette_depths(depths, w, device))
                .flatten(),
            probe: domain_probe(all),
        },
    );
    Evaluation {
        kind: all.kind,
        query_domain,
        queries,
        database,
        matrix,
        rankings,
        candidates: Vec::new(),
        ground_truth,
        metrics,
        pr_curve,
    }
}

/// What decides relevance between `queries` and `database`.
fn ground_truth_of(queries: &Embeddings, database: &[ItemInfo]) -> GroundTruth {
    if queries.is_empty() {
        return GroundTruth::None;
    }
    GroundTruth::of(
        queries
            .items
            .iter()
            .chain(database)
            .map(|it| (it.place, it.position)),
    )
}

/// Relevance to one query: whether a database image is a positive, and, under the strict
/// rule, which images within the bound are left out of its ranking.
struct Judge<'a> {
    truth: GroundTruth,
    rule: &'a Positives,
    query: &'a ItemInfo,
    /// Distance from the query to its nearest database position (strict rule only).
    nearest: f64,
}

impl<'a> Judge<'a> {
    fn new(
        truth: GroundTruth,
        rule: &'a Positives,
        query: &'a ItemInfo,
        database: &[ItemInfo],
    ) -> Self {
        let nearest = match (truth, rule.strict, &query.position) {
            (GroundTruth::Positions, true, Some(q)) => database
                .iter()
                .filter_map(|d| d.position.as_ref().and_then(|p| q.distance(p)))
                .fold(f64::INFINITY, f64::min),
            _ => f64::INFINITY,
        };
        Self {
            truth,
            rule,
            query,
            nearest,
        }
    }

    fn relevance(&self, d: &ItemInfo) -> Relevance {
        match (self.truth, &self.query.position, &d.position) {
            (GroundTruth::Positions, Some(a), Some(b)) => self.rule.relevance(a, b, self.nearest),
            (GroundTruth::Places, _, _) if self.query.place == d.place => Relevance::Hit,
            _ => Relevance::Miss,
        }
    }

    /// Whether `d` is a positive; a left-out image's `distance` becomes infinite, so that it
    /// ranks after every image that counts.
    fn relevant(&self, d: &ItemInfo, distance: &mut f32) -> bool {
        match self.relevance(d) {
            Relevance::Hit => true,
            Relevance::Miss => false,
            Relevance::LeftOut => {
                *distance = f32::INFINITY;
                false
            }
        }
    }
}

/// How much of the database each ranking covers, and the scores only a full one defines.
enum Scope {
    /// Every database row ranked: mAP over the whole ranking (place ids), and the scores
    /// computed from all embeddings.
    Full {
        triplet: Option<f64>,
        silhouette: Option<f64>,
        probe: Option<f64>,
    },
    /// The nearest `k` rows ranked, then the positives beyond them: Recall@N for N ≤ k and
    /// mAP@k are exact; the scores that need every distance are absent.
    Top(usize),
}

/// The metrics and the precision–recall curve of `rankings` (one per query).
fn score(
    rankings: &[Ranking],
    queries: &Embeddings,
    database: usize,
    truth: GroundTruth,
    rule: &Positives,
    scope: Scope,
) -> (Metrics, Vec<(f64, f64)>) {
    let ground_truth = truth != GroundTruth::None;
    // Only queries with a positive in the database can be found; the others are counted.
    let scored: Vec<Ranking> = rankings
        .iter()
        .filter(|r| r.num_relevant() > 0)
        .cloned()
        .collect();
    let without_positive = if ground_truth {
        rankings.len() - scored.len()
    } else {
        0
    };
    // A score that cannot be defined on these images (too few of them) is absent, never NaN.
    let metric = |f: &dyn Fn(&[Ranking]) -> f64| {
        (ground_truth && !scored.is_empty())
            .then(|| f(&scored))
            .filter(|v| v.is_finite())
    };
    let defined = |v: Option<f64>| v.filter(|v| v.is_finite());
    let kept = scored.len() as f64 / rankings.len().max(1) as f64;
    let recall_all = RECALL_AT.map(|k| metric(&|r| recall_at(r, k) * kept));
    // Under positions a query has many positives: mAP over the first K ranks, as the field.
    let map = match (&scope, truth) {
        (Scope::Top(k), _) => metric(&|r| mean_average_precision_at(r, *k)),
        (_, GroundTruth::Positions) => metric(&|r| mean_average_precision_at(r, rule.top.max(1))),
        _ => metric(&|r| mean_average_precision(r)),
    };
    let (triplet, silhouette, probe, ratio) = match scope {
        Scope::Full {
            triplet,
            silhouette,
            probe,
        } => (
            triplet,
            silhouette,
            probe,
            ground_truth.then(|| distance_ratio(&scored)).flatten(),
        ),
        Scope::Top(_) => (None, None, None, None),
    };
    let mut described = truth.describe(rule, queries.items.first().and_then(|it| it.position));
    if let Scope::Top(k) = scope {
        described.push_str(&format!(
            "; ranked to the nearest {k} of each query (mAP@{k}; the scores that need every distance are absent)"
        ));
    }
    let metrics = Metrics {
        recall_1: metric(&|r| recall_at(r, 1)),
        recall_5: metric(&|r| recall_at(r, 5)),
        recall_10: metric(&|r| recall_at(r, 10)),
        recall_20: metric(&|r| recall_at(r, 20)),
        map,
        triplet_loss: defined(triplet),
        silhouette: defined(silhouette),
        domain_probe: defined(probe),
        distance_ratio: defined(ratio),
        queries: queries.len(),
        database,
        queries_without_positive: without_positive,
        recall_all,
        ground_truth: described,
    };
    let pr_curve = if ground_truth {
        let k_max = match scope {
            Scope::Top(k) => k,
            Scope::Full { .. } => database.min(100),
        };
        interpolated_precision_recall(&scored, k_max, PR_LEVELS)
    } else {
        Vec::new()
    };
    (metrics, pr_curve)
}

/// An evaluation at scale: each query's `nearest` database rows (row, distance; nearest
/// first, at least `k` of them unless the database is smaller), the database described by its
/// items alone. Each ranking covers those rows and then the query's positives beyond them, at
/// an infinite distance: Recall@N for N ≤ `k` and mAP@`k` are exact.
pub fn evaluate_top(
    kind: EmbeddingKind,
    query_domain: Domain,
    queries: Embeddings,
    database: Vec<ItemInfo>,
    nearest: Vec<Vec<(usize, f32)>>,
    k: usize,
    rule: &Positives,
) -> Evaluation {
    assert_eq!(queries.len(), nearest.len(), "one ranking per query");
    let truth = ground_truth_of(&queries, &database);
    let ground_truth = truth != GroundTruth::None;
    let mut candidates = Vec::with_capacity(nearest.len());
    let mut rankings = Vec::with_capacity(nearest.len());
    for (q, near) in nearest.into_iter().enumerate() {
        let judge = Judge::new(truth, rule, &queries.items[q], &database);
        let mut rows: Vec<usize> = near.iter().map(|&(j, _)| j).collect();
        let mut distances: Vec<f32> = near.iter().map(|&(_, d)| d).collect();
        let mut relevant: Vec<bool> = rows
            .iter()
            .zip(&mut distances)
            .map(|(&j, d)| judge.relevant(&database[j], d))
            .collect();
        if ground_truth {
            let seen: std::collections::HashSet<usize> = rows.iter().copied().collect();
            for (j, d) in database.iter().enumerate() {
                if !seen.contains(&j) && judge.relevance(d) == Relevance::Hit {
                    rows.push(j);
                    distances.push(f32::INFINITY);
                    relevant.push(true);
                }
            }
        }
        rankings.push(Ranking::new(distances, relevant));
        candidates.push(rows);
    }
    let n = database.len();
    let (metrics, pr_curve) = score(&rankings, &queries, n, truth, rule, Scope::Top(k));
    let database = Embeddings {
        kind,
        channels: queries.channels,
        pixels: queries.pixels,
        data: Vec::new(),
        items: database,
    };
    Evaluation {
        kind,
        query_domain,
        queries,
        database,
        matrix: Vec::new(),
        rankings,
        candidates,
        ground_truth,
        metrics,
        pr_curve,
    }
}

/// Places seen in both domains, with their day and night rows.
fn paired_places(all: &Embeddings) -> Vec<(u32, usize, usize)> {
    let mut day = std::collections::BTreeMap::new();
    let mut night = std::collections::BTreeMap::new();
    for (i, it) in all.items.iter().enumerate() {
        if let Some(p) = it.place {
            match it.domain {
                Domain::Day => day.entry(p).or_insert(i),
                Domain::Night => night.entry(p).or_insert(i),
            };
        }
    }
    day.into_iter()
        .filter_map(|(p, d)| night.get(&p).map(|&n| (p, d, n)))
        .collect()
}

/// Mean hinge over triplets: anchor = a place by day, positive = it by night, negative =
/// another place by day or by night (50/50), drawn with `seed`. Margin 1.
pub fn held_out_triplet_loss(all: &Embeddings, w: Option<&[f32]>, seed: u64) -> Option<f64> {
    held_out_triplet_loss_depths(std::slice::from_ref(all), &[w], seed)
}

/// [`held_out_triplet_loss`] with the distance averaged over depths.
fn held_out_triplet_loss_depths(
    depths: &[Embeddings],
    w: &[Option<&[f32]>],
    seed: u64,
) -> Option<f64> {
    let all = depths.last()?;
    let places = paired_places(all);
    if places.len() < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7219_1e75);
    let d = |a: usize, b: usize| {
        let sum: f32 = depths
            .iter()
            .zip(w)
            .map(|(e, &w)| exact(e.row(a), e.row(b), e.channels, e.pixels, w))
            .sum();
        sum / depths.len() as f32
    };
    let pairs: Vec<(f32, f32)> = places
        .iter()
        .enumerate()
        .map(|(k, &(_, day, night))| {
            let mut other = rng.random_range(0..places.len() - 1);
            if other >= k {
                other += 1;
            }
            let neg = if rng.random_bool(0.5) {
                places[other].1
            } else {
                places[other].2
            };
            (d(day, night), d(day, neg))
        })
        .collect();
    Some(triplet_loss(&pairs, 1.0))
}

/// Silhouette of the embeddings of paired places, clustered by place.
pub fn place_silhouette(all: &Embeddings, w: Option<&[f32]>, device: &Device) -> Option<f64> {
    place_silhouette_depths(std::slice::from_ref(all), &[w], device)
}

/// [`place_silhouette`] with the distance averaged over depths.
fn place_silhouette_depths(
    depths: &[Embeddings],
    w: &[Option<&[f32]>],
    device: &Device,
) -> Option<f64> {
    let places = paired_places(depths.last()?);
    if places.len() < 2 {
        return None;
    }
    let rows: Vec<usize> = places.iter().flat_map(|&(_, d, n)| [d, n]).collect();
    let labels: Vec<u32> = places.iter().flat_map(|&(p, _, _)| [p, p]).collect();
    let n = rows.len();
    let mut m = vec![0.0f32; n * n];
    for (e, &w) in depths.iter().zip(w) {
        let sub = e.subset(&rows);
        let d = DeviceIndex::new(&sub, w, device).distance_matrix(&sub);
        m.iter_mut()
            .zip(&d)
            .for_each(|(a, b)| *a += b / depths.len() as f32);
    }
    for i in 0..n {
        m[i * n + i] = 0.0;
    }
    Some(silhouette(&m, &labels))
}

/// The held-out scores tracked at every training snapshot (docs/design.md §4): night→day Recall@1,
/// Recall@10 and mAP of the spatial embedding, the domain probe and the distance ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct HeldOutScores {
    #[serde(rename = "recall@1", with = "crate::json_float")]
    pub recall_1: f64,
    #[serde(rename = "recall@10", with = "crate::json_float")]
    pub recall_10: f64,
    #[serde(rename = "mAP", with = "crate::json_float")]
    pub map: f64,
    /// Undefined (absent) when the held-out split is too small for the probe; files written
    /// before this was optional hold `null` there, which reads as absent.
    #[serde(default, with = "crate::json_float::option")]
    pub domain_probe: Option<f64>,
    /// Undefined (absent) without two held-out places to compare.
    #[serde(default, with = "crate::json_float::option")]
    pub distance_ratio: Option<f64>,
}

impl HeldOutScores {
    /// Named values, for curves and tables.
    pub const NAMES: [&'static str; 5] = [
        "recall@1",
        "recall@10",
        "mAP",
        "domain_probe",
        "distance_ratio",
    ];

    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "recall@1" => self.recall_1,
            "recall@10" => self.recall_10,
            "mAP" => self.map,
            "domain_probe" => return self.domain_probe,
            "distance_ratio" => return self.distance_ratio,
            _ => return None,
        })
    }

    /// Read off an evaluation; `None` without ground truth.
    pub fn of(e: &Evaluation) -> Option<HeldOutScores> {
        let m = &e.metrics;
        Some(HeldOutScores {
            recall_1: m.recall_1?,
            recall_10: m.recall_10?,
            map: m.map?,
            domain_probe: m.domain_probe,
            distance_ratio: m.distance_ratio,
        })
    }

    /// Order used to keep the best checkpoint: Recall@1, then mAP, then the lower same/other
    /// distance ratio. The last breaks the tie once both saturate at 1 (fine-tuning on a small
    /// held-out set), where the first epoch to reach them would otherwise be kept for good.
    /// An undefined ratio ranks below any defined one.
    pub fn better_than(&self, other: &HeldOutScores) -> bool {
        let closeness = |s: &HeldOutScores| s.distance_ratio.map_or(f64::NEG_INFINITY, |r| -r);
        (self.recall_1, self.map, closeness(self)) > (other.recall_1, other.map, closeness(other))
    }
}

/// The model's held-out scores on `items`, exactly as `duskmatch eval` computes its model row
/// (night queries, spatial embedding, the same seed).
pub fn held_out_scores(
    model: &crate::model::DoubleVae,
    ds: &crate::data::Dataset,
    items: &[super::embed::ItemInfo],
    device: &Device,
    seed: u64,
) -> Option<HeldOutScores> {
    let e = super::embed::embed(model, ds, items.to_vec(), device, 32, |_, _| {});
    HeldOutScores::of(&evaluate(&e, Domain::Night, None, device, seed))
}
