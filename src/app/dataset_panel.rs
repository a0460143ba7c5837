//! Choosing and loading the dataset: the synthetic town (places, seed), a folder picked with a
//! dialog, or a folder dropped on the window. Loading runs on a worker thread.

use std::path::PathBuf;
use std::sync::Arc;

use super::layout_form::LayoutForm;
use super::notices::Notices;
use super::panel::Panel;
use crate::run::job::Job;

use crate::data::image_io::Framing;
use crate::data::robotcar::RobotCarSelection;
use crate::data::synth::SynthConfig;
use crate::data::{DataSource, Dataset, LoadReport};

pub enum DatasetState {
    Loading {
        source: DataSource,
        size: Framing,
        job: Job<(Dataset, LoadReport)>,
        since: std::time::Instant,
    },
    Ready {
        source: DataSource,
        dataset: Arc<Dataset>,
        report: LoadReport,
        /// This load's id (see `app::fresh_id`), for cache keys.
        id: u64,
    },
    Failed {
        source: DataSource,
        error: String,
    },
}

impl DatasetState {
    /// Start loading `source` framed at `size` on a worker thread.
    pub fn load(source: DataSource, size: Framing, wake: impl Fn() + Send + 'static) -> Self {
        let s = source.clone();
        let job = Job::spawn("dataset-loader", "loading the dataset", wake, move |_| {
            Ok(s.load(size)?)
        });
        DatasetState::Loading {
            source,
            size,
            job,
            since: std::time::Instant::now(),
        }
    }

    /// Move a finished load into Ready/Failed; returns true when it just finished.
    pub fn poll(&mut self) -> bool {
        let DatasetState::Loading { source, job, .. } = self else {
            return false;
        };
        let Some(result) = job.poll() else {
            return false;
        };
        let source = source.clone();
        *self = match result {
            Ok((dataset, report)) => DatasetState::Ready {
                source,
                dataset: Arc::new(dataset),
                report,
                id: super::ids::fresh_id(),
            },
            Err(error) => DatasetState::Failed { source, error },
        };
        true
    }

    /// The loaded dataset's id, for cache keys.
    pub fn id(&self) -> Option<u64> {
        match self {
            DatasetState::Ready { id, .. } => Some(*id),
            _ => None,
        }
    }

    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        match self {
            DatasetState::Ready { dataset, .. } => Some(dataset),
            _ => None,
        }
    }

    pub fn source(&self) -> &DataSource {
        match self {
            DatasetState::Loading { source, .. }
            | DatasetState::Ready { source, .. }
            | DatasetState::Failed { source, .. } => source,
        }
    }
}

/// What the user asked the dataset panel for.
pub enum DatasetAction {
    Load(DataSource),
    PickFolder,
    /// Browse for the positions file.
    PickPositions,
    /// The typed folder is not a dataset: the message says why.
    Invalid(String),
}

pub struct DatasetPanel {
    pub synth: SynthConfig,
    pub folder_text: String,
    pub robotcar: RobotCarSelection,
    /// The layout options a folder is loaded with.
    pub layout: LayoutForm,
    /// The open file dialog and what it chooses.
    picker: Option<(Pick, Job<Option<PathBuf>>)>,
    /// A folder chosen with the dialog or by dropping, for the app to load.
    chosen: Option<DataSource>,
}

impl DatasetPanel {
    pub fn new(source: &DataSource) -> Self {
        let (synth, folder_text, robotcar) = match source {
            DataSource::Synth(s) => (*s, String::new(), RobotCarSelection::default()),
            DataSource::Folder { path, .. }
            | DataSource::Benchmark { path, .. }
            | DataSource::Sequences { path, .. } => (
                SynthConfig::default(),
                path.display().to_string(),
                RobotCarSelection::default(),
            ),
            DataSource::RobotCar {
                path, selection, ..
            } => (
                SynthConfig::default(),
                path.display().to_string(),
                selection.clone(),
            ),
        };
        Self {
            synth,
            folder_text,
            robotcar,
            layout: source
                .options()
                .map(LayoutForm::from_options)
                .unwrap_or_default(),
            picker: None,
            chosen: None,
        }
    }

    /// Open the system folder dialog as a job (it blocks until the user answers).
    pub fn pick_folder(&mut self, wake: impl Fn() + Send + 'static) {
        self.picker = Some((
            Pick::Folder,
            Job::spawn("folder-picker", "the folder dialog", wake, |_| {
                Ok(rfd::FileDialog::new()
                    .set_title("Choose a dataset folder")
                    .pick_folder())
            }),
        ));
    }

    /// Open the system file dialog for the positions file, as a job.
    pub fn pick_positions(&mut self, wake: impl Fn() + Send + 'static) {
        self.picker = Some((
            Pick::Positions,
            Job::spawn("positions-picker", "the file dialog", wake, |_| {
                Ok(rfd::FileDialog::new()
                    .set_title("Choose the positions file")
                    .add_filter("CSV", &["csv", "txt"])
                    .pick_file())
            }),
        ));
    }

    /// The folder typed or chosen, read as a dataset source with the layout options.
    pub fn source_of(&self, path: &std::path::Path) -> Result<DataSource, String> {
        DataSource::from_dir_with(path, self.robotcar.clone(), self.layout.options())
            .map_err(|e| e.to_string())
    }

    /// A folder chosen in the dialog or dropped on the window: read as a dataset source, to be
    /// loaded by the app ([`take_chosen`](Self::take_chosen)); a folder that is not one is
    /// reported.
    pub fn choose_folder(&mut self, path: PathBuf, notices: &mut Notices) {
        match self.source_of(&path) {
            Ok(source) => {
                self.folder_text = path.display().to_string();
                self.chosen = Some(source);
            }
            Err(e) => notices.error(e),
        }
    }

    /// The source chosen since the last call.
    pub fn take_chosen(&mut self) -> Option<DataSource> {
        self.chosen.take()
    }

    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &DatasetState,
        enabled: bool,
    ) -> Option<DatasetAction> {
        let mut action = None;
        ui.add_enabled_ui(enabled, |ui| {
            ui.horizontal(|ui| {
                let l = ui.label("Synthetic town:");
                ui.add(
                    egui::DragValue::new(&mut self.synth.places)
                        .range(2..=100_000)
                        .suffix(" places"),
                )
                .labelled_by(l.id);
                let s = ui.label("seed");
                ui.add(egui::DragValue::new(&mut self.synth.seed))
                    .labelled_by(s.id);
                if ui.button("Use town").clicked() {
                    action = Some(DatasetAction::Load(DataSource::Synth(self.synth)));
                }
            });
            ui.horizontal(|ui| {
                let label = ui.label("Folder:");
                ui.add(
                    egui::TextEdit::singleline(&mut self.folder_text)
                        .hint_text("DIR with day/ and night/, or RobotCar")
                        .desired_width(180.0),
                )
                .labelled_by(label.id);
                if ui.button("Load").clicked() {
                    action = Some(
                        match self.source_of(std::path::Path::new(self.folder_text.trim())) {
                            Ok(s) => DatasetAction::Load(s),
                            Err(e) => DatasetAction::Invalid(e),
                        },
                    );
                }
                if ui
                    .add_enabled(self.picker.is_none(), egui::Button::new("Browse…"))
                    .clicked()
                {
                    action = Some(DatasetAction::PickFolder);
                }
            });
            ui.weak("…or drop a folder onto the window.");
            let browsing = self.picker.is_some();
            egui::CollapsingHeader::new("Layout options")
                .default_open(!self.layout.options().is_default())
                .show(ui, |ui| {
                    if self.layout.ui(ui, browsing) {
                        action = Some(DatasetAction::PickPositions);
                    }
                });
        });
        match state {
            DatasetState::Loading {
                source,
                size,
                since,
                ..
            } => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!(
                        "loading {} at {} px… {:.0} s",
                        source.describe(),
                        size.size,
                        since.elapsed().as_secs_f32()
                    ));
                });
            }
            DatasetState::Ready {
                dataset, report, ..
            } => {
                ui.label(format!("Loaded: {}", dataset.describe()));
                if !report.skipped.is_empty() {
                    ui.collapsing(format!("{} files skipped", report.skipped.len()), |ui| {
                        egui::ScrollArea::vertical()
                            .max_height(120.0)
                            .show(ui, |ui| {
                                for s in &report.skipped {
                                    ui.label(s.to_string());
                                }
                            });
                    });
                }
            }
            DatasetState::Failed { error, .. } => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Error: {error}"));
            }
        }
        action
    }
}

/// What the open file dialog chooses.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Folder,
    Positions,
}

impl Panel for DatasetPanel {
    /// The folder dialog's answer, once it closes (nothing when cancelled).
    fn poll(&mut self, notices: &mut Notices) {
        let Some((pick, r)) = self
            .picker
            .as_mut()
            .and_then(|(pick, j)| j.poll().map(|r| (*pick, r)))
        else {
            return;
        };
        self.picker = None;
        match (pick, r) {
            (Pick::Folder, Ok(Some(path))) => self.choose_folder(path, notices),
            (Pick::Positions, Ok(Some(path))) => self.layout.positions = path.display().to_string(),
            (_, Ok(None)) => {}
            (_, Err(e)) => notices.error(e),
        }
    }
}
