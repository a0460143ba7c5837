//! `duskmatch runs`: several runs side by side, as a table: steps, the last and the best
//! held-out scores, and each run's settings that differ from the first run's.

use std::path::PathBuf;

use clap::Args;

use crate::retrieval::eval::score_text;
use crate::train::runs::{RunSummary, differing, find_runs, summarise};

#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Run folders, or folders whose runs are found directly inside them.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
}

pub fn run(args: RunsArgs) -> Result<(), String> {
    let dirs = find_runs(&args.dirs).map_err(|e| e.to_string())?;
    let runs: Vec<RunSummary> = dirs
        .iter()
        .map(|d| summarise(d))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    print!("{}", table(&runs));
    Ok(())
}

/// The table `runs` prints: one line per run, then its differing settings indented below.
pub fn table(runs: &[RunSummary]) -> String {
    let name = |r: &RunSummary| r.dir.display().to_string();
    let width = runs.iter().map(|r| name(r).len()).max().unwrap_or(3).max(3);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>7} {:>7} {:>7}  {:>7} {:>8}\n",
        "run", "steps", "R@1", "R@10", "mAP", "best R@1", "at step"
    );
    let f = |v: Option<f64>| score_text(v, 3);
    for (i, r) in runs.iter().enumerate() {
        let last = r.last.map(|(_, s)| s);
        out.push_str(&format!(
            "{:<width$}  {:>7}  {:>7} {:>7} {:>7}  {:>8} {:>8}\n",
            name(r),
            r.steps,
            f(last.map(|s| s.recall_1)),
            f(last.map(|s| s.recall_10)),
            f(last.map(|s| s.map)),
            f(r.best.map(|(_, s)| s.recall_1)),
            r.best.map_or("—".into(), |(step, _)| step.to_string()),
        ));
        if i == 0 {
            continue;
        }
        for (k, v) in differing(&runs[0], r) {
            out.push_str(&format!("    {k} = {v}\n"));
        }
    }
    if runs.len() > 1 {
        out.push_str("(R@1, R@10, mAP: the last held-out epoch; indented: settings that differ from the first run)\n");
    }
    out
}
