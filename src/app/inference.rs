//! Decodes the display batch with a model snapshot, off the GUI thread, as a [`Job`]. Only
//! the newest request matters: while one decodes, a newer request replaces any queued one.

use burn::prelude::*;

use crate::model::DoubleVae;
pub use crate::model::views::{COLUMNS, DisplayItem, GridRow, GridSnapshot, decode_grid};
use crate::run::job::Job;

pub struct GridJob {
    pub step: u64,
    pub model: Box<DoubleVae>,
    pub items: std::sync::Arc<Vec<DisplayItem>>,
    pub device: Device,
}

pub struct InferenceWorker {
    wake: std::sync::Arc<dyn Fn() + Send + Sync>,
    running: Option<Job<GridSnapshot>>,
    queued: Option<GridJob>,
}

impl InferenceWorker {
    pub fn start(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            wake: std::sync::Arc::new(wake),
            running: None,
            queued: None,
        }
    }

    pub fn request(&mut self, job: GridJob) {
        if self.running.is_some() {
            self.queued = Some(job);
        } else {
            self.spawn(job);
        }
    }

    fn spawn(&mut self, job: GridJob) {
        let wake = self.wake.clone();
        self.running = Some(Job::spawn(
            "grid-inference",
            "decoding the image grid",
            move || wake(),
            move |_| Ok(decode_grid(&job.model, &job.items, &job.device, job.step)),
        ));
    }

    /// The finished decode, if any, starting the queued request after it. Never blocks.
    pub fn drain(&mut self) -> Vec<Result<GridSnapshot, String>> {
        let Some(r) = self.running.as_mut().and_then(|j| j.poll()) else {
            return Vec::new();
        };
        self.running = None;
        if let Some(next) = self.queued.take() {
            self.spawn(next);
        }
        vec![r]
    }
}
