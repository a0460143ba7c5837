//! Retrieval at benchmark scale, in two stages as Patch-NetVLAD and hloc do: the pooled
//! global descriptor of every database image is kept in memory (one `C` vector each) and
//! searched first; the spatial embeddings (32 KiB an image for the compact model at 64 px)
//! are written to a file on disk as they are computed, and only each query's top candidates
//! are read back to re-rank exactly. Images are embedded batch by batch as they arrive, so
//! no more decoded images than a batch are ever held.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use burn::prelude::Device;

use super::distance::{DeviceIndex, exact, sort_nearest};
use super::embed::{EmbeddingKind, Embeddings, ItemInfo, embed_images};
use super::eval::RESCORE;
use crate::data::Domain;
use crate::model::DoubleVae;

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
}

/// A database embedded in batches: pooled descriptors in memory, spatial rows on disk.
pub struct StreamedIndex {
    /// The first stage's descriptor: the pooled descriptor (the L2-normalised mean over
    /// pixels; `pixels = 1`), centred on the database's mean. It measured better than pooling
    /// to a 4 × 4 or 8 × 8 layout (docs/benchmarks.md, "Retrieval at scale"); it is weak, and
    /// that bounds the two-stage recall today.
    pub pooled: Embeddings,
    spatial: File,
    path: PathBuf,
    pub channels: usize,
    pub pixels: usize,
}

/// Builds a [`StreamedIndex`] batch by batch.
pub struct StreamedBuilder {
    pooled: Vec<f32>,
    items: Vec<ItemInfo>,
    writer: BufWriter<File>,
    path: PathBuf,
    channels: usize,
    pixels: usize,
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
            pooled: Vec::new(),
            items: Vec::new(),
            writer: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            channels: 0,
            pixels: 0,
        })
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
        let spatial = Embeddings {
            kind: EmbeddingKind::Spatial,
            channels,
            pixels,
            data,
            items,
        };
        let pooled = spatial.pooled();
        self.pooled.extend(pooled.data);
        self.items.extend(pooled.items);
        Ok(())
    }

    /// Rows taken in so far.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn finish(mut self) -> Result<StreamedIndex, StreamError> {
        centre_rows(&mut self.pooled, self.channels);
        let io = |source| StreamError::Io {
            path: self.path.clone(),
            source,
        };
        let file = self.writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(StreamedIndex {
            pooled: Embeddings {
                kind: EmbeddingKind::Pooled,
                channels: self.channels,
                pixels: 1,
                data: self.pooled,
                items: self.items,
            },
            spatial: file,
            path: self.path,
            channels: self.channels,
            pixels: self.pixels,
        })
    }
}

impl StreamedIndex {
    pub fn len(&self) -> usize {
        self.pooled.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pooled.is_empty()
    }

    /// The database's rows, in order.
    pub fn items(&self) -> &[ItemInfo] {
        &self.pooled.items
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
                items: self.pooled.items[start..end].to_vec(),
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

    /// The `top` nearest database rows of each spatial query: the pooled descriptor's
    /// `candidates` nearest first, re-ranked by the exact spatial distance.
    pub fn search(
        &self,
        queries: &Embeddings,
        candidates: usize,
        top: usize,
        device: &Device,
    ) -> Result<Vec<Vec<(usize, f32)>>, StreamError> {
        let mut q = queries.pooled();
        let dim = q.channels;
        centre_rows(&mut q.data, dim);
        let coarse = DeviceIndex::new(&self.pooled, None, device).search(&q, candidates);
        let dim = self.channels * self.pixels;
        let mut buf = vec![0.0f32; dim];
        let mut out = Vec::with_capacity(coarse.len());
        for (q, cands) in coarse.iter().enumerate() {
            let mut scored = Vec::with_capacity(cands.len());
            for &(j, _) in cands {
                self.spatial_row(j, &mut buf)?;
                scored.push((
                    j,
                    exact(queries.row(q), &buf, self.channels, self.pixels, None),
                ));
            }
            sort_nearest(&mut scored);
            scored.truncate(top);
            out.push(scored);
        }
        Ok(out)
    }
}

/// Subtract the rows' mean and L2-normalise each again: what a domain adds to every image of
/// one side (day database, night queries) would otherwise dominate a pooled descriptor.
fn centre_rows(data: &mut [f32], dim: usize) {
    if dim == 0 || data.is_empty() {
        return;
    }
    let n = data.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for row in data.chunks_exact_mut(dim) {
        row.iter_mut().zip(&mean).for_each(|(v, &m)| *v -= m as f32);
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
}
