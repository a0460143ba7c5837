//! Where a dataset's pixels are. Training and the app's grids hold every image decoded; `eval`
//! and `embed` at benchmark scale leave them on disk and decode one batch at a time, so that
//! no more decoded images than a batch are ever held (Tokyo 24/7's 76k database would be
//! 0.9 GiB at 64 px, 3.6 GiB at 128 px).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use image::RgbImage;

use super::domain::Domain;
use super::image_io::{Framing, SkippedFile};

/// How a loader treats the files it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pixels {
    /// Decode every file now; an unreadable one is skipped and reported.
    #[default]
    Decoded,
    /// Keep the paths; decode a batch at a time when asked ([`Dataset::images`]). An
    /// unreadable file is skipped when its batch is read, and reported by
    /// [`OnDisk::skipped`].
    OnDisk,
}

/// The files of a dataset whose pixels stay on disk, by list and index, and what reading
/// them has seen.
#[derive(Debug, Default)]
pub struct OnDisk {
    pub day: Vec<PathBuf>,
    pub night: Vec<PathBuf>,
    /// Decoded images alive now, and the most ever alive at once.
    live: AtomicUsize,
    peak: AtomicUsize,
    skipped: Mutex<Vec<SkippedFile>>,
}

impl OnDisk {
    pub fn new(day: Vec<PathBuf>, night: Vec<PathBuf>) -> Self {
        Self {
            day,
            night,
            ..Default::default()
        }
    }

    fn path(&self, domain: Domain, index: usize) -> &std::path::Path {
        match domain {
            Domain::Day => &self.day[index],
            Domain::Night => &self.night[index],
        }
    }

    /// The most decoded images this dataset ever held at once.
    pub fn peak_decoded(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The files that could not be read so far, each once.
    pub fn skipped(&self) -> Vec<SkippedFile> {
        self.skipped.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn hold(&self, n: usize) {
        let now = self.live.fetch_add(n, Ordering::SeqCst) + n;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn release(&self, n: usize) {
        self.live.fetch_sub(n, Ordering::SeqCst);
    }

    /// The images of `refs` (list, index) decoded in parallel at `size` px; an unreadable
    /// file is left out (see [`ImageBatch::kept`]) and remembered.
    pub fn decode(&self, refs: &[(Domain, usize)], framing: Framing) -> ImageBatch<'_> {
        let paths: Vec<&std::path::Path> = refs.iter().map(|&(d, i)| self.path(d, i)).collect();
        let decoded = super::image_io_parallel::load_all(paths.clone(), framing);
        let mut batch = ImageBatch {
            kept: Vec::with_capacity(refs.len()),
            images: Vec::with_capacity(refs.len()),
            counted: Some(self),
        };
        for (k, (result, path)) in decoded.into_iter().zip(paths).enumerate() {
            match result {
                Ok(image) => {
                    self.hold(1);
                    batch.kept.push(k);
                    batch.images.push(Cow::Owned(image));
                }
                Err(reason) => self.skip(path.to_path_buf(), reason.to_string()),
            }
        }
        batch
    }

    fn skip(&self, path: PathBuf, reason: String) {
        if let Ok(mut s) = self.skipped.lock()
            && !s.iter().any(|f| f.path == path)
        {
            s.push(SkippedFile { path, reason });
        }
    }
}

/// Images of one batch: borrowed from memory, or decoded from disk and counted until dropped.
pub struct ImageBatch<'a> {
    /// Positions in the request of the images that could be read, in order.
    pub kept: Vec<usize>,
    pub images: Vec<Cow<'a, RgbImage>>,
    counted: Option<&'a OnDisk>,
}

impl<'a> ImageBatch<'a> {
    /// Images already in memory: every one kept.
    pub fn borrowed(images: Vec<&'a RgbImage>) -> Self {
        ImageBatch {
            kept: (0..images.len()).collect(),
            images: images.into_iter().map(Cow::Borrowed).collect(),
            counted: None,
        }
    }

    pub fn refs(&self) -> Vec<&RgbImage> {
        self.images.iter().map(|c| c.as_ref()).collect()
    }
}

impl Drop for ImageBatch<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.counted {
            d.release(self.images.len());
        }
    }
}
