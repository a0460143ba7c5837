//! Results out, in the files the field's tools read: a rankings CSV (one row per query and
//! rank), hloc's pairs file (`query match` per line, image paths relative to the dataset
//! folder), and the per-query results `eval --json` holds.

use serde::Serialize;

use super::eval::Evaluation;

/// One ranked match of a query.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankedMatch {
    /// 1-based.
    pub rank: usize,
    #[serde(rename = "match")]
    pub name: String,
    pub distance: f32,
    /// Whether it is a positive; absent without ground truth.
    pub positive: Option<bool>,
}

/// A query's results.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryResult {
    pub query: String,
    /// Its positives in the database (0: left out of the recalls).
    pub positives: usize,
    /// 1-based rank of the first positive, ties resolved optimistically.
    pub first_positive_rank: Option<usize>,
    pub matches: Vec<RankedMatch>,
}

/// The first `top` matches of every query.
pub fn per_query(e: &Evaluation, top: usize) -> Vec<QueryResult> {
    (0..e.rankings.len())
        .map(|q| QueryResult {
            query: e.queries.items[q].name.clone(),
            positives: e.rankings[q].num_relevant(),
            first_positive_rank: e.true_match_rank(q),
            matches: e
                .ranked(q)
                .into_iter()
                .take(top)
                .enumerate()
                .map(|(k, (row, distance, positive))| RankedMatch {
                    rank: k + 1,
                    name: e.database.items[row].name.clone(),
                    distance,
                    positive,
                })
                .collect(),
        })
        .collect()
}

/// `query,rank,match,distance,positive`, one row per query and rank (the first `top`);
/// `positive` is `true`/`false`, empty without ground truth.
pub fn rankings_csv(e: &Evaluation, top: usize) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["query", "rank", "match", "distance", "positive"])?;
    for r in per_query(e, top) {
        for m in &r.matches {
            w.write_record([
                r.query.as_str(),
                &m.rank.to_string(),
                &m.name,
                &format!("{}", m.distance),
                m.positive.map_or("", |p| if p { "true" } else { "false" }),
            ])?;
        }
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// hloc's pairs file: `query match` for the first `top` matches of every query.
pub fn pairs_txt(e: &Evaluation, top: usize) -> String {
    let mut out = String::new();
    for q in 0..e.rankings.len() {
        for (row, _, _) in e.ranked(q).into_iter().take(top) {
            out.push_str(&e.queries.items[q].name);
            out.push(' ');
            out.push_str(&e.database.items[row].name);
            out.push('\n');
        }
    }
    out
}
