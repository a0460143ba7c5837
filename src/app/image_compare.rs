//! Comparing two images of the same size: flicker between them, or swipe a divider across.
//! The pixels are composed here on the CPU (the same function the tests check); the GPU path
//! draws the same split with two UV-cropped quads, which needs no custom shader.

use egui::{Color32, ColorImage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompareMode {
    /// Show the other image alone.
    #[default]
    Off,
    /// Alternate between the original and the other image.
    Flicker,
    /// Original left of the divider, the other image right of it.
    Swipe,
}

/// Which image a flicker shows at time `t` (seconds) with `period` seconds per image.
pub fn flicker_shows_original(t: f64, period: f64) -> bool {
    (t / period.max(1e-3)).floor() as i64 % 2 == 0
}

/// Column at which a swipe at `fraction` (0 = all other, 1 = all original) splits a width.
pub fn swipe_column(width: usize, fraction: f32) -> usize {
    ((fraction.clamp(0.0, 1.0) * width as f32).round() as usize).min(width)
}

/// Where a swipe at `fraction` splits an image drawn in `rect`, as two UV-cropped quads: the
/// original's left part and the other image's right part. The divider sits at the screen
/// position of [`swipe_column`]'s column, so the GPU quads and the CPU composition agree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SwipeQuads {
    pub split_x: f32,
    pub left: egui::Rect,
    pub left_uv: egui::Rect,
    pub right: egui::Rect,
    pub right_uv: egui::Rect,
}

pub fn swipe_quads(rect: egui::Rect, fraction: f32) -> SwipeQuads {
    let f = fraction.clamp(0.0, 1.0);
    let split_x = rect.left() + f * rect.width();
    SwipeQuads {
        split_x,
        left: egui::Rect::from_min_max(rect.min, egui::pos2(split_x, rect.bottom())),
        left_uv: egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(f, 1.0)),
        right: egui::Rect::from_min_max(egui::pos2(split_x, rect.top()), rect.max),
        right_uv: egui::Rect::from_min_max(egui::pos2(f, 0.0), egui::pos2(1.0, 1.0)),
    }
}

/// The swipe fraction a pointer at screen `x` over `rect` asks for.
pub fn swipe_fraction_at(rect: egui::Rect, x: f32) -> f32 {
    ((x - rect.left()) / rect.width().max(1e-6)).clamp(0.0, 1.0)
}

/// The composed picture: columns left of the divider from `original`, the rest from `other`.
pub fn swipe(original: &ColorImage, other: &ColorImage, fraction: f32) -> ColorImage {
    assert_eq!(
        original.size, other.size,
        "compared images must share a size"
    );
    let [w, h] = original.size;
    let split = swipe_column(w, fraction);
    let mut pixels: Vec<Color32> = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = y * w;
        pixels.extend_from_slice(&original.pixels[row..row + split]);
        pixels.extend_from_slice(&other.pixels[row + split..row + w]);
    }
    ColorImage::new([w, h], pixels)
}

pub fn to_color_image(img: &image::RgbImage) -> ColorImage {
    ColorImage::from_rgb([img.width() as usize, img.height() as usize], img.as_raw())
}
