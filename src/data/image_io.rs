//! Reading user images defensively: every file that cannot become a training image is skipped
//! with a reason, never a panic, and a decoder is never allowed to allocate what a header claims.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;
use image::{ImageReader, Limits, RgbImage};

use super::error::ImageError;
pub use super::limits::{MAX_ALLOC, MAX_SIDE, MIN_SIDE};

/// A file left out of a dataset, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for SkippedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {}: {}", self.path.display(), self.reason)
    }
}

/// What a load kept and what it skipped.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub loaded: usize,
    pub skipped: Vec<SkippedFile>,
}

impl LoadReport {
    pub fn summary(&self) -> String {
        format!(
            "{} images loaded, {} files skipped",
            self.loaded,
            self.skipped.len()
        )
    }
}

/// File extensions we try to read as images.
pub fn is_image_name(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

/// Decode one image file into RGB, refusing empty, tiny, enormous and undecodable files.
pub fn read_rgb(path: &Path) -> Result<RgbImage, ImageError> {
    let meta = std::fs::metadata(path).map_err(ImageError::Io)?;
    if meta.len() == 0 {
        return Err(ImageError::Empty);
    }
    // Judge the content, not the name: a text file called .png is not an image.
    let mut magic = [0u8; 8];
    let n = std::io::Read::read(
        &mut std::fs::File::open(path).map_err(ImageError::Io)?,
        &mut magic,
    )
    .map_err(ImageError::Io)?;
    let png = n >= 8 && magic == [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let jpeg = n >= 3 && magic[..3] == [0xff, 0xd8, 0xff];
    if !png && !jpeg {
        return Err(ImageError::NotAnImage);
    }
    let mut reader = ImageReader::open(path)
        .map_err(ImageError::Io)?
        .with_guessed_format()
        .map_err(ImageError::Io)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    // Check the header before decoding, so the message names the claimed size.
    let (w, h) = reader_dimensions(path)?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(ImageError::TooLarge { w, h });
    }
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(ImageError::TooSmall { w, h });
    }
    let img = reader.decode().map_err(ImageError::Decode)?;
    Ok(img.to_rgb8())
}

fn reader_dimensions(path: &Path) -> Result<(u32, u32), ImageError> {
    ImageReader::open(path)
        .map_err(ImageError::Io)?
        .with_guessed_format()
        .map_err(ImageError::Io)?
        .into_dimensions()
        .map_err(ImageError::Header)
}

/// How a photograph becomes one of a dataset's square images: their side in pixels, and
/// whether the whole frame is resized into it (`whole`: a wide frame is squashed, nothing is
/// cut; the pretrained preset, whose ImageNet network measured better on whole frames) or the
/// largest centred square is cut out first (every other preset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Framing {
    pub size: u32,
    pub whole: bool,
}

impl From<u32> for Framing {
    /// A centred square of `size` px.
    fn from(size: u32) -> Self {
        Framing { size, whole: false }
    }
}

/// `img` framed as `framing` says.
pub fn frame(img: &RgbImage, framing: Framing) -> RgbImage {
    let size = framing.size;
    match framing.whole {
        false => center_square(img, size),
        true if img.dimensions() == (size, size) => img.clone(),
        true => image::imageops::resize(img, size, size, FilterType::Triangle),
    }
}

/// The largest centred square, resized to `size`×`size`.
pub fn center_square(img: &RgbImage, size: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    let crop = image::imageops::crop_imm(img, x0, y0, side, side).to_image();
    if side == size {
        return crop;
    }
    // Triangle is a good balance of speed and aliasing when shrinking photographs.
    image::imageops::resize(&crop, size, size, FilterType::Triangle)
}

/// Read, crop and resize, or say why not.
pub fn load_square(path: &Path, size: u32) -> Result<RgbImage, ImageError> {
    load_framed(path, size.into())
}

/// Read and frame, or say why not.
pub fn load_framed(path: &Path, framing: Framing) -> Result<RgbImage, ImageError> {
    read_rgb(path).map(|img| frame(&img, framing))
}

/// Write `img` as a PNG at `path` atomically: encoded in memory, then one atomic write, so a
/// crash never leaves half a picture under the final name.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<(), ImageError> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|source| ImageError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(crate::store::write_file(path, &bytes)?)
}
