//! What ties a view to what it was computed from, and how worker threads wake the window.

use std::sync::{Arc, OnceLock};

/// Wakes the window from worker threads once the first frame has given us a context.
#[derive(Clone, Default)]
pub struct Waker(Arc<OnceLock<egui::Context>>);

impl Waker {
    pub fn wake(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint();
        }
    }

    pub(crate) fn set(&self, ctx: &egui::Context) {
        let _ = self.0.set(ctx.clone());
    }

    pub(crate) fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let w = self.clone();
        move || w.wake()
    }
}

/// A number no other model snapshot or dataset load of this process has: what cache keys
/// carry, so a second run's step k or a reloaded dataset never passes for the first.
pub fn fresh_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Which model and which images a view was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Provenance {
    /// The snapshot's id ([`fresh_id`]): one per model instance.
    pub model: u64,
    /// Its training step (shown, and what "a newer step" means).
    pub step: u64,
    /// The dataset load's id.
    pub dataset: u64,
}
