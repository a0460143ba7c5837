//! The event pump: once a frame, everything the background work produced since the last one
//! is taken in (the device probe, the startup checkpoint and its model, the dataset load, the
//! training run's events, every panel's jobs, the image grids), never blocking. Data flows one
//! way, from the jobs into the app's state, which the panels draw.

use std::sync::Arc;

use super::DuskApp;
use super::dataset_panel::DatasetState;
use super::inference::{DisplayItem, GridJob};
use super::notices::Level;
use super::panel::Panel;
use super::saliency_panel::Subject;
use super::settings::Tab;
use super::startup::StartupLoad;
use super::training_panel::TrainAction;
use crate::data::{Dataset, Split};
use crate::device;
use crate::run::job;
use crate::train::TrainEvent;

impl DuskApp {
    /// The four validation places shown in the grids, by day and by night, at `size` px.
    pub(super) fn display_items(
        ds: &Dataset,
        config: &crate::train::TrainingConfig,
        size: u32,
    ) -> Vec<DisplayItem> {
        let split = Split::new(ds, config.validation_fraction, config.seed);
        crate::model::views::display_batch(ds, &split, 4, size)
    }

    /// Pull in everything the workers produced since the last frame. Never blocks.
    pub fn pump(&mut self) {
        if let Some(r) = self.device_job.as_mut().and_then(|j| j.poll()) {
            self.device_job = None;
            match r {
                Ok(d) => {
                    if let Some(n) = &d.note {
                        self.notify(Level::Info, format!("{}: {n}", d.label));
                    }
                    self.device = Some(d);
                }
                Err(e) => {
                    self.notify(Level::Error, format!("{e}; using the CPU"));
                    self.device = Some(device::cpu());
                }
            }
            self.show_checkpoint_model();
        }

        if let Some(r) = self.checkpoint_job.as_mut().and_then(|j| j.poll()) {
            self.checkpoint_job = None;
            match r {
                Ok(found) => self.adopt_startup_checkpoint(found),
                Err(e) => self.notify(Level::Error, e),
            }
        }
        if let Some(r) = self.model_job.as_mut().and_then(|j| j.poll()) {
            self.model_job = None;
            match r {
                Ok((step, config, model)) => {
                    // A run started meanwhile owns the history now.
                    if self.snapshots.is_empty() {
                        self.snapshots.push(step, config, Arc::new(model));
                    }
                }
                Err(e) => {
                    let text = match &self.loaded {
                        Some(l) => format!("{}: {e}", l.path.display()),
                        None => e,
                    };
                    self.loaded = None;
                    self.notify(Level::Error, text);
                }
            }
        }
        if let Some(r) = self.continue_job.as_mut().and_then(|j| j.poll()) {
            self.continue_job = None;
            match r {
                Ok(ck) => self.start_with(TrainAction::Continue, Some(Box::new(ck))),
                Err(e) => self.notify(Level::Error, e),
            }
        }

        if self.dataset.poll() {
            match &self.dataset {
                DatasetState::Ready { report, .. } => {
                    if !report.skipped.is_empty() {
                        let n = report.skipped.len();
                        self.notify(Level::Warning, format!("{n} files skipped while loading the dataset (see the dataset panel)"));
                    }
                    self.refresh_display();
                    if let Some((a, resume)) = self.start_when_ready.take() {
                        self.start_with(a, resume);
                    }
                }
                DatasetState::Failed { error, .. } => {
                    let e = error.clone();
                    self.start_when_ready = None;
                    self.notify(Level::Error, e);
                }
                DatasetState::Loading { .. } => {}
            }
        }

        let panels: [&mut dyn Panel; 6] = [
            &mut self.dataset_panel,
            &mut self.retrieval,
            &mut self.baselines,
            &mut self.weights,
            &mut self.saliency,
            &mut self.runs,
        ];
        for panel in panels {
            panel.poll(&mut self.notices);
        }
        if let Some(folder) = self.runs.take_chosen() {
            self.runs.add(vec![folder], self.waker.waker());
        }
        if let Some(path) = self.runs.open_request.take() {
            // Opened as the startup checkpoint is: read on a job, its curves with it.
            let options = super::AppOptions {
                checkpoint: Some(path),
                ..self.options.clone()
            };
            self.checkpoint_job = Some(super::startup::load_in_background(
                options,
                self.settings.clone(),
                self.waker.waker(),
            ));
        }
        if let Some(source) = self.dataset_panel.take_chosen() {
            self.load_dataset(source);
        }

        let events = self.session.as_mut().map(|s| s.drain()).unwrap_or_default();
        for e in events {
            self.on_train_event(e);
        }
        if let Some(s) = &mut self.session
            && let Some(Err(e)) = s.take_result()
        {
            self.notify(Level::Error, e);
        }

        if let Some((query_domain, query, matched)) = self.retrieval.explain_request.take() {
            self.saliency.subject = Subject::Match {
                query_domain,
                query,
                matched,
            };
            self.settings.tab = Tab::Saliency;
        }

        let results = self
            .inference
            .as_mut()
            .map(|w| w.drain())
            .unwrap_or_default();
        for r in results {
            match r {
                Ok(grid) => {
                    if self.pending_decode == Some(grid.step) {
                        self.pending_decode = None;
                    }
                    self.snapshots.set_grid(grid);
                }
                Err(e) => {
                    self.pending_decode = None;
                    self.notify(Level::Error, e);
                }
            }
        }
        self.request_selected_grid();
    }

    pub(super) fn on_train_event(&mut self, e: TrainEvent) {
        match e {
            // The device and its note were reported when it was probed.
            TrainEvent::Started { .. } => {}
            TrainEvent::Step(r) => {
                self.history
                    .push_step(r.progress.step, r.progress.steps_per_epoch, r.losses)
            }
            TrainEvent::Epoch(r) => {
                self.history
                    .push_epoch(r.step, r.epoch, r.train, r.val, r.retrieval);
                if r.lr_reduced {
                    self.notify(
                        Level::Info,
                        format!("learning rate reduced on plateau to {:.1e}", r.lr),
                    );
                }
            }
            TrainEvent::Snapshot { step, model } => {
                // Labelled with the config the run trains with, never the editor's draft.
                let config = self
                    .running_config
                    .as_ref()
                    .map_or(self.settings.config.model, |c| c.model);
                self.snapshots.push(step, config, Arc::new(*model));
            }
            TrainEvent::CheckpointWritten { path, .. } => {
                self.run_checkpoint = Some(path.clone());
                self.settings.checkpoint = Some(path);
            }
            TrainEvent::Warning(w) => self.notify(Level::Warning, w),
            TrainEvent::Error(e) => self.notify(Level::Error, e),
            TrainEvent::Finished {
                reason,
                progress,
                checkpoint,
            } => self.notify(
                Level::Info,
                format!(
                    "training ended ({reason:?}) at step {}{}",
                    progress.step,
                    checkpoint
                        .map(|c| format!("; checkpoint {}", c.display()))
                        .unwrap_or_default()
                ),
            ),
            TrainEvent::Paused { .. } | TrainEvent::Resumed { .. } => {}
        }
    }

    /// Put the loaded checkpoint's model in the history as the first snapshot, built on the
    /// device by a job.
    pub(super) fn show_checkpoint_model(&mut self) {
        let (Some(dev), Some(l)) = (&self.device, &self.loaded) else {
            return;
        };
        if !self.snapshots.is_empty() || self.model_job.is_some() {
            return;
        }
        let (ck, device) = (l.checkpoint.clone(), dev.device.clone());
        self.model_job = Some(job::Job::spawn(
            "checkpoint-model",
            "building the checkpoint's model",
            self.waker.waker(),
            move |_| {
                let model = ck.build_model(&device)?;
                Ok((ck.header.state.at.step, ck.model_config(), model))
            },
        ));
    }

    /// The startup checkpoint arrived: show it, its curves, and its model's image size.
    pub(super) fn adopt_startup_checkpoint(&mut self, found: StartupLoad) {
        for n in found.notices {
            self.notify(n.level, n.text);
        }
        let Some(l) = found.loaded else {
            return;
        };
        if self.session.is_none() {
            if let Some(h) = found.history {
                self.history = h;
            }
            // Show the checkpoint's model on data at its size.
            let model = l.checkpoint.model_config();
            if self.editor.draft.model != model {
                self.editor.draft.model = model;
                self.editor.revalidate();
                let size = model.framing();
                let reload = match &self.dataset {
                    DatasetState::Ready { dataset, .. } => dataset.framing() != size,
                    DatasetState::Loading { size: s, .. } => *s != size,
                    DatasetState::Failed { .. } => false,
                };
                if reload {
                    let source = self.dataset.source().clone();
                    self.dataset = DatasetState::load(source, size, self.waker.waker());
                }
            }
        }
        self.loaded = Some(l);
        self.show_checkpoint_model();
    }

    /// The dataset changed: every grid was decoded from the old display batch.
    pub(super) fn refresh_display(&mut self) {
        self.retrieval.reset();
        self.display = None;
        self.pending_decode = None;
        self.snapshots.clear_grids();
    }

    /// The display batch at `size` px, rebuilt when the dataset or the size changed.
    pub(super) fn display_at(&mut self, size: u32) -> Option<Arc<Vec<DisplayItem>>> {
        if let Some((s, items)) = &self.display
            && *s == size
        {
            return Some(items.clone());
        }
        let ds = self.dataset.dataset()?;
        let items = Arc::new(Self::display_items(ds, &self.editor.draft, size));
        self.display = Some((size, items.clone()));
        Some(items)
    }

    /// Ask the worker to decode the selected snapshot if its grid is missing.
    pub(super) fn request_selected_grid(&mut self) {
        let Some((step, size, has_grid, model)) = self.snapshots.selected().map(|s| {
            (
                s.step,
                s.config.image_size as u32,
                s.grid.is_some(),
                s.model.clone(),
            )
        }) else {
            return;
        };
        if has_grid || self.pending_decode == Some(step) || self.inference.is_none() {
            return;
        }
        let (Some(items), Some(dev)) = (self.display_at(size), self.device.clone()) else {
            return;
        };
        self.pending_decode = Some(step);
        if let Some(worker) = &mut self.inference {
            worker.request(GridJob {
                step,
                model: Box::new((*model).clone()),
                items,
                device: dev.device,
            });
        }
    }
}
