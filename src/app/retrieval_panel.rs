//! The retrieval browser: pick the direction, click a query, see its ranked matches from the
//! other domain with distances and ✓/✗ against ground truth, where the true match ranked,
//! Recall@N and the precision–recall curve, a failures-only filter, and an embedding map.
//! The index itself (its key, background build and cache) is `retrieval_index`; this holds
//! what the user is looking at and draws it.

use super::notices::Notices;
use super::panel::Panel;
use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, Stroke, TextureHandle, TextureOptions};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::image_compare::to_color_image;
pub use super::retrieval_index::{IndexInputs, IndexKey, RetrievalResult};
use super::retrieval_index::{IndexView, RetrievalIndex};
use crate::data::{Dataset, Domain, Positives};
use crate::retrieval::eval::{Evaluation, RECALL_AT};
use crate::retrieval::global::Descriptor;
use crate::retrieval::whiten::Adaptation;

pub struct RetrievalPanel {
    pub query_domain: Domain,
    pub descriptor: Descriptor,
    /// When a database image is a positive, where positions decide (`eval --radius`,
    /// `--frame-tolerance`).
    pub rule: Positives,
    /// Centre, or centre and whiten, the compared rows on the images themselves (no labels).
    pub adaptation: Adaptation,
    pub failures_only: bool,
    pub selected_query: Option<usize>,
    pub compare_match: Option<usize>,
    index: RetrievalIndex,
    thumbs: HashMap<(Domain, usize), TextureHandle>,
    pub thumb: f32,
    /// Weigh channels with the learned weights (when a latent weighting has been learned).
    pub use_weights: bool,
    /// Set when the user asks to explain a match: (query domain, query index, match index).
    pub explain_request: Option<(Domain, usize, usize)>,
    /// Rebuild the index at every new live snapshot. Off by default: a rebuild embeds every
    /// held-out image (seconds of CPU that training would otherwise get), so while training the
    /// index stays put and offers an update instead.
    pub follow_live: bool,
    /// A newer live snapshot than the index's, when not following.
    newer_step: Option<u64>,
    update_requested: bool,
    /// An image to select as the query once an index with queries from its domain is shown.
    pending_query: Option<(Domain, usize)>,
    /// Where the embedding map drew each of its points last frame, and the part of it that
    /// was visible: what a click is matched against.
    map_on_screen: Option<(Vec<egui::Pos2>, egui::Rect)>,
    /// The query and database items of the last index, to keep the selection across snapshots.
    last_items: Option<(
        Vec<crate::retrieval::ItemInfo>,
        Vec<crate::retrieval::ItemInfo>,
    )>,
}

impl Default for RetrievalPanel {
    fn default() -> Self {
        Self {
            query_domain: Domain::Night,
            descriptor: Descriptor::Spatial,
            rule: Positives::default(),
            adaptation: Adaptation::None,
            failures_only: false,
            selected_query: None,
            compare_match: None,
            index: RetrievalIndex::default(),
            thumbs: HashMap::new(),
            thumb: 64.0,
            use_weights: false,
            explain_request: None,
            follow_live: false,
            newer_step: None,
            update_requested: false,
            pending_query: None,
            map_on_screen: None,
            last_items: None,
        }
    }
}

impl RetrievalPanel {
    pub fn following(follow_live: bool) -> Self {
        Self {
            follow_live,
            ..Default::default()
        }
    }

    pub fn result(&self) -> Option<&Arc<RetrievalResult>> {
        self.index.result()
    }

    pub fn is_computing(&self) -> bool {
        self.index.is_building()
    }

    /// Make image `index` of `domain` the query: at once when the index shown has queries from
    /// that domain, otherwise after the direction is turned around and that index is built.
    pub fn select_image(&mut self, domain: Domain, index: usize) {
        if let Some(q) = self
            .result()
            .and_then(|r| r.evaluation.query_row(domain, index))
        {
            self.selected_query = Some(q);
            self.compare_match = None;
            return;
        }
        self.query_domain = domain;
        self.pending_query = Some((domain, index));
    }

    /// Where the embedding map drew its points (queries, then database rows) last frame, and
    /// its visible area.
    pub fn map_on_screen(&self) -> Option<&(Vec<egui::Pos2>, egui::Rect)> {
        self.map_on_screen.as_ref()
    }

    /// The model step of the index shown or being built.
    pub fn index_step(&self) -> Option<u64> {
        self.current_key().map(|k| k.step)
    }

    /// A newer live snapshot the index has not been updated to (when not following live).
    pub fn newer_step(&self) -> Option<u64> {
        self.newer_step
    }

    pub fn current_key(&self) -> Option<&IndexKey> {
        self.index.current_key()
    }

    /// Make sure the index for these inputs exists or is being built. `live` says the step
    /// comes from following training rather than from the user's scrubber: then only a newer
    /// model (nothing else changed) waits for the user, unless [`Self::follow_live`] is on,
    /// and a build in progress is never abandoned for a newer snapshot.
    pub fn ensure(&mut self, inputs: IndexInputs, live: bool, wake: impl Fn() + Send + 'static) {
        let key = IndexKey::new(
            &inputs,
            self.query_domain,
            self.descriptor,
            self.rule,
            self.adaptation,
        );
        if let Some(current) = self.current_key()
            && current.step != key.step
            && current.same_but_step(&key)
            && live
        {
            if self.is_computing() {
                return; // picked up when the running build finishes
            }
            if !self.follow_live && !self.update_requested {
                self.newer_step = Some(key.step);
                return;
            }
        }
        self.update_requested = false;
        self.newer_step = None;
        if self.index.holds(&key) {
            return;
        }
        if let Some(r) = self.index.cached(&key) {
            self.adopt(key, r);
            return;
        }
        self.index.build(key, inputs, wake);
    }

    /// Show `result`. A newer snapshot over the same images keeps what the user was looking at.
    fn adopt(&mut self, key: IndexKey, result: Arc<RetrievalResult>) {
        let ev = &result.evaluation;
        let same_images = self
            .last_items
            .as_ref()
            .is_some_and(|(q, d)| *q == ev.queries.items && *d == ev.database.items);
        if !same_images {
            self.selected_query = None;
            self.compare_match = None;
        }
        if let Some((domain, index)) = self.pending_query
            && domain == ev.query_domain
        {
            self.pending_query = None;
            self.selected_query = ev.query_row(domain, index);
            self.compare_match = None;
        }
        self.last_items = Some((ev.queries.items.clone(), ev.database.items.clone()));
        self.index.show(key, result);
    }

    /// Drop cached results: the dataset changed.
    pub fn reset(&mut self) {
        self.index.reset();
        self.thumbs.clear();
        self.selected_query = None;
        self.compare_match = None;
    }

    fn thumb_tex(
        &mut self,
        ctx: &egui::Context,
        ds: &Dataset,
        domain: Domain,
        index: usize,
    ) -> TextureHandle {
        self.thumbs
            .entry((domain, index))
            .or_insert_with(|| {
                ctx.load_texture(
                    format!("thumb-{domain}-{index}"),
                    to_color_image(&ds.domain(domain)[index].image),
                    TextureOptions::LINEAR,
                )
            })
            .clone()
    }

    /// Settings row; returns true when a setting that changes the index changed.
    pub fn settings_ui(&mut self, ui: &mut egui::Ui) -> bool {
        let before = (
            self.query_domain,
            self.descriptor,
            self.rule,
            self.adaptation,
        );
        ui.horizontal_wrapped(|ui| {
            ui.label("Queries:");
            ui.selectable_value(&mut self.query_domain, Domain::Night, "night to day");
            ui.selectable_value(&mut self.query_domain, Domain::Day, "day to night");
            ui.separator();
            ui.label("Embedding:");
            ui.selectable_value(&mut self.descriptor, Descriptor::Spatial, "spatial")
                .on_hover_text("The latent compared position by position");
            ui.selectable_value(&mut self.descriptor, Descriptor::Pooled, "pooled")
                .on_hover_text("The latent's mean over positions (the research's own)");
            ui.selectable_value(&mut self.descriptor, Descriptor::Global, "global")
                .on_hover_text(
                    "The latent on the database's 256 leading directions (fitted on these \
                     images, no labels): the first stage of a search at scale",
                );
            ui.separator();
            ui.label("Adapt:").on_hover_text(
                "Adapt the compared rows to these images, with no label (the rows eval prints)",
            );
            ui.selectable_value(&mut self.adaptation, Adaptation::None, "as trained");
            ui.selectable_value(&mut self.adaptation, Adaptation::Centred, "centred")
                .on_hover_text("Each domain's mean over these images subtracted");
            ui.selectable_value(&mut self.adaptation, Adaptation::Whitened, "whitened")
                .on_hover_text(
                    "Centred, then whitened by the covariance of the differences between \
                     mutual nearest night/day pairs: what changes between two views of a place \
                     counts less",
                );
            ui.separator();
            ui.checkbox(&mut self.failures_only, "failures only");
            ui.checkbox(&mut self.follow_live, "follow training")
                .on_hover_text(
                    "Rebuild the index at every new snapshot while training (costs CPU); \
                 otherwise an Update button offers the newest",
                );
            ui.checkbox(&mut self.use_weights, "learned channel weights")
                .on_hover_text(
                    "Weigh latent channels with the weights learned in the Saliency tab",
                );
            ui.add(egui::Slider::new(&mut self.thumb, 40.0..=128.0).text("thumbnails"));
            ui.separator();
            let l = ui.label("Positives within");
            ui.add(
                egui::DragValue::new(&mut self.rule.radius_m)
                    .range(0.1..=10_000.0)
                    .speed(0.5)
                    .suffix(" m"),
            )
            .labelled_by(l.id)
            .on_hover_text(
                "Where images have positions: a database image this close to the query is a \
                 positive (the bound included; the field's default is 25 m)",
            );
            let f = ui.label("or");
            ui.add(
                egui::DragValue::new(&mut self.rule.frame_tolerance)
                    .range(0..=1000)
                    .suffix(" frames"),
            )
            .labelled_by(f.id)
            .on_hover_text("Frame-aligned sequences (Nordland): positives within this many frames");
            ui.checkbox(&mut self.rule.strict, "strict").on_hover_text(
                "Only the database image nearest the query (its own frame) is a hit; the \
                 others within the bound are left out of its ranking, neither hit nor miss",
            );
        });
        ui.weak(format!("In use: {}", self.descriptor.kind().describe()));
        before
            != (
                self.query_domain,
                self.descriptor,
                self.rule,
                self.adaptation,
            )
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, ds: Option<&Arc<Dataset>>) {
        match self.index.view() {
            IndexView::Idle => {
                ui.weak("No model yet: load a checkpoint or train, then the index is built here.");
                return;
            }
            IndexView::Building { done, total } => {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .text(format!("embedding {done}/{total} images…")),
                );
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_millis(100));
                return;
            }
            IndexView::Failed(error) => {
                ui.colored_label(ui.visuals().error_fg_color, error.to_string());
                return;
            }
            IndexView::Ready(key) => {
                if let Some(newer) = self.newer_step {
                    let shown = key.step;
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "Index of the model at step {shown}; the newest snapshot is from step {newer}."
                        ));
                        if ui.button(format!("Update to step {newer}")).clicked() {
                            self.update_requested = true;
                        }
                    });
                }
            }
        }
        let (Some(result), Some(ds)) = (self.result().cloned(), ds.cloned()) else {
            return;
        };
        let eval = &result.evaluation;
        egui::Panel::left("retrieval-metrics")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("metrics-scroll")
                    .show(ui, |ui| {
                        self.metrics_ui(ui, &result);
                        ui.separator();
                        if let Some(q) = super::position_map::ui(ui, eval, self.selected_query) {
                            self.selected_query = Some(q);
                            self.compare_match = None;
                        }
                        ui.separator();
                        self.map_ui(ui, &result, &ds);
                    });
            });
        egui::Panel::right("retrieval-matches")
            .resizable(true)
            .default_size(360.0)
            .show(ui, |ui| {
                self.matches_ui(ui, eval, &ds);
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.queries_ui(ui, eval, &ds);
        });
        self.compare_window(ui.ctx(), eval, &ds);
    }

    fn metrics_ui(&self, ui: &mut egui::Ui, result: &RetrievalResult) {
        let eval = &result.evaluation;
        let m = &eval.metrics;
        ui.heading("Scores");
        ui.label(format!(
            "{} queries ({}) against {} {} images; {}",
            m.queries,
            eval.query_domain,
            m.database,
            eval.query_domain.other(),
            result.scope
        ));
        if !eval.ground_truth {
            ui.colored_label(ui.visuals().warn_fg_color, "No ground truth in this dataset (neither place ids nor positions on every image): metrics are unavailable, matches can still be browsed.");
            return;
        }
        ui.label(format!("Ground truth: {}", m.ground_truth));
        if m.queries_without_positive > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} queries have no positive in the database: left out of the scores below",
                    m.queries_without_positive
                ),
            );
        }
        let f = |v: Option<f64>| crate::retrieval::eval::score_text(v, 3);
        egui::Grid::new("recall-table")
            .striped(true)
            .show(ui, |ui| {
                for n in RECALL_AT {
                    ui.label(format!("Recall@{n}"));
                    ui.label(f(m.recall(n)));
                    ui.end_row();
                }
                ui.label("mAP");
                ui.label(f(m.map));
                ui.end_row();
                ui.label("triplet loss");
                ui.label(f(m.triplet_loss));
                ui.end_row();
                ui.label("silhouette");
                ui.label(f(m.silhouette));
                ui.end_row();
                ui.label("domain probe")
                    .on_hover_text("held-out accuracy of a linear day/night classifier on pooled embeddings: 0.5 = no domain left, 1.0 = two clouds");
                ui.label(f(m.domain_probe));
                ui.end_row();
                ui.label("same / other distance")
                    .on_hover_text("mean distance to the true match over mean distance to the other places");
                ui.label(f(m.distance_ratio));
                ui.end_row();
            });
        let pts: Vec<[f64; 2]> = eval.pr_curve.iter().map(|&(p, r)| [r, p]).collect();
        Plot::new("pr-curve")
            .height(180.0)
            .x_axis_label("recall")
            .y_axis_label("precision")
            .include_x(0.0)
            .include_x(1.0)
            .include_y(0.0)
            .include_y(1.0)
            .show(ui, |p| {
                p.line(Line::new("precision–recall", PlotPoints::from(pts)))
            });
    }

    fn map_ui(&mut self, ui: &mut egui::Ui, result: &RetrievalResult, ds: &Dataset) {
        let eval = &result.evaluation;
        ui.heading("Embedding map (PCA)");
        let nq = eval.queries.len();
        let point = |i: usize| [result.map[i][0] as f64, result.map[i][1] as f64];
        let q_pts: Vec<[f64; 2]> = (0..nq).map(point).collect();
        let d_pts: Vec<[f64; 2]> = (nq..result.map.len()).map(point).collect();
        // Lines between true pairs.
        let mut pairs = Vec::new();
        if eval.ground_truth {
            for qi in 0..nq {
                let r = &eval.rankings[qi];
                if let Some(dj) = r.order.iter().copied().find(|&j| r.relevant[j]) {
                    pairs.push((point(qi), point(nq + dj)));
                }
            }
        }
        let resp = Plot::new("embedding-map")
            .height(260.0)
            .legend(Legend::default())
            .data_aspect(1.0)
            .show(ui, |p| {
                for (a, b) in &pairs {
                    p.line(
                        Line::new("true pairs", PlotPoints::from(vec![*a, *b]))
                            .color(Color32::from_gray(90))
                            .width(0.5),
                    );
                }
                p.points(
                    Points::new(
                        format!("{} (queries)", eval.query_domain),
                        PlotPoints::from(q_pts.clone()),
                    )
                    .color(Color32::from_rgb(120, 140, 255))
                    .radius(2.5),
                );
                p.points(
                    Points::new(
                        format!("{}", eval.query_domain.other()),
                        PlotPoints::from(d_pts.clone()),
                    )
                    .color(Color32::from_rgb(255, 190, 60))
                    .radius(2.5),
                );
                p.pointer_coordinate()
            });
        let on_screen: Vec<egui::Pos2> = (0..result.map.len())
            .map(|i| {
                let pt = point(i);
                resp.transform
                    .position_from_point(&egui_plot::PlotPoint::new(pt[0], pt[1]))
            })
            .collect();
        self.map_on_screen = Some((
            on_screen.clone(),
            resp.response.rect.intersect(ui.clip_rect()),
        ));
        // Hover shows the nearest image; a click makes it the query (a database image turns the
        // direction around, and is selected once that index is built).
        if let Some(pos) = resp.inner {
            let pointer = resp.transform.position_from_point(&pos);
            let nearest = (0..result.map.len())
                .map(|i| (i, on_screen[i].distance(pointer)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .filter(|(_, d)| *d < 12.0);
            if let Some((i, _)) = nearest {
                let item = if i < nq {
                    &eval.queries.items[i]
                } else {
                    &eval.database.items[i - nq]
                };
                let tex = self.thumb_tex(ui.ctx(), ds, item.domain, item.index);
                let name = item.name.clone();
                resp.response.clone().on_hover_ui_at_pointer(|ui| {
                    ui.label(name);
                    ui.image((tex.id(), egui::vec2(96.0, 96.0)));
                });
                if resp.response.clicked() {
                    let (domain, index) = (item.domain, item.index);
                    self.select_image(domain, index);
                }
            }
        }
    }

    fn is_failure(eval: &Evaluation, q: usize) -> bool {
        eval.ground_truth && eval.true_match_rank(q).is_some_and(|r| r > 1)
    }

    fn queries_ui(&mut self, ui: &mut egui::Ui, eval: &Evaluation, ds: &Dataset) {
        ui.heading(format!("Queries ({})", eval.query_domain));
        let shown: Vec<usize> = (0..eval.queries.len())
            .filter(|&q| !self.failures_only || Self::is_failure(eval, q))
            .collect();
        if shown.is_empty() {
            ui.weak(if self.failures_only {
                "No failures: every query's true match ranks first."
            } else {
                "No queries."
            });
            return;
        }
        let size = egui::vec2(self.thumb, self.thumb);
        let per_row = ((ui.available_width() / (self.thumb + 8.0)).floor() as usize).max(1);
        let rows = shown.len().div_ceil(per_row);
        let row_h = self.thumb + 8.0;
        egui::ScrollArea::vertical()
            .id_salt("queries-scroll")
            .show_rows(ui, row_h, rows, |ui, range| {
                for r in range {
                    ui.horizontal(|ui| {
                        for &q in shown.iter().skip(r * per_row).take(per_row) {
                            let item = &eval.queries.items[q];
                            let tex = self.thumb_tex(ui.ctx(), ds, item.domain, item.index);
                            let selected = self.selected_query == Some(q);
                            let resp = ui
                                .add(egui::Image::new((tex.id(), size)).sense(egui::Sense::click()))
                                .on_hover_text(format!("query {}", item.name));
                            let rank = eval.true_match_rank(q);
                            let color = match rank {
                                Some(1) => Color32::from_rgb(40, 170, 70),
                                Some(_) => Color32::from_rgb(210, 50, 50),
                                None => Color32::GRAY,
                            };
                            let stroke = Stroke::new(
                                if selected { 3.5 } else { 1.5 },
                                if selected { Color32::WHITE } else { color },
                            );
                            ui.painter().rect_stroke(
                                resp.rect,
                                2.0,
                                stroke,
                                egui::StrokeKind::Outside,
                            );
                            resp.widget_info(|| {
                                egui::WidgetInfo::labeled(
                                    egui::Role::Button,
                                    true,
                                    format!("query {}", item.name),
                                )
                            });
                            if resp.clicked() {
                                self.selected_query = Some(q);
                                self.compare_match = None;
                            }
                        }
                    });
                }
            });
    }

    fn matches_ui(&mut self, ui: &mut egui::Ui, eval: &Evaluation, ds: &Dataset) {
        ui.heading("Ranked matches");
        let Some(q) = self.selected_query.filter(|&q| q < eval.queries.len()) else {
            ui.weak("Click a query to see its nearest images from the other domain.");
            return;
        };
        let item = &eval.queries.items[q];
        ui.horizontal(|ui| {
            let tex = self.thumb_tex(ui.ctx(), ds, item.domain, item.index);
            ui.image((tex.id(), egui::vec2(72.0, 72.0)));
            ui.vertical(|ui| {
                ui.strong(format!("query: {}", item.name));
                match eval.true_match_rank(q) {
                    Some(r) => {
                        let d = eval.rankings[q]
                            .order
                            .iter()
                            .find(|&&j| eval.rankings[q].relevant[j])
                            .map(|&j| eval.rankings[q].distances[j]);
                        ui.label(format!(
                            "true match ranked {r} (distance {:.3})",
                            d.unwrap_or(f32::NAN)
                        ));
                    }
                    None if eval.ground_truth => {
                        ui.label("its place is not in the database");
                    }
                    None => {
                        ui.weak("no ground truth: matches are unverified");
                    }
                }
            });
        });
        ui.separator();
        let ranked = eval.ranked(q);
        let size = egui::vec2(self.thumb, self.thumb);
        egui::ScrollArea::vertical()
            .id_salt("matches-scroll")
            .show_rows(ui, self.thumb + 8.0, ranked.len().min(50), |ui, range| {
                for (rank0, &(j, d, ok)) in ranked
                    .iter()
                    .enumerate()
                    .skip(range.start)
                    .take(range.len())
                {
                    let m = &eval.database.items[j];
                    ui.horizontal(|ui| {
                        ui.label(format!("rank {}", rank0 + 1));
                        let tex = self.thumb_tex(ui.ctx(), ds, m.domain, m.index);
                        let resp =
                            ui.add(egui::Image::new((tex.id(), size)).sense(egui::Sense::click()));
                        let verdict = match ok {
                            Some(true) => "correct",
                            Some(false) => "wrong",
                            None => "unverified",
                        };
                        mark(ui, resp.rect, ok);
                        resp.widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::Button,
                                true,
                                format!("match rank {} {verdict}", rank0 + 1),
                            )
                        });
                        if resp.clicked() {
                            self.compare_match = Some(j);
                        }
                        ui.vertical(|ui| {
                            ui.label(format!("distance {d:.3}"));
                            ui.weak(&m.name);
                            match super::position_map::distance_text(item.position, m.position) {
                                Some(metres) => ui.label(format!("{verdict}, {metres}")),
                                None => ui.label(verdict),
                            };
                        });
                    });
                }
            });
    }

    fn compare_window(&mut self, ctx: &egui::Context, eval: &Evaluation, ds: &Dataset) {
        let (Some(q), Some(j)) = (self.selected_query, self.compare_match) else {
            return;
        };
        let (qi, mi) = (&eval.queries.items[q], &eval.database.items[j]);
        let (qt, mt) = (
            self.thumb_tex(ctx, ds, qi.domain, qi.index),
            self.thumb_tex(ctx, ds, mi.domain, mi.index),
        );
        let d = eval.rankings[q].distances[j];
        let mut open = true;
        let mut explain = false;
        egui::Window::new("Query and match")
            .open(&mut open)
            .resizable(true)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label(format!("distance {d:.3}"));
                    explain = ui
                        .button("Explain this match")
                        .on_hover_text("Gradient of the distance with respect to both images")
                        .clicked();
                });
                let side = (ui.available_width() / 2.0 - 8.0).clamp(128.0, 384.0);
                ui.horizontal(|ui| {
                    ui.vertical(|ui| {
                        ui.strong(format!("query ({})", qi.domain));
                        ui.weak(&qi.name);
                        ui.image((qt.id(), egui::vec2(side, side)));
                    });
                    ui.vertical(|ui| {
                        ui.strong(format!("match ({})", mi.domain));
                        ui.weak(&mi.name);
                        ui.image((mt.id(), egui::vec2(side, side)));
                    });
                });
            });
        if explain {
            self.explain_request = Some((qi.domain, qi.index, mi.index));
        }
        if !open {
            self.compare_match = None;
        }
    }
}

/// A green ✓ or red ✗ drawn as strokes (no font needed) with a border of the same colour.
fn mark(ui: &egui::Ui, rect: egui::Rect, ok: Option<bool>) {
    let Some(ok) = ok else { return };
    let color = if ok {
        Color32::from_rgb(40, 190, 80)
    } else {
        Color32::from_rgb(220, 50, 50)
    };
    let p = ui.painter();
    p.rect_stroke(rect, 2.0, Stroke::new(3.0, color), egui::StrokeKind::Inside);
    let s = rect.width().min(rect.height()) * 0.22;
    let c = rect.right_top() + egui::vec2(-s * 0.9, s * 0.9);
    p.circle_filled(c, s * 0.75, Color32::from_black_alpha(160));
    let stroke = Stroke::new(2.5, color);
    if ok {
        p.line_segment(
            [
                c + egui::vec2(-s * 0.45, 0.0),
                c + egui::vec2(-s * 0.1, s * 0.35),
            ],
            stroke,
        );
        p.line_segment(
            [
                c + egui::vec2(-s * 0.1, s * 0.35),
                c + egui::vec2(s * 0.45, -s * 0.35),
            ],
            stroke,
        );
    } else {
        p.line_segment(
            [
                c + egui::vec2(-s * 0.35, -s * 0.35),
                c + egui::vec2(s * 0.35, s * 0.35),
            ],
            stroke,
        );
        p.line_segment(
            [
                c + egui::vec2(-s * 0.35, s * 0.35),
                c + egui::vec2(s * 0.35, -s * 0.35),
            ],
            stroke,
        );
    }
}

impl Panel for RetrievalPanel {
    /// Collect a finished index, or report why it failed.
    fn poll(&mut self, notices: &mut Notices) {
        match self.index.poll() {
            Some(Ok((key, result))) => self.adopt(key, result),
            Some(Err(e)) => notices.error(e),
            None => {}
        }
    }
}
