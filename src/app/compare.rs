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
