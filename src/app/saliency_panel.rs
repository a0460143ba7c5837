//! The saliency viewer: pick an image and a latent channel (ordered by learned weight, with
//! the weight shown) or the top-k channels combined; gradient, gradient × input or SmoothGrad;
//! the map as a colour overlay with a colour bar and opacity; per-image or shared scale; and
//! "explain this match" from the retrieval browser, query and match side by side.
//! Maps are computed on a worker thread; the overlay is drawn by the WGSL shader when egui
//! renders with wgpu, else composed on the CPU (the same pixels).

use super::notices::Notices;
use super::panel::Panel;
use std::sync::Arc;

use burn::prelude::Device;
use egui::{TextureHandle, TextureOptions};

use super::image_compare::to_color_image;
use super::overlay_gpu::{OverlayCallback, OverlayInputs};
use crate::data::{Dataset, Domain};
use crate::model::DoubleVae;
use crate::run::job::Job;
use crate::saliency::colormap::colorbar;
use crate::saliency::{
    Colormap, SaliencyMap, SaliencyMethod, Target, explain_match, overlay, saliency,
};
use crate::supervised::weights::importance;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChoice {
    Grad,
    GradXInput,
    SmoothGrad,
}

/// What the view explains.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Image {
        domain: Domain,
        index: usize,
    },
    /// A retrieval match: query (its domain, index) and the match in the other domain.
    Match {
        query_domain: Domain,
        query: usize,
        matched: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct JobKey {
    /// The snapshot, its step and the dataset load: a new run or dataset never reuses a map.
    provenance: super::ids::Provenance,
    subject: Subject,
    target: Target,
    method: (MethodChoice, usize, u32),
    weights: Option<Vec<u32>>,
}

pub struct Shown {
    key: JobKey,
    /// (title, image, map) — one for an image, two for a match.
    pub panels: Vec<(String, image::RgbImage, SaliencyMap)>,
}

pub struct SaliencyPanel {
    pub subject: Subject,
    pub channel: usize,
    pub top_k: Option<usize>,
    pub method: MethodChoice,
    pub samples: usize,
    pub sigma: f32,
    pub cmap: Colormap,
    pub opacity: f32,
    pub shared_scale: bool,
    pub shown: Option<Shown>,
    pending: Option<(JobKey, Job<Shown>)>,
    textures: Vec<TextureHandle>,
    texture_key: Option<(JobKey, Colormap, u32, bool)>,
    pub use_gpu: bool,
}

impl Default for SaliencyPanel {
    fn default() -> Self {
        Self {
            subject: Subject::Image {
                domain: Domain::Day,
                index: 0,
            },
            channel: 0,
            top_k: None,
            method: MethodChoice::Grad,
            samples: 16,
            sigma: 0.1,
            cmap: Colormap::Inferno,
            opacity: 0.7,
            shared_scale: true,
            shown: None,
            pending: None,
            textures: Vec::new(),
            texture_key: None,
            use_gpu: false,
        }
    }
}

fn job_hash(k: &JobKey) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{k:?}").hash(&mut h);
    h.finish()
}

/// The GPU overlay's upload key: the job, the panel and every drawing setting, hashed as a
/// tuple (bit-packing them once let two settings share a key and show a stale overlay).
pub fn overlay_key(job: u64, panel: usize, cmap: Colormap, opacity: f32, scale: f32) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (job, panel, cmap.index(), opacity.to_bits(), scale.to_bits()).hash(&mut h);
    h.finish()
}

impl SaliencyPanel {
    /// The target for the current choices; channels ordered by learned weight when available.
    fn target(&self, weights: Option<&[f32]>) -> Target {
        match (self.top_k, weights) {
            (Some(k), Some(w)) => Target::Channels(
                importance(w)
                    .into_iter()
                    .take(k)
                    .map(|(c, _)| (c, w[c]))
                    .collect(),
            ),
            (Some(k), None) => Target::Channels((0..k).map(|c| (c, 1.0)).collect()),
            (None, _) => Target::Channel(self.channel),
        }
    }

    fn method(&self) -> SaliencyMethod {
        match self.method {
            MethodChoice::Grad => SaliencyMethod::Grad,
            MethodChoice::GradXInput => SaliencyMethod::GradXInput,
            MethodChoice::SmoothGrad => SaliencyMethod::SmoothGrad {
                n: self.samples.max(1),
                sigma: self.sigma,
            },
        }
    }

    pub fn is_computing(&self) -> bool {
        self.pending.is_some()
    }

    /// Start a computation if the inputs changed. Never blocks.
    pub fn ensure(
        &mut self,
        provenance: super::ids::Provenance,
        model: Arc<DoubleVae>,
        ds: Arc<Dataset>,
        device: Device,
        weights: Option<Vec<f32>>,
        wake: impl Fn() + Send + 'static,
    ) {
        let key = JobKey {
            provenance,
            subject: self.subject.clone(),
            target: self.target(weights.as_deref()),
            method: (self.method, self.samples, self.sigma.to_bits()),
            weights: weights
                .as_ref()
                .map(|w| w.iter().map(|x| x.to_bits()).collect()),
        };
        if self.shown.as_ref().is_some_and(|s| s.key == key)
            || self.pending.as_ref().is_some_and(|(k, _)| *k == key)
        {
            return;
        }
        let valid = match &key.subject {
            Subject::Image { domain, index } => *index < ds.domain(*domain).len(),
            Subject::Match {
                query_domain,
                query,
                matched,
            } => {
                *query < ds.domain(*query_domain).len()
                    && *matched < ds.domain(query_domain.other()).len()
            }
        };
        if !valid {
            // The subject is not in these images (the dataset changed): show nothing stale.
            self.shown = None;
            self.pending = None;
            return;
        }
        let method = self.method();
        let k = key.clone();
        let job = Job::spawn("saliency", "computing the saliency map", wake, move |_| {
            let panels = match &k.subject {
                Subject::Image { domain, index } => {
                    let s = &ds.domain(*domain)[*index];
                    let map = saliency(&model, &s.image, *domain, &k.target, method, &device, 0);
                    vec![(format!("{} ({domain})", s.name), s.image.clone(), map)]
                }
                Subject::Match {
                    query_domain,
                    query,
                    matched,
                } => {
                    let q = &ds.domain(*query_domain)[*query];
                    let m = &ds.domain(query_domain.other())[*matched];
                    let (gq, gm) = explain_match(
                        &model,
                        &q.image,
                        *query_domain,
                        &m.image,
                        weights.as_deref(),
                        &device,
                    );
                    vec![
                        (
                            format!("query {} ({query_domain})", q.name),
                            q.image.clone(),
                            gq,
                        ),
                        (
                            format!("match {} ({})", m.name, query_domain.other()),
                            m.image.clone(),
                            gm,
                        ),
                    ]
                }
            };
            Ok(Shown { key: k, panels })
        });
        self.pending = Some((key, job));
    }

    /// The scale each panel's map is divided by.
    fn scales(&self) -> Vec<f32> {
        let Some(s) = &self.shown else {
            return Vec::new();
        };
        let shared = s.panels.iter().map(|p| p.2.max()).fold(0.0, f32::max);
        s.panels
            .iter()
            .map(|p| if self.shared_scale { shared } else { p.2.max() })
            .collect()
    }

    pub fn controls_ui(
        &mut self,
        ui: &mut egui::Ui,
        ds: Option<&Arc<Dataset>>,
        channels: usize,
        weights: Option<&[f32]>,
    ) {
        ui.heading("Saliency");
        if let Subject::Image { domain, index } = &mut self.subject {
            ui.horizontal(|ui| {
                ui.label("Image:");
                ui.selectable_value(domain, Domain::Day, "day");
                ui.selectable_value(domain, Domain::Night, "night");
                let n = ds.map(|d| d.domain(*domain).len()).unwrap_or(1).max(1);
                let l = ui.label("index");
                ui.add(egui::DragValue::new(index).range(0..=n - 1))
                    .labelled_by(l.id);
                if let Some(d) = ds
                    && let Some(s) = d.domain(*domain).get(*index)
                {
                    ui.weak(&s.name);
                }
            });
        } else {
            ui.horizontal(|ui| {
                ui.label("Explaining a retrieval match.");
                if ui.button("Back to single images").clicked() {
                    self.subject = Subject::Image {
                        domain: Domain::Day,
                        index: 0,
                    };
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            ui.label("SaliencyMethod:");
            ui.selectable_value(&mut self.method, MethodChoice::Grad, "gradient");
            ui.selectable_value(
                &mut self.method,
                MethodChoice::GradXInput,
                "gradient x input",
            );
            ui.selectable_value(&mut self.method, MethodChoice::SmoothGrad, "SmoothGrad");
            if self.method == MethodChoice::SmoothGrad {
                let l = ui.label("n");
                ui.add(egui::DragValue::new(&mut self.samples).range(1..=128))
                    .labelled_by(l.id);
                let l = ui.label("sigma");
                ui.add(
                    egui::DragValue::new(&mut self.sigma)
                        .range(0.0..=1.0)
                        .speed(0.01),
                )
                .labelled_by(l.id);
            }
        });
        ui.horizontal_wrapped(|ui| {
            let mut combined = self.top_k.is_some();
            if ui
                .checkbox(&mut combined, "top-k channels combined")
                .changed()
            {
                self.top_k = combined.then_some(5);
            }
            if let Some(k) = &mut self.top_k {
                let l = ui.label("k");
                ui.add(egui::DragValue::new(k).range(1..=channels.max(1)))
                    .labelled_by(l.id);
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("Colours:");
            for c in Colormap::ALL {
                ui.selectable_value(&mut self.cmap, c, c.name());
            }
            ui.add(egui::Slider::new(&mut self.opacity, 0.0..=1.0).text("opacity"));
            ui.checkbox(&mut self.shared_scale, "shared scale");
        });
        if self.top_k.is_none() {
            ui.label(if weights.is_some() {
                "Channels by learned weight:"
            } else {
                "Channels (learn weights to order them by importance):"
            });
            let order: Vec<(usize, f32)> = match weights {
                Some(w) => importance(w),
                None => (0..channels).map(|c| (c, 1.0)).collect(),
            };
            egui::ScrollArea::vertical()
                .id_salt("channel-list")
                .max_height(160.0)
                .show(ui, |ui| {
                    for (c, w) in order {
                        let text = if weights.is_some() {
                            format!("channel {c}  |w| = {w:.3}")
                        } else {
                            format!("channel {c}")
                        };
                        ui.selectable_value(&mut self.channel, c, text);
                    }
                });
        }
    }

    pub fn view_ui(&mut self, ui: &mut egui::Ui) {
        if self.is_computing() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("computing…");
            });
        }
        let Some(shown) = &self.shown else {
            ui.weak("Choose an image and a channel.");
            return;
        };
        let scales = self.scales();
        let tex_key = (
            shown.key.clone(),
            self.cmap,
            self.opacity.to_bits(),
            self.shared_scale,
        );
        if !self.use_gpu && self.texture_key.as_ref() != Some(&tex_key) {
            self.textures = shown
                .panels
                .iter()
                .zip(&scales)
                .enumerate()
                .map(|(k, ((_, img, map), &s))| {
                    ui.ctx().load_texture(
                        format!("saliency-{k}"),
                        to_color_image(&overlay(img, &map.values, s, self.opacity, self.cmap)),
                        TextureOptions::NEAREST,
                    )
                })
                .collect();
            self.texture_key = Some(tex_key);
        }
        let side = ((ui.available_width() / shown.panels.len() as f32) - 16.0).clamp(128.0, 420.0);
        ui.horizontal(|ui| {
            for (k, (title, img, map)) in shown.panels.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.strong(title);
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
                    if self.use_gpu {
                        let inputs = OverlayInputs {
                            width: img.width(),
                            height: img.height(),
                            rgba: img.pixels().flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
                            map: map.values.clone(),
                            scale_max: scales[k],
                            opacity: self.opacity,
                            cmap: self.cmap,
                        };
                        let key = overlay_key(
                            job_hash(&shown.key),
                            k,
                            self.cmap,
                            self.opacity,
                            scales[k],
                        );
                        ui.painter()
                            .add(eframe::egui_wgpu::Callback::new_paint_callback(
                                rect,
                                OverlayCallback {
                                    key,
                                    inputs: Arc::new(inputs),
                                },
                            ));
                    } else if let Some(t) = self.textures.get(k) {
                        ui.painter().image(
                            t.id(),
                            rect,
                            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                            egui::Color32::WHITE,
                        );
                    }
                    ui.label(format!(
                        "scale 0 to {:.2e} (max {:.2e})",
                        scales[k],
                        map.max()
                    ));
                });
            }
        });
        let bar = colorbar(self.cmap, 256, 12);
        let tex = ui
            .ctx()
            .load_texture("colorbar", to_color_image(&bar), TextureOptions::LINEAR);
        ui.horizontal(|ui| {
            ui.label("0");
            ui.image((tex.id(), egui::vec2(256.0, 12.0)));
            ui.label(if self.shared_scale {
                "shared max"
            } else {
                "each image's max"
            });
        });
    }
}

impl Panel for SaliencyPanel {
    /// Take in finished maps, or report why they failed.
    fn poll(&mut self, notices: &mut Notices) {
        let Some(r) = self.pending.as_mut().and_then(|(_, job)| job.poll()) else {
            return;
        };
        self.pending = None;
        match r {
            Ok(shown) => self.shown = Some(shown),
            Err(e) => notices.error(e),
        }
    }
}
