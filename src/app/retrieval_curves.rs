//! Held-out retrieval and invariance over training (docs/design.md §4): Recall@1/10 and mAP of
//! night→day retrieval, the domain probe (0.5 = no domain left) and the same-place over
//! other-place distance ratio, one point per epoch, so the moment the latent becomes shared is
//! visible beside the losses.

use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::history::LossHistory;
use crate::retrieval::eval::{HeldOutScores, score_text};

pub fn score_color(name: &str) -> Color32 {
    match name {
        "recall@1" => Color32::from_rgb(0, 158, 115),
        "recall@10" => Color32::from_rgb(86, 180, 233),
        "mAP" => Color32::from_rgb(240, 228, 66),
        "domain_probe" => Color32::from_rgb(213, 94, 0),
        _ => Color32::from_rgb(204, 121, 167),
    }
}

fn label(name: &str) -> &str {
    match name {
        "domain_probe" => "domain probe (0.5 = shared)",
        "distance_ratio" => "same / other distance",
        n => n,
    }
}

/// `(x, y)` of one score per epoch.
pub fn score_series(history: &LossHistory, name: &str, x_in_epochs: bool) -> Vec<[f64; 2]> {
    history
        .retrieval
        .iter()
        .filter_map(|(step, epoch, r)| {
            let x = if x_in_epochs { *epoch } else { *step as f64 };
            r.get(name).filter(|v| v.is_finite()).map(|y| [x, y])
        })
        .collect()
}

pub fn ui(ui: &mut egui::Ui, history: &LossHistory, x_in_epochs: bool) {
    if history.retrieval.is_empty() {
        ui.weak("Held-out retrieval appears here after the first epoch (night-to-day R@1, R@10, mAP, domain probe, distance ratio).");
        return;
    }
    if let Some((_, _, last)) = history.retrieval.last() {
        ui.label(format!(
            "last epoch: R@1 {:.2}  R@10 {:.2}  mAP {:.2}  probe {}  ratio {}",
            last.recall_1,
            last.recall_10,
            last.map,
            score_text(last.domain_probe, 2),
            score_text(last.distance_ratio, 2)
        ));
    }
    Plot::new("retrieval-curves")
        .legend(Legend::default())
        .x_axis_label(if x_in_epochs { "epoch" } else { "step" })
        .y_axis_label("held-out score")
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            for name in HeldOutScores::NAMES {
                let pts = score_series(history, name, x_in_epochs);
                let color = score_color(name);
                plot.line(
                    Line::new(label(name).to_string(), PlotPoints::from(pts.clone()))
                        .color(color)
                        .width(2.0),
                );
                plot.points(
                    Points::new(label(name).to_string(), PlotPoints::from(pts))
                        .color(color)
                        .radius(2.5),
                );
            }
        });
}
