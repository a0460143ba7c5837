//! Decodes the display batch with a model snapshot, off the GUI thread. Only the newest
//! request matters: while busy, older queued snapshots are skipped.

use std::sync::mpsc::{self, Receiver, Sender};

use burn::prelude::*;

use crate::model::DoubleVae;
pub use crate::model::views::{COLUMNS, DisplayItem, GridRow, GridSnapshot, decode_grid};

pub struct GridJob {
    pub step: u64,
    pub model: Box<DoubleVae>,
    pub items: std::sync::Arc<Vec<DisplayItem>>,
    pub device: Device,
}

pub struct InferenceWorker {
    jobs: Sender<GridJob>,
    results: Receiver<Result<GridSnapshot, String>>,
}

impl InferenceWorker {
    pub fn start(wake: impl Fn() + Send + 'static) -> Self {
        let (jtx, jrx) = mpsc::channel::<GridJob>();
        let (rtx, rrx) = mpsc::channel();
        std::thread::Builder::new()
            .name("grid-inference".into())
            .spawn(move || {
                while let Ok(mut job) = jrx.recv() {
                    // Skip to the newest request.
                    while let Ok(newer) = jrx.try_recv() {
                        job = newer;
                    }
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        decode_grid(&job.model, &job.items, &job.device, job.step)
                    }))
                    .map_err(|p| {
                        format!(
                            "decoding the image grid failed: {}",
                            super::session::panic_message(&p)
                        )
                    });
                    if rtx.send(result).is_err() {
                        break;
                    }
                    wake();
                }
            })
            .expect("spawn inference thread");
        Self {
            jobs: jtx,
            results: rrx,
        }
    }

    pub fn request(&self, job: GridJob) {
        let _ = self.jobs.send(job);
    }

    pub fn drain(&self) -> Vec<Result<GridSnapshot, String>> {
        self.results.try_iter().collect()
    }
}
