//! The model beside the honest baselines in the Retrieval tab: the same rows `duskmatch eval`
//! prints (the model plain and domain-centred, raw pixels, the random encoder, patch-normalised
//! grayscale, gradient magnitude), on the same held-out images as the index, computed by a job.

use super::notices::Notices;
use super::panel::Panel;
use std::sync::Arc;

use burn::prelude::Device;

use super::ids::Provenance;
use crate::data::{Dataset, Domain, Split};
use crate::model::{DoubleVae, ModelConfig};
use crate::retrieval::eval::Metrics;
use crate::retrieval::method_rows::{check_evaluable, compare_methods, evaluation_items};
use crate::run::job::Job;

/// What the comparison needs from the app.
pub struct BaselineInputs {
    pub provenance: Provenance,
    pub model: Arc<DoubleVae>,
    pub config: ModelConfig,
    pub dataset: Arc<Dataset>,
    pub split: Option<Split>,
    pub device: Device,
    pub query: Domain,
    pub seed: u64,
}

/// One row: the method's name and its metrics.
pub type Row = (String, Metrics);
/// The rows and which images they cover ("held-out places" or "all images").
type Table = (Vec<Row>, &'static str);

#[derive(Default)]
pub struct BaselinesPanel {
    job: Option<(Provenance, Job<Table>)>,
    /// The rows, for the model and images they were computed from.
    pub shown: Option<(Provenance, Vec<Row>, &'static str)>,
    pub error: Option<String>,
}

impl BaselinesPanel {
    pub fn is_computing(&self) -> bool {
        self.job.is_some()
    }

    /// Start the comparison for `inputs` (a running one for other inputs is left to finish
    /// and then dropped).
    pub fn start(&mut self, inputs: BaselineInputs, wake: impl Fn() + Send + 'static) {
        let p = inputs.provenance;
        let job = Job::spawn(
            "baselines",
            "comparing with the baselines",
            wake,
            move |_| {
                let (items, scope) = evaluation_items(&inputs.dataset, inputs.split.as_ref());
                check_evaluable(&inputs.dataset, &items, scope)?;
                let rows = compare_methods(
                    &inputs.model,
                    &inputs.config,
                    &inputs.dataset,
                    &items,
                    inputs.query,
                    false,
                    None,
                    &inputs.device,
                    inputs.seed,
                )
                .into_iter()
                .map(|m| (m.name, m.evaluation.metrics))
                .collect();
                Ok((rows, scope))
            },
        );
        self.job = Some((p, job));
        self.error = None;
    }

    /// The rows for `current`, if they were computed from it: a table for another model or
    /// dataset is never shown as this one's.
    pub fn rows_for(&self, current: Option<Provenance>) -> Option<(&[Row], &'static str)> {
        let (p, rows, scope) = self.shown.as_ref()?;
        (Some(*p) == current).then_some((rows.as_slice(), *scope))
    }

    /// The button and the table. Returns true when the user asked for a comparison.
    pub fn ui(&mut self, ui: &mut egui::Ui, current: Option<Provenance>) -> bool {
        let mut start = false;
        ui.horizontal(|ui| {
            ui.strong("Baselines");
            let can = current.is_some() && !self.is_computing();
            if ui
                .add_enabled(can, egui::Button::new("Compare with baselines"))
                .on_hover_text("Raw pixels, a random encoder, patch-normalised grayscale (SAD) and gradient magnitude on the same images, as `duskmatch eval` prints them")
                .clicked()
            {
                start = true;
            }
            if self.is_computing() {
                ui.spinner();
                ui.label("embedding every method…");
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let Some((rows, scope)) = self.rows_for(current) else {
            if self.shown.is_some() {
                ui.weak("The table was computed for another snapshot or dataset; compare again.");
            }
            return start;
        };
        let step = current.map(|p| p.step).unwrap_or(0);
        ui.weak(format!("step {step}, {scope}"));
        egui::Grid::new("baselines-table")
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "method", "R@1", "R@5", "R@10", "R@20", "mAP", "probe", "ratio",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                let f = |v: Option<f64>| crate::retrieval::eval::score_text(v, 3);
                for (name, m) in rows {
                    ui.label(name);
                    for v in [
                        m.recall_1,
                        m.recall_5,
                        m.recall_10,
                        m.recall_20,
                        m.map,
                        m.domain_probe,
                        m.distance_ratio,
                    ] {
                        ui.label(f(v));
                    }
                    ui.end_row();
                }
            });
        start
    }
}

impl Panel for BaselinesPanel {
    /// Take in a finished comparison; a failure is shown in the panel itself, beside the
    /// table it would have filled.
    fn poll(&mut self, _notices: &mut Notices) {
        let Some((p, job)) = &mut self.job else {
            return;
        };
        let p = *p;
        let Some(r) = job.poll() else {
            return;
        };
        self.job = None;
        match r {
            Ok((rows, scope)) => self.shown = Some((p, rows, scope)),
            Err(e) => self.error = Some(e),
        }
    }
}
