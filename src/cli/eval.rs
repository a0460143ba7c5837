//! `duskmatch eval`: retrieval metrics of a checkpoint beside the baselines, as a table and
//! JSON; `duskmatch embed`: embeddings to .npy + .json for numpy.

use std::path::PathBuf;

use clap::Args;

use super::DataArgs;
use crate::data::Positives;
use crate::data::synth::Condition;
use crate::data::{DataSource, Dataset, Domain, Pixels, Split};
use crate::device::{self, BackendChoice, ComputeDevice};
use crate::model::DoubleVae;
use crate::retrieval::embed::Embeddings;
use crate::retrieval::embed::{EmbeddingKind, embed_images, for_each_batch};
use crate::retrieval::embed::{all_items, embed};
use crate::retrieval::eval::evaluate_with;
use crate::retrieval::export::{pairs_txt, per_query, rankings_csv};
use crate::retrieval::import::{DescriptorSpec, import};
use crate::retrieval::method_rows::{
    DepthWeights, MethodRow, check_evaluable, compare_methods_at_scale, compare_methods_with,
    evaluation_items,
};
use crate::retrieval::npy::npy_header;
use crate::retrieval::scaled::{DEFAULT_CANDIDATES, STREAM_ABOVE_IMAGES, evaluate_nearest};
use crate::train::checkpoint::Checkpoint;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Domain of the queries; the database is the other domain.
    #[arg(long, default_value = "night")]
    pub query: Domain,
    /// Use the pooled global descriptor instead of the spatial embedding.
    #[arg(long)]
    pub pooled: bool,
    /// Learned channel weights (`duskmatch weights`; latent, 3 or 6 depths) to compare with w = 1
    /// at the same depths.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Add a row of the model matched at several encoder depths at once, each weighted 1 (a
    /// multi-scale descriptor, no labels): 3 or 6.
    #[arg(long, value_enum)]
    pub depths: Option<crate::supervised::weights::Depths>,
    /// More checkpoints evaluated on the same images, one row each (another objective's
    /// run, a fine-tuned model, ...). Repeatable.
    #[arg(long = "also", value_name = "CHECKPOINT")]
    pub also: Vec<PathBuf>,
    /// Descriptors of the same images from elsewhere (NetVLAD, MixVPR, AnyLoc, or `embed`'s
    /// own), one row each: NAME=FILE.npy (N×D or N×C×P float32, names in FILE.txt or
    /// FILE.json beside it), compared by L2, or NAME=FILE.npy,cosine. Repeatable.
    #[arg(long = "descriptors", value_name = "NAME=FILE.npy[,cosine]")]
    pub descriptors: Vec<DescriptorSpec>,
    /// Positives by position: database images within this many metres of the query (the
    /// bound included).
    #[arg(long, default_value_t = Positives::default().radius_m)]
    pub radius: f64,
    /// Positives of frame-aligned sequences: within this many frames.
    #[arg(long, default_value_t = Positives::default().frame_tolerance)]
    pub frame_tolerance: u32,
    /// The strict rule: only the database image nearest the query (its own frame) is a hit,
    /// and the others within the radius or frame tolerance are left out of its ranking
    /// (neither hit nor miss). Without it every image within the bound is a hit (dilated).
    #[arg(long)]
    pub strict: bool,
    /// Score every image of the dataset, also those the model trained on (without labels, as
    /// a user's model adapts to their own database and queries): rows labelled "adapted, no
    /// labels". Without it a checkpoint's own dataset is scored on its held-out places only.
    #[arg(long)]
    pub every_image: bool,
    /// Matches kept per query: K of mAP@K under positions, the pairs file's matches; the
    /// rankings file keeps at least 20 (the largest N reported).
    #[arg(long, default_value_t = Positives::default().top as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub top: u64,
    /// Write the model's ranked matches as CSV: query,rank,match,distance,positive.
    #[arg(long, value_name = "FILE.csv")]
    pub rankings: Option<PathBuf>,
    /// Write hloc's pairs file: `query match` per line for the model's top K matches, paths
    /// relative to the dataset folder.
    #[arg(long, value_name = "FILE.txt")]
    pub pairs: Option<PathBuf>,
    /// Write the metrics, and the model's per-query results, as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Conditions of the synthetic town's queries, one table each (comma-separated, or `all`:
    /// the usual night then every unseen condition): night, dusk, fog, rain, warm, cool,
    /// dark, bright, noise, jitter. The day database is the same in every table.
    #[arg(long, value_delimiter = ',', value_name = "CONDITIONS")]
    pub conditions: Vec<String>,
    /// Evaluate as at benchmark scale whatever the size: images read from disk a batch at a
    /// time, database embeddings kept in a file, each query ranked to its nearest K (--top,
    /// at least 20). Above 4,000 images this is what eval does anyway.
    #[arg(long)]
    pub stream: bool,
    /// At scale every row ranks in two stages, as Patch-NetVLAD and hloc do: its global
    /// descriptor's K nearest first (default 100), then the exact distance to those.
    #[arg(long, value_name = "K", conflicts_with = "exact")]
    pub candidates: Option<usize>,
    /// At scale: compare every query with every database row by the exact spatial distance
    /// instead of in two stages (slower; what two stages are measured against).
    #[arg(long)]
    pub exact: bool,
    /// Where the database embeddings are kept while they are searched at scale (default: the
    /// system's temporary folder); the files are unlinked as soon as they are opened, so nothing is left behind.
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

#[derive(Args, Debug)]
pub struct EmbedArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Output path; FILE.npy and FILE.json are written.
    #[arg(long)]
    pub out: PathBuf,
    /// Write the pooled descriptor (the latent's mean over positions, L2-normalised; the
    /// research's own) instead of the spatial embedding.
    #[arg(long)]
    pub pooled: bool,
    /// Write the global descriptor instead of the spatial embedding: the flattened spatial
    /// rows projected on the database's 256 leading directions (fitted on the day images, no
    /// labels), each side centred on its own mean, L2-normalised. Reads back with
    /// `eval --descriptors NAME=FILE.npy`.
    #[arg(long)]
    pub global: bool,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

/// The checkpoint, its model on the chosen device, the dataset and whether it is the
/// checkpoint's own (then its held-out split is used). A folder's images are left on disk
/// (read a batch at a time) where `pixels` says so for its number of images.
pub fn load_for_eval(
    ckpt: &std::path::Path,
    data: &DataArgs,
    backend: BackendChoice,
    pixels: impl Fn(usize) -> Pixels,
) -> Result<(Checkpoint, DoubleVae, Dataset, Option<Split>, ComputeDevice), String> {
    let ck = super::load_checkpoint(ckpt)?;
    let cfg = ck.header.config.clone();
    let own = data.data.is_none();
    let source = match &data.data {
        Some(spec) => {
            let synth = match &cfg.data {
                DataSource::Synth(s) => *s,
                _ => Default::default(),
            };
            DataSource::parse_with(spec, data.synth(synth), data.robotcar(), data.layout())?
        }
        // The checkpoint's own town, with any of --places, --synth-seed, --condition.
        None => match &cfg.data {
            DataSource::Synth(s) => DataSource::Synth(data.synth(*s)),
            other => other.clone(),
        },
    };
    let dev = device::select(backend)?;
    eprintln!("device: {}", dev.label);
    let model = ck.build_model(&dev.device)?;
    let size = cfg.model.framing();
    // Listing is cheap: list first, then decode everything where the size allows it.
    let (mut ds, mut report) = source.load_pixels(size, Pixels::OnDisk)?;
    if ds.is_on_disk() && pixels(ds.len()) == Pixels::Decoded {
        (ds, report) = source.load(size)?;
    }
    for s in &report.skipped {
        eprintln!("warning: {s}");
    }
    let split =
        (own || source == cfg.data).then(|| Split::new(&ds, cfg.validation_fraction, cfg.seed));
    Ok((ck, model, ds, split, dev))
}

/// Files left on disk reported unreadable when their batch was read.
fn warn_skipped(ds: &Dataset) {
    if let Some(disk) = &ds.on_disk {
        for s in disk.skipped() {
            eprintln!("warning: {s}");
        }
    }
}

/// A checkpoint's row name: its objective and encoder, and whether labels fine-tuned it.
fn model_label(ck: &Checkpoint) -> String {
    let c = &ck.header.config;
    let encoder = match c.model.encoder {
        crate::model::config::EncoderSharing::Private => "private",
        crate::model::config::EncoderSharing::Shared => "shared",
    };
    let tuned = match crate::supervised::FineTuneStamp::of(ck) {
        Ok(Some(t)) if t.config.pseudo_labels => ", self-trained",
        Ok(Some(_)) => ", fine-tuned",
        _ if ck.header.state.supervised.is_some() => ", fine-tuned",
        _ => "",
    };
    format!("{}, {encoder}{tuned}", c.objective.name())
}

fn fmt(v: Option<f64>) -> String {
    crate::retrieval::eval::score_text(v, 3)
}

pub fn run_eval(args: EvalArgs) -> Result<(), String> {
    let json = if args.conditions.is_empty() {
        eval_table(&args, &args.data)?
    } else {
        let conditions = parse_conditions(&args.conditions)?;
        if args.data.data.as_deref().is_some_and(|d| d != "synth") {
            return Err(
                "--conditions renders the synthetic town's queries: use --data synth, or leave --data out for a checkpoint trained on the town".into(),
            );
        }
        if args.rankings.is_some() || args.pairs.is_some() || !args.descriptors.is_empty() {
            return Err(
                "--conditions gives one table per condition: --rankings, --pairs and --descriptors go with a single evaluation".into(),
            );
        }
        let mut all = serde_json::Map::new();
        for c in conditions {
            println!("\n== queries: {} ==", c.describe());
            let mut data = args.data.clone();
            data.condition = Some(c);
            all.insert(c.name().into(), eval_table(&args, &data)?.into());
        }
        all
    };
    if let Some(path) = &args.json {
        crate::store::write_file(
            path,
            serde_json::to_string_pretty(&json)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        )?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `--conditions`' list: names, or `all` for the usual night and every unseen condition.
fn parse_conditions(list: &[String]) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    for name in list {
        if name.trim().eq_ignore_ascii_case("all") {
            out.push(Condition::Night);
            out.extend(Condition::UNSEEN);
            continue;
        }
        let c = <Condition as clap::ValueEnum>::from_str(name.trim(), true).map_err(|_| {
            format!(
                "unknown condition {name:?} in --conditions: expected all, night, {}",
                Condition::UNSEEN.map(|c| c.name()).join(", ")
            )
        })?;
        out.push(c);
    }
    out.dedup();
    Ok(out)
}

/// One evaluation on `data`: the table printed, the rankings and pairs written; the JSON
/// returned.
fn eval_table(
    args: &EvalArgs,
    data: &DataArgs,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if !(args.radius.is_finite() && args.radius > 0.0) {
        return Err(format!(
            "--radius {} is not allowed: expected metres > 0",
            args.radius
        ));
    }
    let rule = Positives {
        radius_m: args.radius,
        frame_tolerance: args.frame_tolerance,
        top: args.top as usize,
        strict: args.strict,
    };
    let stream = args.stream;
    let (ck, model, ds, split, dev) = load_for_eval(&args.checkpoint, data, args.backend, |n| {
        if stream || n > STREAM_ABOVE_IMAGES {
            Pixels::OnDisk
        } else {
            Pixels::Decoded
        }
    })?;
    // Every image, where the model adapted to the folder without its labels (a user's own
    // database and queries): the held-out split of its training run is not used.
    let split = split.filter(|_| !args.every_image);
    let (items, scope) = evaluation_items(&ds, split.as_ref());
    let scope = match args.every_image {
        true => "all images, the model adapted to them (no labels)",
        false => scope,
    };
    check_evaluable(&ds, &items, scope)?;
    let cfg = &ck.header.config;
    let weights = match &args.weights {
        Some(p) => {
            let wc = crate::supervised::checkpoint::load(p)?;
            if wc.header.model != cfg.model {
                return Err(format!(
                    "{} was learned for a model with {}, this checkpoint has {}",
                    p.display(),
                    wc.header.model.describe(),
                    cfg.model.describe()
                ));
            }
            let here = crate::model::fingerprint::fingerprint(&model);
            if let Some(f) = wc
                .header
                .stage_one_fingerprint
                .as_ref()
                .filter(|f| **f != here)
            {
                return Err(format!(
                    "{} was learned on another model (fingerprint {f}, learned from {} at step {}); {} is {here}: learn the weights on this checkpoint (`duskmatch weights --checkpoint {}`)",
                    p.display(),
                    wc.header.stage_one.display(),
                    wc.header.stage_one_step,
                    args.checkpoint.display(),
                    args.checkpoint.display()
                ));
            }
            if args.pooled {
                return Err("--weights applies to the spatial embedding; drop --pooled".into());
            }
            let depths = wc.header.config.depths;
            Some(DepthWeights {
                taps: depths.taps().to_vec(),
                vectors: wc.vectors()?,
                label: depths.name().to_string(),
            })
        }
        None => None,
    };
    let at_scale = ds.is_on_disk();
    if (args.candidates.is_some() || args.exact) && !at_scale {
        return Err(format!(
            "--candidates and --exact choose how to rank at scale: above {STREAM_ABOVE_IMAGES} images, or with --stream (these {} images are compared exactly)",
            ds.len()
        ));
    }
    if args.candidates == Some(0) {
        return Err("--candidates 0 is not allowed: expected at least 1".into());
    }
    // Every further checkpoint, checked and built before the images are read.
    let mut also = Vec::new();
    for (k, path) in args.also.iter().enumerate() {
        let other = super::load_checkpoint(path)?;
        let oc = other.model_config();
        if oc.image_size != cfg.model.image_size {
            return Err(format!(
                "{} works at {} px, {} at {} px: --also needs models of one image size",
                path.display(),
                oc.image_size,
                args.checkpoint.display(),
                cfg.model.image_size
            ));
        }
        let m = other.build_model(&dev.device)?;
        also.push((format!("{} [also {}]", model_label(&other), k + 1), m));
        println!("also {}: {}", k + 1, path.display());
    }
    let mut methods = if at_scale {
        if weights.as_ref().is_some_and(|w| !w.is_latent())
            || args.depths.is_some_and(|d| d.taps().len() > 1)
        {
            return Err(format!(
                "weights at several depths need every embedding at once: above {STREAM_ABOVE_IMAGES} images (or with --stream) use weights learned on the latent"
            ));
        }
        let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
        let started = std::time::Instant::now();
        let bar = indicatif::ProgressBar::new(items.len() as u64).with_message("embedding");
        eprintln!(
            "{} images: read from disk a batch at a time, database embeddings kept in {}, each query ranked to its nearest {}; {}",
            items.len(),
            scratch.display(),
            rule.top.max(20),
            if args.exact {
                "every row by the exact distance to every database row (--exact)".to_string()
            } else {
                format!(
                    "every row in two stages: its global descriptor's {} nearest, re-ranked exactly (--exact to compare all)",
                    args.candidates.unwrap_or(DEFAULT_CANDIDATES)
                )
            }
        );
        let rows = compare_methods_at_scale(
            &model,
            &cfg.model,
            &ds,
            &items,
            args.query,
            args.pooled,
            weights
                .as_ref()
                .and_then(|w| w.vectors.last().map(|v| &v[..])),
            &also,
            (!args.exact).then(|| args.candidates.unwrap_or(DEFAULT_CANDIDATES)),
            &dev.device,
            &rule,
            &scratch,
            |done, _| bar.set_position(done as u64),
            |name| {
                bar.finish_and_clear();
                eprintln!(
                    "[{:.0} s] searching: {name}",
                    started.elapsed().as_secs_f64()
                );
            },
        )
        .map_err(|e| e.to_string())?;
        bar.finish_and_clear();
        eprintln!("[{:.0} s] searched", started.elapsed().as_secs_f64());
        warn_skipped(&ds);
        rows
    } else {
        let mut rows = compare_methods_with(
            &model,
            &cfg.model,
            &ds,
            &items,
            args.query,
            args.pooled,
            weights.as_ref(),
            &dev.device,
            cfg.seed,
            &rule,
        );
        if let Some(d) = args.depths.filter(|d| d.taps().len() > 1) {
            let depths = crate::retrieval::embed::embed_depths(
                &model,
                &ds,
                items.clone(),
                &dev.device,
                32,
                d.taps(),
                |_, _| {},
            );
            let ones = vec![None; depths.len()];
            let evaluation = crate::retrieval::eval::evaluate_depths_with(
                &depths,
                &ones,
                args.query,
                &dev.device,
                cfg.seed,
                &rule,
            );
            rows.insert(
                1.min(rows.len()),
                MethodRow {
                    name: format!("model, {}", d.name()),
                    evaluation,
                },
            );
        }
        // Further checkpoints go after the model's rows, before the baselines.
        for (k, (name, m)) in also.iter().enumerate() {
            let e = embed(m, &ds, items.clone(), &dev.device, 32, |_, _| {});
            let e = if args.pooled { e.pooled() } else { e };
            let evaluation = evaluate_with(&e, args.query, None, &dev.device, cfg.seed, &rule);
            rows.insert(
                (1 + k).min(rows.len()),
                MethodRow {
                    name: name.clone(),
                    evaluation,
                },
            );
        }
        rows
    };
    // Imported descriptors go after the checkpoints, in the order given, on the same
    // queries, database and positives.
    let mut next_row = 1 + also.len();
    let mut add_row = |methods: &mut Vec<MethodRow>, name: String, e: &Embeddings| {
        let evaluation = if at_scale {
            evaluate_nearest(e, args.query, &rule, &dev.device)
        } else {
            evaluate_with(e, args.query, None, &dev.device, cfg.seed, &rule)
        };
        methods.insert(next_row.min(methods.len()), MethodRow { name, evaluation });
        next_row += 1;
    };
    // Imported descriptors, compared as given.
    for spec in &args.descriptors {
        let e = import(spec, &items)?;
        add_row(&mut methods, format!("{} [imported]", spec.name), &e);
        println!(
            "imported {}: {} ({}×{} per image)",
            spec.name,
            spec.file.display(),
            e.channels,
            e.pixels
        );
    }
    let first = &methods[0].evaluation;
    let kind = first.kind;
    println!(
        "{} queries ({}) against {} {} images; {scope}; embedding: {}",
        first.metrics.queries,
        args.query,
        first.metrics.database,
        args.query.other(),
        kind.describe()
    );
    if first.ground_truth {
        let m = &first.metrics;
        println!("ground truth: {}", m.ground_truth);
        if m.queries_without_positive > 0 {
            println!(
                "{} of {} queries have no positive in the database: left out of R@N and mAP below (the second table counts them as misses)",
                m.queries_without_positive, m.queries
            );
        }
    } else {
        println!(
            "no ground truth in this dataset (neither place ids nor positions on every image): metrics are unavailable (matches can still be browsed in the app)"
        );
    }
    let width = methods
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(6)
        .max(26);
    println!(
        "{:<width$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>10} {:>6} {:>6}",
        "method", "R@1", "R@5", "R@10", "R@20", "mAP", "triplet", "silhouette", "probe", "ratio"
    );
    let mut json = serde_json::Map::new();
    json.insert(
        "ground_truth".into(),
        first.metrics.ground_truth.clone().into(),
    );
    json.insert("query".into(), args.query.name().into());
    json.insert("database".into(), args.query.other().name().into());
    json.insert("embedding".into(), kind.describe().into());
    json.insert("images".into(), scope.into());
    json.insert("checkpoint_step".into(), ck.header.state.at.step.into());
    for m in &methods {
        let x = &m.evaluation.metrics;
        println!(
            "{:<width$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>10} {:>6} {:>6}",
            m.name,
            fmt(x.recall_1),
            fmt(x.recall_5),
            fmt(x.recall_10),
            fmt(x.recall_20),
            fmt(x.map),
            fmt(x.triplet_loss),
            fmt(x.silhouette),
            fmt(x.domain_probe),
            fmt(x.distance_ratio)
        );
        json.insert(
            m.name.clone(),
            serde_json::to_value(x).map_err(|e| e.to_string())?,
        );
    }
    if first.metrics.queries_without_positive > 0 {
        println!("counting queries without a positive as misses:");
        println!(
            "{:<width$} {:>6} {:>6} {:>6} {:>6}",
            "method", "R@1", "R@5", "R@10", "R@20"
        );
        for m in &methods {
            let r = &m.evaluation.metrics.recall_all;
            println!(
                "{:<width$} {:>6} {:>6} {:>6} {:>6}",
                m.name,
                fmt(r[0]),
                fmt(r[1]),
                fmt(r[2]),
                fmt(r[3])
            );
        }
    }
    let top = args.top as usize;
    let model_row = &methods[0].evaluation;
    if args.json.is_some() {
        json.insert(
            "per_query".into(),
            serde_json::to_value(per_query(model_row, top)).map_err(|e| e.to_string())?,
        );
    }
    if let Some(path) = &args.rankings {
        let csv = rankings_csv(model_row, top.max(20)).map_err(|e| e.to_string())?;
        crate::store::write_file(path, &csv)?;
        println!(
            "wrote {} (the model's top {} per query)",
            path.display(),
            top.max(20)
        );
    }
    if let Some(path) = &args.pairs {
        crate::store::write_file(path, pairs_txt(model_row, top).as_bytes())?;
        println!(
            "wrote {} (hloc pairs, the model's top {top} per query)",
            path.display()
        );
    }
    Ok(json)
}

pub fn run_embed(args: EmbedArgs) -> Result<(), String> {
    // A folder's images are read a batch at a time and each batch's rows written straight to
    // the .npy, so no size is too large.
    let (ck, model, ds, _split, dev) =
        load_for_eval(&args.checkpoint, &args.data, args.backend, |_| {
            Pixels::OnDisk
        })?;
    let [c, h, w] = ck.header.config.model.latent_shape();
    let row_shape = if args.pooled { (c, 1) } else { (c, h * w) };
    if args.pooled && args.global {
        return Err("--pooled and --global are two different descriptors: give one".into());
    }
    let items = all_items(&ds);
    let npy = args.out.with_extension("npy");
    let meta = args.out.with_extension("json");
    let index = args.out.with_extension("dmindex");
    let bar = indicatif::ProgressBar::new(items.len() as u64);
    let mut written = EmbedWritten::default();
    crate::store::write_atomic(&npy, |f| {
        written = if args.global {
            write_global(f, &model, &ds, &items, &index, &dev.device, |done| {
                bar.set_position(done as u64)
            })?
        } else {
            write_embeddings(
                f,
                &model,
                &ds,
                &items,
                row_shape,
                args.pooled,
                &dev.device,
                |done| bar.set_position(done as u64),
            )?
        };
        Ok(())
    })?;
    bar.finish_and_clear();
    warn_skipped(&ds);
    let info = serde_json::json!({
        "embedding": written.kind.describe(),
        "shape": written.shape,
        "items": written.items,
    });
    crate::store::write_file(
        &meta,
        serde_json::to_string_pretty(&info)
            .map_err(|e| e.to_string())?
            .as_bytes(),
    )?;
    println!(
        "wrote {} ({:?}) and {}",
        npy.display(),
        written.shape,
        meta.display()
    );
    if args.global {
        println!(
            "wrote {} (an HNSW index of the database rows, with the head that describes new queries)",
            index.display()
        );
    }
    Ok(())
}

/// What [`write_embeddings`] wrote.
struct EmbedWritten {
    kind: EmbeddingKind,
    shape: Vec<usize>,
    items: Vec<crate::retrieval::ItemInfo>,
}

impl Default for EmbedWritten {
    fn default() -> Self {
        Self {
            kind: EmbeddingKind::Spatial,
            shape: Vec::new(),
            items: Vec::new(),
        }
    }
}

/// Embed `items` batch by batch into `f` as a float32 `.npy`: a header for every item, the
/// rows as they come, then the header rewritten (same length) with the rows written, since
/// an unreadable image is only found when its batch is read.
#[allow(clippy::too_many_arguments)]
fn write_embeddings(
    f: &mut std::fs::File,
    model: &DoubleVae,
    ds: &Dataset,
    items: &[crate::retrieval::ItemInfo],
    (c, p): (usize, usize),
    pooled: bool,
    device: &burn::prelude::Device,
    mut progress: impl FnMut(usize),
) -> std::io::Result<EmbedWritten> {
    use std::io::{Seek, SeekFrom, Write};
    let shape_of = |n: usize| if p == 1 { vec![n, c] } else { vec![n, c, p] };
    let header = npy_header(&shape_of(items.len()), None);
    f.write_all(&header)?;
    let mut out = std::io::BufWriter::new(&mut *f);
    let mut failed = None;
    let kept = for_each_batch(
        ds,
        items,
        32,
        |done, _| progress(done),
        |batch, imgs, encoder| {
            if failed.is_some() {
                return;
            }
            let (data, channels, pixels) = embed_images(model, imgs, encoder, device);
            let e = Embeddings {
                kind: EmbeddingKind::Spatial,
                channels,
                pixels,
                data,
                items: batch.to_vec(),
            };
            let e = if pooled { e.pooled() } else { e };
            let mut bytes = Vec::with_capacity(e.data.len() * 4);
            e.data
                .iter()
                .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes()));
            if let Err(err) = out.write_all(&bytes) {
                failed = Some(err);
            }
        },
    );
    if let Some(err) = failed {
        return Err(err);
    }
    out.flush()?;
    drop(out);
    let shape = shape_of(kept.len());
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&npy_header(&shape, Some(header.len())))?;
    Ok(EmbedWritten {
        kind: if pooled {
            EmbeddingKind::Pooled
        } else {
            EmbeddingKind::Spatial
        },
        shape,
        items: kept,
    })
}

/// Embed `items` and write their global descriptors (`retrieval::global`) to `f`: the spatial
/// rows of each side go to an unlinked scratch file as they come (one batch of images held at
/// a time), the head is fitted on the database's (day) rows, and both sides are projected by
/// it, each centred on its own mean. The database's rows are also indexed (HNSW, keyed by
/// their row in the file) and saved with the head at `index_path`.
fn write_global(
    f: &mut std::fs::File,
    model: &DoubleVae,
    ds: &Dataset,
    items: &[crate::retrieval::ItemInfo],
    index_path: &std::path::Path,
    device: &burn::prelude::Device,
    mut progress: impl FnMut(usize),
) -> std::io::Result<EmbedWritten> {
    use crate::data::Domain;
    use crate::retrieval::streamed::StreamedBuilder;
    use std::io::Write;
    let other = |e: crate::retrieval::streamed::StreamError| std::io::Error::other(e.to_string());
    let stem = std::env::temp_dir().join(format!("duskmatch-embed-{}", std::process::id()));
    let scratch =
        |side: &str| StreamedBuilder::scratch(&stem.with_extension(format!("{side}.f32")));
    // The database's graph is built below, keyed by row in the file: not also by `finish`.
    let mut sides = vec![
        scratch("database").map_err(other)?.ann_above(usize::MAX),
        scratch("queries").map_err(other)?,
    ];
    // Where each kept item went: its side and its row there.
    let mut order: Vec<(usize, usize)> = Vec::new();
    let mut failed = None;
    let kept = for_each_batch(
        ds,
        items,
        32,
        |done, _| progress(done),
        |batch, imgs, encoder| {
            if failed.is_some() {
                return;
            }
            let (data, channels, pixels) = embed_images(model, imgs, encoder, device);
            let dim = channels * pixels;
            for (k, item) in batch.iter().enumerate() {
                let side = usize::from(item.domain != Domain::Day);
                order.push((side, sides[side].len()));
                let row = data[k * dim..(k + 1) * dim].to_vec();
                if let Err(e) = sides[side].add_rows(vec![item.clone()], row, channels, pixels) {
                    failed = Some(other(e));
                    return;
                }
            }
        },
    );
    if let Some(err) = failed {
        return Err(err);
    }
    let queries = sides.pop().expect("two sides");
    let database = sides.pop().expect("two sides").finish().map_err(other)?;
    let Some(head) = database.head.clone() else {
        return Err(std::io::Error::other(format!(
            "a global descriptor is fitted on the database (day) images: {} found, at least 2 needed",
            database.len()
        )));
    };
    let queries = queries.finish_with(Some(&head)).map_err(other)?;
    let width = head.width();
    let shape = vec![kept.len(), width];
    let mut out = std::io::BufWriter::new(&mut *f);
    out.write_all(&npy_header(&shape, None))?;
    for &(side, row) in &order {
        let g = if side == 0 {
            &database.global
        } else {
            &queries.global
        };
        for v in g.row(row) {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    out.flush()?;
    let keys: Vec<u64> = {
        let mut keys = vec![0u64; database.len()];
        for (p, &(side, row)) in order.iter().enumerate() {
            if side == 0 {
                keys[row] = p as u64;
            }
        }
        keys
    };
    let ann = crate::retrieval::ann::AnnIndex::build_keyed(&database.global, &keys)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    ann.save(index_path, &head)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(EmbedWritten {
        kind: EmbeddingKind::Global,
        shape,
        items: kept,
    })
}
