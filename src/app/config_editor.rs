//! Editing the main TrainingConfig fields, validated as you type: an invalid value is shown
//! with the reason next to it and never reaches a run.

use crate::model::{Objective, TERMS};
use crate::train::{Preset, TrainingConfig};

pub struct ConfigEditor {
    /// The last valid config; `draft` is what the widgets edit.
    pub draft: TrainingConfig,
    pub error: Option<String>,
}

impl ConfigEditor {
    pub fn new(config: TrainingConfig) -> Self {
        Self {
            draft: config,
            error: None,
        }
    }

    /// The draft when valid.
    pub fn valid(&self) -> Option<&TrainingConfig> {
        self.error.is_none().then_some(&self.draft)
    }

    pub fn revalidate(&mut self) {
        self.error = self.draft.validate().err().map(|e| e.to_string());
    }

    /// Returns true when a field changed.
    pub fn ui(&mut self, ui: &mut egui::Ui, enabled: bool) -> bool {
        let mut changed = false;
        ui.add_enabled_ui(enabled, |ui| {
            ui.horizontal(|ui| {
                ui.label("Preset:");
                for p in [
                    Preset::Compact,
                    Preset::Pretrained,
                    Preset::Paper,
                    Preset::Tiny,
                ] {
                    let hint = match p {
                        Preset::Pretrained => {
                            "Real photographs: the encoders start with EfficientNet-Lite0's frozen ImageNet layers, at 224 px"
                        }
                        _ => "Replace model size, batch and rates with this preset",
                    };
                    if ui.button(p.name()).on_hover_text(hint).clicked()
                    {
                        let data = self.draft.data.clone();
                        self.draft = TrainingConfig { data, ..p.config() };
                        changed = true;
                    }
                }
            });
            let c = &mut self.draft;
            if let Some(b) = c.model.backbone {
                ui.label(format!(
                    "Encoders start with {} (ImageNet, frozen); decoded at {} px",
                    b.name(),
                    c.model.decoded_size()
                ));
            }
            ui.horizontal(|ui| {
                ui.label("Objective:");
                for o in [Objective::Aligned, Objective::Research] {
                    changed |= ui
                        .selectable_value(&mut c.objective, o, o.name())
                        .on_hover_text(o.describe())
                        .changed();
                }
            });
            egui::Grid::new("config-grid")
                .num_columns(2)
                .spacing([8.0, 4.0])
                .show(ui, |ui| {
                    let mut row =
                        |ui: &mut egui::Ui, label: &str, hint: &str, w: egui::DragValue| {
                            let l = ui.label(label);
                            if !hint.is_empty() {
                                l.clone().on_hover_text(hint);
                            }
                            changed |= ui.add(w).labelled_by(l.id).changed();
                            ui.end_row();
                        };
                    row(
                        ui,
                        "base width",
                        "channels after conv1; latent = 4 × width",
                        egui::DragValue::new(&mut c.model.base_width).range(0..=512),
                    );
                    row(
                        ui,
                        "image size (px)",
                        "multiple of 4",
                        egui::DragValue::new(&mut c.model.image_size)
                            .range(0..=1024)
                            .speed(4),
                    );
                    row(
                        ui,
                        "batch size",
                        "images per domain per step",
                        egui::DragValue::new(&mut c.batch_size).range(0..=4096),
                    );
                    row(
                        ui,
                        "epochs",
                        "",
                        egui::DragValue::new(&mut c.epochs).range(0..=100_000),
                    );
                    row(
                        ui,
                        "learning rate",
                        "Adam; reduced on plateau",
                        egui::DragValue::new(&mut c.learning_rate)
                            .speed(1e-5)
                            .max_decimals(6),
                    );
                    row(
                        ui,
                        "plateau patience",
                        "epochs without improvement before the rate is cut",
                        egui::DragValue::new(&mut c.plateau.patience).range(0..=1000),
                    );
                    row(
                        ui,
                        "validation share",
                        "fraction of places held out",
                        egui::DragValue::new(&mut c.validation_fraction)
                            .speed(0.01)
                            .max_decimals(2),
                    );
                    row(
                        ui,
                        "save every (epochs)",
                        "",
                        egui::DragValue::new(&mut c.save_every).range(0..=10_000),
                    );
                    row(
                        ui,
                        "seed",
                        "weights, data order, noise, split",
                        egui::DragValue::new(&mut c.seed),
                    );
                    // One row per weighted term of the objective, from the registry.
                    let objective = c.objective;
                    for term in TERMS.iter().filter(|t| t.in_objective(objective)) {
                        let Some(w) = term.weight_mut(&mut c.loss_weights, &mut c.align.weights)
                        else {
                            continue;
                        };
                        row(
                            ui,
                            &format!("w {}", term.spec.label),
                            term.spec.help,
                            egui::DragValue::new(w)
                                .speed(term.spec.drag_speed)
                                .max_decimals(4),
                        );
                    }
                    if objective == Objective::Aligned {
                        row(
                            ui,
                            "discriminator lr",
                            "Adam learning rate of the image discriminators (beta1 0.5, beta2 0.999)",
                            egui::DragValue::new(&mut c.align.d_learning_rate)
                                .speed(1e-5)
                                .max_decimals(6),
                        );
                    }
                });
        });
        if changed {
            self.revalidate();
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("Invalid: {e}"));
        }
        changed
    }
}
