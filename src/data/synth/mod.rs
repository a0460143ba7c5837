//! The synthetic day/night town: a seeded procedural street generator, each place rendered
//! once by day and once by night from slightly different viewpoints. Place ids are ground
//! truth; the same seed always gives the same images.

pub mod conditions;
pub mod render;
pub mod scene;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Domain, Sample};
use crate::error::ConfigError;
pub use conditions::Condition;
pub use render::{Camera, Light};
pub use scene::Scene;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// Number of distinct places (streets); each gives one day and one night image.
    pub places: usize,
    pub seed: u64,
    /// How the night (query) images are rendered: the usual night, or a condition kept for
    /// evaluation ([`Condition`]).
    #[serde(skip_serializing_if = "Condition::is_default")]
    pub condition: Condition,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            places: 500,
            seed: 7,
            condition: Condition::Night,
        }
    }
}

impl SynthConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=100_000).contains(&self.places) {
            return Err(ConfigError::new(
                "synth.places",
                self.places,
                "an integer from 2 to 100000",
            ));
        }
        Ok(())
    }
}

/// Independent stream per place, so any place can be rendered alone and in parallel.
fn place_rng(seed: u64, place: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(place as u64 + 1);
    rng
}

/// The day and night renderings of one place.
pub fn render_place(seed: u64, place: usize, size: u32) -> (image::RgbImage, image::RgbImage) {
    render_place_in(seed, place, size, Condition::Night)
}

/// The day rendering of one place and its night one under `condition` (the day, the scene
/// and every random draw of the usual night are the same whatever the condition).
pub fn render_place_in(
    seed: u64,
    place: usize,
    size: u32,
    condition: Condition,
) -> (image::RgbImage, image::RgbImage) {
    let mut rng = place_rng(seed, place);
    let scene = Scene::random(&mut rng);
    let day_cam = Camera::jittered(&mut rng);
    let night_cam = condition.camera(Camera::jittered(&mut rng));
    let day = render::render(&scene, day_cam, size, Light::Day, &mut rng);
    let light = if condition == Condition::Dusk {
        Light::Dusk
    } else {
        Light::Night
    };
    let mut frame = render::render_linear(&scene, night_cam, size, light, &mut rng);
    // The overlay's own stream: rain and noise differ by place, never by condition order.
    let overlay_seed = seed ^ ((place as u64 + 1) << 20) ^ 0x5eed_c0de;
    condition.overlay(
        &mut frame,
        size as usize,
        render::ground_row(&scene, night_cam),
        overlay_seed,
    );
    (day, render::quantise(&frame, size))
}

/// The day rendering of one place alone, equal to [`render_place`]'s (for databases streamed
/// at benchmark scale, which need no night image).
pub fn render_day(seed: u64, place: usize, size: u32) -> image::RgbImage {
    let mut rng = place_rng(seed, place);
    let scene = Scene::random(&mut rng);
    let day_cam = Camera::jittered(&mut rng);
    let _night_cam = Camera::jittered(&mut rng);
    render::render(&scene, day_cam, size, Light::Day, &mut rng)
}

/// The whole town at `size` px, rendered on all cores.
pub fn generate(cfg: &SynthConfig, size: u32) -> Dataset {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let places: Vec<usize> = (0..cfg.places).collect();
    let chunk = places.len().div_ceil(threads).max(1);
    let rendered: Vec<(image::RgbImage, image::RgbImage)> = std::thread::scope(|scope| {
        let handles: Vec<_> = places
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&p| render_place_in(cfg.seed, p, size, cfg.condition))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("renderer does not panic"))
            .collect()
    });
    let mut ds = Dataset {
        name: if cfg.condition.is_default() {
            format!("synthetic town (seed {})", cfg.seed)
        } else {
            format!(
                "synthetic town (seed {}, queries: {})",
                cfg.seed,
                cfg.condition.describe()
            )
        },
        image_size: size,
        ..Default::default()
    };
    for (p, (day, night)) in rendered.into_iter().enumerate() {
        for (domain, image) in [(Domain::Day, day), (Domain::Night, night)] {
            let sample = Sample {
                domain,
                encoder: domain,
                place: Some(p as u32),
                position: None,
                name: format!("place-{p:05}/{domain}"),
                group: format!("place:{p}"),
                image,
            };
            match domain {
                Domain::Day => ds.day.push(sample),
                Domain::Night => ds.night.push(sample),
            }
        }
    }
    ds
}
