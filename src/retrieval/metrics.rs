//! Retrieval and clustering metrics, tie-aware where distances can tie: when several database
//! items share a distance, their order is arbitrary, so the metrics report the expectation
//! over every order of each tied group (McSherry & Najork, ECIR 2008).

/// One ranked list: distances to every database item and which items are relevant.
#[derive(Debug, Clone)]
pub struct Ranking {
    /// Database indices from nearest to farthest (stable on ties).
    pub order: Vec<usize>,
    pub distances: Vec<f32>,
    pub relevant: Vec<bool>,
}

impl Ranking {
    pub fn new(distances: Vec<f32>, relevant: Vec<bool>) -> Self {
        assert_eq!(distances.len(), relevant.len());
        let mut order: Vec<usize> = (0..distances.len()).collect();
        order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(a.cmp(&b)));
        Self {
            order,
            distances,
            relevant,
        }
    }

    pub fn num_relevant(&self) -> usize {
        self.relevant.iter().filter(|&&r| r).count()
    }

    /// Groups of equal distance along the ranking: (start rank, length, relevant in group).
    fn tie_groups(&self) -> Vec<(usize, usize, usize)> {
        let mut groups = Vec::new();
        let mut i = 0;
        while i < self.order.len() {
            let d = self.distances[self.order[i]];
            let mut j = i;
            let mut r = 0;
            while j < self.order.len() && self.distances[self.order[j]] == d {
                r += self.relevant[self.order[j]] as usize;
                j += 1;
            }
            groups.push((i, j - i, r));
            i = j;
        }
        groups
    }

    /// Expected chance that a relevant item is within the first `n` (Recall@N in the
    /// place-recognition sense: the query is found if any true match is in the top N).
    pub fn hit_at(&self, n: usize) -> f64 {
        if self.num_relevant() == 0 {
            return 0.0;
        }
        for (start, len, r) in self.tie_groups() {
            if start >= n {
                return 0.0;
            }
            if r > 0 {
                // Slots of this tie group inside the top n.
                let m = (n - start).min(len);
                // P(no relevant among m drawn without replacement from len with r relevant).
                let mut p_miss = 1.0;
                for k in 0..m {
                    p_miss *= (len - r - k.min(len - r)) as f64 / (len - k) as f64;
                    if len - r <= k {
                        p_miss = 0.0;
                        break;
                    }
                }
                return 1.0 - p_miss;
            }
        }
        0.0
    }

    /// Tie-aware average precision: [`average_precision_at`](Self::average_precision_at)
    /// over the whole ranking.
    pub fn average_precision(&self) -> f64 {
        self.average_precision_at(self.order.len())
    }

    /// Tie-aware AP over the first `k` ranks, normalised by `min(k, relevant)` (mAP@K as
    /// the place-recognition benchmarks with many positives per query report it).
    pub fn average_precision_at(&self, k: usize) -> f64 {
        let total = self.num_relevant();
        if total == 0 || k == 0 {
            return 0.0;
        }
        let mut ap = 0.0;
        let mut before = 0usize;
        'groups: for (start, n, r) in self.tie_groups() {
            if r > 0 {
                for i in 1..=n {
                    if start + i > k {
                        break 'groups;
                    }
                    let expected_rel_before = if n > 1 {
                        (i - 1) as f64 * (r - 1) as f64 / (n - 1) as f64
                    } else {
                        0.0
                    };
                    let precision =
                        (before as f64 + 1.0 + expected_rel_before) / (start + i) as f64;
                    ap += (r as f64 / n as f64) * precision;
                }
            } else if start >= k {
                break;
            }
            before += r;
        }
        ap / total.min(k) as f64
    }

    /// 1-based rank of the best-placed relevant item (ties resolved optimistically), if any.
    pub fn first_relevant_rank(&self) -> Option<usize> {
        self.order.iter().position(|&i| self.relevant[i]).map(|p| {
            let d = self.distances[self.order[p]];
            self.order
                .iter()
                .take_while(|&&j| self.distances[j] < d)
                .count()
                + 1
        })
    }

    /// Precision and recall after each of the first `k_max` ranks (expected under ties).
    pub fn precision_recall(&self, k_max: usize) -> Vec<(f64, f64)> {
        let total = self.num_relevant().max(1) as f64;
        let mut out = Vec::new();
        let mut seen_rel = 0.0;
        let groups = self.tie_groups();
        for (start, n, r) in groups {
            for i in 1..=n {
                let k = start + i;
                if k > k_max {
                    return out;
                }
                seen_rel += r as f64 / n as f64;
                out.push((seen_rel / k as f64, seen_rel / total));
            }
        }
        out
    }
}

/// Mean of the per-query hit rates at each N.
pub fn recall_at(rankings: &[Ranking], n: usize) -> f64 {
    if rankings.is_empty() {
        return f64::NAN;
    }
    rankings.iter().map(|r| r.hit_at(n)).sum::<f64>() / rankings.len() as f64
}

pub fn mean_average_precision(rankings: &[Ranking]) -> f64 {
    if rankings.is_empty() {
        return f64::NAN;
    }
    rankings.iter().map(Ranking::average_precision).sum::<f64>() / rankings.len() as f64
}

/// Mean of the per-query AP over the first `k` ranks.
pub fn mean_average_precision_at(rankings: &[Ranking], k: usize) -> f64 {
    if rankings.is_empty() {
        return f64::NAN;
    }
    rankings
        .iter()
        .map(|r| r.average_precision_at(k))
        .sum::<f64>()
        / rankings.len() as f64
}

/// Interpolated precision–recall curve averaged over queries (the TREC curve): at each of
/// `levels` recall levels from 0 to 1, a query's precision is the best it reaches at that recall
/// or more within `k_max` ranks (0 where it never reaches it); queries without a positive are
/// left out. As `(precision, recall)` pairs. A near-perfect ranking then draws a line along the
/// top of the plot, where a mean over rank cutoffs drew a drop at recall 1.
pub fn interpolated_precision_recall(
    rankings: &[Ranking],
    k_max: usize,
    levels: usize,
) -> Vec<(f64, f64)> {
    let curves: Vec<Vec<(f64, f64)>> = rankings
        .iter()
        .filter(|r| r.num_relevant() > 0)
        .map(|r| r.precision_recall(k_max))
        .collect();
    if curves.is_empty() || levels < 2 {
        return Vec::new();
    }
    (0..levels)
        .map(|i| {
            let level = i as f64 / (levels - 1) as f64;
            let p = curves
                .iter()
                .map(|c| {
                    c.iter()
                        .filter(|&&(_, r)| r >= level - 1e-12)
                        .map(|&(p, _)| p)
                        .fold(0.0, f64::max)
                })
                .sum::<f64>()
                / curves.len() as f64;
            (p, level)
        })
        .collect()
}

/// Mean silhouette of a clustering given all pairwise distances (row-major `n×n`) and labels.
/// Samples alone in their cluster score 0, as in scikit-learn.
pub fn silhouette(dist: &[f32], labels: &[u32]) -> f64 {
    let n = labels.len();
    assert_eq!(dist.len(), n * n);
    let mut clusters: Vec<u32> = labels.to_vec();
    clusters.sort_unstable();
    clusters.dedup();
    if clusters.len() < 2 {
        return f64::NAN;
    }
    let mut total = 0.0;
    for i in 0..n {
        let mut sums = std::collections::HashMap::<u32, (f64, usize)>::new();
        for j in 0..n {
            if i != j {
                let e = sums.entry(labels[j]).or_insert((0.0, 0));
                e.0 += dist[i * n + j] as f64;
                e.1 += 1;
            }
        }
        let own = sums.get(&labels[i]).copied().unwrap_or((0.0, 0));
        if own.1 == 0 {
            continue; // singleton: 0
        }
        let a = own.0 / own.1 as f64;
        let b = sums
            .iter()
            .filter(|(l, _)| **l != labels[i])
            .map(|(_, (s, c))| s / *c as f64)
            .fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        total += if m > 0.0 { (b - a) / m } else { 0.0 };
    }
    total / n as f64
}

/// Mean hinge `max(d(a,p) − d(a,n) + margin, 0)` over triplets given as distance pairs.
pub fn triplet_loss(pairs: &[(f32, f32)], margin: f32) -> f64 {
    if pairs.is_empty() {
        return f64::NAN;
    }
    pairs
        .iter()
        .map(|&(ap, an)| (ap - an + margin).max(0.0) as f64)
        .sum::<f64>()
        / pairs.len() as f64
}
