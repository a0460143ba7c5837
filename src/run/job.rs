//! The background job: work on a named thread, its panic caught and turned into an error, its
//! owner woken when it ends, progress readable at any time, and a poll that never blocks.
//! Everything heavy the GUI asks for (loading a checkpoint or a dataset, building an index, a
//! training run) runs as one, so the GUI thread only ever looks at results; the command line
//! runs its stages as one too, reading their events with a blocking call instead.
//!
//! A run (stage one, channel weights, fine-tuning) is a job that also takes [`Command`]s and
//! streams events: [`Job::spawn_run`]. Its events reach the owner through a relay that wakes
//! it after each one, and its result is sent only once the relay has passed on the last
//! event, so an owner that drains events before it polls never misses the final ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

use crate::train::Command;

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

/// The event type of a job that streams none.
pub enum NoEvents {}

/// What a run's work is handed: where its events go and where its commands come from. Both
/// move into the trainer, so they are dropped when the work returns.
pub struct RunLink<E> {
    pub events: Sender<E>,
    pub commands: Receiver<Command>,
}

pub struct Job<T, E = NoEvents> {
    rx: Receiver<Result<T, String>>,
    /// The result has been handed out: the sender is gone by design, not by a lost result.
    delivered: bool,
    events: Option<Receiver<E>>,
    commands: Option<Sender<Command>>,
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
        let what = what.into();
        let (rx, progress) = run_caught(name, what.clone(), work, || {}, wake);
        Self {
            rx,
            delivered: false,
            events: None,
            commands: None,
            progress,
            started: std::time::Instant::now(),
            what,
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> Job<T, E> {
    /// Run `work` on a thread named `name`, handing it the run's event sender and command
    /// receiver; `wake` is called after every event and once the run has ended.
    pub fn spawn_run(
        name: &str,
        what: impl Into<String>,
        wake: impl Fn() + Send + Sync + 'static,
        work: impl FnOnce(RunLink<E>) -> Result<T, String> + Send + 'static,
    ) -> Self {
        let what = what.into();
        let wake = Arc::new(wake);
        let (ctx, crx) = mpsc::channel();
        let (etx, erx) = mpsc::channel::<E>();
        let (relay_tx, relay_rx) = mpsc::channel();
        let w = wake.clone();
        let relay = std::thread::Builder::new()
            .name(format!("{name}-relay"))
            .spawn(move || {
                for e in erx {
                    if relay_tx.send(e).is_err() {
                        break;
                    }
                    w();
                }
            })
            .expect("spawn a relay thread");
        let (rx, progress) = run_caught(
            name,
            what.clone(),
            move |_| {
                work(RunLink {
                    events: etx,
                    commands: crx,
                })
            },
            // The work's sender is gone with it (returned or unwound), so the relay ends once
            // it has passed on the last event; only then may the result be seen.
            move || {
                let _ = relay.join();
            },
            move || wake(),
        );
        Self {
            rx,
            delivered: false,
            events: Some(relay_rx),
            commands: Some(ctx),
            progress,
            started: std::time::Instant::now(),
            what,
        }
    }
}

impl<T, E> Job<T, E> {
    /// Events that arrived since the last call; never blocks.
    pub fn drain(&mut self) -> Vec<E> {
        self.events
            .as_ref()
            .map(|rx| rx.try_iter().collect())
            .unwrap_or_default()
    }

    /// The next event, waiting for it; `None` once the run has ended and every event has
    /// been read. For an owner with nothing else to do (the command line).
    pub fn next_event(&self) -> Option<E> {
        self.events.as_ref()?.recv().ok()
    }

    /// Wait for the result (after [`next_event`](Self::next_event) has returned `None`, or
    /// for a one-shot job).
    pub fn wait(mut self) -> Result<T, String> {
        if self.delivered {
            return Err(format!("{}: its result was already taken", self.what));
        }
        self.delivered = true;
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(format!("{} ended without a result", self.what)))
    }

    /// A sender of commands to this run, for another thread (a Ctrl+C handler); `None` for a
    /// job that takes none.
    pub fn commander(&self) -> Option<Sender<Command>> {
        self.commands.clone()
    }

    /// Ask a run to pause, resume, stop or save; a job that takes no commands ignores it.
    pub fn send(&self, c: Command) {
        if let Some(tx) = &self.commands {
            let _ = tx.send(c);
        }
    }

    /// Stop a run and wait for its result (the window is closing: the run saves on its way
    /// out). The only call here that blocks.
    pub fn stop_and_wait(self) -> Result<T, String> {
        self.send(Command::Stop);
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(format!("{} ended without a result", self.what)))
    }

    /// Whether the result has been handed out by [`poll`](Self::poll).
    pub fn has_ended(&self) -> bool {
        self.delivered
    }

    /// The result once the job has ended, exactly once; None while it runs and after.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        if self.delivered {
            return None;
        }
        let r = match self.rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return None,
            // Only a thread that died outside the panic catch gets here.
            Err(TryRecvError::Disconnected) => Err(format!("{} ended without a result", self.what)),
        };
        self.delivered = true;
        Some(r)
    }
}

impl<T, E> Drop for Job<T, E> {
    fn drop(&mut self) {
        // Replacing a run stops it without waiting: the trainer saves on its way out.
        if let Some(tx) = &self.commands {
            let _ = tx.send(Command::Stop);
        }
    }
}

/// The one place a job's thread is started and its panic caught. `settle` runs after the
/// work has returned or unwound and before the result is sent; `wake` after it is sent.
fn run_caught<T: Send + 'static>(
    name: &str,
    what: String,
    work: impl FnOnce(&JobProgress) -> Result<T, String> + Send + 'static,
    settle: impl FnOnce() + Send + 'static,
    wake: impl FnOnce() + Send + 'static,
) -> (Receiver<Result<T, String>>, Arc<JobProgress>) {
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(JobProgress::default());
    let p = progress.clone();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&p)))
                .unwrap_or_else(|panic| Err(format!("{what} crashed: {}", panic_message(&panic))));
            settle();
            let _ = tx.send(r);
            wake();
        })
        .expect("spawn a job thread");
    (rx, progress)
}

pub fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}
