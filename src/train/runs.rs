//! Several runs side by side: each run folder's settings (its `config.toml`, flattened to
//! `section.key = value`) and its held-out scores from `metrics.jsonl`, last and best, for the
//! table that `duskmatch runs` prints. A folder is a run when it holds either file; a folder
//! that is not one stands for the runs directly inside it.

use std::path::{Path, PathBuf};

use super::metrics_log::{self, Record};
use crate::retrieval::eval::HeldOutScores;

/// The config file every run folder holds.
pub const CONFIG: &str = "config.toml";

/// One run folder, read.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub dir: PathBuf,
    /// `section.key = value` for every setting of its `config.toml`, sorted by key.
    pub settings: Vec<(String, String)>,
    /// The last step the log reaches.
    pub steps: u64,
    /// Held-out scores of the last epoch that has them, and its step.
    pub last: Option<(u64, HeldOutScores)>,
    /// The best epoch's (R@1, then mAP, then the distance ratio, as `best.dmck` is kept).
    pub best: Option<(u64, HeldOutScores)>,
}

/// Why a folder cannot be read as runs.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("{}: not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: no run in it (a run folder holds {CONFIG} or {})", .0.display(), metrics_log::FILE)]
    NoRuns(PathBuf),
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
}

fn is_run(dir: &Path) -> bool {
    dir.join(CONFIG).is_file() || dir.join(metrics_log::FILE).is_file()
}

/// The run folders that `paths` name: each path that is a run, else the runs directly inside
/// it, in name order.
pub fn find_runs(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RunsError> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            return Err(RunsError::NotAFolder(p.clone()));
        }
        if is_run(p) {
            out.push(p.clone());
            continue;
        }
        let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|_| RunsError::NotAFolder(p.clone()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.is_dir() && is_run(d))
            .collect();
        if inner.is_empty() {
            return Err(RunsError::NoRuns(p.clone()));
        }
        inner.sort();
        out.extend(inner);
    }
    Ok(out)
}

/// Read one run folder. A missing config or log leaves its part empty; a config that is not
/// TOML is an error naming the file.
pub fn summarise(dir: &Path) -> Result<RunSummary, RunsError> {
    let mut settings = Vec::new();
    let config = dir.join(CONFIG);
    if config.is_file() {
        let text = std::fs::read_to_string(&config).map_err(|e| RunsError::Config {
            path: config.clone(),
            message: e.to_string(),
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| RunsError::Config {
                path: config.clone(),
                message: e.message().to_string(),
            })?;
        flatten("", &toml::Value::Table(table), &mut settings);
        settings.sort();
    }
    let records = metrics_log::read(&dir.join(metrics_log::FILE), u64::MAX);
    let mut steps = 0;
    let mut last: Option<(u64, HeldOutScores)> = None;
    let mut best: Option<(u64, HeldOutScores)> = None;
    for r in &records {
        match r {
            Record::Step { step, .. } => steps = steps.max(*step),
            Record::Epoch {
                step, retrieval, ..
            } => {
                steps = steps.max(*step);
                if let Some(s) = retrieval {
                    last = Some((*step, *s));
                    if best.is_none_or(|(_, b)| s.better_than(&b)) {
                        best = Some((*step, *s));
                    }
                }
            }
        }
    }
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        settings,
        steps,
        last,
        best,
    })
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, String)>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The settings of `run` that differ from `first`'s (or that `first` lacks), in key order.
pub fn differing<'a>(first: &RunSummary, run: &'a RunSummary) -> Vec<&'a (String, String)> {
    run.settings
        .iter()
        .filter(|kv| !first.settings.contains(kv))
        .collect()
}
