//! Checkpoints: one self-describing file holding the model, the optimiser state, the
//! scheduler, progress, random state and the config. Written atomically (temp file, fsync,
//! rename), so a crash mid-write leaves the previous checkpoint intact.
//!
//! Layout: `MAGIC`, u32 format version, then three length-prefixed (u64 LE) sections:
//! a JSON header, the model as a burnpack record, the optimiser as a burnpack record (empty
//! in inference-only checkpoints such as the one shipped in `checkpoints/`).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::config::TrainingConfig;
use super::scheduler::ReduceOnPlateau;
use crate::model::{DiscriminatorConfig, Discriminators, DoubleVae, LossValues, ModelConfig};

/// Running sums of the loss terms over an epoch, in f64 so long epochs do not drift.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossSums {
    pub reconstruction: f64,
    pub kl: f64,
    pub cycle: f64,
    pub cycle_kl: f64,
    pub gan: f64,
    pub discriminator: f64,
    pub total: f64,
}

impl LossSums {
    fn slots(&mut self) -> [(&'static str, &mut f64); 7] {
        [
            ("reconstruction", &mut self.reconstruction),
            ("kl", &mut self.kl),
            ("cycle", &mut self.cycle),
            ("cycle_kl", &mut self.cycle_kl),
            ("gan", &mut self.gan),
            ("discriminator", &mut self.discriminator),
            ("total", &mut self.total),
        ]
    }

    pub fn add(&mut self, v: &LossValues) {
        for (name, slot) in self.slots() {
            *slot += v.get(name).unwrap_or(0.0) as f64;
        }
    }

    pub fn mean(&self, n: usize) -> LossValues {
        let n = n.max(1) as f64;
        let mut copy = *self;
        LossValues::from_pairs(copy.slots().map(|(name, s)| (name, (*s / n) as f32)))
    }
}

pub const MAGIC: &[u8; 16] = b"DUSKMATCH-CKPT\n\0";
pub const FORMAT_VERSION: u32 = 1;
/// File name of the newest checkpoint in a run folder.
pub const LATEST: &str = "latest.dmck";
/// File name of the checkpoint with the best held-out retrieval in a run folder.
pub const BEST: &str = "best.dmck";

/// Where a run stands; everything random derives from `config.seed`, the epoch and the step,
/// so these counters are the whole random state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epoch in progress (zero-based) and steps of it already done.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// Steps done in the whole run.
    pub step: u64,
    pub scheduler: ReduceOnPlateau,
    /// Sums of each loss term so far this epoch (for the epoch means a resumed run reports;
    /// the total's mean is the plateau metric).
    #[serde(default)]
    pub epoch_sums: LossSums,
    /// The best held-out scores so far (kept as `best.dmck`); absent in older files.
    #[serde(default)]
    pub best: Option<crate::retrieval::eval::HeldOutScores>,
    /// How every random stream is derived, stated for whoever reads the file.
    pub rng: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub config: TrainingConfig,
    pub state: RunState,
    pub created: String,
    pub crate_version: String,
}

/// A checkpoint read back from disk.
#[derive(Clone)]
pub struct Checkpoint {
    pub header: Header,
    pub model: ModuleRecord,
    /// Empty for inference-only checkpoints.
    pub optimizer: Option<Bytes>,
    /// The image discriminators (objective = aligned); absent in files from before them.
    pub discriminators: Option<ModuleRecord>,
    pub discriminator_optimizer: Option<Bytes>,
}

fn section(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)
}

fn read_section(r: &mut impl Read, what: &str, limit: u64) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 8];
    r.read_exact(&mut len)
        .map_err(|_| format!("truncated before the {what} section"))?;
    let len = u64::from_le_bytes(len);
    if len > limit {
        return Err(format!(
            "{what} section claims {len} bytes, more than the file holds"
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)
        .map_err(|_| format!("truncated inside the {what} section"))?;
    Ok(buf)
}

/// Write `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
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
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Write `sections` after `magic` and `FORMAT_VERSION`, atomically. Shared by every
/// checkpoint kind (stage one, channel weights), each with its own magic.
pub fn write_container(path: &Path, magic: &[u8; 16], sections: &[&[u8]]) -> Result<(), String> {
    write_atomic(path, |f| {
        let mut w = std::io::BufWriter::new(f);
        w.write_all(magic)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        for s in sections {
            section(&mut w, s)?;
        }
        w.flush()
    })
}

/// Read the named sections of a container written by [`write_container`]; errors say which
/// file, what kind was expected and what is wrong.
pub fn read_container(
    file: &Path,
    magic: &[u8; 16],
    kind: &str,
    names: &[&str],
) -> Result<Vec<Vec<u8>>, String> {
    read_container_with_optional(file, magic, kind, names, &[])
}

/// [`read_container`] followed by sections that files written before they existed lack: each
/// of `optional` is read if the file goes on, and is empty where it ends.
pub fn read_container_with_optional(
    file: &Path,
    magic: &[u8; 16],
    kind: &str,
    names: &[&str],
    optional: &[&str],
) -> Result<Vec<Vec<u8>>, String> {
    let size = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let mut r = std::io::BufReader::new(
        std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?,
    );
    let ctx = |e: String| format!("{} is not a usable {kind}: {e}", file.display());
    let mut m = [0u8; 16];
    r.read_exact(&mut m).map_err(|_| ctx("too short".into()))?;
    if &m != magic {
        return Err(ctx("wrong file type".into()));
    }
    let mut version = [0u8; 4];
    r.read_exact(&mut version)
        .map_err(|_| ctx("truncated".into()))?;
    let version = u32::from_le_bytes(version);
    if version != FORMAT_VERSION {
        return Err(ctx(format!(
            "format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let mut consumed = (magic.len() + 4) as u64;
    let mut out = Vec::with_capacity(names.len() + optional.len());
    for n in names {
        let s = read_section(&mut r, n, size).map_err(ctx)?;
        consumed += 8 + s.len() as u64;
        out.push(s);
    }
    for n in optional {
        if consumed >= size {
            out.push(Vec::new());
            continue;
        }
        let s = read_section(&mut r, n, size).map_err(ctx)?;
        consumed += 8 + s.len() as u64;
        out.push(s);
    }
    Ok(out)
}

/// The image discriminators and their optimiser, when the objective has them.
pub struct AdversaryParts<'a> {
    pub discriminators: &'a Discriminators,
    pub optimizer: &'a burn::optim::ModuleOptimizer,
}

/// Save a checkpoint. `model` should be a `valid()` copy (current BatchNorm statistics).
pub fn save(
    path: &Path,
    config: &TrainingConfig,
    state: &RunState,
    model: &DoubleVae,
    optimizer: Option<&burn::optim::ModuleOptimizer>,
    adversary: Option<AdversaryParts<'_>>,
) -> Result<(), String> {
    let header = Header {
        format_version: FORMAT_VERSION,
        config: config.clone(),
        state: state.clone(),
        created: now_string(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let header = serde_json::to_vec_pretty(&header).map_err(|e| e.to_string())?;
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| format!("cannot serialise the model: {e}"))?;
    let optim_bytes = optimizer_bytes(optimizer)?;
    let (disc_bytes, disc_optim_bytes) = match adversary {
        Some(adv) => (
            adv.discriminators
                .clone()
                .into_record()
                .into_bytes()
                .map_err(|e| format!("cannot serialise the discriminators: {e}"))?
                .to_vec(),
            optimizer_bytes(Some(adv.optimizer))?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    write_container(
        path,
        MAGIC,
        &[
            &header,
            &model_bytes,
            &optim_bytes,
            &disc_bytes,
            &disc_optim_bytes,
        ],
    )
}

/// The optimiser's state as bytes for a container section; empty when there is none.
pub fn optimizer_bytes(
    optimizer: Option<&burn::optim::ModuleOptimizer>,
) -> Result<Vec<u8>, String> {
    Ok(match optimizer {
        Some(o) => o
            .into_bytes()
            .map_err(|e| format!("cannot serialise the optimiser: {e}"))?
            .to_vec(),
        None => Vec::new(),
    })
}

/// Read a checkpoint file (or `DIR/latest.dmck` when given a run folder).
pub fn load(path: &Path) -> Result<Checkpoint, String> {
    let file = resolve(path)?;
    let mut parts = read_container_with_optional(
        &file,
        MAGIC,
        "duskmatch checkpoint",
        &["header", "model", "optimiser"],
        &["discriminators", "discriminator optimiser"],
    )?
    .into_iter();
    let ctx = |e: String| {
        format!(
            "{} is not a usable duskmatch checkpoint: {e}",
            file.display()
        )
    };
    let mut next = || parts.next().unwrap_or_default();
    let (header, model, optim, disc, disc_optim) = (next(), next(), next(), next(), next());
    let header: Header =
        serde_json::from_slice(&header).map_err(|e| ctx(format!("bad header: {e}")))?;
    let model = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model))
        .map_err(|e| ctx(format!("bad model record: {e}")))?;
    let optimizer = (!optim.is_empty()).then(|| Bytes::from_bytes_vec(optim));
    let discriminators = if disc.is_empty() {
        None
    } else {
        Some(
            ModuleRecord::from_bytes(Bytes::from_bytes_vec(disc))
                .map_err(|e| ctx(format!("bad discriminators record: {e}")))?,
        )
    };
    let discriminator_optimizer =
        (!disc_optim.is_empty()).then(|| Bytes::from_bytes_vec(disc_optim));
    Ok(Checkpoint {
        header,
        model,
        optimizer,
        discriminators,
        discriminator_optimizer,
    })
}

/// A run folder means its latest checkpoint.
pub fn resolve(path: &Path) -> Result<PathBuf, String> {
    if path.is_dir() {
        let latest = path.join(LATEST);
        if latest.is_file() {
            return Ok(latest);
        }
        return Err(format!(
            "{} holds no checkpoint ({LATEST} is missing)",
            path.display()
        ));
    }
    if !path.exists() {
        return Err(format!("{} does not exist", path.display()));
    }
    Ok(path.to_path_buf())
}

impl Checkpoint {
    pub fn model_config(&self) -> ModelConfig {
        self.header.config.model
    }

    /// Refuse a checkpoint of another architecture, naming both.
    pub fn check_architecture(&self, expected: &ModelConfig) -> Result<(), String> {
        let found = self.model_config();
        if found != *expected {
            return Err(format!(
                "checkpoint architecture does not match: the checkpoint has {}, this run expects {}",
                found.describe(),
                expected.describe()
            ));
        }
        Ok(())
    }

    /// Build the model on `device` and load the weights into it.
    /// The discriminators of this checkpoint built with `cfg`, if it holds them.
    pub fn build_discriminators(
        &self,
        cfg: &DiscriminatorConfig,
        device: &Device,
    ) -> Option<Result<Discriminators, String>> {
        let record = self.discriminators.clone()?;
        Some(
            Discriminators::new(cfg, 0, device)
                .try_load_record(record)
                .map_err(|e| format!("checkpoint discriminators do not fit {cfg:?}: {e}")),
        )
    }

    pub fn build_model(&self, device: &Device) -> Result<DoubleVae, String> {
        let cfg = self.model_config();
        DoubleVae::new(&cfg, 0, device)
            .try_load_record(self.model.clone())
            .map_err(|e| {
                format!(
                    "checkpoint weights do not fit a model with {}: {e}",
                    cfg.describe()
                )
            })
    }
}

pub fn now_string() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("unix:{secs}")
}
