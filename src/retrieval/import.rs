//! Descriptors in: an `N×D` float32 matrix (a global descriptor: NetVLAD, MixVPR, AnyLoc, …)
//! or `N×C×P` (a spatial embedding, compared per position as the model's is) in an `.npy`
//! file, its row order given by a names file beside it: `FILE.txt` (one image name per
//! line) or the `FILE.json` that `duskmatch embed` writes. Names are the images' paths
//! relative to the dataset folder, as every file of this project names them. The rows are
//! compared by L2 as given, or by cosine (rows L2-normalised per position first).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::embed::{EmbeddingKind, Embeddings, ItemInfo};
use super::npy::{NpyError, read_npy};

/// How imported rows are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    L2,
    /// L2 between rows normalised per position: the order of cosine similarity; the distance
    /// shown is √(2 − 2·cos).
    Cosine,
}

/// `NAME=FILE.npy` or `NAME=FILE.npy,cosine` as given on the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorSpec {
    pub name: String,
    pub file: PathBuf,
    pub metric: Metric,
}

impl std::str::FromStr for DescriptorSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected NAME=FILE.npy or NAME=FILE.npy,cosine"))?;
        let (file, metric) = match rest.rsplit_once(',') {
            Some((f, m)) if m.eq_ignore_ascii_case("cosine") => (f, Metric::Cosine),
            Some((f, m)) if m.eq_ignore_ascii_case("l2") => (f, Metric::L2),
            Some((_, m)) => return Err(format!("{s:?}: distance {m:?} is not l2 or cosine")),
            None => (rest, Metric::L2),
        };
        if name.trim().is_empty() || file.trim().is_empty() {
            return Err(format!("{s:?}: expected NAME=FILE.npy"));
        }
        Ok(DescriptorSpec {
            name: name.trim().to_string(),
            file: PathBuf::from(file.trim()),
            metric,
        })
    }
}

/// Why imported descriptors cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Npy(#[from] NpyError),
    #[error("{}: {reason}", path.display())]
    Names { path: PathBuf, reason: String },
    #[error("{}: no names file beside it (expected {} or {})", npy.display(), npy.with_extension("txt").display(), npy.with_extension("json").display())]
    NoNames { npy: PathBuf },
    #[error("{}: shape {shape:?} is not N×D or N×C×P", path.display())]
    Shape { path: PathBuf, shape: Vec<usize> },
    #[error("{}: {rows} rows but {names} names in {}", npy.display(), names_file.display())]
    Count {
        npy: PathBuf,
        names_file: PathBuf,
        rows: usize,
        names: usize,
    },
    #[error("{}: {missing} of the {total} images evaluated have no row (first: {first}); descriptors must cover the same images, named as the dataset names them (relative to its folder)", npy.display())]
    Missing {
        npy: PathBuf,
        missing: usize,
        total: usize,
        first: String,
    },
}

impl From<ImportError> for String {
    fn from(e: ImportError) -> String {
        e.to_string()
    }
}

/// The image names of an `.npy` file's rows, from the names file beside it.
pub fn read_names(npy: &Path) -> Result<(PathBuf, Vec<String>), ImportError> {
    let txt = npy.with_extension("txt");
    let json = npy.with_extension("json");
    let bad = |path: &Path, reason: String| ImportError::Names {
        path: path.to_path_buf(),
        reason,
    };
    if txt.is_file() {
        let text = std::fs::read_to_string(&txt).map_err(|e| bad(&txt, e.to_string()))?;
        let names = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        return Ok((txt, names));
    }
    if json.is_file() {
        let text = std::fs::read_to_string(&json).map_err(|e| bad(&json, e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&json, e.to_string()))?;
        let names = v
            .get("items")
            .and_then(|i| i.as_array())
            .ok_or_else(|| {
                bad(
                    &json,
                    "no \"items\" list (as `duskmatch embed` writes)".into(),
                )
            })?
            .iter()
            .map(|it| {
                it.get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| bad(&json, "an item without a \"name\"".into()))
            })
            .collect::<Result<_, _>>()?;
        return Ok((json, names));
    }
    Err(ImportError::NoNames {
        npy: npy.to_path_buf(),
    })
}

/// The descriptors of `spec` for `items`, in the order of `items` (every item must have a
/// row), ready to evaluate like any embedding.
pub fn import(spec: &DescriptorSpec, items: &[ItemInfo]) -> Result<Embeddings, ImportError> {
    let (data, shape) = read_npy(&spec.file)?;
    let (n, channels, pixels) = match shape[..] {
        [n, d] => (n, d, 1),
        [n, c, p] => (n, c, p),
        _ => {
            return Err(ImportError::Shape {
                path: spec.file.clone(),
                shape,
            });
        }
    };
    let (names_file, names) = read_names(&spec.file)?;
    if names.len() != n {
        return Err(ImportError::Count {
            npy: spec.file.clone(),
            names_file,
            rows: n,
            names: names.len(),
        });
    }
    let row_of: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let dim = channels * pixels;
    let ordered = super::embed::day_then_night(items);
    let mut out = Vec::with_capacity(ordered.len() * dim);
    let mut missing = Vec::new();
    for it in &ordered {
        match row_of.get(it.name.as_str()) {
            Some(&r) => out.extend_from_slice(&data[r * dim..(r + 1) * dim]),
            None => missing.push(it.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(ImportError::Missing {
            npy: spec.file.clone(),
            missing: missing.len(),
            total: ordered.len(),
            first: missing[0].clone(),
        });
    }
    if spec.metric == Metric::Cosine {
        for row in out.chunks_exact_mut(dim) {
            for p in 0..pixels {
                let norm = (0..channels)
                    .map(|c| row[c * pixels + p].powi(2))
                    .sum::<f32>()
                    .sqrt()
                    .max(1e-12);
                (0..channels).for_each(|c| row[c * pixels + p] /= norm);
            }
        }
    }
    Ok(Embeddings {
        kind: EmbeddingKind::Imported,
        channels,
        pixels,
        data: out,
        items: ordered,
    })
}
