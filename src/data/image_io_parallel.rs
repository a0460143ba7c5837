//! Decoding many files on all cores: image decoding dominates folder loading.

use std::path::Path;

use image::RgbImage;

use super::error::ImageError;
use super::image_io::{Framing, load_framed};

/// Load every path (framed at `framing`'s size), in order, spreading files over threads.
/// A decoder that panics on a hostile file costs that file only.
pub fn load_all(
    paths: Vec<&Path>,
    framing: impl Into<Framing>,
) -> Vec<Result<RgbImage, ImageError>> {
    let framing = framing.into();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = paths.len().div_ceil(threads).max(1);
    let load_one = |p: &Path| {
        std::panic::catch_unwind(|| load_framed(p, framing))
            .unwrap_or(Err(ImageError::DecoderPanicked))
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|p| load_one(p)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("per-file panics are caught"))
            .collect()
    })
}
