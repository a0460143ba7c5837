//! Live loss curves: every term and the total, training and validation, EMA smoothing with the
//! raw curve kept faint behind, log-y (log10 values, labelled as powers of ten), x in steps or
//! epochs.

use egui::Color32;
use egui_plot::{ColorConflictHandling, HoverPosition, Legend, Line, Plot, PlotPoints, Points};

use super::history::{LossHistory, ema};
use crate::model::{LossValues, TERMS};

pub struct LossPlot {
    pub ema: f64,
    pub log_y: bool,
    pub x_in_epochs: bool,
    pub show_val: bool,
}

impl Default for LossPlot {
    fn default() -> Self {
        Self {
            ema: 0.6,
            log_y: false,
            x_in_epochs: false,
            show_val: true,
        }
    }
}

/// Okabe–Ito, distinguishable with every common colour-vision deficiency, then three more.
pub const PALETTE: [Color32; 10] = [
    Color32::from_rgb(86, 180, 233),
    Color32::from_rgb(230, 159, 0),
    Color32::from_rgb(0, 158, 115),
    Color32::from_rgb(204, 121, 167),
    Color32::from_rgb(240, 228, 66),
    Color32::from_rgb(213, 94, 0),
    Color32::from_rgb(0, 114, 178),
    Color32::from_rgb(117, 112, 179),
    Color32::from_rgb(166, 118, 29),
    Color32::from_rgb(102, 166, 30),
];

/// A loss term's colour: the total in light grey, the terms in the registry's order.
pub fn term_color(name: &str) -> Color32 {
    match TERMS.iter().position(|t| t.name == name) {
        Some(i) => PALETTE[i % PALETTE.len()],
        None => Color32::from_rgb(230, 230, 230),
    }
}

/// y as plotted: log10 when `log_y` (non-positive values have no logarithm and are dropped).
pub fn plot_y(v: f64, log_y: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if log_y {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

impl LossPlot {
    pub fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.add(egui::Slider::new(&mut self.ema, 0.0..=0.99).text("smoothing (EMA)"));
            ui.checkbox(&mut self.log_y, "log y");
            ui.checkbox(&mut self.show_val, "validation");
            ui.label("x:");
            ui.selectable_value(&mut self.x_in_epochs, false, "steps");
            ui.selectable_value(&mut self.x_in_epochs, true, "epochs");
        });
    }

    fn series(&self, points: &[super::history::Point], term: &str) -> (Vec<f64>, Vec<f64>) {
        let xs = points
            .iter()
            .map(|p| {
                if self.x_in_epochs {
                    p.epoch
                } else {
                    p.step as f64
                }
            })
            .collect();
        let ys = points
            .iter()
            .map(|p| p.losses.get(term).map(f64::from).unwrap_or(f64::NAN))
            .collect();
        (xs, ys)
    }

    fn line(
        &self,
        name: String,
        xs: &[f64],
        ys: &[f64],
        color: Color32,
        width: f32,
    ) -> Line<'static> {
        let pts: Vec<[f64; 2]> = xs
            .iter()
            .zip(ys)
            .filter_map(|(&x, &y)| plot_y(y, self.log_y).map(|y| [x, y]))
            .collect();
        Line::new(name, PlotPoints::from(pts))
            .color(color)
            .width(width)
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, history: &LossHistory) {
        self.controls_ui(ui);
        let log_y = self.log_y;
        let x_label = if self.x_in_epochs { "epoch" } else { "step" };
        let y_label = if log_y { "loss (log scale)" } else { "loss" };
        let plot = Plot::new("loss-plot")
            // Raw and smoothed curves share a legend entry; show the smoothed line's colour.
            .legend(Legend::default().color_conflict_handling(ColorConflictHandling::PickLast))
            .x_axis_label(x_label)
            .y_axis_label(y_label)
            .y_axis_formatter(move |mark, _range| {
                if log_y {
                    // Ticks sit at log10 values; label them with the loss itself.
                    let v = 10f64.powf(mark.value);
                    if v >= 1.0 {
                        format!("{v:.1}")
                    } else {
                        format!("{v:.3}")
                    }
                } else {
                    let step = mark.step_size.abs();
                    let decimals = if step >= 1.0 {
                        0
                    } else {
                        (-step.log10()).ceil() as usize
                    };
                    format!("{:.*}", decimals, mark.value)
                }
            })
            .label_formatter(move |pos| match pos {
                HoverPosition::NearDataPoint {
                    plot_name,
                    position,
                    ..
                } if !plot_name.is_empty() => {
                    let y = if log_y {
                        10f64.powf(position.y)
                    } else {
                        position.y
                    };
                    Some(format!(
                        "{plot_name}\n{x_label} {:.2}\nloss {y:.5}",
                        position.x
                    ))
                }
                _ => None,
            });
        plot.show(ui, |p| {
            for &term in LossValues::NAMES {
                let color = term_color(term);
                let (xs, ys) = self.series(&history.train, term);
                // The GAN terms of a research run are 0 throughout: no curve to draw.
                if ys.iter().all(|&v| v == 0.0) {
                    continue;
                }
                if !xs.is_empty() {
                    if self.ema > 0.0 {
                        // Raw curve faint behind the smoothed one, in the same legend entry.
                        p.line(self.line(
                            format!("train {term}"),
                            &xs,
                            &ys,
                            color.gamma_multiply(0.25),
                            1.0,
                        ));
                        p.line(self.line(
                            format!("train {term}"),
                            &xs,
                            &ema(&ys, self.ema),
                            color,
                            1.8,
                        ));
                    } else {
                        p.line(self.line(format!("train {term}"), &xs, &ys, color, 1.5));
                    }
                }
                // Validation has no discriminators: its GAN terms are 0 and are not drawn.
                let (vx, vy) = self.series(&history.val, term);
                if self.show_val && !vy.iter().all(|&v| v == 0.0) {
                    let pts: Vec<[f64; 2]> = vx
                        .iter()
                        .zip(&vy)
                        .filter_map(|(&x, &y)| plot_y(y, log_y).map(|y| [x, y]))
                        .collect();
                    p.line(
                        Line::new(format!("val {term}"), PlotPoints::from(pts.clone()))
                            .color(color)
                            .style(egui_plot::LineStyle::dashed_loose())
                            .width(1.5),
                    );
                    p.points(
                        Points::new(format!("val {term}"), PlotPoints::from(pts))
                            .color(color)
                            .radius(3.0),
                    );
                }
            }
        });
    }
}
