//! The command line's one progress consumer: follows a run of any stage to its end, with a
//! progress bar (steps, ETA) placed by the run's lifecycle (`run::lifecycle`), the run's
//! warnings, errors, pauses and checkpoints as lines, and the stage's own lines and status
//! from a closure. Lines go above the bar on a terminal, and straight to stderr where the bar
//! is hidden (`--quiet`, or stderr not a terminal), so a log file keeps every line.

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::{Job, Lifecycle, StageEvent};

/// What a stage's closure may say about one of its events.
pub struct Reporter {
    bar: ProgressBar,
}

impl Reporter {
    /// A line of its own (an epoch's summary).
    pub fn line(&self, text: impl Into<String>) {
        let text = text.into();
        if self.bar.is_hidden() || self.bar.is_finished() {
            eprintln!("{text}");
        } else {
            self.bar.println(text);
        }
    }

    /// The bar's status text (a step's losses).
    pub fn status(&self, text: impl Into<String>) {
        self.bar.set_message(text.into());
    }
}

/// Read `job`'s events until it ends, then return its result. `stage` is called after the
/// lifecycle has been handled, for every event, to add the stage's own lines.
pub fn follow<T, E: StageEvent>(
    job: Job<T, E>,
    quiet: bool,
    mut stage: impl FnMut(&E, &Reporter),
) -> Result<T, String> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let out = Reporter { bar };
    while let Some(event) = job.next_event() {
        match event.lifecycle() {
            Some(Lifecycle::Started {
                step, total_steps, ..
            }) => {
                out.bar.set_length(total_steps);
                out.bar.set_position(step);
            }
            Some(Lifecycle::Step { step }) => out.bar.set_position(step),
            Some(Lifecycle::Paused { step }) => out.line(format!("paused at step {step}")),
            Some(Lifecycle::Resumed { step }) => out.line(format!("resumed at step {step}")),
            Some(Lifecycle::CheckpointWritten { path }) => out.line(format!(
                "checkpoint at step {}: {}",
                out.bar.position(),
                path.display()
            )),
            Some(Lifecycle::Warning(w)) => out.line(format!("warning: {w}")),
            Some(Lifecycle::Error(e)) => out.line(format!("error: {e}")),
            Some(Lifecycle::Finished { .. }) => out.bar.finish_and_clear(),
            Some(Lifecycle::Epoch { .. }) | None => {}
        }
        stage(&event, &out);
    }
    out.bar.finish_and_clear();
    job.wait()
}
