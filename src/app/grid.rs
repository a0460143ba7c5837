//! The side-by-side grid of the research figure: rows of day and night images, columns
//! original | reconstruction | cycle reconstruction | translation. Click to enlarge; compare
//! any column with the original by flicker or swipe.

use egui::{ColorImage, TextureHandle, TextureOptions};

use super::image_compare::{
    CompareMode, flicker_shows_original, swipe, swipe_fraction_at, swipe_quads, to_color_image,
};
use super::inference::{COLUMNS, GridSnapshot};
use crate::data::Domain;

pub struct GridPanel {
    /// Textures of the snapshot on screen, keyed by its step.
    textures: Option<(u64, Vec<[TextureHandle; 4]>)>,
    enlarged: Option<(usize, usize)>,
    pub compare: CompareMode,
    pub swipe_at: f32,
    pub thumb: f32,
}

impl Default for GridPanel {
    fn default() -> Self {
        Self {
            textures: None,
            enlarged: None,
            compare: CompareMode::Off,
            swipe_at: 0.5,
            thumb: 96.0,
        }
    }
}

/// A row label that fits: the file or place, without the domain folder.
fn short_name(name: &str) -> &str {
    name.rsplit('/')
        .find(|s| *s != "day" && *s != "night" && !s.is_empty())
        .unwrap_or(name)
}

fn column_title(col: usize, domain: Domain) -> String {
    match col {
        3 => format!("translation ({} to {})", domain, domain.other()),
        c => COLUMNS[c].to_string(),
    }
}

impl GridPanel {
    fn textures_for(
        &mut self,
        ctx: &egui::Context,
        grid: &GridSnapshot,
    ) -> &Vec<[TextureHandle; 4]> {
        if self.textures.as_ref().is_none_or(|(s, _)| *s != grid.step) {
            let tex = grid
                .rows
                .iter()
                .enumerate()
                .map(|(r, row)| {
                    std::array::from_fn(|c| {
                        ctx.load_texture(
                            format!("grid-{r}-{c}"),
                            to_color_image(&row.images[c]),
                            TextureOptions::NEAREST,
                        )
                    })
                })
                .collect();
            self.textures = Some((grid.step, tex));
        }
        &self.textures.as_ref().expect("just set").1
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, grid: Option<&GridSnapshot>) {
        ui.horizontal(|ui| {
            ui.heading("Images");
            ui.add(egui::Slider::new(&mut self.thumb, 48.0..=256.0).text("size"));
        });
        let Some(grid) = grid else {
            ui.weak("No decoded images yet: they appear once a model is loaded or training takes a snapshot.");
            return;
        };
        ui.label(format!(
            "Validation images decoded by the model at step {}",
            grid.step
        ));
        let thumb = egui::vec2(self.thumb, self.thumb);
        let ctx = ui.ctx().clone();
        let textures = self.textures_for(&ctx, grid).clone();
        let mut clicked = None;
        egui::ScrollArea::both()
            .id_salt("grid-scroll")
            .show(ui, |ui| {
                egui::Grid::new("image-grid")
                    .spacing([6.0, 6.0])
                    .show(ui, |ui| {
                        ui.label("");
                        for title in COLUMNS {
                            ui.strong(title);
                        }
                        ui.end_row();
                        for (r, row) in grid.rows.iter().enumerate() {
                            ui.vertical(|ui| {
                                // Benchmark names are long (@easting@northing@…): one
                                // truncated line, the whole name on hover.
                                ui.set_max_width(90.0);
                                ui.strong(row.domain.name());
                                ui.add(
                                    egui::Label::new(
                                        egui::RichText::new(short_name(&row.name)).weak(),
                                    )
                                    .truncate(),
                                )
                                .on_hover_text(&row.name);
                            });
                            for (c, tex) in textures[r].iter().enumerate() {
                                let resp = ui
                                    .add(
                                        egui::Image::new((tex.id(), thumb))
                                            .alt_text(format!(
                                                "{} — {}",
                                                row.name,
                                                column_title(c, row.domain)
                                            ))
                                            .sense(egui::Sense::click()),
                                    )
                                    .on_hover_text(format!(
                                        "{} — {}: click to enlarge",
                                        row.name,
                                        column_title(c, row.domain)
                                    ));
                                if resp.clicked() {
                                    clicked = Some((r, c));
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
        if clicked.is_some() {
            self.enlarged = clicked;
        }
        self.enlarged_ui(&ctx, grid, &textures);
    }

    fn enlarged_ui(
        &mut self,
        ctx: &egui::Context,
        grid: &GridSnapshot,
        textures: &[[TextureHandle; 4]],
    ) {
        let Some((r, c)) = self.enlarged else { return };
        let (Some(row), Some(tex)) = (grid.rows.get(r), textures.get(r)) else {
            self.enlarged = None;
            return;
        };
        let mut open = true;
        let mut compare = self.compare;
        let mut swipe_at = self.swipe_at;
        egui::Window::new(format!("{} — {}", row.name, column_title(c, row.domain)))
            .id(egui::Id::unique("enlarged-image"))
            .open(&mut open)
            .resizable(true)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label("Compare with original:");
                    ui.selectable_value(&mut compare, CompareMode::Off, "off");
                    ui.selectable_value(&mut compare, CompareMode::Flicker, "flicker");
                    ui.selectable_value(&mut compare, CompareMode::Swipe, "swipe");
                });
                let side = ui.available_width().clamp(128.0, 512.0);
                let size = egui::vec2(side, side);
                match compare {
                    CompareMode::Off => {
                        ui.image((tex[c].id(), size));
                    }
                    CompareMode::Flicker => {
                        let t = ui.input(|i| i.time);
                        let show_original = flicker_shows_original(t, 0.6);
                        ui.image((tex[if show_original { 0 } else { c }].id(), size));
                        ui.label(if show_original {
                            "original"
                        } else {
                            COLUMNS[c]
                        });
                        ui.ctx()
                            .request_repaint_after(std::time::Duration::from_millis(100));
                    }
                    CompareMode::Swipe => {
                        let (rect, resp) =
                            ui.allocate_exact_size(size, egui::Sense::click_and_drag());
                        resp.widget_info(|| {
                            egui::WidgetInfo::labeled(egui::Role::Slider, true, "swipe divider")
                        });
                        if let Some(p) = resp.interact_pointer_pos() {
                            swipe_at = swipe_fraction_at(rect, p.x);
                        }
                        // Two UV-cropped quads: the same split `image_compare::swipe` composes on the CPU.
                        let q = swipe_quads(rect, swipe_at);
                        let split = q.split_x;
                        let painter = ui.painter_at(rect);
                        painter.image(tex[0].id(), q.left, q.left_uv, egui::Color32::WHITE);
                        painter.image(tex[c].id(), q.right, q.right_uv, egui::Color32::WHITE);
                        painter.vline(
                            split,
                            rect.y_range(),
                            egui::Stroke::new(2.0, egui::Color32::YELLOW),
                        );
                        ui.label(format!(
                            "left: original · right: {} (drag to move)",
                            COLUMNS[c]
                        ));
                    }
                }
            });
        self.compare = compare;
        self.swipe_at = swipe_at;
        if !open {
            self.enlarged = None;
        }
    }

    /// The composed swipe picture of the enlarged image, as the CPU computes it.
    pub fn swipe_image(grid: &GridSnapshot, row: usize, col: usize, at: f32) -> Option<ColorImage> {
        let r = grid.rows.get(row)?;
        Some(swipe(
            &to_color_image(&r.images[0]),
            &to_color_image(&r.images[col]),
            at,
        ))
    }
}
