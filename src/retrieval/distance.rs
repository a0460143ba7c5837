//! The distance of docs/design.md §3, `d(p, q) = mean over pixels of ‖w ⊙ (p − q)‖₂`, for whole
//! query × database matrices, batched on the device: per pixel, `‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b`,
//! so the cross terms are one batched matmul. The nearest candidates are then rescored
//! exactly on the host, so identical images sit at distance 0, not at rounding noise.

use burn::prelude::*;
use rayon::prelude::*;

use super::embed::Embeddings;
use crate::data::batch::host_f32;

/// Exact distance between two rows (f64 accumulation).
pub fn exact(a: &[f32], b: &[f32], channels: usize, pixels: usize, w: Option<&[f32]>) -> f32 {
    let mut total = 0.0f64;
    for p in 0..pixels {
        let mut s = 0.0f64;
        for c in 0..channels {
            let wc = w.map_or(1.0, |w| w[c]) as f64;
            let d = wc * (a[c * pixels + p] as f64 - b[c * pixels + p] as f64);
            s += d * d;
        }
        total += s.sqrt();
    }
    (total / pixels as f64) as f32
}

/// A database resident on the device, laid out for the batched matmul.
pub struct DeviceIndex {
    layout: Layout,
    pub channels: usize,
    pub pixels: usize,
    pub len: usize,
    device: Device,
    weights: Option<Vec<f32>>,
}

/// The weighted database on the device.
enum Layout {
    /// Spatial embeddings: `xt` is `[P, C, N]`, `sq` the `[P, 1, N]` squared norms per pixel.
    Spatial {
        xt: Box<Tensor<3>>,
        sq: Box<Tensor<3>>,
    },
    /// Single-pixel (pooled) embeddings: `[C, n]` slices of at most [`POOLED_CHUNK`] items, and
    /// every item's squared norm on the host; distances are finished on the host (see
    /// [`DeviceIndex::search`]).
    Pooled {
        chunks: Vec<Tensor<2>>,
        sq: Vec<f32>,
    },
}

/// Database items per matmul in the pooled search. Each chunk meets a whole query batch at once,
/// so it is packed for the matmul once per batch, and a `batch × chunk` block of dot products
/// (16 MiB at 1024 queries) stays in cache while its nearest items are picked out.
pub const POOLED_CHUNK: usize = 1024;
/// Queries per batch in the pooled search.
const POOLED_QUERIES: usize = 1024;

/// `rows` of `e` with channel `c` scaled by `w[c]`; borrowed when there are no weights, so a
/// large unweighted database is not copied.
fn weighted<'a>(
    e: &'a Embeddings,
    rows: std::ops::Range<usize>,
    w: Option<&[f32]>,
) -> std::borrow::Cow<'a, [f32]> {
    let (c, p) = (e.channels, e.pixels);
    let rows = &e.data[rows.start * c * p..rows.end * c * p];
    let Some(w) = w else {
        return rows.into();
    };
    let mut out = rows.to_vec();
    for chunk in out.chunks_mut(c * p) {
        for ch in 0..c {
            chunk[ch * p..(ch + 1) * p]
                .iter_mut()
                .for_each(|v| *v *= w[ch]);
        }
    }
    out.into()
}

impl DeviceIndex {
    pub fn new(db: &Embeddings, w: Option<&[f32]>, device: &Device) -> Self {
        let (n, c, p) = (db.len(), db.channels, db.pixels);
        let data = weighted(db, 0..n, w);
        let layout = if p == 1 {
            let (chunks, sq) = pooled_chunks(&data, c, device);
            Layout::Pooled { chunks, sq }
        } else {
            let x = Tensor::<3>::from_data(TensorData::new(data.into_owned(), [n, c, p]), device);
            Layout::Spatial {
                xt: Box::new(x.clone().permute([2, 1, 0])), // [P, C, N]
                sq: Box::new(x.square().sum_dim(1).permute([2, 1, 0])), // [N,1,P] -> [P,1,N]
            }
        };
        Self {
            layout,
            channels: c,
            pixels: p,
            len: n,
            device: device.clone(),
            weights: w.map(<[f32]>::to_vec),
        }
    }

    /// Distances from `rows` of `queries` to every database item: `rows.len() × N`, row-major.
    pub fn distances(&self, queries: &Embeddings, rows: std::ops::Range<usize>) -> Vec<f32> {
        let (c, p) = (self.channels, self.pixels);
        assert_eq!(
            (queries.channels, queries.pixels),
            (c, p),
            "query and database embeddings differ in shape"
        );
        let b = rows.len();
        if b == 0 || self.len == 0 {
            return Vec::new();
        }
        let qdata = weighted(queries, rows, self.weights.as_deref());
        let (xt, sq) = match &self.layout {
            Layout::Spatial { xt, sq } => (xt, sq),
            Layout::Pooled { .. } => {
                let mut out = vec![0.0f32; b * self.len];
                let sq_q: Vec<f32> = qdata.chunks(c).map(squared_norm).collect();
                self.pooled_scores(&qdata, |offset, n_c, dots| {
                    out.par_chunks_mut(self.len)
                        .zip(dots.par_chunks(n_c))
                        .zip(&sq_q)
                        .for_each(|((row, dots), sq_q)| {
                            for (j, s) in self.pooled_scores_of(offset, dots).enumerate() {
                                row[offset + j] = (sq_q + s).max(0.0).sqrt();
                            }
                        });
                });
                return out;
            }
        };
        let q =
            Tensor::<3>::from_data(TensorData::new(qdata.into_owned(), [b, c, p]), &self.device);
        let qt = q.clone().permute([2, 0, 1]); // [P, B, C]
        let sq_q = q.square().sum_dim(1).permute([2, 0, 1]); // [B,1,P] -> [P,B,1]
        let cross = qt.matmul((**xt).clone()); // [P, B, N]
        let d2 = (sq_q + (**sq).clone() - cross.mul_scalar(2.0)).clamp_min(0.0);
        let d = d2.sqrt().mean_dim(0); // [1, B, N]
        host_f32(d)
    }

    /// Queries per device batch, keeping the `[P, B, N]` intermediate near 32 M floats: smaller
    /// batches re-pack the database for every matmul (docs/benchmarks.md, "Code choices").
    pub fn batch_size(&self) -> usize {
        (32_000_000 / (self.pixels * self.len).max(1)).clamp(1, 1024)
    }

    /// The full `Q × N` matrix, in device batches.
    pub fn distance_matrix(&self, queries: &Embeddings) -> Vec<f32> {
        let bs = self.batch_size();
        let mut out = Vec::with_capacity(queries.len() * self.len);
        let mut start = 0;
        while start < queries.len() {
            let end = (start + bs).min(queries.len());
            out.extend(self.distances(queries, start..end));
            start = end;
        }
        out
    }

    /// The `k` nearest database items of each query, nearest first. Distances are computed on
    /// the device in batches; each row's `k` smallest are then selected on the host with a
    /// linear-time partial selection (a full device sort of every row costs far more).
    pub fn search(&self, queries: &Embeddings, k: usize) -> Vec<Vec<(usize, f32)>> {
        let k = k.min(self.len).max(1);
        if self.pixels == 1 {
            return self.search_pooled(queries, k);
        }
        let bs = self.batch_size();
        let n = self.len;
        let mut out = Vec::with_capacity(queries.len());
        let mut start = 0;
        while start < queries.len() {
            let end = (start + bs).min(queries.len());
            let rows = self.distances(queries, start..end);
            out.par_extend(rows.par_chunks(n).map(|row| smallest_k(row, k)));
            start = end;
        }
        out
    }

    /// Single-pixel search. Only the dot products `q·x` come from the device; ranking needs
    /// `‖x‖² − 2q·x` alone (‖q‖² is the same for a whole row), which is formed while the `k`
    /// nearest are picked out, so the `Q × N` block is read once and never rewritten.
    fn search_pooled(&self, queries: &Embeddings, k: usize) -> Vec<Vec<(usize, f32)>> {
        let c = self.channels;
        let mut out = Vec::with_capacity(queries.len());
        let mut start = 0;
        while start < queries.len() {
            let end = (start + POOLED_QUERIES).min(queries.len());
            let qdata = weighted(queries, start..end, self.weights.as_deref());
            let mut best: Vec<Vec<(usize, f32)>> = vec![Vec::with_capacity(k + 1); end - start];
            self.pooled_scores(&qdata, |offset, n_c, dots| {
                best.par_iter_mut()
                    .zip(dots.par_chunks(n_c))
                    .for_each(|(best, dots)| {
                        merge_smallest_k(best, self.pooled_scores_of(offset, dots), offset, k);
                    });
            });
            for (best, qrow) in best.iter_mut().zip(qdata.chunks(c)) {
                let sq_q = squared_norm(qrow);
                best.iter_mut()
                    .for_each(|(_, d)| *d = (sq_q + *d).max(0.0).sqrt());
            }
            out.extend(best);
            start = end;
        }
        out
    }

    /// Hands `each(offset, n_c, dots)` the `[B, n_c]` dot products of the queries `qdata`
    /// (`[B, C]`, weighted) with each database chunk in turn.
    fn pooled_scores(&self, qdata: &[f32], mut each: impl FnMut(usize, usize, &[f32])) {
        let Layout::Pooled { chunks, .. } = &self.layout else {
            unreachable!("pooled scores of a spatial index")
        };
        let b = qdata.len() / self.channels.max(1);
        let q = Tensor::<2>::from_data(
            TensorData::new(qdata.to_vec(), [b, self.channels]),
            &self.device,
        );
        let mut offset = 0;
        for chunk in chunks {
            let dots = host_f32(q.clone().matmul(chunk.clone())); // [B, n_c]
            let n_c = dots.len() / b.max(1);
            each(offset, n_c, &dots);
            offset += n_c;
        }
    }

    /// `‖x‖² − 2q·x` for the database items from `offset` on: the squared distance less ‖q‖².
    fn pooled_scores_of<'a>(
        &'a self,
        offset: usize,
        dots: &'a [f32],
    ) -> impl Iterator<Item = f32> + 'a {
        let Layout::Pooled { sq, .. } = &self.layout else {
            unreachable!("pooled scores of a spatial index")
        };
        sq[offset..offset + dots.len()]
            .iter()
            .zip(dots)
            .map(|(s, d)| s - 2.0 * d)
    }
}

fn squared_norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum()
}

/// `[C, n_c]` device slices of an `[N, C]` row-major host matrix, and its rows' squared norms.
fn pooled_chunks(data: &[f32], c: usize, device: &Device) -> (Vec<Tensor<2>>, Vec<f32>) {
    let n = data.len().checked_div(c).unwrap_or(0);
    let sq = data.chunks(c.max(1)).map(squared_norm).collect();
    let chunks = (0..n)
        .step_by(POOLED_CHUNK)
        .map(|a| {
            let b = (a + POOLED_CHUNK).min(n);
            // Transposed on the host once, so no matmul re-lays it out.
            let mut t = vec![0.0f32; c * (b - a)];
            for (j, row) in data[a * c..b * c].chunks(c).enumerate() {
                for (ch, &v) in row.iter().enumerate() {
                    t[ch * (b - a) + j] = v;
                }
            }
            Tensor::<2>::from_data(TensorData::new(t, [c, b - a]), device)
        })
        .collect();
    (chunks, sq)
}

/// `(row, distance)` pairs nearest first, ties by row: the order every ranking here uses.
pub fn sort_nearest(v: &mut [(usize, f32)]) {
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
}

/// The `k` smallest values of `row` with their indices, ascending (ties by index): one pass,
/// keeping a sorted list of the best so far, so most values cost a single comparison.
pub fn smallest_k(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    let k = k.min(row.len());
    let mut best = Vec::with_capacity(k + 1);
    merge_smallest_k(&mut best, row.iter().copied(), 0, k);
    best
}

/// Fold `values` (indices from `offset`) into `best`, a sorted list of at most `k` smallest.
/// Indices arrive in increasing order, so ties keep the lower index first.
pub(crate) fn merge_smallest_k(
    best: &mut Vec<(usize, f32)>,
    values: impl Iterator<Item = f32>,
    offset: usize,
    k: usize,
) {
    if k == 0 {
        return;
    }
    for (j, d) in values.enumerate() {
        // `total_cmp` keeps NaN (never nearer than anything) out of the list.
        if best.len() == k && d.total_cmp(&best[k - 1].1).is_ge() {
            continue;
        }
        let pos = best.partition_point(|&(_, b)| b.total_cmp(&d).is_le());
        best.insert(pos, (offset + j, d));
        best.truncate(k);
    }
}

/// Replace the approximate distances of each query's `k` nearest items with exact ones.
pub fn rescore_nearest(
    matrix: &mut [f32],
    queries: &Embeddings,
    db: &Embeddings,
    w: Option<&[f32]>,
    k: usize,
) {
    let n = db.len();
    if n == 0 {
        return;
    }
    for (qi, row) in matrix.chunks_mut(n).enumerate() {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        idx.select_nth_unstable_by(k - 1, |&a, &b| row[a].total_cmp(&row[b]));
        for &j in &idx[..k] {
            row[j] = exact(queries.row(qi), db.row(j), db.channels, db.pixels, w);
        }
    }
}
