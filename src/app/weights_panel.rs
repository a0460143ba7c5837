//! The supervised stage from the app: learn the siamese channel weights (choose depths and
//! hinge) or fine-tune the encoders on the place labels, on a thread with live curves; overlay
//! the held-out triplet loss of 1, 3 and 6 depths (the research's figure), see which channels
//! matter, and what the weights or the fine-tuning do to held-out retrieval.

use super::notices::Notices;
use super::panel::Panel;
use std::sync::Arc;

use egui::Color32;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use crate::data::{Dataset, Split};
use crate::device::ComputeDevice;
use crate::model::{DoubleVae, ModelConfig};
use crate::retrieval::eval::{Metrics, RECALL_AT};
use crate::run::RunStatus;
use crate::run::job::Job;
use crate::supervised::plan;
use crate::supervised::weights::{importance, share_for_mass};
use crate::supervised::{
    Depths, Hinge, SupervisedConfig, SupervisedEvent, SupervisedMethod, SupervisedTrainer,
};
use crate::train::Command;
use crate::train::checkpoint::Header;

/// One weights run and its curves.
pub struct WeightsRun {
    /// The snapshot (`Snapshot::id`) the run learned on: its weights fit that model only.
    pub model_id: u64,
    pub method: SupervisedMethod,
    pub depths: Depths,
    pub hinge: Hinge,
    /// (epoch, held-out triplet loss); epoch 0 is w = 1.
    pub val: Vec<(f64, f64)>,
    /// (step, training objective).
    pub train: Vec<(f64, f64)>,
    pub weights: Option<Vec<Vec<f32>>>,
    /// (epoch, held-out night->day R@1), fine-tuning only.
    pub recall: Vec<(f64, f64)>,
    pub seconds: f64,
    /// Trained on the model's own matches rather than the labels.
    pub pseudo_labels: bool,
    /// Held-out retrieval before and after: w = 1 against the learned weights (at the run's
    /// depths), or the stage-one model against the fine-tuned one.
    pub comparison: Option<(Metrics, Metrics)>,
    /// Where a fine-tuned model was saved.
    pub saved: Option<std::path::PathBuf>,
}

/// What a finished supervised run leaves: held-out retrieval before and after (boxed, as two
/// `Metrics` are large).
type Comparison = Box<(Metrics, Metrics)>;

pub struct WeightsPanel {
    pub method: SupervisedMethod,
    pub depths: Depths,
    pub hinge: Hinge,
    pub epochs: usize,
    pub runs: Vec<WeightsRun>,
    active: Option<Job<Comparison, SupervisedEvent>>,
    /// The active run's phase, as its events said (`run::lifecycle`).
    pub status: RunStatus,
    pub error: Option<String>,
    /// Learn from the model's own mutual matches instead of the place labels
    /// (`supervised::pseudo`; `weights --pseudo-labels`).
    pub pseudo_labels: bool,
}

impl Default for WeightsPanel {
    fn default() -> Self {
        Self {
            method: SupervisedMethod::Weights,
            depths: Depths::Latent,
            hinge: Hinge::Triplet,
            epochs: 20,
            runs: Vec::new(),
            active: None,
            status: RunStatus::default(),
            error: None,
            pseudo_labels: false,
        }
    }
}

/// Everything a weights run needs from the app.
pub struct WeightsInputs {
    /// `Snapshot::id` of `model`.
    pub model_id: u64,
    pub model: Arc<DoubleVae>,
    pub model_config: ModelConfig,
    pub dataset: Arc<Dataset>,
    pub split: Split,
    pub device: ComputeDevice,
    pub out: std::path::PathBuf,
    pub stage_one: (std::path::PathBuf, u64),
    /// The stage-one header a fine-tuned model is saved under.
    pub stage_one_header: Header,
}

impl WeightsPanel {
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// The learned latent weights of the newest finished latent run on the model with this
    /// snapshot id, if any: weights learned on another snapshot do not fit it.
    pub fn latent_weights(&self, model_id: u64) -> Option<&Vec<f32>> {
        self.runs
            .iter()
            .rev()
            .filter(|r| {
                r.model_id == model_id
                    && r.method == SupervisedMethod::Weights
                    && r.depths == Depths::Latent
            })
            .find_map(|r| r.weights.as_ref().and_then(|w| w.last()))
    }

    pub fn start(&mut self, inputs: WeightsInputs, wake: impl Fn() + Send + Sync + 'static) {
        let method = self.method;
        let cfg = SupervisedConfig {
            epochs: self.epochs.max(1),
            pseudo_labels: self.pseudo_labels,
            ..plan::config(method, self.depths, self.hinge)
        };
        let depths = cfg.depths;
        let pseudo = self.pseudo_labels;
        let pseudo_cfg = cfg.clone();
        // Built here so that a stage that cannot run says so at once; with pseudo-labels it
        // is built again on the job, on the relabelled images.
        let trainer = match SupervisedTrainer::new(
            cfg,
            &inputs.model,
            inputs.model_config,
            inputs.dataset.clone(),
            &inputs.split,
            inputs.device.clone(),
            &inputs.out,
            inputs.stage_one.clone(),
        ) {
            Ok(t) => t,
            Err(e) => {
                self.error = Some(e.to_string());
                return;
            }
        };
        self.error = None;
        self.runs.push(WeightsRun {
            model_id: inputs.model_id,
            method,
            depths,
            hinge: self.hinge,
            val: Vec::new(),
            train: Vec::new(),
            weights: None,
            recall: Vec::new(),
            seconds: 0.0,
            comparison: None,
            saved: None,
            pseudo_labels: pseudo,
        });
        let what = match method {
            SupervisedMethod::Weights => "the weights run",
            SupervisedMethod::FineTune => "fine-tuning",
        };
        self.status = RunStatus::default();
        self.active = Some(Job::spawn_run("weights", what, wake, move |link| {
            let trainer = if pseudo {
                let (relabelled, report) = crate::supervised::pseudo::pseudo_label(
                    &inputs.model,
                    &inputs.dataset,
                    &inputs.split,
                    1.0,
                    &inputs.device.device,
                );
                // Nobody listening any more only means the panel went away.
                let _ = link
                    .events
                    .send(crate::supervised::SupervisedEvent::Warning(
                        report.describe(),
                    ));
                SupervisedTrainer::new(
                    pseudo_cfg,
                    &inputs.model,
                    inputs.model_config,
                    Arc::new(relabelled),
                    &inputs.split,
                    inputs.device.clone(),
                    &inputs.out,
                    inputs.stage_one.clone(),
                )?
            } else {
                trainer
            };
            // The weights stage saves no model, so it never reads the header.
            let trained = trainer
                .with_events(link.events)
                .with_commands(link.commands)
                .with_stage_one_header(inputs.stage_one_header)
                .train()?;
            Ok(Box::new(plan::before_and_after(
                &trained,
                depths,
                &inputs.model,
                &inputs.dataset,
                &inputs.split,
                &inputs.device.device,
            )))
        }));
    }

    pub fn stop(&self) {
        if let Some(job) = &self.active {
            job.send(Command::Stop);
        }
    }

    /// Ask the run to pause, or to go on when it said it paused; the label follows the run's
    /// answer, not the click.
    pub fn toggle_pause(&self) {
        if let (Some(job), Some(c)) = (&self.active, self.status.toggle_command()) {
            job.send(c);
        }
    }

    /// The starting point of the held-out curve (w = 1) is recorded by the trainer as epoch 0.
    pub fn ui(&mut self, ui: &mut egui::Ui, can_start: bool) -> bool {
        let mut start = false;
        ui.heading("Supervised stage");
        ui.horizontal_wrapped(|ui| {
            ui.label("Learn:");
            ui.selectable_value(
                &mut self.method,
                SupervisedMethod::Weights,
                "channel weights",
            )
            .on_hover_text(
                "The research's stage: the encoder frozen, one weight per channel and depth",
            );
            ui.selectable_value(
                &mut self.method,
                SupervisedMethod::FineTune,
                "fine-tune the encoders",
            )
            .on_hover_text(
                "Train the encoders themselves on the place labels; saves a model checkpoint",
            );
        });
        match self.method {
            SupervisedMethod::Weights => {
                ui.weak("The encoder is frozen; one weight per channel and depth is learned from triplets of held-in places (margin 1, Adam 1e-3, batch 16).");
                ui.horizontal_wrapped(|ui| {
                    ui.label("Depths:");
                    for d in Depths::ALL {
                        ui.selectable_value(&mut self.depths, d, d.name());
                    }
                });
                ui.horizontal_wrapped(|ui| {
                    ui.label("Hinge:");
                    ui.selectable_value(&mut self.hinge, Hinge::Triplet, "per triplet");
                    ui.selectable_value(&mut self.hinge, Hinge::BatchMean, "batch mean (research)");
                });
            }
            SupervisedMethod::FineTune => {
                ui.weak("The encoders are trained on held-in places with the triplet hinge and the hardest other place of each batch as the negative, both ways (margin 1, Adam 1e-4, batch 16). The decoders stay as stage one left them. The model is saved as latest.dmck and best.dmck (best held-out R@1).");
            }
        }
        ui.checkbox(&mut self.pseudo_labels, "from its own matches (no labels)")
            .on_hover_text(
                "Drop the training images' place labels and learn from the model's own mutual \
                 nearest neighbours instead (a night and a day image that are each other's \
                 nearest): self-training, no label used. The held-out scores still use the labels.",
            );
        ui.horizontal(|ui| {
            let l = ui.label("epochs");
            ui.add(egui::DragValue::new(&mut self.epochs).range(1..=1000))
                .labelled_by(l.id);
        });
        let label = match self.method {
            SupervisedMethod::Weights => "Learn weights",
            SupervisedMethod::FineTune => "Fine-tune",
        };
        ui.horizontal(|ui| {
            if ui
                .add_enabled(can_start && !self.is_running(), egui::Button::new(label))
                .clicked()
            {
                start = true;
            }
            let pause = if self.status.is_paused() {
                "Resume"
            } else {
                "Pause"
            };
            if ui
                .add_enabled(self.is_running(), egui::Button::new(pause))
                .clicked()
            {
                self.toggle_pause();
            }
            if ui
                .add_enabled(self.is_running(), egui::Button::new("Stop"))
                .clicked()
            {
                self.stop();
            }
            if self.is_running() {
                ui.spinner();
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e.clone());
        }
        if self.runs.is_empty() {
            return start;
        }
        ui.label("Held-out triplet loss per epoch (epoch 0: w = 1)");
        let colors = [
            Color32::from_rgb(86, 180, 233),
            Color32::from_rgb(230, 159, 0),
            Color32::from_rgb(0, 158, 115),
            Color32::from_rgb(204, 121, 167),
        ];
        Plot::new("weights-curves")
            .height(170.0)
            .legend(Legend::default())
            .x_axis_label("epoch")
            .y_axis_label("triplet loss")
            .show(ui, |p| {
                for (k, r) in self.runs.iter().enumerate() {
                    let name = run_name(r);
                    p.line(
                        Line::new(
                            name,
                            PlotPoints::from(
                                r.val.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
                            ),
                        )
                        .color(colors[k % colors.len()])
                        .width(1.8),
                    );
                }
            });
        let tuned: Vec<&WeightsRun> = self.runs.iter().filter(|r| !r.recall.is_empty()).collect();
        if !tuned.is_empty() {
            ui.label("Held-out night-to-day Recall@1 per epoch (fine-tuning)");
            Plot::new("fine-tune-recall")
                .height(150.0)
                .legend(Legend::default())
                .x_axis_label("epoch")
                .y_axis_label("Recall@1")
                .include_y(0.0)
                .include_y(1.0)
                .show(ui, |p| {
                    for (k, r) in tuned.iter().enumerate() {
                        p.line(
                            Line::new(
                                run_name(r),
                                PlotPoints::from(
                                    r.recall.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>(),
                                ),
                            )
                            .color(colors[(k + 1) % colors.len()])
                            .width(1.8),
                        );
                    }
                });
        }
        if let Some(run) = self
            .runs
            .last()
            .filter(|r| r.method == SupervisedMethod::FineTune)
            && let Some((before, after)) = &run.comparison
        {
            if let Some(path) = &run.saved {
                ui.label(format!(
                    "Fine-tuned model saved to {} ({:.0} s). Open it with `duskmatch --checkpoint {}`.",
                    path.display(),
                    run.seconds,
                    path.display()
                ));
            }
            comparison_grid(
                ui,
                "Retrieval (night queries, held-out places):",
                ("stage one", "fine-tuned"),
                before,
                after,
            );
        }
        if let Some(run) = self.runs.iter().rev().find(|r| r.weights.is_some())
            && let Some(w) = run.weights.as_ref().and_then(|w| w.last())
        {
            let (k, share) = share_for_mass(w, 0.9);
            ui.label(format!(
                "{} latent channels of {} ({:.1}%) carry 90% of the total |weight| ({}, {:.0} s)",
                k,
                w.len(),
                share * 100.0,
                run.depths.name(),
                run.seconds
            ));
            let imp = importance(w);
            let bars: Vec<Bar> = imp
                .iter()
                .enumerate()
                .map(|(rank, &(c, v))| {
                    Bar::new(rank as f64, v as f64)
                        .name(format!("channel {c}"))
                        .width(0.8)
                })
                .collect();
            Plot::new("importance")
                .height(140.0)
                .x_axis_label("channels, sorted by |weight|")
                .y_axis_label("|w|")
                .show(ui, |p| {
                    p.bar_chart(
                        BarChart::new("|weight|", bars).color(Color32::from_rgb(230, 159, 0)),
                    );
                });
            if let Some((plain, weighted)) = &run.comparison {
                comparison_grid(
                    ui,
                    &format!(
                        "Retrieval (night queries, held-out places, {}):",
                        run.depths.name()
                    ),
                    ("w = 1", "learned"),
                    plain,
                    weighted,
                );
            }
        }
        start
    }
}

fn run_name(r: &WeightsRun) -> String {
    let name = run_method_name(r);
    if r.pseudo_labels {
        format!("{name} · own matches")
    } else {
        name
    }
}

fn run_method_name(r: &WeightsRun) -> String {
    match r.method {
        SupervisedMethod::FineTune => "fine-tuning".into(),
        SupervisedMethod::Weights => format!(
            "{} · {}",
            r.depths.name(),
            if r.hinge == Hinge::Triplet {
                "per triplet"
            } else {
                "batch mean"
            }
        ),
    }
}

/// Retrieval before and after a supervised run, side by side.
fn comparison_grid(
    ui: &mut egui::Ui,
    title: &str,
    (a_name, b_name): (&str, &str),
    a: &Metrics,
    b: &Metrics,
) {
    ui.label(title);
    egui::Grid::new(("supervised-comparison", title))
        .striped(true)
        .show(ui, |ui| {
            ui.label("");
            ui.strong(a_name);
            ui.strong(b_name);
            ui.end_row();
            let f = |v: Option<f64>| crate::retrieval::eval::score_text(v, 3);
            for n in RECALL_AT {
                ui.label(format!("Recall@{n}"));
                ui.label(f(a.recall(n)));
                ui.label(f(b.recall(n)));
                ui.end_row();
            }
            for (name, x, y) in [
                ("mAP", a.map, b.map),
                ("triplet loss", a.triplet_loss, b.triplet_loss),
                ("silhouette", a.silhouette, b.silhouette),
            ] {
                ui.label(name);
                ui.label(f(x));
                ui.label(f(y));
                ui.end_row();
            }
        });
}

impl Panel for WeightsPanel {
    /// Take in what the run reported, and its comparison once it ends.
    fn poll(&mut self, notices: &mut Notices) {
        let Some(job) = self.active.as_mut() else {
            return;
        };
        let events = job.drain();
        let result = job.poll();
        let elapsed = job.started.elapsed().as_secs_f64();
        let Some(run) = self.runs.last_mut() else {
            return;
        };
        for e in events {
            self.status.observe(&e);
            match e {
                SupervisedEvent::Started {
                    initial_val: Some(v),
                    ..
                } => run.val.push((0.0, v as f64)),
                SupervisedEvent::Step { step, loss, .. } => {
                    run.train.push((step as f64, loss as f64))
                }
                SupervisedEvent::Epoch {
                    epoch,
                    val,
                    retrieval,
                    ..
                } => {
                    let x = (epoch + 1) as f64;
                    if let Some(v) = val {
                        run.val.push((x, v as f64));
                    }
                    if let Some(r) = retrieval {
                        run.recall.push((x, r.recall_1));
                    }
                }
                SupervisedEvent::Finished {
                    weights,
                    checkpoint,
                    ..
                } => {
                    run.seconds = elapsed;
                    match run.method {
                        SupervisedMethod::Weights => run.weights = Some(weights),
                        SupervisedMethod::FineTune => run.saved = checkpoint,
                    }
                }
                SupervisedEvent::Warning(w) => notices.push(super::notices::Level::Info, w.clone()),
                SupervisedEvent::Error(e) => notices.error(e),
                _ => {}
            }
        }
        let Some(result) = result else {
            return;
        };
        match result {
            Ok(pair) => run.comparison = Some(*pair),
            Err(e) => notices.error(e),
        }
        self.active = None;
        self.status.end();
    }
}
