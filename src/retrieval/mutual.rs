//! Mutual nearest neighbours between queries and a database, from their distance matrix: a
//! query and a database item that are each other's nearest are taken to show one place. The
//! one definition behind the pseudo-labels of self-training and the whitening learned on the
//! model's own matches; neither reads a label.

/// A query and the database item that are each other's nearest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MutualMatch {
    pub query: usize,
    pub database: usize,
    /// Nearest over second-nearest distance of the query (Lowe's ratio): lower stands out more.
    pub ratio: f32,
}

/// The mutual matches of a row-major `nq × nd` distance matrix, in query order. Ties go to the
/// lower index on both sides.
pub fn mutual_matches(m: &[f32], nq: usize, nd: usize) -> Vec<MutualMatch> {
    assert_eq!(m.len(), nq * nd, "distance matrix of {nq} × {nd}");
    let nearest_db: Vec<(usize, f32, f32)> = (0..nq)
        .map(|q| {
            let row = &m[q * nd..(q + 1) * nd];
            let (mut best, mut d1, mut d2) = (0, f32::INFINITY, f32::INFINITY);
            for (j, &d) in row.iter().enumerate() {
                if d < d1 {
                    (d2, d1, best) = (d1, d, j);
                } else if d < d2 {
                    d2 = d;
                }
            }
            (best, d1, d2)
        })
        .collect();
    let nearest_query: Vec<usize> = (0..nd)
        .map(|j| {
            (0..nq)
                .min_by(|&a, &b| m[a * nd + j].total_cmp(&m[b * nd + j]))
                .unwrap_or(0)
        })
        .collect();
    nearest_db
        .iter()
        .enumerate()
        .filter(|&(q, &(j, _, _))| nd > 0 && nearest_query[j] == q)
        .map(|(q, &(j, d1, d2))| MutualMatch {
            query: q,
            database: j,
            ratio: d1 / d2.max(1e-12),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_kept_only_when_both_sides_agree() {
        // Query 0's nearest is item 1 and item 1's nearest is query 0: a match. Query 1's
        // nearest is item 1 too, but item 1 prefers query 0: no match. Item 0 is nobody's.
        let m = [
            5.0, 1.0, 9.0, /* q1 */ 4.0, 2.0, 8.0, /* q2 */ 7.0, 6.0, 3.0,
        ];
        let got = mutual_matches(&m, 3, 3);
        assert_eq!(
            got,
            vec![
                MutualMatch {
                    query: 0,
                    database: 1,
                    ratio: 0.2
                },
                MutualMatch {
                    query: 2,
                    database: 2,
                    ratio: 0.5
                },
            ]
        );
        assert!(mutual_matches(&[], 0, 0).is_empty());
    }
}
