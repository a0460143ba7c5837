//! Retrieval at benchmark scale, in two stages as Patch-NetVLAD and hloc do: the spatial
//! embeddings (32 KiB an image for the compact model at 64 px) are written to a file on disk as
//! they are computed; when the database is complete, the global descriptor's head
//! (`retrieval::global`) is fitted on a sample of those rows and every row is projected to it,
//! a block at a time, and kept in memory (one short vector an image). A query searches those
//! first, and only its top candidates' spatial rows are read back to re-rank exactly. Images
//! are embedded batch by batch as they arrive, so no more decoded images than a batch are ever
//! held.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use rayon::prelude::*;

use super::ann::{AnnError, AnnIndex, EXPANSION_SEARCH};
use super::distance::{DeviceIndex, exact, sort_nearest};
use super::embed::{EmbeddingKind, Embeddings, ItemInfo, embed_images};
use super::eval::RESCORE;
use super::global::{GLOBAL_DIMS, GlobalHead, centre_and_normalise, describe_side, fit_sample};
use crate::data::Domain;
use crate::model::DoubleVae;

/// From this many database rows on, the first stage searches an HNSW graph of the global
/// descriptors (`retrieval::ann`) instead of comparing every one: below, flat search is exact
/// and fast enough (docs/benchmarks.md).
pub const ANN_ABOVE: usize = 50_000;

/// The most bytes of database rows [`StreamedIndex::exact_search`] reads at once.
pub const EXACT_BLOCK_BYTES: usize = 64 << 20;

/// Why a streamed index cannot be built or read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ann(#[from] AnnError),
}

/// A database embedded in batches: global descriptors in memory, spatial rows on disk.
pub struct StreamedIndex {
    /// The first stage: every database row's global descriptor (`pixels = 1`), centred on the
    /// database's mean and normalised. Empty (no columns) where the database has fewer than
    /// two rows, which are then searched exactly.
    pub global: Embeddings,
    /// The head the descriptors came from, for the queries.
    pub head: Option<GlobalHead>,
    /// The graph the first stage searches, from [`ANN_ABOVE`] rows on.
    pub ann: Option<AnnIndex>,
    spatial: File,
    path: PathBuf,
    pub channels: usize,
    pub pixels: usize,
}

/// Builds a [`StreamedIndex`] batch by batch.
pub struct StreamedBuilder {
    items: Vec<ItemInfo>,
    writer: BufWriter<File>,
    path: PathBuf,
    channels: usize,
    pixels: usize,
    ann_above: usize,
}

impl StreamedBuilder {
    /// Spatial rows go to `path` (created, truncated).
    pub fn create(path: &Path) -> Result<Self, StreamError> {
        let io = |source| StreamError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Read back too: the re-ranking reads candidates' rows from this handle.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(io)?;
        Ok(Self {
            items: Vec::new(),
            writer: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            channels: 0,
            pixels: 0,
            ann_above: ANN_ABOVE,
        })
    }

    /// [`create`](Self::create) at `path`, then unlinked at once: the open handle keeps the
    /// rows, and the space comes back however the process ends (an interrupted run leaves
    /// nothing behind).
    pub fn scratch(path: &Path) -> Result<Self, StreamError> {
        let builder = Self::create(path)?;
        let _ = std::fs::remove_file(path);
        Ok(builder)
    }

    /// Search the first stage in an HNSW graph from `rows` database rows on (default
    /// [`ANN_ABOVE`]).
    pub fn ann_above(mut self, rows: usize) -> Self {
        self.ann_above = rows;
        self
    }

    /// Embed one batch of images (all read by `encoder`) and take them in.
    pub fn add_batch(
        &mut self,
        model: &DoubleVae,
        batch: Vec<(ItemInfo, image::RgbImage)>,
        encoder: Domain,
        device: &Device,
    ) -> Result<(), StreamError> {
        let imgs: Vec<&image::RgbImage> = batch.iter().map(|(_, im)| im).collect();
        let (data, c, p) = embed_images(model, &imgs, encoder, device);
        drop(imgs);
        let items: Vec<ItemInfo> = batch.into_iter().map(|(it, _)| it).collect();
        self.add_rows(items, data, c, p)
    }

    /// Take in rows already computed: `items.len()` rows of `channels × pixels` floats.
    pub fn add_rows(
        &mut self,
        items: Vec<ItemInfo>,
        data: Vec<f32>,
        channels: usize,
        pixels: usize,
    ) -> Result<(), StreamError> {
        (self.channels, self.pixels) = (channels, pixels);
        let mut bytes = Vec::with_capacity(data.len() * 4);
        data.iter()
            .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
        self.writer
            .write_all(&bytes)
            .map_err(|source| StreamError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.items.extend(items);
        Ok(())
    }

    /// Rows taken in so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Close the file and describe the database: the head fitted on the rows of
    /// [`fit_sample`], then every row projected, read back a block at a time.
    pub fn finish(self) -> Result<StreamedIndex, StreamError> {
        self.finish_with(None)
    }

    /// [`finish`](Self::finish), the rows described by `head` (fitted on another side, the
    /// database) where one is given.
    pub fn finish_with(self, head: Option<&GlobalHead>) -> Result<StreamedIndex, StreamError> {
        let io = |source| StreamError::Io {
            path: self.path.clone(),
            source,
        };
        let file = self.writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        let mut index = StreamedIndex {
            global: Embeddings {
                kind: EmbeddingKind::Global,
                channels: 0,
                pixels: 1,
                data: Vec::new(),
                items: self.items,
            },
            head: None,
            ann: None,
            spatial: file,
            path: self.path,
            channels: self.channels,
            pixels: self.pixels,
        };
        index.describe_rows(head.cloned(), self.ann_above)?;
        Ok(index)
    }
}

impl StreamedIndex {
    pub fn len(&self) -> usize {
        self.global.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.global.items.is_empty()
    }

    /// The database's rows, in order.
    pub fn items(&self) -> &[ItemInfo] {
        &self.global.items
    }

    /// Fit the head on a sample of the rows on disk (unless one is given), project every row to
    /// it, and from `ann_above` rows on build the first stage's graph.
    fn describe_rows(
        &mut self,
        given: Option<GlobalHead>,
        ann_above: usize,
    ) -> Result<(), StreamError> {
        let (n, dim) = (self.len(), self.channels * self.pixels);
        let head = match given {
            Some(head) => head,
            None => {
                let rows = fit_sample(n);
                let mut sample = vec![0.0f32; rows.len() * dim];
                for (&i, row) in rows.iter().zip(sample.chunks_exact_mut(dim.max(1))) {
                    self.spatial_row(i, row)?;
                }
                match GlobalHead::fit(&sample, dim, GLOBAL_DIMS) {
                    Some(head) => head,
                    None => return Ok(()),
                }
            }
        };
        if n == 0 || head.input != dim {
            return Ok(());
        }
        let block = (EXACT_BLOCK_BYTES / (dim * 4)).clamp(1, n);
        let mut data = Vec::with_capacity(n * head.width());
        let mut buf = Vec::new();
        for start in (0..n).step_by(block) {
            let end = (start + block).min(n);
            buf.resize((end - start) * dim, 0.0);
            self.read_rows(start..end, &mut buf)?;
            data.extend(head.project(&buf));
        }
        centre_and_normalise(&mut data, head.width());
        (self.global.channels, self.global.data) = (head.width(), data);
        self.head = Some(head);
        if n >= ann_above {
            self.ann = Some(AnnIndex::build(&self.global)?);
        }
        Ok(())
    }

    /// Database row `i`'s spatial embedding, read from disk into `buf`.
    pub fn spatial_row(&self, i: usize, buf: &mut [f32]) -> Result<(), StreamError> {
        self.read_rows(i..i + 1, buf)
    }

    /// Database rows `rows`, read from disk into `buf` (`rows.len() × C × P` floats).
    fn read_rows(&self, rows: std::ops::Range<usize>, buf: &mut [f32]) -> Result<(), StreamError> {
        let dim = self.channels * self.pixels;
        let mut bytes = vec![0u8; rows.len() * dim * 4];
        self.spatial
            .read_exact_at(&mut bytes, (rows.start * dim * 4) as u64)
            .map_err(|source| StreamError::Io {
                path: self.path.clone(),
                source,
            })?;
        for (v, b) in buf.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// The `top` nearest database rows of each query by the exact spatial distance (channel
    /// weights `w`), nearest first: the rows are read from disk a block at a time (at most
    /// [`EXACT_BLOCK_BYTES`]), each block searched on the device, its nearest rescored
    /// exactly and merged. What [`DeviceIndex`] gives on the whole database, in bounded memory.
    pub fn exact_search(
        &self,
        queries: &Embeddings,
        top: usize,
        w: Option<&[f32]>,
        device: &Device,
    ) -> Result<Vec<Vec<(usize, f32)>>, StreamError> {
        let (c, p) = (self.channels, self.pixels);
        let dim = c * p;
        let n = self.len();
        let block = (EXACT_BLOCK_BYTES / (dim * 4).max(1)).clamp(1, n.max(1));
        // As the in-memory path: the nearest RESCORE of each block get exact distances.
        let keep = top.max(RESCORE);
        let mut best: Vec<Vec<(usize, f32)>> = vec![Vec::new(); queries.len()];
        let mut start = 0;
        while start < n {
            let end = (start + block).min(n);
            let mut data = vec![0.0f32; (end - start) * dim];
            self.read_rows(start..end, &mut data)?;
            let chunk = Embeddings {
                kind: EmbeddingKind::Spatial,
                channels: c,
                pixels: p,
                data,
                items: self.global.items[start..end].to_vec(),
            };
            let near = DeviceIndex::new(&chunk, w, device).search(queries, keep);
            for (q, near) in near.into_iter().enumerate() {
                let merged = &mut best[q];
                merged.extend(
                    near.into_iter()
                        .map(|(j, _)| (start + j, exact(queries.row(q), chunk.row(j), c, p, w))),
                );
                sort_nearest(merged);
                merged.truncate(top);
            }
            start = end;
        }
        Ok(best)
    }

    /// The `top` nearest database rows of each spatial query: the global descriptor's
    /// `candidates` nearest first, re-ranked by the exact spatial distance (rows read back from
    /// disk). Exact throughout where the database has no head (fewer than two rows).
    pub fn search(
        &self,
        queries: &Embeddings,
        candidates: usize,
        top: usize,
        device: &Device,
    ) -> Result<Vec<Vec<(usize, f32)>>, StreamError> {
        let Some(head) = &self.head else {
            return self.exact_search(queries, top, None, device);
        };
        let q = describe_side(head, queries);
        let coarse = match &self.ann {
            Some(ann) => {
                ann.set_expansion(candidates.max(EXPANSION_SEARCH));
                ann.search_all(&q, candidates)?
            }
            None => DeviceIndex::new(&self.global, None, device).search(&q, candidates),
        };
        let (c, p) = (self.channels, self.pixels);
        coarse
            .par_iter()
            .enumerate()
            .map(|(q, cands)| {
                let mut buf = vec![0.0f32; c * p];
                let mut scored = Vec::with_capacity(cands.len());
                for &(j, _) in cands {
                    self.spatial_row(j, &mut buf)?;
                    scored.push((j, exact(queries.row(q), &buf, c, p, None)));
                }
                sort_nearest(&mut scored);
                scored.truncate(top);
                Ok(scored)
            })
            .collect()
    }
}
