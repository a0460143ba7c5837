//! Writing NumPy `.npy` files (format 1.0, little-endian float32), so exported embeddings
//! open with `numpy.load`.

use std::path::Path;

/// The bytes of an `.npy` file holding `data` with `shape` (C order).
pub fn npy_bytes(data: &[f32], shape: &[usize]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "shape does not match the data"
    );
    let mut out = npy_header(shape, None);
    out.reserve(data.len() * 4);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The header of a float32 `.npy` of `shape`: magic, version, length, the dictionary, padded
/// with spaces to a multiple of 64 bytes, or to exactly `len` bytes (a header rewritten in
/// place once the rows are counted: `len` is then the first header's length).
pub fn npy_header(shape: &[usize], len: Option<usize>) -> Vec<u8> {
    let dims = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    // Magic (6) + version (2) + header length (2) + header + '\n'.
    let unpadded = 10 + header.len() + 1;
    let total = len.unwrap_or(unpadded + (64 - unpadded % 64) % 64);
    assert!(total >= unpadded, "a rewritten .npy header cannot grow");
    header.push_str(&" ".repeat(total - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out
}

pub fn write_npy(
    path: &Path,
    data: &[f32],
    shape: &[usize],
) -> Result<(), crate::store::StoreError> {
    crate::store::write_file(path, &npy_bytes(data, shape))
}

/// Why an `.npy` file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a NumPy .npy file: {reason}", path.display())]
    Format {
        path: std::path::PathBuf,
        reason: NpyFormatError,
    },
}

/// What is wrong with the bytes of an `.npy` file. Every size in the header is checked before
/// it is used, so no header, however large the shape it claims, panics or allocates for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NpyFormatError {
    #[error("no \\x93NUMPY magic")]
    NoMagic,
    #[error("format version {0} is not supported")]
    Version(u8),
    #[error("a truncated header")]
    TruncatedHeader,
    #[error("no {0} in the header")]
    MissingField(&'static str),
    #[error("dtype {0} is not little-endian float32 or float64")]
    Dtype(String),
    #[error("Fortran order is not supported: save with np.ascontiguousarray")]
    FortranOrder,
    #[error("a malformed shape ({0})")]
    Shape(String),
    #[error("shape {shape:?} is too large to address")]
    TooLarge { shape: Vec<usize> },
    #[error("shape {shape:?} needs {needs} bytes of data, the file holds {holds}")]
    DataSize {
        shape: Vec<usize>,
        needs: usize,
        holds: usize,
    },
}

/// Read an `.npy` file of float32 (or float64, converted) in C order: the data and its shape.
pub fn read_npy(path: &Path) -> Result<(Vec<f32>, Vec<usize>), NpyError> {
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes).map_err(|reason| NpyError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// [`read_npy`] of bytes in memory.
pub fn parse_npy(bytes: &[u8]) -> Result<(Vec<f32>, Vec<usize>), NpyFormatError> {
    use NpyFormatError as E;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(E::NoMagic);
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return Err(E::TruncatedHeader),
        v => return Err(E::Version(v)),
    };
    let end = start.checked_add(header_len).ok_or(E::TruncatedHeader)?;
    let header = bytes
        .get(start..end)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or(E::TruncatedHeader)?;
    let field = |key: &'static str| -> Result<&str, NpyFormatError> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or(E::MissingField(key))?
            + key.len()
            + 2;
        header[at..]
            .trim_start()
            .strip_prefix(':')
            .map(str::trim_start)
            .ok_or(E::MissingField(key))
    };
    let descr = field("descr")?;
    let width: usize = if descr.starts_with("'<f4'") || descr.starts_with("'=f4'") {
        4
    } else if descr.starts_with("'<f8'") || descr.starts_with("'=f8'") {
        8
    } else {
        return Err(E::Dtype(descr.split(',').next().unwrap_or(descr).into()));
    };
    if field("fortran_order").is_ok_and(|v| v.starts_with("True")) {
        return Err(E::FortranOrder);
    }
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split_once(')'))
        .map(|(s, _)| s)
        .ok_or_else(|| E::Shape(shape_text.chars().take(40).collect()))?;
    let shape: Vec<usize> = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| E::Shape(inner.into())))
        .collect::<Result<_, _>>()?;
    let needs = shape
        .iter()
        .try_fold(width, |n, &d| n.checked_mul(d))
        .ok_or_else(|| E::TooLarge {
            shape: shape.clone(),
        })?;
    let data = &bytes[end..];
    if data.len() != needs {
        return Err(E::DataSize {
            shape,
            needs,
            holds: data.len(),
        });
    }
    let values = if width == 4 {
        data.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect()
    };
    Ok((values, shape))
}
