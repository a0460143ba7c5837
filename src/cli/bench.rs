//! `duskmatch bench`: JSON lines comparable with `bench/torch_reference.py`.

use clap::Args;

use crate::device::{self, BackendChoice};
use crate::error::ConfigError;
use crate::model::Objective;
use crate::model::config::EncoderSharing;
use crate::train::step_bench::{TrainBench, run_train_bench};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Base widths to measure (64 = the paper model).
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub width: Vec<usize>,
    /// Image sizes in pixels.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub size: Vec<usize>,
    /// Images per domain per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Encoder batch sizes to time.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    pub infer_batch: Vec<usize>,
    #[arg(long, default_value_t = 5)]
    pub infer_iters: usize,
    /// `research` times docs/design.md §2's step; `aligned` adds the discriminators' update.
    #[arg(long, value_enum, default_value_t = Objective::Research)]
    pub objective: Objective,
    /// `private`: the research encoders; `shared`: one first stage with per-domain norms.
    #[arg(long, value_enum, default_value_t = EncoderSharing::Private)]
    pub encoder: EncoderSharing,
    /// CPU threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Cpu)]
    pub backend: BackendChoice,
    /// Measure search instead: database sizes (e.g. 1000,10000,100000).
    #[arg(long, value_delimiter = ',')]
    pub retrieval: Vec<usize>,
    /// Descriptor length for the search benchmark (the pooled latent: 4 × base width).
    #[arg(long, default_value_t = 256)]
    pub dim: usize,
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Write the search vectors (and our top-k) as .npy here, for bench/faiss_flat.py.
    #[arg(long)]
    pub export: Option<std::path::PathBuf>,
    /// Measure retrieval at benchmark scale instead: synthetic database sizes streamed through
    /// the model in batches and searched in two stages (e.g. 100000); `--queries` night
    /// queries; the spatial embeddings go to a file in `--scale-dir`.
    #[arg(long, value_delimiter = ',')]
    pub scale: Vec<usize>,
    /// Town sizes for today's in-memory path beside it (every image and embedding in memory,
    /// the full matrix: what `eval` does).
    #[arg(long, value_delimiter = ',')]
    pub in_memory: Vec<usize>,
    /// Pooled-search candidates re-ranked with the spatial embedding per query.
    #[arg(long, default_value_t = 100)]
    pub candidates: usize,
    /// The model for --scale / --in-memory (default: the shipped compact checkpoint).
    #[arg(long)]
    pub checkpoint: Option<std::path::PathBuf>,
    /// Folder for the streamed spatial embeddings (default: the system's temp folder).
    #[arg(long)]
    pub scale_dir: Option<std::path::PathBuf>,
    /// Measure the HNSW index that `embed --global --out STEM` wrote (STEM.dmindex) against
    /// flat search over STEM.npy: recall@K (`--k`) and milliseconds a query, per `--ef`.
    #[arg(long, value_name = "STEM")]
    pub ann: Option<std::path::PathBuf>,
    /// Beam widths (efSearch) for --ann.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256,512")]
    pub ef: Vec<usize>,
}

impl BenchArgs {
    /// Every value a bench run would trip over, named with its allowed range, before anything
    /// is built (a bad size used to panic inside the model).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = [
            ("--batch", self.batch),
            ("--steps", self.steps),
            ("--repeats", self.repeats),
            ("--infer-iters", self.infer_iters),
            ("--dim", self.dim),
            ("--queries", self.queries),
            ("--k", self.k),
        ];
        for (name, v) in at_least_one {
            if v == 0 {
                return Err(ConfigError::new(name, v, "an integer ≥ 1"));
            }
        }
        if self.threads == Some(0) {
            return Err(ConfigError::new("--threads", 0, "an integer ≥ 1"));
        }
        if let Some(&b) = self.infer_batch.iter().find(|&&b| b == 0) {
            return Err(ConfigError::new("--infer-batch", b, "integers ≥ 1"));
        }
        if let Some(&e) = self.ef.iter().find(|&&e| e == 0) {
            return Err(ConfigError::new("--ef", e, "integers ≥ 1"));
        }
        if let Some(&n) = self.retrieval.iter().find(|&&n| n < self.k) {
            return Err(ConfigError::new(
                "--retrieval",
                n,
                format!("database sizes ≥ --k ({})", self.k),
            ));
        }
        if self.retrieval.is_empty() && self.ann.is_none() {
            for &size in &self.size {
                for &width in &self.width {
                    let model = crate::model::ModelConfig {
                        base_width: width,
                        image_size: size,
                        encoder: self.encoder,
                        backbone: None,
                        whole_frame: false,
                    };
                    model
                        .validate()
                        .map_err(|e| rename(e, "model.base_width", "--width"))
                        .map_err(|e| rename(e, "model.image_size", "--size"))?;
                    if self.objective == Objective::Aligned {
                        crate::model::AlignConfig::default()
                            .discriminator
                            .validate(size)
                            .map_err(|e| {
                                rename(e, "discriminator", "--size (for the discriminators)")
                            })?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The config field a bench flag stands for, named as the flag.
fn rename(mut e: ConfigError, field: &str, flag: &str) -> ConfigError {
    if e.field.starts_with(field) {
        e.field = flag.to_string();
    }
    e
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    args.validate().map_err(|e| e.to_string())?;
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    // Flex parallelises with rayon's global pool; size it before the first tensor op.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    let dev = device::select(args.backend)?;
    if let Some(stem) = &args.ann {
        for line in crate::retrieval::search_bench::ann_bench(stem, &args.ef, args.k, &dev.device)?
        {
            let mut line = line;
            line["threads"] = threads.into();
            println!("{line}");
        }
        return Ok(());
    }
    if !args.scale.is_empty() || !args.in_memory.is_empty() {
        let path = args
            .checkpoint
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("checkpoints/compact-town.dmck"));
        let ck = super::load_checkpoint(&path)?;
        let model = ck.build_model(&dev.device)?;
        let size = ck.model_config().image_size as u32;
        let dir = args.scale_dir.clone().unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for &n in &args.in_memory {
            let line = crate::retrieval::scale_bench::in_memory(&model, n, size, &dev.device);
            println!("{line}");
        }
        for &n in &args.scale {
            let line = crate::retrieval::scale_bench::streamed(
                &model,
                n,
                args.queries.min(n),
                args.candidates,
                size,
                &dev.device,
                &dir,
            )
            .map_err(|e| e.to_string())?;
            println!("{line}");
            let _ = std::fs::remove_file(dir.join(format!("spatial-{n}.f32")));
        }
        return Ok(());
    }
    if !args.retrieval.is_empty() {
        for line in crate::retrieval::search_bench::run_search_bench(
            &args.retrieval,
            args.dim,
            args.queries,
            args.k,
            &dev.device,
            args.export.as_deref(),
        ) {
            let mut line = line;
            line["threads"] = threads.into();
            line["backend"] = dev.label.clone().into();
            println!("{line}");
        }
        return Ok(());
    }
    for &size in &args.size {
        for &width in &args.width {
            let b = TrainBench {
                width,
                size,
                batch: args.batch,
                steps: args.steps,
                repeats: args.repeats,
                warmup: args.warmup,
                infer_batches: args.infer_batch.clone(),
                infer_iters: args.infer_iters,
                lr: 1e-4,
                objective: args.objective,
                encoder: args.encoder,
            };
            println!("{}", run_train_bench(&b, &dev, threads));
        }
    }
    Ok(())
}
