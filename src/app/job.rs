//! The app's background job: work on a named thread, its panic caught and turned into an
//! error, the window woken when it ends, progress readable every frame, and a poll that never
//! blocks. Everything heavy the GUI asks for (loading a checkpoint or a dataset, building an
//! index) runs as one, so the GUI thread only ever looks at results.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};

/// Items done out of a total, written by the job, read by the GUI.
#[derive(Default)]
pub struct JobProgress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl JobProgress {
    pub fn set(&self, done: usize, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }

    /// `(done, total)`; total is 0 until the job knows it.
    pub fn get(&self) -> (usize, usize) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

pub struct Job<T> {
    rx: Receiver<Result<T, String>>,
    pub progress: Arc<JobProgress>,
    pub started: std::time::Instant,
    /// What the job does, for messages ("loading the checkpoint").
    pub what: String,
}

impl<T: Send + 'static> Job<T> {
    /// Run `work` on a thread named `name`; `wake` is called once it has finished.
    pub fn spawn(
        name: &str,
        what: impl Into<String>,
        wake: impl Fn() + Send + 'static,
        work: impl FnOnce(&JobProgress) -> Result<T, String> + Send + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let progress = Arc::new(JobProgress::default());
        let p = progress.clone();
        let what = what.into();
        let label = what.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&p)))
                    .unwrap_or_else(|panic| {
                        Err(format!(
                            "{label} crashed: {}",
                            super::session::panic_message(&panic)
                        ))
                    });
                let _ = tx.send(r);
                wake();
            })
            .expect("spawn a job thread");
        Self {
            rx,
            progress,
            started: std::time::Instant::now(),
            what,
        }
    }

    /// The result once the job has ended, exactly once; None while it runs.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(Err(format!("{} ended without a result", self.what)))
            }
        }
    }
}
