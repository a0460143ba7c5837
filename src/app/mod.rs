//! The desktop app. The GUI thread only draws: training, dataset loading, device probing and
//! inference for the image grids run on their own threads and send results back; each panel
//! is a struct with a `ui` method, fed one way from those results.

pub mod baselines_panel;
pub mod config_editor;
pub mod dataset_panel;
pub mod grid;
pub mod history;
pub mod image_compare;
pub mod inference;
pub use crate::run::job;
pub mod loss_plot;
pub mod overlay_gpu;
pub mod retrieval_curves;
pub mod retrieval_index;
pub mod retrieval_panel;
pub mod saliency_panel;
pub mod session;
pub mod settings;
pub mod snapshots;
mod tabs;
pub mod training_panel;
pub mod weights_panel;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use config_editor::ConfigEditor;
use dataset_panel::{DatasetPanel, DatasetState};
use grid::GridPanel;
use history::LossHistory;
use inference::{DisplayItem, GridJob, InferenceWorker};
use loss_plot::LossPlot;
use retrieval_panel::RetrievalPanel;
use saliency_panel::{SaliencyPanel, Subject};
use session::TrainingSession;
use settings::{Settings, Tab};
use snapshots::Snapshots;
use training_panel::TrainAction;
use weights_panel::WeightsPanel;

use crate::data::robotcar::RobotCarSelection;
use crate::data::{DataSource, Dataset, Split};
use crate::device::{self, BackendChoice, ComputeDevice};
use crate::train::checkpoint::{self, Checkpoint};
use crate::train::plan;
use crate::train::{Command, TrainEvent, Trainer};

/// Wakes the window from worker threads once the first frame has given us a context.
#[derive(Clone, Default)]
pub struct Waker(Arc<OnceLock<egui::Context>>);

impl Waker {
    pub fn wake(&self) {
        if let Some(ctx) = self.0.get() {
            ctx.request_repaint();
        }
    }

    fn set(&self, ctx: &egui::Context) {
        let _ = self.0.set(ctx.clone());
    }

    fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let w = self.clone();
        move || w.wake()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone)]
pub struct Notice {
    pub level: Level,
    pub text: String,
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

/// How the app starts.
#[derive(Clone)]
pub struct AppOptions {
    pub settings: Settings,
    /// A checkpoint to show; None looks for the one shipped in `checkpoints/`.
    pub checkpoint: Option<PathBuf>,
    /// Skip the shipped checkpoint entirely (tests).
    pub no_checkpoint: bool,
    pub backend: BackendChoice,
    /// Where new runs are written.
    pub runs_dir: PathBuf,
    /// When the process started (for the first-frame time).
    pub launched: std::time::Instant,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            checkpoint: None,
            no_checkpoint: false,
            backend: BackendChoice::Auto,
            runs_dir: PathBuf::from("runs"),
            launched: std::time::Instant::now(),
        }
    }
}

/// The checkpoint whose model the panels show when no training snapshot is selected.
pub struct LoadedCheckpoint {
    pub path: PathBuf,
    pub checkpoint: Checkpoint,
}

/// What reading the startup checkpoint found, off the GUI thread.
struct StartupLoad {
    loaded: Option<LoadedCheckpoint>,
    notices: Vec<Notice>,
    history: Option<LossHistory>,
}

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
    pub weights: WeightsPanel,
    pub saliency: SaliencyPanel,
    inference: Option<InferenceWorker>,
    /// The display batch and the size it was made at.
    display: Option<(u32, Arc<Vec<DisplayItem>>)>,
    pending_decode: Option<u64>,
    pub loaded: Option<LoadedCheckpoint>,
    pub notices: Vec<Notice>,
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
        let settings = options.settings.clone();
        let follow = settings.retrieval_follows_training;
        let waker = Waker::default();
        let notices = Vec::new();

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
        let checkpoint_job = (!options.no_checkpoint).then(|| {
            let (o, s) = (options.clone(), settings.clone());
            job::Job::spawn(
                "checkpoint-loader",
                "loading the checkpoint",
                waker.waker(),
                move |_| {
                    let mut notices = Vec::new();
                    let loaded = Self::find_checkpoint(&o, &s, &mut notices);
                    let history = loaded.as_ref().and_then(|l| {
                        let log = crate::train::metrics_log::log_for_checkpoint(&l.path)?;
                        let step = l.checkpoint.header.state.at.step;
                        Some(LossHistory::from_records(&crate::train::metrics_log::read(
                            &log, step,
                        )))
                    });
                    Ok(StartupLoad {
                        loaded,
                        notices,
                        history,
                    })
                },
            )
        });
        let config = settings.config.clone();
        let dataset = DatasetState::load(
            config.data.clone(),
            config.model.image_size as u32,
            waker.waker(),
        );
        let mut editor = ConfigEditor::new(config.clone());
        editor.revalidate();
        let mut loss_plot = LossPlot {
            ema: settings.ema,
            log_y: settings.log_y,
            x_in_epochs: settings.x_in_epochs,
            show_val: true,
        };
        loss_plot.ema = loss_plot.ema.clamp(0.0, 0.99);
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

    fn find_checkpoint(
        options: &AppOptions,
        settings: &Settings,
        notices: &mut Vec<Notice>,
    ) -> Option<LoadedCheckpoint> {
        let candidates: Vec<PathBuf> = match &options.checkpoint {
            Some(p) => vec![p.clone()],
            None => settings
                .checkpoint
                .iter()
                .cloned()
                .chain(settings::shipped_checkpoint_candidates())
                .collect(),
        };
        for path in &candidates {
            if !path.exists() {
                continue;
            }
            match checkpoint::load(path) {
                Ok(checkpoint) => {
                    if let Some(n) = &checkpoint.notice {
                        notices.push(Notice {
                            level: Level::Info,
                            text: n.clone(),
                        });
                    }
                    return Some(LoadedCheckpoint {
                        path: path.clone(),
                        checkpoint,
                    });
                }
                Err(e) => notices.push(Notice {
                    level: Level::Warning,
                    text: e.to_string(),
                }),
            }
        }
        notices.push(Notice {
            level: Level::Warning,
            text: format!(
                "No checkpoint found (looked for checkpoints/{}): the image panels stay empty until you train. \
                 `cargo run -- train --preset compact` makes one.",
                settings::SHIPPED_NAME
            ),
        });
        None
    }

    fn notify(&mut self, level: Level, text: impl Into<String>) {
        let text = text.into();
        // The same message twice in a row is noise.
        if self.notices.last().is_some_and(|n| n.text == text) {
            return;
        }
        self.notices.push(Notice { level, text });
        if self.notices.len() > 6 {
            self.notices.remove(0);
        }
    }

    pub fn device_label(&self) -> String {
        self.device
            .as_ref()
            .map(|d| d.label.clone())
            .unwrap_or_else(|| "probing…".into())
    }

    /// The four validation places shown in the grids, by day and by night, at `size` px.
    fn display_items(
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

        if let Some(path) = self.dataset_panel.poll_picker() {
            self.use_folder(path);
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

        if let Some(e) = self.retrieval.poll() {
            self.notify(Level::Error, e);
        }
        self.baselines.poll();
        if let Some(e) = self.weights.poll() {
            self.notify(Level::Error, e);
        }
        if let Some(e) = self.saliency.poll() {
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

    fn on_train_event(&mut self, e: TrainEvent) {
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
    fn show_checkpoint_model(&mut self) {
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
    fn adopt_startup_checkpoint(&mut self, found: StartupLoad) {
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
                let size = model.image_size as u32;
                let reload = match &self.dataset {
                    DatasetState::Ready { dataset, .. } => dataset.image_size != size,
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

    /// Whether the startup checkpoint is still being read or built.
    pub fn is_loading_checkpoint(&self) -> bool {
        self.checkpoint_job.is_some() || self.model_job.is_some()
    }

    /// The dataset changed: every grid was decoded from the old display batch.
    fn refresh_display(&mut self) {
        self.retrieval.reset();
        self.display = None;
        self.pending_decode = None;
        self.snapshots.clear_grids();
    }

    /// The display batch at `size` px, rebuilt when the dataset or the size changed.
    fn display_at(&mut self, size: u32) -> Option<Arc<Vec<DisplayItem>>> {
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
    fn request_selected_grid(&mut self) {
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

    fn use_folder(&mut self, path: PathBuf) {
        match DataSource::from_dir(&path, RobotCarSelection::default()) {
            Ok(source) => {
                self.dataset_panel.folder_text = path.display().to_string();
                self.load_dataset(source);
            }
            Err(e) => self.notify(Level::Error, e),
        }
    }

    fn load_dataset(&mut self, source: DataSource) {
        if self.session.as_ref().is_some_and(|s| s.is_active()) {
            self.notify(Level::Warning, "stop training before changing the dataset");
            return;
        }
        self.editor.draft.data = source.clone();
        self.editor.revalidate();
        let size = self.editor.draft.model.image_size as u32;
        self.dataset = DatasetState::load(source, size, self.waker.waker());
    }

    /// Carry out a training action.
    pub fn act(&mut self, action: TrainAction) {
        match action {
            TrainAction::TogglePause => {
                if let Some(s) = &mut self.session {
                    s.toggle_pause();
                }
            }
            TrainAction::Stop => {
                if let Some(s) = &self.session {
                    s.send(Command::Stop);
                }
            }
            TrainAction::SaveNow => {
                if let Some(s) = &self.session {
                    s.send(Command::SaveNow);
                }
            }
            TrainAction::Start | TrainAction::Continue => self.start(action),
        }
    }

    /// Start a new run, or continue the run in view: the newest checkpoint a run of this
    /// window wrote, else the loaded one. That checkpoint is read by a job first.
    fn start(&mut self, action: TrainAction) {
        if action != TrainAction::Continue {
            return self.start_with(action, None);
        }
        let path = match (&self.run_checkpoint, &self.loaded) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l.path.clone(),
            (None, None) => {
                self.notify(Level::Error, "no checkpoint to continue from");
                return;
            }
        };
        if self.continue_job.is_some() {
            return;
        }
        self.continue_job = Some(job::Job::spawn(
            "continue-loader",
            format!("reading {} to continue it", path.display()),
            self.waker.waker(),
            move |_| Ok(checkpoint::load(&path)?),
        ));
    }

    /// What Continue would resume, for the button's label.
    pub fn continue_source(&self) -> Option<&std::path::Path> {
        self.run_checkpoint
            .as_deref()
            .or(self.loaded.as_ref().map(|l| l.path.as_path()))
    }

    fn start_with(&mut self, action: TrainAction, resume: Option<Box<Checkpoint>>) {
        let Some(config) = self.editor.valid().cloned() else {
            self.notify(Level::Error, "fix the configuration first");
            return;
        };
        let Some(dev) = self.device.clone() else {
            self.notify(
                Level::Warning,
                "the device is still being probed; try again in a moment",
            );
            return;
        };
        if action == TrainAction::Continue && resume.is_none() {
            self.notify(Level::Error, "no checkpoint to continue from");
            return;
        }
        // A resumed run keeps the checkpoint's architecture and schedule and trains the
        // editor's number of epochs more (as `train --resume --more-epochs N`); the data may
        // change.
        let config = match &resume {
            Some(ck) => {
                let mut c = crate::train::TrainingConfig {
                    data: config.data.clone(),
                    ..ck.header.config.clone()
                };
                if let Err(e) = plan::extend_by_epochs(&mut c, ck.header.state.at, config.epochs) {
                    self.notify(Level::Error, e.to_string());
                    return;
                }
                c
            }
            None => config,
        };
        let needs_reload = match &self.dataset {
            DatasetState::Ready {
                dataset, source, ..
            } => dataset.image_size as usize != config.model.image_size || *source != config.data,
            DatasetState::Loading { .. } => {
                self.start_when_ready = Some((action, resume));
                return;
            }
            DatasetState::Failed { .. } => true,
        };
        if needs_reload {
            self.start_when_ready = Some((action, resume));
            self.dataset = DatasetState::load(
                config.data.clone(),
                config.model.image_size as u32,
                self.waker.waker(),
            );
            return;
        }
        let dataset = self.dataset.dataset().cloned().expect("ready");
        let out = crate::train::run_dir::run_dir_in(&self.options.runs_dir, "");
        let trainer = Trainer::new(config.clone(), dataset.clone(), dev, &out)
            .and_then(|t| match resume {
                Some(ck) => t.resume_from(*ck),
                None => Ok(t),
            })
            .map(|t| t.with_snapshots(self.settings.snapshot_every.max(1)));
        match trainer {
            Ok(t) => {
                // Continuing a checkpoint extends its curves and snapshots; a new run starts clean.
                if action == TrainAction::Start {
                    self.history.clear();
                    self.snapshots.clear();
                }
                self.snapshots.live = true;
                self.pending_decode = None;
                self.display = None;
                self.running_config = Some(config);
                self.session = Some(TrainingSession::start(t, self.waker.waker()));
                self.notify(Level::Info, format!("training into {}", out.display()));
            }
            Err(e) => self.notify(Level::Error, e),
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.memory(|m| m.focused().is_some());
        let (space, save) = ctx.input_mut(|i| {
            let save = i.consume_key(egui::Modifiers::COMMAND, egui::Key::S);
            let space = !typing && i.consume_key(egui::Modifiers::NONE, egui::Key::Space);
            (space, save)
        });
        if space {
            self.act(TrainAction::TogglePause);
        }
        if save {
            self.act(TrainAction::SaveNow);
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            self.use_folder(p);
        }
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        let mut dismiss = None;
        for (i, n) in self.notices.iter().enumerate() {
            ui.horizontal(|ui| {
                let (icon, color) = match n.level {
                    Level::Info => ("info:", ui.visuals().text_color()),
                    Level::Warning => ("warning:", ui.visuals().warn_fg_color),
                    Level::Error => ("error:", ui.visuals().error_fg_color),
                };
                if ui.small_button("x").on_hover_text("dismiss").clicked() {
                    dismiss = Some(i);
                }
                ui.colored_label(color, format!("{icon} {}", n.text));
            });
        }
        if let Some(i) = dismiss {
            self.notices.remove(i);
        }
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
            });
            self.notices_ui(ui);
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

impl eframe::App for DuskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.ui_root(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, &self.settings);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}

/// Open the window. Prefers the wgpu renderer and falls back to OpenGL.
pub fn run(options: AppOptions) -> Result<(), String> {
    let make = |renderer: eframe::Renderer| {
        let options = options.clone();
        let native = eframe::NativeOptions {
            renderer,
            viewport: egui::ViewportBuilder::default()
                .with_inner_size([1360.0, 860.0])
                .with_title("duskmatch")
                .with_drag_and_drop(true),
            persist_window: true,
            ..Default::default()
        };
        eframe::run_native(
            "duskmatch",
            native,
            Box::new(move |cc| {
                let mut options = options;
                if let Some(s) = cc
                    .storage
                    .and_then(|st| eframe::get_value::<Settings>(st, settings::STORAGE_KEY))
                {
                    options.settings = s;
                }
                let mut app = DuskApp::new(options);
                // Draw saliency overlays with the WGSL shader when egui renders with wgpu.
                if let Some(rs) = cc.wgpu_render_state.as_ref() {
                    overlay_gpu::register(rs);
                    app.saliency.use_gpu = true;
                }
                Ok(Box::new(app))
            }),
        )
    };
    match make(eframe::Renderer::Wgpu) {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("wgpu renderer unavailable ({e}); trying OpenGL");
            make(eframe::Renderer::Glow).map_err(|e| format!("cannot open a window: {e}"))
        }
    }
}
