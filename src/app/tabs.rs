//! The three tabs' layouts: which panels sit where, and what each panel is fed.

use super::baselines_panel::BaselineInputs;
use super::dataset_panel::DatasetAction;
use super::notices::Level;
use super::retrieval_panel::IndexInputs;
use super::weights_panel::WeightsInputs;
use super::{DuskApp, training_panel};
use crate::data::Split;
use crate::supervised;
use crate::train::plan::snapshot_header;
use crate::train::run_dir::run_dir_in;

impl DuskApp {
    pub(super) fn training_tab(&mut self, ui: &mut egui::Ui) {
        egui::Panel::left("controls")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let active = self.session.as_ref().is_some_and(|s| s.is_active());
                    ui.heading("Dataset");
                    let action = self.dataset_panel.ui(ui, &self.dataset, !active);
                    match action {
                        Some(DatasetAction::Load(s)) => self.load_dataset(s),
                        Some(DatasetAction::PickPositions) => {
                            self.dataset_panel.pick_positions(self.waker.waker())
                        }
                        Some(DatasetAction::PickFolder) => {
                            self.dataset_panel.pick_folder(self.waker.waker())
                        }
                        Some(DatasetAction::Invalid(e)) => self.notify(Level::Error, e),
                        None => {}
                    }
                    ui.separator();
                    ui.heading("Training");
                    // A run of this window always saves its optimiser; a loaded file may not.
                    let can_continue = self.run_checkpoint.is_some()
                        || self
                            .loaded
                            .as_ref()
                            .is_some_and(|l| l.checkpoint.optimizer.is_some());
                    let device = self.device_label();
                    if let Some(a) = training_panel::controls_ui(
                        ui,
                        self.session.as_ref(),
                        self.editor.valid().is_some(),
                        can_continue,
                        &device,
                    ) {
                        self.act(a);
                    }
                    if let Some(l) = &self.loaded {
                        let c = &l.checkpoint.header.config;
                        ui.weak(format!(
                            "Loaded: {} (step {}; objective {}, {} encoder)",
                            l.path.display(),
                            l.checkpoint.header.state.at.step,
                            c.objective.name(),
                            c.model.encoder.name()
                        ));
                    }
                    ui.add(
                        egui::Slider::new(&mut self.settings.snapshot_every, 1..=500)
                            .text("refresh images every N steps"),
                    );
                    ui.separator();
                    ui.heading("Configuration");
                    self.editor.ui(ui, !active);
                });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let h = ui.available_height();
            ui.heading("Losses");
            ui.allocate_ui(
                egui::vec2(ui.available_width(), (h * 0.34).max(150.0)),
                |ui| {
                    self.loss_plot.ui(ui, &self.history);
                },
            );
            ui.label(egui::RichText::new("Held-out retrieval and invariance").strong());
            ui.allocate_ui(
                egui::vec2(ui.available_width(), (h * 0.2).max(110.0)),
                |ui| {
                    super::retrieval_curves::ui(ui, &self.history, self.loss_plot.x_in_epochs);
                },
            );
            ui.separator();
            let grid = self.snapshots.selected().and_then(|s| s.grid.clone());
            self.grid.ui(ui, grid.as_ref());
        });
    }

    /// The config whose split and seed describe the model on screen.
    /// The selected snapshot and the loaded dataset, as the views' caches key them.
    fn provenance(&self) -> Option<super::ids::Provenance> {
        let snap = self.snapshots.selected()?;
        Some(super::ids::Provenance {
            model: snap.id,
            step: snap.step,
            dataset: self.dataset.id().unwrap_or(0),
        })
    }

    pub(super) fn model_config(&self) -> crate::train::TrainingConfig {
        match (&self.session, &self.running_config, &self.loaded) {
            (Some(_), Some(c), _) => c.clone(),
            (None, _, Some(l)) => l.checkpoint.header.config.clone(),
            _ => self.settings.config.clone(),
        }
    }

    pub(super) fn retrieval_tab(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("retrieval-settings").show(ui, |ui| {
            self.retrieval.settings_ui(ui);
        });
        let inputs = match (
            self.snapshots.selected(),
            self.dataset.dataset(),
            &self.device,
        ) {
            (Some(snap), Some(ds), Some(dev)) => {
                let cfg = self.model_config();
                let own = *self.dataset.source() == cfg.data;
                Some(IndexInputs {
                    provenance: self.provenance().expect("a snapshot is selected"),
                    model: snap.model.clone(),
                    dataset: ds.clone(),
                    split: own.then(|| Split::new(ds, cfg.validation_fraction, cfg.seed)),
                    device: dev.device.clone(),
                    weights: if self.retrieval.use_weights {
                        self.weights.latent_weights(snap.id).cloned()
                    } else {
                        None
                    },
                })
            }
            _ => None,
        };
        let baseline_inputs = inputs.as_ref().map(|i| {
            let cfg = self.model_config();
            BaselineInputs {
                provenance: i.provenance,
                model: i.model.clone(),
                config: self.snapshots.selected().map_or(cfg.model, |s| s.config),
                dataset: i.dataset.clone(),
                split: i.split.clone(),
                device: i.device.clone(),
                query: self.retrieval.query_domain,
                seed: cfg.seed,
            }
        });
        if let Some(inputs) = inputs {
            let live = self.snapshots.live;
            self.retrieval.ensure(inputs, live, self.waker.waker());
        }
        let current = baseline_inputs.as_ref().map(|b| b.provenance);
        // Sized to its table (eight rows at most), so nothing hides behind a scroll bar.
        egui::Panel::bottom("retrieval-baselines")
            .resizable(false)
            .show(ui, |ui| {
                if self.baselines.ui(ui, current)
                    && let Some(b) = baseline_inputs
                {
                    self.baselines.start(b, self.waker.waker());
                }
            });
        let ds = self.dataset.dataset().cloned();
        egui::CentralPanel::default().show(ui, |ui| {
            self.retrieval.ui(ui, ds.as_ref());
        });
    }

    pub(super) fn runs_tab(&mut self, ui: &mut egui::Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let wake = self.waker.waker();
                let label = match (&self.session, &self.loaded) {
                    (Some(_), _) => "this window's run (live)".to_string(),
                    (None, Some(l)) => format!(
                        "open here: {}",
                        l.path.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    (None, None) => "this window".to_string(),
                };
                let training = self.session.is_some();
                self.runs.ui(ui, &self.history, &label, training, wake);
            });
        });
    }

    pub(super) fn saliency_tab(&mut self, ui: &mut egui::Ui) {
        let snap = self
            .snapshots
            .selected()
            .map(|s| (s.model.clone(), s.config));
        let ds = self.dataset.dataset().cloned();
        let weights = self
            .snapshots
            .selected()
            .and_then(|s| self.weights.latent_weights(s.id))
            .cloned();
        egui::Panel::left("channel-controls")
            .resizable(true)
            .default_size(420.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("channel-controls-scroll")
                    .show(ui, |ui| {
                        let can = snap.is_some() && ds.is_some() && self.device.is_some();
                        if self.weights.ui(ui, can) {
                            self.start_weights();
                        }
                        ui.separator();
                        let channels = snap.as_ref().map(|s| s.1.latent_channels()).unwrap_or(0);
                        self.saliency
                            .controls_ui(ui, ds.as_ref(), channels, weights.as_deref());
                    });
            });
        if let (Some((model, _)), Some(provenance), Some(ds), Some(dev)) =
            (snap, self.provenance(), ds, &self.device)
        {
            self.saliency.ensure(
                provenance,
                model,
                ds,
                dev.device.clone(),
                weights,
                self.waker.waker(),
            );
        }
        egui::CentralPanel::default().show(ui, |ui| {
            self.saliency.view_ui(ui);
        });
    }

    fn start_weights(&mut self) {
        let (Some(snap), Some(ds), Some(dev)) = (
            self.snapshots.selected(),
            self.dataset.dataset(),
            &self.device,
        ) else {
            return;
        };
        let cfg = self.model_config();
        let split = Split::new(ds, cfg.validation_fraction, cfg.seed);
        // Stage one is the loaded file's model, or a snapshot of the run in view: then the
        // header a fine-tuned model is saved under is that run's (its config, the snapshot's
        // step), never a file's from before the run.
        let (stage_one, stage_one_header) = match (
            &self.loaded,
            &self.session,
            &self.running_config,
        ) {
            (Some(l), None, _) => (
                (l.path.clone(), l.checkpoint.header.state.at.step),
                l.checkpoint.header.clone(),
            ),
            (_, Some(s), Some(run)) => {
                let path = self
                    .run_checkpoint
                    .clone()
                    .unwrap_or_else(|| std::path::PathBuf::from("(a run not yet saved)"));
                (
                    (path, snap.step),
                    snapshot_header(run, s.progress.steps_per_epoch, snap.step),
                )
            }
            _ => {
                self.notify(
                    Level::Error,
                    "the supervised stage starts from a loaded checkpoint or a training run's snapshot",
                );
                return;
            }
        };
        let w = &self.weights;
        let planned = supervised::plan::config(w.method, w.depths, w.hinge);
        let suffix = format!("-{}", supervised::plan::folder_name(&planned));
        let out = run_dir_in(&self.options.runs_dir, &suffix);
        let inputs = WeightsInputs {
            model_id: snap.id,
            model: snap.model.clone(),
            model_config: snap.config,
            dataset: ds.clone(),
            split,
            device: dev.clone(),
            out,
            stage_one,
            stage_one_header,
        };
        self.weights.start(inputs, self.waker.waker());
    }
}
