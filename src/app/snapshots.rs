//! Model snapshots taken during training, and the one step scrubber every image panel follows.

use std::sync::Arc;

use super::inference::GridSnapshot;
use crate::model::{DoubleVae, ModelConfig};

pub struct Snapshot {
    /// Unique to this model instance (see `app::fresh_id`).
    pub id: u64,
    pub step: u64,
    pub config: ModelConfig,
    pub model: Arc<DoubleVae>,
    /// Decoded display batch, once the inference worker has produced it.
    pub grid: Option<GridSnapshot>,
}

pub struct Snapshots {
    entries: Vec<Snapshot>,
    selected: usize,
    /// Follow the newest snapshot as it arrives.
    pub live: bool,
    capacity: usize,
}

impl Default for Snapshots {
    fn default() -> Self {
        Self::with_capacity(120)
    }
}

impl Snapshots {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Vec::new(),
            selected: 0,
            live: true,
            capacity: capacity.max(4),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.selected = 0;
    }

    /// Add a snapshot (replacing one of the same step). When full, every other old snapshot
    /// is dropped, so the history thins out evenly instead of forgetting its start.
    pub fn push(&mut self, step: u64, config: ModelConfig, model: Arc<DoubleVae>) {
        let selected_step = self.selected().map(|s| s.step);
        let snap = Snapshot {
            id: super::ids::fresh_id(),
            step,
            config,
            model,
            grid: None,
        };
        match self.entries.binary_search_by_key(&step, |s| s.step) {
            Ok(i) => self.entries[i] = snap,
            Err(i) => self.entries.insert(i, snap),
        }
        if self.entries.len() > self.capacity {
            let newest = self.entries.pop();
            let mut k = 0;
            self.entries.retain(|_| {
                k += 1;
                k % 2 == 1
            });
            self.entries.extend(newest);
        }
        self.selected = if self.live {
            self.entries.len() - 1
        } else {
            selected_step
                .map(|s| self.index_at_or_before(s))
                .unwrap_or(0)
        };
    }

    fn index_at_or_before(&self, step: u64) -> usize {
        self.entries
            .partition_point(|s| s.step <= step)
            .saturating_sub(1)
    }

    /// Forget decoded grids (the display batch changed); models stay.
    pub fn clear_grids(&mut self) {
        for s in &mut self.entries {
            s.grid = None;
        }
    }

    pub fn set_grid(&mut self, grid: GridSnapshot) {
        if let Ok(i) = self.entries.binary_search_by_key(&grid.step, |s| s.step) {
            self.entries[i].grid = Some(grid);
        }
    }

    pub fn selected(&self) -> Option<&Snapshot> {
        self.entries.get(self.selected)
    }

    pub fn newest(&self) -> Option<&Snapshot> {
        self.entries.last()
    }

    pub fn steps(&self) -> Vec<u64> {
        self.entries.iter().map(|s| s.step).collect()
    }

    /// Show the snapshot at index `i` (clamped); leaving the newest turns `live` off.
    pub fn select(&mut self, i: usize) {
        self.selected = i.min(self.entries.len().saturating_sub(1));
        self.live = self.selected + 1 == self.entries.len();
    }

    pub fn selected_index(&self) -> usize {
        self.selected
    }

    /// The scrubber: a slider over snapshot indices labelled by step, and the live toggle.
    /// Returns true when the selection changed.
    pub fn scrubber_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let before = self.selected;
        ui.horizontal(|ui| {
            let label = ui.label("Snapshot");
            if self.entries.is_empty() {
                ui.weak("none yet: snapshots appear as training runs");
                return;
            }
            let n = self.entries.len();
            let mut i = self.selected;
            let steps: Vec<u64> = self.steps();
            let slider = egui::Slider::new(&mut i, 0..=n - 1)
                .show_value(false)
                .custom_formatter(move |v, _| format!("step {}", steps[(v as usize).min(n - 1)]));
            let resp = ui.add_enabled(n > 1, slider).labelled_by(label.id);
            if resp
                .on_hover_text("Every image panel shows this snapshot")
                .changed()
            {
                self.select(i);
            }
            ui.label(format!("step {}", self.entries[self.selected].step));
            ui.weak(format!("({} of {n})", self.selected + 1));
            if ui
                .toggle_value(&mut self.live, "live")
                .on_hover_text("Follow the newest snapshot")
                .changed()
                && self.live
            {
                self.selected = n - 1;
            }
        });
        self.selected != before
    }
}
