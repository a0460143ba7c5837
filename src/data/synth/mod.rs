//! The synthetic day/night town: a seeded procedural street generator, each place rendered
//! once by day and once by night from slightly different viewpoints. Place ids are ground
//! truth; the same seed always gives the same images.

pub mod render;
pub mod scene;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::dataset::{Dataset, Domain, Sample};
use crate::error::ConfigError;
pub use render::{Camera, Light};
pub use scene::Scene;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    /// Number of distinct places (streets); each gives one day and one night image.
    pub places: usize,
    pub seed: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            places: 500,
            seed: 7,
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
    let mut rng = place_rng(seed, place);
    let scene = Scene::random(&mut rng);
    let day_cam = Camera::jittered(&mut rng);
    let night_cam = Camera::jittered(&mut rng);
    let day = render::render(&scene, day_cam, size, Light::Day, &mut rng);
    let night = render::render(&scene, night_cam, size, Light::Night, &mut rng);
    (day, night)
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
                        .map(|&p| render_place(cfg.seed, p, size))
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
        name: format!("synthetic town (seed {})", cfg.seed),
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
