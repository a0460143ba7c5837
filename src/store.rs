//! The one container every duskmatch file is written in (model checkpoints, channel
//! weights), below every layer that has something to save: it knows sections of bytes, not
//! models.
//!
//! Layout: a 16-byte magic naming the kind, a u32 LE format version, then sections. Each is a
//! u64 LE length, the bytes and, from version 2 on, the CRC32C of the bytes (u32 LE). Version
//! 1 files (written before the checksums) still read, reported as unchecked.
//!
//! Files are written atomically (temp file in the same folder, fsync, rename, fsync of the
//! folder), so a crash mid-write leaves the previous file intact.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What went wrong with a file: each names the file, and what a container holds names the
/// kind expected and the section at fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("{} holds no {latest} (it is a folder without that file)", path.display())]
    NoLatest { path: PathBuf, latest: String },
    #[error("{} is not a usable {kind}: {problem}", file.display())]
    Unusable {
        file: PathBuf,
        kind: String,
        problem: Problem,
    },
}

/// Why a container cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("too short")]
    TooShort,
    #[error("it is a {0}")]
    OtherKind(&'static str),
    #[error("wrong file type")]
    WrongType,
    #[error("truncated")]
    Truncated,
    #[error("format version {0}, this build reads {UNCHECKED_VERSION} and {FORMAT_VERSION}")]
    Version(u32),
    #[error("truncated before the {0} section")]
    TruncatedBefore(String),
    #[error(
        "truncated inside the {section} section (it claims {claims} bytes, more than the file holds)"
    )]
    Overlong { section: String, claims: u64 },
    #[error("truncated inside the {0} section")]
    TruncatedInside(String),
    #[error("truncated at the {0} section's checksum")]
    TruncatedAtChecksum(String),
    #[error(
        "the {section} section fails its checksum (stored {stored:08x}, computed {computed:08x}): the file is corrupt"
    )]
    Checksum {
        section: String,
        stored: u32,
        computed: u32,
    },
    #[error("{0} bytes follow the last section")]
    Trailing(u64),
}

/// The layers above still speak in messages; the message is the error's text.
impl From<StoreError> for String {
    fn from(e: StoreError) -> String {
        e.to_string()
    }
}

/// The version this build writes; it reads this one and [`UNCHECKED_VERSION`].
pub const FORMAT_VERSION: u32 = 2;
/// Files from before the section checksums.
pub const UNCHECKED_VERSION: u32 = 1;

/// Sections read back from a container.
#[derive(Debug)]
pub struct Sections {
    pub parts: Vec<Vec<u8>>,
    /// False for a version-1 file, whose sections carry no checksum.
    pub checked: bool,
}

impl Sections {
    /// The notice to show for an unchecked file, if it is one.
    pub fn notice(&self, file: &Path) -> Option<String> {
        (!self.checked).then(|| {
            format!(
                "{} predates section checksums: it loads, but corruption inside it cannot be detected (saving it again adds them)",
                file.display()
            )
        })
    }
}

/// Write `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), StoreError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        write(&mut f)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok::<(), std::io::Error>(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Write `bytes` to `path` atomically (see [`write_atomic`]).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_atomic(path, |f| f.write_all(bytes))
}

/// Write `sections` after `magic` and [`FORMAT_VERSION`], each with its checksum, atomically.
pub fn write_container(
    path: &Path,
    magic: &[u8; 16],
    sections: &[&[u8]],
) -> Result<(), StoreError> {
    write_atomic(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        w.write_all(magic)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        for s in sections {
            w.write_all(&(s.len() as u64).to_le_bytes())?;
            w.write_all(s)?;
            w.write_all(&crc32c::crc32c(s).to_le_bytes())?;
        }
        w.flush()
    })
}

fn read_section(
    r: &mut impl Read,
    what: &str,
    limit: u64,
    checked: bool,
) -> Result<Vec<u8>, Problem> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)
        .map_err(|_| Problem::TruncatedBefore(what.into()))?;
    let len = u64::from_le_bytes(len);
    if len > limit {
        return Err(Problem::Overlong {
            section: what.into(),
            claims: len,
        });
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)
        .map_err(|_| Problem::TruncatedInside(what.into()))?;
    if checked {
        let mut crc = [0u8; 4];
        r.read_exact(&mut crc)
            .map_err(|_| Problem::TruncatedAtChecksum(what.into()))?;
        let stored = u32::from_le_bytes(crc);
        let computed = crc32c::crc32c(&buf);
        if stored != computed {
            return Err(Problem::Checksum {
                section: what.into(),
                stored,
                computed,
            });
        }
    }
    Ok(buf)
}

/// Read the sections `names` of a container of kind `kind` (named in errors), then each of
/// `optional` if the file goes on (empty where it ends: files written before they existed).
/// Errors name the file, the kind expected and the section at fault.
pub fn read_container(
    file: &Path,
    magic: &[u8; 16],
    kind: &str,
    names: &[&str],
    optional: &[&str],
) -> Result<Sections, StoreError> {
    let ctx = |problem: Problem| StoreError::Unusable {
        file: file.to_path_buf(),
        kind: kind.to_string(),
        problem,
    };
    let io = |source| StoreError::Read {
        path: file.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(file).map_err(io)?.len();
    let mut r = std::io::BufReader::new(std::fs::File::open(file).map_err(io)?);
    let mut m = [0u8; 16];
    r.read_exact(&mut m).map_err(|_| ctx(Problem::TooShort))?;
    if &m != magic {
        return Err(ctx(match kind_of(&m) {
            Some(other) => Problem::OtherKind(other),
            None => Problem::WrongType,
        }));
    }
    let mut version = [0u8; 4];
    r.read_exact(&mut version)
        .map_err(|_| ctx(Problem::Truncated))?;
    let version = u32::from_le_bytes(version);
    if version != FORMAT_VERSION && version != UNCHECKED_VERSION {
        return Err(ctx(Problem::Version(version)));
    }
    let checked = version == FORMAT_VERSION;
    let trailer = if checked { 4 } else { 0 };
    let mut consumed = (magic.len() + 4) as u64;
    let mut parts = Vec::with_capacity(names.len() + optional.len());
    for (k, n) in names.iter().chain(optional).enumerate() {
        if k >= names.len() && consumed >= size {
            parts.push(Vec::new());
            continue;
        }
        let s = read_section(&mut r, n, size, checked).map_err(ctx)?;
        consumed += 8 + s.len() as u64 + trailer;
        parts.push(s);
    }
    if consumed < size {
        return Err(ctx(Problem::Trailing(size - consumed)));
    }
    Ok(Sections { parts, checked })
}

/// Every kind of file this project writes, by magic, so a wrong one is named.
const KINDS: [(&[u8; 16], &str); 3] = [
    (b"DUSKMATCH-CKPT\n\0", "duskmatch model checkpoint"),
    (b"DUSKMATCH-WGHT\n\0", "duskmatch channel-weights file"),
    (b"DUSKMATCH-ANNX\n\0", "duskmatch search index"),
];

fn kind_of(magic: &[u8; 16]) -> Option<&'static str> {
    KINDS.iter().find(|(m, _)| *m == magic).map(|(_, k)| *k)
}

/// A folder means its `latest` file; a file means itself. Errors say which is missing.
pub fn resolve(path: &Path, latest: &str) -> Result<PathBuf, StoreError> {
    if path.is_dir() {
        let file = path.join(latest);
        if file.is_file() {
            return Ok(file);
        }
        return Err(StoreError::NoLatest {
            path: path.to_path_buf(),
            latest: latest.into(),
        });
    }
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    Ok(path.to_path_buf())
}
