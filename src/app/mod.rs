//! The desktop app. The GUI thread only draws: training, dataset loading, device probing and
//! inference for the image grids run on their own threads and send results back; every panel
//! with background work takes its results in through [`panel::Panel::poll`] once a frame
//! (`pump.rs`), and draws from its own state. This file holds the composition: the app's
//! state and the frame's layout; the rest is one file per job (`startup`, `pump`,
//! `run_control`, `input`, `window`) and one per panel.

pub mod baselines_panel;
pub mod config_editor;
pub mod dataset_panel;
pub mod grid;
pub mod history;
pub mod ids;
pub mod image_compare;
pub mod inference;
mod input;
pub mod layout_form;
pub use crate::run::job;
pub mod loss_plot;
pub mod notices;
pub mod options;
pub mod overlay_gpu;
pub mod panel;
pub mod position_map;
mod pump;
pub mod retrieval_curves;
pub mod retrieval_index;
pub mod retrieval_panel;
mod run_control;
pub mod runs_panel;
pub mod saliency_panel;
pub mod session;
pub mod settings;
pub mod snapshots;
pub mod startup;
mod tabs;
pub mod training_panel;
pub mod weights_panel;
pub mod window;

use std::path::PathBuf;
use std::sync::Arc;

use config_editor::ConfigEditor;
use dataset_panel::{DatasetPanel, DatasetState};
use grid::GridPanel;
use history::LossHistory;
use inference::{DisplayItem, InferenceWorker};
use loss_plot::LossPlot;
use retrieval_panel::RetrievalPanel;
use saliency_panel::SaliencyPanel;
use session::TrainingSession;
use settings::{Settings, Tab};
use snapshots::Snapshots;
use startup::{LoadedCheckpoint, StartupLoad};
use training_panel::TrainAction;
use weights_panel::WeightsPanel;

pub use ids::{Provenance, Waker, fresh_id};
pub use notices::{Level, Notice, Notices};
pub use options::AppOptions;

use crate::device::{self, ComputeDevice};
use crate::train::checkpoint::Checkpoint;

pub struct DuskApp {
    pub settings: Settings,
    options: AppOptions,
    waker: Waker,
    pub editor: ConfigEditor,
    pub device: Option<ComputeDevice>,
    device_job: Option<job::Job<ComputeDevice>>,
    pub dataset: DatasetState,
    pub dataset_panel: DatasetPanel,
    pub session: Option<TrainingSession>,
    pub history: LossHistory,
    pub loss_plot: LossPlot,
    pub snapshots: Snapshots,
    pub grid: GridPanel,
    pub retrieval: RetrievalPanel,
    pub baselines: baselines_panel::BaselinesPanel,
    pub runs: runs_panel::RunsPanel,
    pub weights: WeightsPanel,
    pub saliency: SaliencyPanel,
    inference: Option<InferenceWorker>,
    /// The display batch and the size it was made at.
    display: Option<(u32, Arc<Vec<DisplayItem>>)>,
    pending_decode: Option<u64>,
    pub loaded: Option<LoadedCheckpoint>,
    pub notices: Notices,
    /// Start training as soon as the dataset (re)load finishes (with the checkpoint to
    /// continue, for Continue).
    start_when_ready: Option<(TrainAction, Option<Box<Checkpoint>>)>,
    /// Reading the checkpoint to show at startup; then building its model on the device.
    checkpoint_job: Option<job::Job<StartupLoad>>,
    model_job: Option<job::Job<(u64, crate::model::ModelConfig, crate::model::DoubleVae)>>,
    /// Reading the checkpoint Continue resumes.
    continue_job: Option<job::Job<Checkpoint>>,
    /// The newest checkpoint a run started in this window wrote: what Continue resumes.
    pub run_checkpoint: Option<PathBuf>,
    /// The config the running (or last) session trains with; the editor's draft never
    /// rewrites it.
    pub running_config: Option<crate::train::TrainingConfig>,
    /// When the process started, to report the time to the first frame.
    launched: std::time::Instant,
    first_frame: Option<std::time::Duration>,
    /// Rolling mean of the time `ui_root` takes (the GUI thread's share of a frame).
    pub ui_ms: f64,
}

impl DuskApp {
    pub fn new(options: AppOptions) -> Self {
        let launched = options.launched;
        let mut settings = options.settings.clone();
        if let Some(data) = &options.data {
            settings.config.data = data.clone();
        }
        let follow = settings.retrieval_follows_training;
        let waker = Waker::default();
        let notices = Notices::default();

        // Device probing can take a moment (wgpu adapter discovery): do it off the GUI thread.
        let backend = options.backend;
        let device_job = job::Job::spawn(
            "device-probe",
            "choosing the compute device",
            waker.waker(),
            move |_| device::select(backend),
        );

        // The checkpoint is read (and its curves with it) on a job; the dataset starts loading
        // meanwhile and is reloaded if the checkpoint's model works at another size.
        let checkpoint_job = (!options.no_checkpoint)
            .then(|| startup::load_in_background(options.clone(), settings.clone(), waker.waker()));
        let config = settings.config.clone();
        let dataset =
            DatasetState::load(config.data.clone(), config.model.framing(), waker.waker());
        let mut editor = ConfigEditor::new(config.clone());
        editor.revalidate();
        let mut loss_plot = LossPlot {
            ema: settings.ema,
            log_y: settings.log_y,
            x_in_epochs: settings.x_in_epochs,
            show_val: true,
        };
        loss_plot.ema = loss_plot.ema.clamp(0.0, 0.99);
        // Runs named on the command line are read at once, and the app opens on them.
        let mut runs = runs_panel::RunsPanel::default();
        if !options.runs.is_empty() {
            runs.add(options.runs.clone(), waker.waker());
            settings.tab = Tab::Runs;
        }
        Self {
            dataset_panel: DatasetPanel::new(&config.data),
            settings,
            options,
            inference: Some(InferenceWorker::start(waker.waker())),
            waker,
            editor,
            device: None,
            device_job: Some(device_job),
            dataset,
            session: None,
            history: LossHistory::default(),
            loss_plot,
            snapshots: Snapshots::default(),
            grid: GridPanel::default(),
            retrieval: RetrievalPanel::following(follow),
            baselines: Default::default(),
            runs,
            weights: WeightsPanel::default(),
            saliency: SaliencyPanel::default(),
            display: None,
            pending_decode: None,
            loaded: None,
            notices,
            start_when_ready: None,
            checkpoint_job,
            model_job: None,
            continue_job: None,
            run_checkpoint: None,
            running_config: None,
            launched,
            first_frame: None,
            ui_ms: 0.0,
        }
    }

    fn notify(&mut self, level: Level, text: impl Into<String>) {
        self.notices.push(level, text);
    }

    /// Whether the startup checkpoint is still being read or built.
    pub fn is_loading_checkpoint(&self) -> bool {
        self.checkpoint_job.is_some() || self.model_job.is_some()
    }

    pub fn device_label(&self) -> String {
        self.device
            .as_ref()
            .map(|d| d.label.clone())
            .unwrap_or_else(|| "probing…".into())
    }

    /// Everything inside the window; eframe's `ui` and the tests both call this.
    pub fn ui_root(&mut self, ui: &mut egui::Ui) {
        let t0 = std::time::Instant::now();
        self.draw(ui);
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        self.ui_ms = if self.ui_ms == 0.0 {
            ms
        } else {
            0.95 * self.ui_ms + 0.05 * ms
        };
        if self.first_frame.is_none() {
            let d = self.launched.elapsed();
            self.first_frame = Some(d);
            eprintln!(
                "first frame {:.0} ms after launch",
                d.as_secs_f64() * 1000.0
            );
        }
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        self.waker.set(ui.ctx());
        self.pump();
        self.shortcuts(&ui.ctx().clone());
        egui::Panel::top("top").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("duskmatch");
                ui.separator();
                ui.selectable_value(&mut self.settings.tab, Tab::Training, "Training");
                ui.selectable_value(&mut self.settings.tab, Tab::Retrieval, "Retrieval");
                ui.selectable_value(&mut self.settings.tab, Tab::Saliency, "Saliency");
                ui.selectable_value(&mut self.settings.tab, Tab::Runs, "Runs");
            });
            self.notices.ui(ui);
        });
        egui::Panel::bottom("scrubber").show(ui, |ui| {
            ui.horizontal(|ui| {
                self.snapshots.scrubber_ui(ui);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.weak(format!("UI {:.1} ms/frame", self.ui_ms))
                        .on_hover_text(
                            "Time the GUI thread spends building a frame (rolling mean)",
                        );
                });
            });
        });
        match self.settings.tab {
            Tab::Training => self.training_tab(ui),
            Tab::Retrieval => self.retrieval_tab(ui),
            Tab::Saliency => self.saliency_tab(ui),
            Tab::Runs => self.runs_tab(ui),
        }
        self.settings.ema = self.loss_plot.ema;
        self.settings.log_y = self.loss_plot.log_y;
        self.settings.x_in_epochs = self.loss_plot.x_in_epochs;
        self.settings.retrieval_follows_training = self.retrieval.follow_live;
        if let Some(c) = self.editor.valid() {
            self.settings.config = c.clone();
        }
    }

    /// Stop a running session and wait for its final checkpoint (the window is closing).
    pub fn shutdown(&mut self) {
        if let Some(s) = self.session.take() {
            s.stop_and_wait();
        }
    }
}
