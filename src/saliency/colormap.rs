//! Colour maps and the overlay of a saliency map on its image. This is the CPU path; the
//! app's GPU path (`shaders/saliency_overlay.wgsl`) computes the same pixels.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Colormap {
    #[default]
    Inferno,
    Viridis,
    Gray,
}

/// Control points (t, r, g, b) of each map, sampled from matplotlib's; piecewise linear.
const INFERNO: [[f32; 4]; 9] = [
    [0.0, 0.001, 0.000, 0.014],
    [0.125, 0.106, 0.047, 0.286],
    [0.25, 0.258, 0.039, 0.406],
    [0.375, 0.416, 0.091, 0.433],
    [0.5, 0.578, 0.148, 0.404],
    [0.625, 0.735, 0.216, 0.330],
    [0.75, 0.865, 0.317, 0.226],
    [0.875, 0.961, 0.490, 0.089],
    [1.0, 0.988, 0.998, 0.645],
];
const VIRIDIS: [[f32; 4]; 9] = [
    [0.0, 0.267, 0.005, 0.329],
    [0.125, 0.283, 0.141, 0.458],
    [0.25, 0.254, 0.265, 0.530],
    [0.375, 0.207, 0.372, 0.553],
    [0.5, 0.164, 0.471, 0.558],
    [0.625, 0.128, 0.567, 0.551],
    [0.75, 0.135, 0.659, 0.518],
    [0.875, 0.360, 0.786, 0.388],
    [1.0, 0.993, 0.906, 0.144],
];

impl Colormap {
    pub const ALL: [Colormap; 3] = [Colormap::Inferno, Colormap::Viridis, Colormap::Gray];

    pub fn name(self) -> &'static str {
        match self {
            Colormap::Inferno => "inferno",
            Colormap::Viridis => "viridis",
            Colormap::Gray => "gray",
        }
    }

    /// Index used by the shader.
    pub fn index(self) -> u32 {
        self as u32
    }

    pub fn points(self) -> &'static [[f32; 4]] {
        match self {
            Colormap::Inferno => &INFERNO,
            Colormap::Viridis => &VIRIDIS,
            Colormap::Gray => &[[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]],
        }
    }

    /// Colour at `t` in [0, 1], components in [0, 1].
    pub fn at(self, t: f32) -> [f32; 3] {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let pts = self.points();
        for w in pts.windows(2) {
            let (a, b) = (w[0], w[1]);
            if t <= b[0] {
                let f = (t - a[0]) / (b[0] - a[0]);
                return [
                    a[1] + f * (b[1] - a[1]),
                    a[2] + f * (b[2] - a[2]),
                    a[3] + f * (b[3] - a[3]),
                ];
            }
        }
        let l = pts[pts.len() - 1];
        [l[1], l[2], l[3]]
    }
}

/// Blend `map` (values scaled by `1/scale_max`, so one scale can be shared across images) over
/// `image` with `opacity`: `out = (1 − α·t)·image + α·t·colour(t)`, so zero saliency leaves the
/// image untouched. Rounded to 8 bits.
pub fn overlay(
    image: &image::RgbImage,
    map: &[f32],
    scale_max: f32,
    opacity: f32,
    cmap: Colormap,
) -> image::RgbImage {
    let inv = if scale_max > 0.0 {
        1.0 / scale_max
    } else {
        0.0
    };
    let mut out = image.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let t = (map.get(i).copied().unwrap_or(0.0) * inv).clamp(0.0, 1.0);
        let col = cmap.at(t);
        let a = (opacity * t).clamp(0.0, 1.0);
        for (ch, colour) in p.0.iter_mut().zip(col) {
            let v = (1.0 - a) * (*ch as f32 / 255.0) + a * colour;
            *ch = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// A horizontal colour bar `width × height` for legends.
pub fn colorbar(cmap: Colormap, width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, _| {
        let c = cmap.at(x as f32 / (width.max(2) - 1) as f32);
        image::Rgb(c.map(|v| (v * 255.0).round() as u8))
    })
}
