//! Learning the siamese channel weights from the app: choose depths and hinge, train on a
//! thread with live curves, overlay the held-out triplet loss of 1, 3 and 6 depths (the
//! research's figure), see which channels matter and what the weights do to retrieval.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use burn::prelude::Device;
use egui::Color32;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};

use crate::data::{Dataset, Domain, Split};
use crate::device::ComputeDevice;
use crate::model::{DoubleVae, ModelConfig};
use crate::retrieval::compare::{DepthWeights, evaluation_items, with_and_without_weights};
use crate::retrieval::eval::{Metrics, RECALL_AT};
use crate::siamese::weights::{importance, share_for_mass};
use crate::siamese::{Depths, Hinge, WeightsConfig, WeightsEvent, WeightsTrainer};
use crate::train::Command;

/// One weights run and its curves.
pub struct WeightsRun {
    pub depths: Depths,
    pub hinge: Hinge,
    /// (epoch, held-out triplet loss); epoch 0 is w = 1.
    pub val: Vec<(f64, f64)>,
    /// (step, training objective).
    pub train: Vec<(f64, f64)>,
    pub weights: Option<Vec<Vec<f32>>>,
    pub seconds: f64,
    /// Retrieval at the run's depths with w = 1 and with the learned weights.
    pub comparison: Option<(Metrics, Metrics)>,
}

enum Msg {
    Event(WeightsEvent),
    /// Without and with the weights; boxed, as two `Metrics` dwarf the other messages.
    Comparison(Box<(Metrics, Metrics)>),
    Failed(String),
}

pub struct WeightsPanel {
    pub depths: Depths,
    pub hinge: Hinge,
    pub epochs: usize,
    pub runs: Vec<WeightsRun>,
    active: Option<(Receiver<Msg>, Sender<Command>, std::time::Instant)>,
    pub error: Option<String>,
}

impl Default for WeightsPanel {
    fn default() -> Self {
        Self {
            depths: Depths::Latent,
            hinge: Hinge::Triplet,
            epochs: 20,
            runs: Vec::new(),
            active: None,
            error: None,
        }
    }
}

/// Everything a weights run needs from the app.
pub struct WeightsInputs {
    pub model: Arc<DoubleVae>,
    pub model_config: ModelConfig,
    pub dataset: Arc<Dataset>,
    pub split: Split,
    pub device: ComputeDevice,
    pub out: std::path::PathBuf,
    pub stage_one: (std::path::PathBuf, u64),
}

/// Retrieval at the run's depths with w = 1 and with the learned weights.
fn compare(
    model: &DoubleVae,
    ds: &Dataset,
    split: &Split,
    weights: &DepthWeights,
    device: &Device,
) -> (Metrics, Metrics) {
    let (items, _) = evaluation_items(ds, Some(split));
    let (plain, weighted) =
        with_and_without_weights(model, ds, &items, Domain::Night, weights, device, 0);
    (plain.metrics, weighted.metrics)
}

impl WeightsPanel {
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// The learned latent weights of the newest finished latent run, if any.
    pub fn latent_weights(&self) -> Option<&Vec<f32>> {
        self.runs
            .iter()
            .rev()
            .filter(|r| r.depths == Depths::Latent)
            .find_map(|r| r.weights.as_ref().and_then(|w| w.last()))
    }

    pub fn start(&mut self, inputs: WeightsInputs, wake: impl Fn() + Send + Sync + 'static) {
        let wake = Arc::new(wake);
        let depths = self.depths;
        let cfg = WeightsConfig {
            depths,
            hinge: self.hinge,
            epochs: self.epochs.max(1),
            ..Default::default()
        };
        let (tx, rx) = mpsc::channel();
        let (ctx, crx) = mpsc::channel();
        let (etx, erx) = mpsc::channel::<WeightsEvent>();
        let trainer = WeightsTrainer::new(
            cfg,
            &inputs.model,
            inputs.model_config,
            inputs.dataset.clone(),
            &inputs.split,
            inputs.device.clone(),
            &inputs.out,
            inputs.stage_one.clone(),
        );
        let trainer = match trainer {
            Ok(t) => t.with_events(etx).with_commands(crx),
            Err(e) => {
                self.error = Some(e);
                return;
            }
        };
        self.error = None;
        self.runs.push(WeightsRun {
            depths: self.depths,
            hinge: self.hinge,
            val: Vec::new(),
            train: Vec::new(),
            weights: None,
            seconds: 0.0,
            comparison: None,
        });
        let relay = tx.clone();
        let w = wake.clone();
        std::thread::spawn(move || {
            for e in erx {
                if relay.send(Msg::Event(e)).is_err() {
                    break;
                }
                w();
            }
        });
        std::thread::Builder::new()
            .name("weights".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| trainer.train()));
                match r {
                    Ok(Ok((weights, _))) => {
                        let learned = DepthWeights {
                            taps: depths.taps().to_vec(),
                            vectors: weights.to_vecs(),
                            label: depths.name().to_string(),
                        };
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            compare(
                                &inputs.model,
                                &inputs.dataset,
                                &inputs.split,
                                &learned,
                                &inputs.device.device,
                            )
                        }));
                        let _ = tx.send(match r {
                            Ok(pair) => Msg::Comparison(Box::new(pair)),
                            Err(_) => Msg::Failed(
                                "comparing retrieval with and without the weights failed".into(),
                            ),
                        });
                    }
                    Ok(Err(e)) => {
                        let _ = tx.send(Msg::Failed(e));
                    }
                    Err(p) => {
                        let _ = tx.send(Msg::Failed(format!(
                            "the weights run crashed: {}",
                            super::session::panic_message(&p)
                        )));
                    }
                }
                wake();
            })
            .expect("spawn weights thread");
        self.active = Some((rx, ctx, std::time::Instant::now()));
    }

    pub fn stop(&self) {
        if let Some((_, c, _)) = &self.active {
            let _ = c.send(Command::Stop);
        }
    }

    /// Take in what the run reported. Returns an error to show, if any.
    pub fn poll(&mut self) -> Option<String> {
        let (rx, _, t0) = self.active.as_ref()?;
        let mut msgs = Vec::new();
        let mut gone = false;
        loop {
            match rx.try_recv() {
                Ok(m) => msgs.push(m),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let mut done = gone;
        let mut err = None;
        let run = self.runs.last_mut()?;
        for m in msgs {
            match m {
                Msg::Event(WeightsEvent::Started {
                    initial_val: Some(v),
                    ..
                }) => run.val.push((0.0, v as f64)),
                Msg::Event(WeightsEvent::Step { step, loss, .. }) => {
                    run.train.push((step as f64, loss as f64))
                }
                Msg::Event(WeightsEvent::Epoch {
                    epoch,
                    val: Some(v),
                    ..
                }) => run.val.push(((epoch + 1) as f64, v as f64)),
                Msg::Event(WeightsEvent::Finished { weights, .. }) => {
                    run.weights = Some(weights);
                    run.seconds = elapsed;
                    if run.depths != Depths::Latent {
                        done = true;
                    }
                }
                Msg::Event(WeightsEvent::Error(e)) | Msg::Failed(e) => {
                    err = Some(e);
                    done = true;
                }
                Msg::Comparison(pair) => {
                    run.comparison = Some(*pair);
                    done = true;
                }
                Msg::Event(_) => {}
            }
        }
        if done {
            self.active = None;
        }
        err
    }

    /// The starting point of the held-out curve (w = 1) is recorded by the trainer as epoch 0.
    pub fn ui(&mut self, ui: &mut egui::Ui, can_start: bool) -> bool {
        let mut start = false;
        ui.heading("Channel weights");
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
            let l = ui.label("epochs");
            ui.add(egui::DragValue::new(&mut self.epochs).range(1..=1000))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    can_start && !self.is_running(),
                    egui::Button::new("Learn weights"),
                )
                .clicked()
            {
                start = true;
            }
            if ui
                .add_enabled(self.is_running(), egui::Button::new("Stop weights"))
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
                    let name = format!(
                        "{} · {}",
                        r.depths.name(),
                        if r.hinge == Hinge::Triplet {
                            "per triplet"
                        } else {
                            "batch mean"
                        }
                    );
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
                ui.label(format!(
                    "Retrieval (night queries, held-out places, {}):",
                    run.depths.name()
                ));
                egui::Grid::new("weights-vs-ones")
                    .striped(true)
                    .show(ui, |ui| {
                        ui.label("");
                        ui.strong("w = 1");
                        ui.strong("learned");
                        ui.end_row();
                        let f = |v: Option<f64>| {
                            v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into())
                        };
                        for n in RECALL_AT {
                            ui.label(format!("Recall@{n}"));
                            ui.label(f(plain.recall(n)));
                            ui.label(f(weighted.recall(n)));
                            ui.end_row();
                        }
                        for (name, a, b) in [
                            ("mAP", plain.map, weighted.map),
                            ("triplet loss", plain.triplet_loss, weighted.triplet_loss),
                            ("silhouette", plain.silhouette, weighted.silhouette),
                        ] {
                            ui.label(name);
                            ui.label(f(a));
                            ui.label(f(b));
                            ui.end_row();
                        }
                    });
            }
        }
        start
    }
}
