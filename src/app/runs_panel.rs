//! Several runs side by side, as TensorBoard shows them: run folders (or parent folders whose
//! runs are found) read by a job; each run a colour on the loss curve and on a held-out score,
//! hideable; the run this window trains drawn beside them, live; a table of the settings that
//! differ from the first run's and the last and best held-out scores, with a button that opens
//! the run's checkpoint. `duskmatch runs` prints the same table.

use std::path::PathBuf;

use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::history::LossHistory;
use super::loss_plot::PALETTE;
use super::notices::{Level, Notices};
use super::panel::Panel;
use crate::retrieval::eval::score_text;
use crate::run::job::Job;
use crate::train::metrics_log;
use crate::train::runs::{RunSummary, differing, find_runs, summarise};

/// The held-out scores a run logs each epoch, as the score plot can show them.
pub const SCORES: [(&str, &str); 5] = [
    ("recall@1", "R@1"),
    ("recall@10", "R@10"),
    ("mAP", "mAP"),
    ("domain_probe", "domain probe"),
    ("distance_ratio", "same / other distance"),
];

/// One run, read.
pub struct RunEntry {
    pub summary: RunSummary,
    pub history: LossHistory,
    pub visible: bool,
}

impl RunEntry {
    pub fn name(&self) -> String {
        self.summary
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.summary.dir.display().to_string())
    }
}

/// What reading the runs found: the runs, and a message for each path that held none.
pub struct RunsRead {
    pub runs: Vec<RunEntry>,
    pub errors: Vec<String>,
}

/// Read every run that `paths` name, with its curves. A path that is not a run (nor holds any)
/// is named in `errors`; the others are read all the same.
pub fn read_runs(paths: &[PathBuf]) -> RunsRead {
    let mut out = RunsRead {
        runs: Vec::new(),
        errors: Vec::new(),
    };
    for p in paths {
        let dirs = match find_runs(std::slice::from_ref(p)) {
            Ok(dirs) => dirs,
            Err(e) => {
                out.errors.push(e.to_string());
                continue;
            }
        };
        for d in dirs {
            match summarise(&d) {
                Ok(summary) => {
                    let records = metrics_log::read(&d.join(metrics_log::FILE), u64::MAX);
                    out.runs.push(RunEntry {
                        summary,
                        history: LossHistory::from_records(&records),
                        visible: true,
                    });
                }
                Err(e) => out.errors.push(e.to_string()),
            }
        }
    }
    out
}

/// A run's total training loss by step (non-finite points left out).
fn total_loss(h: &LossHistory) -> PlotPoints<'static> {
    h.train
        .iter()
        .map(|p| [p.step as f64, f64::from(p.losses.total)])
        .filter(|p| p[1].is_finite())
        .collect()
}

#[derive(Default)]
pub struct RunsPanel {
    pub runs: Vec<RunEntry>,
    job: Option<Job<RunsRead>>,
    picker: Option<Job<Option<PathBuf>>>,
    /// The score drawn under the losses (an index into [`SCORES`]).
    pub score: usize,
    /// A checkpoint the user asked to open, for the app to load.
    pub open_request: Option<PathBuf>,
    /// Also draw the curves of the checkpoint open in this window (a run being trained here is
    /// always drawn, live).
    pub show_open: bool,
}

impl RunsPanel {
    pub fn is_reading(&self) -> bool {
        self.job.is_some()
    }

    /// Read the runs of `paths` in the background and add them to the view.
    pub fn add(&mut self, paths: Vec<PathBuf>, wake: impl Fn() + Send + 'static) {
        self.job = Some(Job::spawn(
            "runs-reader",
            "reading the runs",
            wake,
            move |_| Ok(read_runs(&paths)),
        ));
    }

    /// The system's folder dialog, as a job; the folder chosen is read as runs.
    pub fn pick_folder(&mut self, wake: impl Fn() + Send + 'static) {
        self.picker = Some(Job::spawn("runs-picker", "the folder dialog", wake, |_| {
            Ok(rfd::FileDialog::new()
                .set_title("Choose a run folder, or a folder of runs")
                .pick_folder())
        }));
    }

    /// A folder chosen in the dialog, taken once.
    pub fn take_chosen(&mut self) -> Option<PathBuf> {
        let chosen = self.picker.as_mut()?.poll()?;
        self.picker = None;
        chosen.ok().flatten()
    }

    /// A run's colour: the loss plot's palette, in order.
    fn color(i: usize) -> Color32 {
        PALETTE[i % PALETTE.len()]
    }

    /// The table, the loss plot and the score plot. `live` is what this window shows, drawn in
    /// grey under `live_label`: the run it trains (`training`, always drawn), or the checkpoint
    /// it opened (drawn when [`Self::show_open`] is ticked).
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        live: &LossHistory,
        live_label: &str,
        training: bool,
        wake: impl Fn() + Send + 'static,
    ) {
        let mut pick = false;
        ui.horizontal(|ui| {
            ui.heading("Runs");
            if ui
                .add_enabled(!self.is_reading(), egui::Button::new("Add runs…"))
                .on_hover_text("A run folder (config.toml, metrics.jsonl) or a folder of runs")
                .clicked()
            {
                pick = true;
            }
            if ui
                .add_enabled(!self.runs.is_empty(), egui::Button::new("Clear"))
                .clicked()
            {
                self.runs.clear();
            }
            if !training {
                ui.checkbox(&mut self.show_open, "with the checkpoint open here")
                    .on_hover_text("Draw the curves of the checkpoint this window shows, in grey");
            }
            if self.is_reading() {
                ui.spinner();
                ui.label("reading the runs…");
            }
        });
        let empty = LossHistory::default();
        let live = if training || self.show_open || self.runs.is_empty() {
            live
        } else {
            &empty
        };
        if pick {
            self.pick_folder(wake);
        }
        if self.runs.is_empty() && live.is_empty() {
            ui.weak("Add run folders to compare their curves; the run this window trains joins them live.");
            return;
        }
        self.table_ui(ui);
        let h = ui.available_height();
        ui.strong("Total loss");
        ui.allocate_ui(
            egui::vec2(ui.available_width(), (h * 0.45).max(140.0)),
            |ui| {
                Plot::new("runs-loss")
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .y_axis_label("total loss")
                    .show(ui, |plot| {
                        for (i, run) in self.runs.iter().enumerate().filter(|(_, r)| r.visible) {
                            let pts = total_loss(&run.history);
                            plot.line(Line::new(run.name(), pts).color(Self::color(i)));
                        }
                        if !live.is_empty() {
                            let pts = total_loss(live);
                            plot.line(Line::new(live_label, pts).color(Color32::GRAY));
                        }
                    });
            },
        );
        ui.horizontal(|ui| {
            ui.strong("Held-out");
            egui::ComboBox::from_id_salt("runs-score")
                .selected_text(SCORES[self.score].1)
                .show_ui(ui, |ui| {
                    for (k, (_, label)) in SCORES.iter().enumerate() {
                        ui.selectable_value(&mut self.score, k, *label);
                    }
                });
        });
        let (name, label) = SCORES[self.score];
        let series = |h: &LossHistory| -> PlotPoints {
            h.retrieval
                .iter()
                .filter_map(|(step, _, r)| {
                    r.get(name)
                        .filter(|v| v.is_finite())
                        .map(|y| [*step as f64, y])
                })
                .collect()
        };
        Plot::new("runs-score")
            .legend(Legend::default())
            .x_axis_label("step")
            .y_axis_label(label)
            .show(ui, |plot| {
                for (i, run) in self.runs.iter().enumerate().filter(|(_, r)| r.visible) {
                    plot.line(Line::new(run.name(), series(&run.history)).color(Self::color(i)));
                }
                if !live.retrieval.is_empty() {
                    plot.line(Line::new(live_label, series(live)).color(Color32::GRAY));
                }
            });
    }

    fn table_ui(&mut self, ui: &mut egui::Ui) {
        let Some(first) = self.runs.first().map(|r| r.summary.clone()) else {
            return;
        };
        let f = |v: Option<f64>| score_text(v, 3);
        egui::Grid::new("runs-table").striped(true).show(ui, |ui| {
            for h in [
                "run (shown)",
                "differs from the first",
                "steps",
                "last R@1",
                "best R@1",
                "",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (i, run) in self.runs.iter_mut().enumerate() {
                let name = run.name();
                ui.checkbox(
                    &mut run.visible,
                    egui::RichText::new(&name).color(Self::color(i)),
                )
                .on_hover_text(format!(
                    "{}: shown on the plots when ticked",
                    run.summary.dir.display()
                ));
                let diff: Vec<String> = differing(&first, &run.summary)
                    .into_iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                ui.label(if i == 0 {
                    "(the first run)".to_string()
                } else if diff.is_empty() {
                    "nothing".to_string()
                } else {
                    diff.join(", ")
                });
                ui.label(run.summary.steps.to_string());
                ui.label(f(run.summary.last.and_then(|(_, s)| s.get("recall@1"))));
                ui.label(match run.summary.best {
                    Some((step, s)) => format!("{} (step {step})", f(s.get("recall@1"))),
                    None => "—".into(),
                });
                let ck = run.summary.dir.join("latest.dmck");
                if ui
                    .add_enabled(ck.is_file(), egui::Button::new(format!("Open {name}")))
                    .on_hover_text(format!("Open {} in the app", ck.display()))
                    .clicked()
                {
                    self.open_request = Some(ck);
                }
                ui.end_row();
            }
        });
    }
}

impl Panel for RunsPanel {
    fn poll(&mut self, notices: &mut Notices) {
        let Some(r) = self.job.as_mut().and_then(|j| j.poll()) else {
            return;
        };
        self.job = None;
        match r {
            Ok(read) => {
                let known: Vec<PathBuf> = self.runs.iter().map(|r| r.summary.dir.clone()).collect();
                self.runs.extend(
                    read.runs
                        .into_iter()
                        .filter(|r| !known.contains(&r.summary.dir)),
                );
                for e in read.errors {
                    notices.push(Level::Error, e);
                }
            }
            Err(e) => notices.push(Level::Error, e),
        }
    }
}
