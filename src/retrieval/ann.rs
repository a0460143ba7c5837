//! The approximate first stage for large databases: a navigable graph of neighbours (HNSW,
//! Malkov and Yashunin, TPAMI 2020) over the database's global descriptors, from USearch (a
//! maintained crate that vector databases build on). Saved with the global descriptor's head
//! in the project's one container (`store`), so a database indexed once is searched again by
//! new queries without re-fitting anything.

use std::path::Path;

use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::embed::Embeddings;
use super::global::GlobalHead;
use crate::store::{StoreError, read_container, write_container};

/// Graph degree and construction beam: faiss's and hnswlib's usual choices for
/// million-scale databases (the issue compares both indexes at these).
pub const CONNECTIVITY: usize = 32;
pub const EXPANSION_ADD: usize = 200;
/// The search beam by default (`efSearch`): the recall it gives is in docs/benchmarks.md.
pub const EXPANSION_SEARCH: usize = 128;

const MAGIC: &[u8; 16] = b"DUSKMATCH-ANNX\n\0";
const KIND: &str = "duskmatch search index";

/// Why an index cannot be built, saved or read.
#[derive(Debug, thiserror::Error)]
pub enum AnnError {
    #[error("the HNSW index: {0}")]
    Usearch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {what}", path.display())]
    Contents {
        path: std::path::PathBuf,
        what: String,
    },
}

fn usearch(e: impl std::fmt::Display) -> AnnError {
    AnnError::Usearch(e.to_string())
}

/// An HNSW graph over unit vectors (inner product), keyed by database row.
pub struct AnnIndex {
    index: Index,
    width: usize,
}

fn options(width: usize) -> IndexOptions {
    IndexOptions {
        dimensions: width,
        metric: MetricKind::IP,
        quantization: ScalarKind::F32,
        connectivity: CONNECTIVITY,
        expansion_add: EXPANSION_ADD,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    }
}

impl AnnIndex {
    /// Index every row of `db` (L2-normalised rows, `pixels = 1`), keyed by row.
    pub fn build(db: &Embeddings) -> Result<AnnIndex, AnnError> {
        let keys: Vec<u64> = (0..db.len() as u64).collect();
        Self::build_keyed(db, &keys)
    }

    /// [`build`](Self::build), row `i` found under `keys[i]` (its row in a file, say).
    pub fn build_keyed(db: &Embeddings, keys: &[u64]) -> Result<AnnIndex, AnnError> {
        let width = db.channels * db.pixels;
        let index = Index::new(&options(width)).map_err(usearch)?;
        index.reserve(db.len()).map_err(usearch)?;
        // One row after another, in order: the graph depends on the order of insertion, and
        // inserting from several threads gave a different graph (and different neighbours) each
        // run. In order, the same rows always give the same index, as every other file here.
        for (i, &key) in keys.iter().enumerate().take(db.len()) {
            index.add(key, db.row(i)).map_err(usearch)?;
        }
        Ok(AnnIndex { index, width })
    }

    pub fn len(&self) -> usize {
        self.index.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The search beam (`efSearch`): wider finds more of the true neighbours, slower.
    pub fn set_expansion(&self, ef: usize) {
        self.index.change_expansion_search(ef);
    }

    /// The `k` nearest rows of `query` (most similar first), with `1 − cosine`.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<(usize, f32)>, AnnError> {
        let m = self.index.search(query, k).map_err(usearch)?;
        Ok(m.keys
            .iter()
            .zip(&m.distances)
            .map(|(&key, &d)| (key as usize, d))
            .collect())
    }

    /// [`search`](Self::search) for every row of `queries`, in parallel.
    pub fn search_all(
        &self,
        queries: &Embeddings,
        k: usize,
    ) -> Result<Vec<Vec<(usize, f32)>>, AnnError> {
        (0..queries.len())
            .into_par_iter()
            .map(|q| self.search(queries.row(q), k))
            .collect()
    }

    /// Save the graph and the head that describes new queries, atomically, checksummed.
    pub fn save(&self, path: &Path, head: &GlobalHead) -> Result<(), AnnError> {
        let header = serde_json::json!({
            "width": self.width,
            "rows": self.len(),
            "input": head.input,
            "connectivity": CONNECTIVITY,
            "expansion_add": EXPANSION_ADD,
            "metric": "inner product of L2-normalised global descriptors",
        })
        .to_string();
        let mut graph = vec![0u8; self.index.serialized_length()];
        self.index.save_to_buffer(&mut graph).map_err(usearch)?;
        let floats = |v: &mut dyn Iterator<Item = f32>| -> Vec<u8> {
            v.flat_map(|x| x.to_le_bytes()).collect()
        };
        let mean = floats(&mut head.mean.iter().copied());
        // Row-major: one direction after another.
        let basis = floats(&mut head.basis.transpose().iter().copied());
        write_container(path, MAGIC, &[header.as_bytes(), &mean, &basis, &graph])?;
        Ok(())
    }

    /// Read what [`save`](Self::save) wrote: the index and its head. Every size is checked
    /// against the header before the graph is handed to USearch.
    pub fn load(path: &Path) -> Result<(AnnIndex, GlobalHead), AnnError> {
        let s = read_container(
            path,
            MAGIC,
            KIND,
            &["header", "mean", "basis", "graph"],
            &[],
        )?;
        let bad = |what: String| AnnError::Contents {
            path: path.to_path_buf(),
            what,
        };
        let header: serde_json::Value = serde_json::from_slice(&s.parts[0])
            .map_err(|e| bad(format!("header is not JSON: {e}")))?;
        let field = |k: &str| {
            header[k]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| bad(format!("header lacks `{k}`")))
        };
        let (width, rows, input) = (field("width")?, field("rows")?, field("input")?);
        let floats = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        let (mean, basis) = (floats(&s.parts[1]), floats(&s.parts[2]));
        if width == 0 || mean.len() != input || Some(basis.len()) != width.checked_mul(input) {
            return Err(bad(format!(
                "a head of {} mean values and {} basis values does not fit width {width} × input {input}",
                mean.len(),
                basis.len()
            )));
        }
        let index = Index::new(&options(width)).map_err(usearch)?;
        index.load_from_buffer(&s.parts[3]).map_err(usearch)?;
        if index.size() != rows || index.dimensions() != width {
            return Err(bad(format!(
                "the graph holds {} rows of {} dimensions, the header says {rows} of {width}",
                index.size(),
                index.dimensions()
            )));
        }
        let head = GlobalHead {
            input,
            mean,
            basis: nalgebra::DMatrix::from_row_slice(width, input, &basis),
        };
        Ok((AnnIndex { index, width }, head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Domain;
    use crate::retrieval::distance::smallest_k;
    use crate::retrieval::embed::{EmbeddingKind, ItemInfo};
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn unit_rows(n: usize, width: usize, seed: u64) -> Embeddings {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut data: Vec<f32> = (0..n * width)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for row in data.chunks_exact_mut(width) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        let items = (0..n)
            .map(|i| ItemInfo {
                domain: Domain::Day,
                index: i,
                place: None,
                name: format!("{i}"),
                position: None,
                encoder: Domain::Day,
            })
            .collect();
        Embeddings {
            kind: EmbeddingKind::Global,
            channels: width,
            pixels: 1,
            data,
            items,
        }
    }

    /// The flat search's `k` nearest by cosine, as ids.
    fn flat(db: &Embeddings, q: &[f32], k: usize) -> Vec<usize> {
        let d: Vec<f32> = (0..db.len())
            .map(|i| 1.0 - db.row(i).iter().zip(q).map(|(a, b)| a * b).sum::<f32>())
            .collect();
        smallest_k(&d, k).into_iter().map(|(i, _)| i).collect()
    }

    /// With a beam as wide as the database, on a graph built in order (so the same every run),
    /// the neighbours are the flat search's, in order. Built twice, the graphs are the same
    /// bytes.
    #[test]
    fn with_a_beam_as_wide_as_the_database_the_neighbours_are_the_flat_searchs() {
        let db = unit_rows(300, 16, 1);
        let queries = unit_rows(20, 16, 2);
        let index = AnnIndex::build(&db).unwrap();
        assert_eq!(index.len(), 300);
        index.set_expansion(300);
        for q in 0..queries.len() {
            let got: Vec<usize> = index
                .search(queries.row(q), 10)
                .unwrap()
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            assert_eq!(got, flat(&db, queries.row(q), 10), "query {q}");
        }
        // The distance is 1 − cosine: a database row finds itself at 0.
        let me = index.search(db.row(7), 1).unwrap();
        assert_eq!(me[0].0, 7);
        assert!(me[0].1.abs() < 1e-5, "{}", me[0].1);
        let bytes = |a: &AnnIndex| {
            let mut b = vec![0u8; a.index.serialized_length()];
            a.index.save_to_buffer(&mut b).unwrap();
            b
        };
        assert_eq!(bytes(&index), bytes(&AnnIndex::build(&db).unwrap()));
    }

    #[test]
    fn the_index_and_its_head_read_back_as_written_and_a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.dmindex");
        let db = unit_rows(120, 8, 3);
        let spatial: Vec<f32> = (0..40 * 12).map(|i| ((i * 7919) % 101) as f32).collect();
        let head = GlobalHead::fit(&spatial, 12, 8).unwrap();
        let index = AnnIndex::build(&db).unwrap();
        index.save(&path, &head).unwrap();
        let (back, head_back) = AnnIndex::load(&path).unwrap();
        assert_eq!(head_back, head, "the head, bit for bit");
        for q in [0, 17, 119] {
            assert_eq!(
                back.search(db.row(q), 5).unwrap(),
                index.search(db.row(q), 5).unwrap()
            );
        }
        // One byte flipped in the graph: the checksum names the file and the section.
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() - 40;
        bytes[at] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        let e = AnnIndex::load(&path).err().unwrap().to_string();
        assert!(e.contains("db.dmindex") && e.contains("graph"), "{e}");
        // A file of another kind is named as such.
        std::fs::write(&path, b"DUSKMATCH-CKPT\n\0\x02\0\0\0").unwrap();
        let e = AnnIndex::load(&path).err().unwrap().to_string();
        assert!(e.contains("model checkpoint"), "{e}");
    }
}
