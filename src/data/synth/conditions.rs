//! Conditions the model never trains on, for evaluation only: they render the town's query
//! (night) images differently, while the database stays plain day. Dusk replaces the night
//! rendering; the others are laid over it: fog, rain on the lens, a white balance 2000 K off,
//! exposure 1.5 EV off, sensor noise, a viewpoint jitter twice the usual. The default,
//! [`Condition::Night`], renders exactly as before any of these existed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::render::Camera;
use super::scene::Rgb;

/// How the town's query images are rendered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[clap(rename_all = "kebab-case")]
pub enum Condition {
    /// The usual night rendering (what training sees).
    #[default]
    Night,
    /// The sky and ambient light of a low sun, warm, between day and night (replaces night).
    Dusk,
    /// Night, fogged: contrast halved at the façades, less towards the camera.
    Fog,
    /// Night, with rain streaks and drops on the lens.
    Rain,
    /// Night, white balance 2000 K warmer than the light.
    Warm,
    /// Night, white balance 2000 K cooler than the light.
    Cool,
    /// Night, exposed 1.5 EV under.
    Dark,
    /// Night, exposed 1.5 EV over.
    Bright,
    /// Night, with sensor noise σ = 0.05 added.
    Noise,
    /// Night, from a viewpoint jittered twice as much as usual.
    Jitter,
}

impl Condition {
    /// Every condition but the default, in the order tables list them.
    pub const UNSEEN: [Condition; 9] = [
        Condition::Dusk,
        Condition::Fog,
        Condition::Rain,
        Condition::Warm,
        Condition::Cool,
        Condition::Dark,
        Condition::Bright,
        Condition::Noise,
        Condition::Jitter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Night => "night",
            Condition::Dusk => "dusk",
            Condition::Fog => "fog",
            Condition::Rain => "rain",
            Condition::Warm => "warm",
            Condition::Cool => "cool",
            Condition::Dark => "dark",
            Condition::Bright => "bright",
            Condition::Noise => "noise",
            Condition::Jitter => "jitter",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Condition::Night => "night (as trained)",
            Condition::Dusk => "dusk: a low, warm sun",
            Condition::Fog => "fog: contrast halved at the façades",
            Condition::Rain => "rain: streaks and drops on the lens",
            Condition::Warm => "white balance −2000 K",
            Condition::Cool => "white balance +2000 K",
            Condition::Dark => "exposure −1.5 EV",
            Condition::Bright => "exposure +1.5 EV",
            Condition::Noise => "sensor noise σ = 0.05",
            Condition::Jitter => "viewpoint jitter ×2",
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Condition::Night
    }

    /// The query camera: twice the usual jitter about the centre for [`Condition::Jitter`].
    pub fn camera(self, usual: Camera) -> Camera {
        match self {
            Condition::Jitter => Camera {
                zoom: 1.0 + 2.0 * (usual.zoom - 1.0),
                dx: 2.0 * usual.dx,
                dy: 2.0 * usual.dy,
            },
            _ => usual,
        }
    }

    /// Lay the condition over a rendered frame (`size`², linear values before the tone
    /// curve), `ground` the frame row (0–1) of the façades' foot. `seed` makes rain and
    /// noise the same every time; the default changes nothing.
    pub fn overlay(self, frame: &mut [Rgb], size: usize, ground: f32, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match self {
            Condition::Night | Condition::Dusk | Condition::Jitter => {}
            Condition::Dark | Condition::Bright => {
                let gain = 2f32.powf(if self == Condition::Dark { -1.5 } else { 1.5 });
                frame.iter_mut().for_each(|c| *c = c.map(|v| v * gain));
            }
            Condition::Warm | Condition::Cool => {
                let shift = if self == Condition::Warm {
                    -2000.0
                } else {
                    2000.0
                };
                let gains = white_balance_gains(shift);
                frame
                    .iter_mut()
                    .for_each(|c| *c = [c[0] * gains[0], c[1] * gains[1], c[2] * gains[2]]);
            }
            Condition::Noise => {
                let n = Normal::new(0.0f32, 0.05).expect("positive σ");
                frame
                    .iter_mut()
                    .for_each(|c| *c = c.map(|v| v + n.sample(&mut rng)));
            }
            Condition::Fog => fog(frame, size, ground),
            Condition::Rain => rain(frame, size, &mut rng),
        }
    }
}

/// Channel gains of a camera balanced for 6500 K under light `shift` kelvin away, at equal
/// luminance (Tanner Helland's fit of the blackbody colour).
pub fn white_balance_gains(shift: f32) -> Rgb {
    let (a, b) = (blackbody(6500.0 + shift), blackbody(6500.0));
    let g = [a[0] / b[0], a[1] / b[1], a[2] / b[2]];
    let luma = 0.299 * g[0] + 0.587 * g[1] + 0.114 * g[2];
    g.map(|v| v / luma)
}

/// The colour of a blackbody at `kelvin`, each channel in 0–1.
fn blackbody(kelvin: f32) -> Rgb {
    let t = kelvin / 100.0;
    let r = if t <= 66.0 {
        255.0
    } else {
        329.698_73 * (t - 60.0).powf(-0.133_204_76)
    };
    let g = if t <= 66.0 {
        99.470_8 * t.ln() - 161.119_57
    } else {
        288.122_16 * (t - 60.0).powf(-0.075_514_85)
    };
    let b = if t >= 66.0 {
        255.0
    } else if t <= 19.0 {
        0.0
    } else {
        138.517_73 * (t - 10.0).ln() - 305.044_8
    };
    [r, g, b].map(|v: f32| v.clamp(1.0, 255.0) / 255.0)
}

/// Contrast about the frame's mean colour halved from the façades up, and less and less
/// below them, down to 0.8 at the bottom row (the road nearest the camera).
fn fog(frame: &mut [Rgb], size: usize, ground: f32) {
    let n = frame.len().max(1) as f32;
    let mut mean = [0.0f32; 3];
    for c in frame.iter() {
        mean = [mean[0] + c[0], mean[1] + c[1], mean[2] + c[2]];
    }
    let airlight = mean.map(|m| m / n + 0.04);
    for (i, c) in frame.iter_mut().enumerate() {
        let y = (i / size) as f32 / size as f32;
        let keep = if y <= ground {
            0.5
        } else {
            0.5 + 0.3 * ((y - ground) / (1.0 - ground).max(1e-3)).min(1.0)
        };
        for ch in 0..3 {
            c[ch] = airlight[ch] + (c[ch] - airlight[ch]) * keep;
        }
    }
}

/// Rain on the lens: thin bright streaks falling a little slanted, and drops that show a
/// blurred, inverted patch of the scene with a dark rim.
fn rain(frame: &mut [Rgb], size: usize, rng: &mut ChaCha8Rng) {
    let s = size as f32;
    let source = frame.to_vec();
    let at = |x: f32, y: f32| -> Rgb {
        let xi = (x.clamp(0.0, s - 1.0)) as usize;
        let yi = (y.clamp(0.0, s - 1.0)) as usize;
        source[yi * size + xi]
    };
    // Drops: 5–9, radius 3–7 % of the frame.
    for _ in 0..rng.random_range(5..10) {
        let (cx, cy) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let r = rng.random_range(0.03..0.07) * s;
        let (x0, x1) = (
            (cx - r).max(0.0) as usize,
            ((cx + r) as usize).min(size - 1),
        );
        let (y0, y1) = (
            (cy - r).max(0.0) as usize,
            ((cy + r) as usize).min(size - 1),
        );
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let d = (dx * dx + dy * dy).sqrt() / r;
                if d >= 1.0 {
                    continue;
                }
                // The drop is a small lens: an inverted, magnified view, blurred.
                let (sx, sy) = (cx - dx * 1.8, cy - dy * 1.8);
                let mut v = [0.0f32; 3];
                for (ox, oy) in [
                    (-1.0, -1.0),
                    (1.0, -1.0),
                    (-1.0, 1.0),
                    (1.0, 1.0),
                    (0.0, 0.0),
                ] {
                    let p = at(sx + ox * 1.5, sy + oy * 1.5);
                    v = [v[0] + p[0], v[1] + p[1], v[2] + p[2]];
                }
                let rim = if d > 0.8 { 0.65 } else { 1.0 };
                frame[y * size + x] = v.map(|c| (c / 5.0 * 0.9 + 0.05) * rim);
            }
        }
    }
    // Streaks: 30–50, 8–20 % of the frame long, 80–88° from horizontal.
    for _ in 0..rng.random_range(30..50) {
        let (x, y) = (rng.random_range(0.0..s), rng.random_range(0.0..s));
        let len = rng.random_range(0.08..0.2) * s;
        let angle = rng.random_range(80.0f32..88.0).to_radians();
        let alpha = rng.random_range(0.2..0.4);
        let (ux, uy) = (angle.cos(), angle.sin());
        let steps = (len * 2.0) as usize;
        for k in 0..steps {
            let t = k as f32 * 0.5;
            let (px, py) = ((x + ux * t) as isize, (y + uy * t) as isize);
            if px < 0 || py < 0 || px >= size as isize || py >= size as isize {
                continue;
            }
            let c = &mut frame[py as usize * size + px as usize];
            *c = c.map(|v| v + (0.85 - v) * alpha);
        }
    }
}
