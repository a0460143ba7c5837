//! Checkpoints: one self-describing file holding the model, the optimiser state, the
//! scheduler, progress, random state and the config, in the checksummed container of
//! [`crate::store`] (written atomically).
//!
//! Sections: a JSON header, the model as a burnpack record, the optimiser as a burnpack
//! record (empty in inference-only checkpoints), then the image discriminators and their
//! optimiser (empty without them; absent in files from before them), then the latent domain
//! discriminator and its optimiser (likewise). The header is parsed
//! and its config validated before any payload is decoded.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use super::config::TrainingConfig;
use super::scheduler::ReduceOnPlateau;
use crate::model::{
    DiscriminatorConfig, Discriminators, DoubleVae, LatentDiscriminator, ModelConfig,
};

/// What can go wrong writing or reading a model checkpoint; each names the file or the part.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot serialise the {what}: {reason}")]
    Serialise { what: String, reason: String },
    #[error("not saving {}: its config is invalid: {source}", path.display())]
    InvalidConfig {
        path: PathBuf,
        source: crate::error::ConfigError,
    },
    #[error("{} is not a usable duskmatch checkpoint: {problem}", file.display())]
    Unusable { file: PathBuf, problem: String },
    #[error(
        "checkpoint architecture does not match: the checkpoint has {found}, this run expects {expected}"
    )]
    Architecture { found: String, expected: String },
    /// The weights of a part do not fit the module built from the config (`part` says which
    /// and for what shape).
    #[error("checkpoint {part}: {reason}")]
    DoesNotFit { part: String, reason: String },
}

impl From<CheckpointError> for String {
    fn from(e: CheckpointError) -> String {
        e.to_string()
    }
}

/// The epoch sums a checkpoint keeps are generated with the loss-term registry.
pub use crate::model::LossSums;

pub const MAGIC: &[u8; 16] = b"DUSKMATCH-CKPT\n\0";
pub use crate::store::FORMAT_VERSION;
/// File name of the newest checkpoint in a run folder.
pub const LATEST: &str = "latest.dmck";
/// File name of the checkpoint with the best held-out retrieval in a run folder.
pub const BEST: &str = "best.dmck";

/// Where a run stands; everything random derives from `config.seed`, the epoch and the step,
/// so these counters are the whole random state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epoch in progress, steps of it done and steps of the run done; flattened, so the
    /// file keeps `epoch`, `step_in_epoch` and `step` as top-level fields.
    #[serde(flatten)]
    pub at: super::counters::Counters,
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
    /// Set when the model was then fine-tuned (on place labels or its own matches): the supervised stage's own
    /// record (`supervised::fine_tune::FineTuneStamp`, which owns its shape). Stage one does not
    /// resume such a file: its optimiser state is the fine-tuning's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervised: Option<serde_json::Value>,
}

impl RunState {
    /// The state of a run of `config` before its first step.
    pub fn fresh(config: &TrainingConfig) -> Self {
        RunState {
            at: super::counters::Counters::default(),
            scheduler: super::scheduler::ReduceOnPlateau::new(config.plateau, config.learning_rate),
            epoch_sums: Default::default(),
            best: None,
            rng: "weights: ChaCha8(seed); epoch order: ChaCha8(seed, epoch); noise: ChaCha8(splitmix(seed, step))".into(),
            supervised: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u32,
    pub config: TrainingConfig,
    pub state: RunState,
    pub created: String,
    pub crate_version: String,
}

impl Header {
    /// The header a file of this run written now carries.
    pub fn new(config: &TrainingConfig, state: &RunState) -> Self {
        Header {
            format_version: FORMAT_VERSION,
            config: config.clone(),
            state: state.clone(),
            created: now_string(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
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
    /// The latent domain discriminator (the `latent` term on) and its optimiser; absent in
    /// files from before it.
    pub latent_discriminator: Option<ModuleRecord>,
    pub latent_discriminator_optimizer: Option<Bytes>,
    /// What to tell the user about the file itself (it predates checksums), if anything.
    pub notice: Option<String>,
}

pub use crate::store::{write_atomic, write_container};

/// The image discriminators and their optimiser, when the objective has them.
pub struct AdversaryParts<'a> {
    pub discriminators: &'a Discriminators,
    pub optimizer: &'a burn::optim::ModuleOptimizer,
    pub latent: Option<(&'a LatentDiscriminator, &'a burn::optim::ModuleOptimizer)>,
}

/// A module's record as bytes for a container section.
fn record_bytes<M: Module>(module: &M, what: &str) -> Result<Vec<u8>, CheckpointError> {
    Ok(module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| serialise(what, e))?
        .to_vec())
}

fn serialise(what: &str, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Serialise {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// Save a checkpoint. `model` should be a `valid()` copy (current BatchNorm statistics).
pub fn save(
    path: &Path,
    config: &TrainingConfig,
    state: &RunState,
    model: &DoubleVae,
    optimizer: Option<&burn::optim::ModuleOptimizer>,
    adversary: Option<AdversaryParts<'_>>,
) -> Result<(), CheckpointError> {
    // The reader refuses an invalid config, so writing one would make a file that never
    // reads back.
    config
        .validate()
        .map_err(|source| CheckpointError::InvalidConfig {
            path: path.to_path_buf(),
            source,
        })?;
    let header = Header::new(config, state);
    let header = serde_json::to_vec_pretty(&header).map_err(|e| serialise("header", e))?;
    let model_bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| serialise("model", e))?;
    let optim_bytes = optimizer_bytes(optimizer)?;
    let (disc_bytes, disc_optim_bytes) = match &adversary {
        Some(adv) => (
            record_bytes(adv.discriminators, "discriminators")?,
            optimizer_bytes(Some(adv.optimizer))?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let (latent_bytes, latent_optim_bytes) = match adversary.and_then(|a| a.latent) {
        Some((d, o)) => (
            record_bytes(d, "latent discriminator")?,
            optimizer_bytes(Some(o))?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    Ok(write_container(
        path,
        MAGIC,
        &[
            &header,
            &model_bytes,
            &optim_bytes,
            &disc_bytes,
            &disc_optim_bytes,
            &latent_bytes,
            &latent_optim_bytes,
        ],
    )?)
}

/// The optimiser's state as bytes for a container section; empty when there is none.
pub fn optimizer_bytes(
    optimizer: Option<&burn::optim::ModuleOptimizer>,
) -> Result<Vec<u8>, CheckpointError> {
    Ok(match optimizer {
        Some(o) => o
            .into_bytes()
            .map_err(|e| serialise("optimiser", e))?
            .to_vec(),
        None => Vec::new(),
    })
}

/// Read a checkpoint file (or `DIR/latest.dmck` when given a run folder).
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let file = resolve(path)?;
    let sections = crate::store::read_container(
        &file,
        MAGIC,
        "duskmatch checkpoint",
        &["header", "model", "optimiser"],
        &[
            "discriminators",
            "discriminator optimiser",
            "latent discriminator",
            "latent discriminator optimiser",
        ],
    )?;
    let notice = sections.notice(&file);
    let mut parts = sections.parts.into_iter();
    let ctx = |problem: String| CheckpointError::Unusable {
        file: file.clone(),
        problem,
    };
    let mut next = || parts.next().unwrap_or_default();
    let (header, model, optim, disc, disc_optim) = (next(), next(), next(), next(), next());
    let (latent, latent_optim) = (next(), next());
    let header: Header =
        serde_json::from_slice(&header).map_err(|e| ctx(format!("bad header: {e}")))?;
    // A config no run could have (hand-edited, or from a broken writer) is refused before
    // burn decodes a payload shaped by it.
    header
        .config
        .validate()
        .map_err(|e| ctx(format!("the header's config is invalid: {e}")))?;
    let model = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model))
        .map_err(|e| ctx(format!("bad model record: {e}")))?;
    let optimizer = (!optim.is_empty()).then(|| Bytes::from_bytes_vec(optim));
    let record = |bytes: Vec<u8>, what: &str| -> Result<Option<ModuleRecord>, CheckpointError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map(Some)
            .map_err(|e| ctx(format!("bad {what} record: {e}")))
    };
    let discriminators = record(disc, "discriminators")?;
    let latent_discriminator = record(latent, "latent discriminator")?;
    let bytes = |b: Vec<u8>| (!b.is_empty()).then(|| Bytes::from_bytes_vec(b));
    Ok(Checkpoint {
        header,
        model,
        optimizer,
        discriminators,
        discriminator_optimizer: bytes(disc_optim),
        latent_discriminator,
        latent_discriminator_optimizer: bytes(latent_optim),
        notice,
    })
}

/// A run folder means its latest checkpoint.
pub fn resolve(path: &Path) -> Result<PathBuf, CheckpointError> {
    Ok(crate::store::resolve(path, LATEST)?)
}

impl Checkpoint {
    pub fn model_config(&self) -> ModelConfig {
        self.header.config.model
    }

    /// Refuse a checkpoint of another architecture, naming both.
    pub fn check_architecture(&self, expected: &ModelConfig) -> Result<(), CheckpointError> {
        let found = self.model_config();
        if found != *expected {
            return Err(CheckpointError::Architecture {
                found: found.describe(),
                expected: expected.describe(),
            });
        }
        Ok(())
    }

    /// Build the model on `device` and load the weights into it.
    /// The discriminators of this checkpoint built with `cfg`, if it holds them.
    pub fn build_discriminators(
        &self,
        cfg: &DiscriminatorConfig,
        device: &Device,
    ) -> Option<Result<Discriminators, CheckpointError>> {
        let record = self.discriminators.clone()?;
        Some(
            Discriminators::new(cfg, 0, device)
                .try_load_record(record)
                .map_err(|e| CheckpointError::DoesNotFit {
                    part: format!("discriminators do not fit {cfg:?}"),
                    reason: e.to_string(),
                }),
        )
    }

    /// The latent domain discriminator of this checkpoint for `channels` latent channels and
    /// `width` hidden ones, if it holds one.
    pub fn build_latent_discriminator(
        &self,
        channels: usize,
        width: usize,
        device: &Device,
    ) -> Option<Result<LatentDiscriminator, CheckpointError>> {
        let record = self.latent_discriminator.clone()?;
        Some(
            LatentDiscriminator::new(channels, width, 0, device)
                .try_load_record(record)
                .map_err(|e| CheckpointError::DoesNotFit {
                    part: format!("latent discriminator does not fit width {width}"),
                    reason: e.to_string(),
                }),
        )
    }

    pub fn build_model(&self, device: &Device) -> Result<DoubleVae, CheckpointError> {
        let cfg = self.model_config();
        DoubleVae::new(&cfg, 0, device)
            .try_load_record(self.model.clone())
            .map_err(|e| CheckpointError::DoesNotFit {
                part: format!("weights do not fit a model with {}", cfg.describe()),
                reason: e.to_string(),
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
