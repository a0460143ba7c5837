//! The training loop of docs/design.md §2, as the research's `Trainer`: build it from a
//! `TrainingConfig`, call `train()`. It reports through an event channel and obeys pause,
//! resume, stop and save requests between steps, so a GUI can drive it from a thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;

use super::checkpoint::{self, AdversaryParts, BEST, Checkpoint, LATEST, RunState};
use super::config::TrainingConfig;
use super::error::RunError;
use super::events::{Command, EpochReport, Progress, StepReport, StopReason, TrainEvent};
use super::metrics_log::MetricsLog;
use super::noise::StepNoise;
use super::run_loop::{self, Counters, EventSink, Plan};
use super::step::{Adversary, LatentCritic, train_step};
use crate::data::{Dataset, Domain, Split, to_tensor};
use crate::device::ComputeDevice;
use crate::model::loss::unit_loss_with;
use crate::model::{Discriminators, DoubleVae, LossValues, Objective};
use crate::retrieval::eval::{HeldOutScores, held_out_scores};
use crate::retrieval::method_rows::evaluation_items;

/// What a finished (or stopped) run leaves behind.
pub struct TrainSummary {
    pub reason: StopReason,
    pub progress: Progress,
    /// Training losses of the last step.
    pub last: LossValues,
    /// Validation losses of the last finished epoch.
    pub val: Option<LossValues>,
    pub checkpoint: Option<PathBuf>,
    /// The trained model, inference copy.
    pub model: DoubleVae,
}

pub struct Trainer {
    config: TrainingConfig,
    dataset: Arc<Dataset>,
    split: Split,
    device: ComputeDevice,
    out_dir: PathBuf,
    events: Option<EventSink<TrainEvent>>,
    commands: Option<Receiver<Command>>,
    snapshot_every: u64,
    resume: Option<Checkpoint>,
    metrics: std::cell::RefCell<MetricsLog>,
}

/// Seeded permutation of one domain's training indices for one epoch.
fn epoch_order(indices: &[usize], seed: u64, epoch: usize, domain: Domain) -> Vec<usize> {
    let stream = ((epoch as u64) << 1) | (domain == Domain::Night) as u64 | 0x1000;
    run_loop::seeded_order(indices, seed, stream).0
}

/// `batch` items from `order` starting at item `start`, wrapping around.
fn take_wrapped(order: &[usize], start: usize, batch: usize) -> Vec<usize> {
    (0..batch)
        .map(|j| order[(start + j) % order.len()])
        .collect()
}

impl Trainer {
    /// Check the config against the data and device; nothing heavy happens yet.
    pub fn new(
        config: TrainingConfig,
        dataset: Arc<Dataset>,
        device: ComputeDevice,
        out_dir: impl Into<PathBuf>,
    ) -> Result<Self, RunError> {
        config.validate()?;
        if dataset.image_size as usize != config.model.image_size {
            return Err(RunError::ImageSize {
                dataset: dataset.image_size,
                model: config.model.image_size,
            });
        }
        let split = Split::new(&dataset, config.validation_fraction, config.seed);
        for d in Domain::BOTH {
            if split.train(d).is_empty() {
                return Err(RunError::NoTrainingImages {
                    domain: d,
                    fraction: config.validation_fraction,
                });
            }
        }
        split.check_evaluable(&dataset, config.validation_fraction)?;
        Ok(Self {
            config,
            dataset,
            split,
            device,
            out_dir: out_dir.into(),
            events: None,
            commands: None,
            snapshot_every: 0,
            resume: None,
            metrics: std::cell::RefCell::new(MetricsLog::none()),
        })
    }

    pub fn with_events(self, tx: Sender<TrainEvent>) -> Self {
        self.with_event_sink(run_loop::channel_sink(tx))
    }

    pub fn with_event_sink(mut self, sink: EventSink<TrainEvent>) -> Self {
        self.events = Some(sink);
        self
    }

    pub fn with_commands(mut self, rx: Receiver<Command>) -> Self {
        self.commands = Some(rx);
        self
    }

    /// Send an inference copy of the model every `steps` steps (0 = never).
    pub fn with_snapshots(mut self, steps: u64) -> Self {
        self.snapshot_every = steps;
        self
    }

    /// Continue from a checkpoint; its architecture must match this run's.
    pub fn resume_from(mut self, ckpt: Checkpoint) -> Result<Self, RunError> {
        ckpt.check_architecture(&self.config.model)?;
        if ckpt.header.state.supervised.is_some() {
            return Err(RunError::FineTuned);
        }
        if ckpt.optimizer.is_none() {
            return Err(RunError::WeightsOnly);
        }
        self.resume = Some(ckpt);
        Ok(self)
    }

    pub fn split(&self) -> &Split {
        &self.split
    }

    pub fn steps_per_epoch(&self) -> usize {
        let n = self.split.train_day.len().max(self.split.train_night.len());
        (n / self.config.batch_size).max(1)
    }

    fn emit(&self, e: TrainEvent) -> bool {
        self.log_metrics(&e);
        match &self.events {
            Some(sink) => sink(e),
            None => true,
        }
    }

    /// One JSON line per step and epoch in the run folder, so curves can be replotted later.
    fn log_metrics(&self, event: &TrainEvent) {
        self.metrics.borrow_mut().write(event);
    }

    fn batch(&self, domain: Domain, idx: &[usize], device: &Device) -> Tensor<4> {
        let imgs: Vec<&image::RgbImage> = idx
            .iter()
            .map(|&i| &self.dataset.domain(domain)[i].image)
            .collect();
        to_tensor(&imgs, device)
    }

    /// Held-out night→day retrieval and invariance, as `duskmatch eval` scores this model.
    fn held_out_scores(&self, model: &DoubleVae) -> Option<HeldOutScores> {
        if self.split.val_day.is_empty() || self.split.val_night.is_empty() {
            return None;
        }
        let (items, _) = evaluation_items(&self.dataset, Some(&self.split));
        held_out_scores(
            model,
            &self.dataset,
            &items,
            &self.device.device,
            self.config.seed,
        )
    }

    /// Mean validation losses with fixed noise, so epochs are comparable.
    fn validate(&self, model: &DoubleVae) -> Option<LossValues> {
        let (vd, vn) = (&self.split.val_day, &self.split.val_night);
        if vd.is_empty() || vn.is_empty() {
            return None;
        }
        let dev = self.device.device.clone();
        let b = self.config.batch_size;
        let batches = vd.len().max(vn.len()).div_ceil(b);
        let mut all = Vec::with_capacity(batches);
        for k in 0..batches {
            let a = self.batch(Domain::Day, &take_wrapped(vd, k * b, b.min(vd.len())), &dev);
            let bb = self.batch(
                Domain::Night,
                &take_wrapped(vn, k * b, b.min(vn.len())),
                &dev,
            );
            let mut noise = StepNoise::for_step(
                self.config.seed ^ 0x7a11_da7e,
                k as u64,
                &dev,
                !self.device.is_gpu,
            );
            let l = unit_loss_with(model, a, bb, &self.config.loss_weights, |mu| {
                noise.add_to(mu)
            });
            all.push(l.values());
        }
        Some(LossValues::mean(&all))
    }

    fn save(
        &self,
        path: &Path,
        state: &RunState,
        model: &DoubleVae,
        optim: &ModuleOptimizer,
        adversary: Option<&Adversary>,
    ) -> Result<PathBuf, RunError> {
        let parts = adversary.map(|a| AdversaryParts {
            discriminators: &a.discriminators,
            optimizer: &a.optimizer,
            latent: a.latent.as_ref().map(|l| (&l.discriminator, &l.optimizer)),
        });
        checkpoint::save(
            path,
            &self.config,
            state,
            &model.valid(),
            Some(optim),
            parts,
        )?;
        Ok(path.to_path_buf())
    }

    /// Save `latest`, and keep a numbered copy at epoch boundaries.
    fn save_latest(
        &self,
        state: &RunState,
        model: &DoubleVae,
        optim: &ModuleOptimizer,
        adversary: Option<&Adversary>,
        keep_as: Option<String>,
    ) -> Result<PathBuf, RunError> {
        let latest = self.out_dir.join(LATEST);
        self.save(&latest, state, model, optim, adversary)?;
        if let Some(name) = keep_as {
            let kept = self.out_dir.join(name);
            let _ = std::fs::remove_file(&kept);
            if std::fs::hard_link(&latest, &kept).is_err() {
                std::fs::copy(&latest, &kept).map_err(|source| RunError::Write {
                    path: kept.clone(),
                    source,
                })?;
            }
        }
        self.emit(TrainEvent::CheckpointWritten {
            path: latest.clone(),
            step: state.at.step,
        });
        Ok(latest)
    }

    /// The discriminators of `objective = aligned`: the resumed checkpoint's when it holds
    /// them, else fresh ones (with a notice when a checkpoint from before them resumes).
    #[allow(clippy::type_complexity)]
    fn build_adversary(
        &self,
        ad: &Device,
    ) -> Result<(Option<Adversary>, Option<String>), RunError> {
        let cfg = &self.config;
        if cfg.objective != Objective::Aligned {
            return Ok((None, None));
        }
        let channels = cfg.model.latent_channels();
        let adam = Adversary::adam(&cfg.align, cfg.adam_epsilon);
        let Some(ck) = self.resume.as_ref() else {
            let fresh = Adversary::new(&cfg.align, channels, cfg.adam_epsilon, cfg.seed, ad);
            return Ok((Some(fresh), None));
        };
        // Each part is the checkpoint's where it holds one, and only otherwise built fresh.
        let mut notes = Vec::new();
        let (discriminators, optimizer) = match ck
            .build_discriminators(&cfg.align.discriminator, ad)
        {
            Some(d) => (
                d?,
                run_loop::restore_optimizer(
                    &adam,
                    ck.discriminator_optimizer.clone(),
                    "image discriminators' optimiser state",
                )?,
            ),
            None => {
                notes.push("the resumed checkpoint holds no image discriminators (it predates them or used the research objective): they start fresh");
                (
                    Discriminators::new(&cfg.align.discriminator, cfg.seed, ad),
                    adam.init(),
                )
            }
        };
        let latent = if cfg.align.weights.latent > 0.0 {
            Some(
                match ck.build_latent_discriminator(channels, cfg.align.latent_width, ad) {
                    Some(d) => LatentCritic {
                        discriminator: d?,
                        optimizer: run_loop::restore_optimizer(
                            &adam,
                            ck.latent_discriminator_optimizer.clone(),
                            "latent discriminator's optimiser state",
                        )?,
                    },
                    None => {
                        notes.push("the resumed checkpoint holds no latent domain discriminator: it starts fresh");
                        LatentCritic::new(&cfg.align, channels, cfg.adam_epsilon, cfg.seed, ad)
                    }
                },
            )
        } else {
            None
        };
        let adversary = Adversary {
            discriminators,
            optimizer,
            latent,
        };
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        Ok((Some(adversary), note))
    }

    /// Run until the configured epochs or steps are done, or a stop request arrives.
    pub fn train(mut self) -> Result<TrainSummary, RunError> {
        let cfg = self.config.clone();
        let ad = self.device.device.clone().autodiff();
        let host_noise = !self.device.is_gpu;
        let steps_per_epoch = self.steps_per_epoch();
        let adam = AdamConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(cfg.adam_epsilon as f32);
        let resumed = self.resume.is_some();
        let (adversary, adversary_note) = self.build_adversary(&ad)?;
        let (model, optim, state) = match self.resume.take() {
            Some(ck) => {
                let model = ck.build_model(&ad)?;
                // resume_from has refused a file without one.
                let optim =
                    run_loop::restore_optimizer(&adam, ck.optimizer.clone(), "optimiser state")?;
                (model, optim, ck.header.state)
            }
            None => (
                DoubleVae::new(&cfg.model, cfg.seed, &ad),
                adam.init(),
                RunState::fresh(&cfg),
            ),
        };

        let plan = Plan {
            epochs: cfg.epochs,
            steps_per_epoch,
            max_steps: cfg.max_steps,
            save_every: cfg.save_every,
        };
        std::fs::create_dir_all(&self.out_dir).map_err(|source| RunError::CreateDir {
            path: self.out_dir.clone(),
            source,
        })?;
        let _ =
            crate::store::write_file(&self.out_dir.join("config.toml"), cfg.to_toml().as_bytes());
        *self.metrics.borrow_mut() = MetricsLog::open(&self.out_dir);
        let commands = self.commands.take();
        let mut stage = StageOne {
            trainer: &self,
            plan,
            ad,
            host_noise,
            model: Some(model),
            optim,
            adversary,
            state,
            orders: (Vec::new(), Vec::new()),
            last: LossValues::default(),
            last_val: None,
            last_ckpt: None,
            rate: RateMeter::new(),
        };
        self.emit(TrainEvent::Started {
            device: self.device.label.clone(),
            note: self.device.note.clone(),
            dataset: self.dataset.describe(),
            progress: stage.progress(),
            resumed,
        });
        if let Some(note) = adversary_note {
            self.emit(TrainEvent::Warning(note));
        }
        let reason = run_loop::run(&mut stage, plan, commands.as_ref())?;
        let progress = stage.progress();
        self.emit(TrainEvent::Finished {
            reason,
            progress,
            checkpoint: stage.last_ckpt.clone(),
        });
        Ok(TrainSummary {
            reason,
            progress,
            last: stage.last,
            val: stage.last_val,
            checkpoint: stage.last_ckpt.clone(),
            model: stage.model().valid(),
        })
    }
}

/// Stage one inside the run loop: the model, its optimiser, the discriminators and the run
/// state, with the trainer's data, events and checkpoint writer.
struct StageOne<'a> {
    trainer: &'a Trainer,
    plan: Plan,
    ad: Device,
    host_noise: bool,
    /// Taken out for the step (which consumes the model) and put back.
    model: Option<DoubleVae>,
    optim: ModuleOptimizer,
    adversary: Option<Adversary>,
    state: RunState,
    /// The epoch's day and night orders.
    orders: (Vec<usize>, Vec<usize>),
    last: LossValues,
    last_val: Option<LossValues>,
    last_ckpt: Option<PathBuf>,
    rate: RateMeter,
}

impl StageOne<'_> {
    fn model(&self) -> &DoubleVae {
        self.model
            .as_ref()
            .expect("the model is back after each step")
    }

    fn progress(&self) -> Progress {
        Progress {
            epoch: self.state.at.epoch,
            epochs: self.plan.epochs,
            step: self.state.at.step,
            total_steps: self.plan.total_steps(),
            steps_per_epoch: self.plan.steps_per_epoch,
        }
    }
}

impl run_loop::Stage for StageOne<'_> {
    fn counters(&mut self) -> &mut Counters {
        &mut self.state.at
    }

    fn begin_epoch(&mut self, epoch: usize) {
        let (t, seed) = (self.trainer, self.trainer.config.seed);
        self.orders = (
            epoch_order(&t.split.train_day, seed, epoch, Domain::Day),
            epoch_order(&t.split.train_night, seed, epoch, Domain::Night),
        );
    }

    fn step(&mut self, at: Counters) -> Result<(), run_loop::NonFiniteLoss> {
        let t = self.trainer;
        let cfg = &t.config;
        let (b, i) = (cfg.batch_size, at.step_in_epoch);
        let a = t.batch(
            Domain::Day,
            &take_wrapped(&self.orders.0, i * b, b),
            &self.ad,
        );
        let bb = t.batch(
            Domain::Night,
            &take_wrapped(&self.orders.1, i * b, b),
            &self.ad,
        );
        let mut noise = StepNoise::for_step(cfg.seed, at.step, &self.ad, self.host_noise);
        let model = self
            .model
            .take()
            .expect("the model is back after each step");
        let (next, values) = train_step(
            model,
            &mut self.optim,
            self.adversary.as_mut(),
            a,
            bb,
            cfg.objective,
            &cfg.loss_weights,
            &cfg.align,
            &mut noise,
            self.state.scheduler.lr,
        );
        self.model = Some(next);
        if !values.is_finite() {
            return Err(run_loop::NonFiniteLoss(format!("{values:?}")));
        }
        self.state.epoch_sums.add(&values);
        self.last = values;
        Ok(())
    }

    fn report_step(&mut self, at: Counters) -> bool {
        let t = self.trainer;
        self.rate.tick();
        let sps = self.rate.per_sec();
        let report = StepReport {
            progress: self.progress(),
            losses: self.last,
            lr: self.state.scheduler.lr,
            steps_per_sec: sps,
            images_per_sec: sps * 2.0 * t.config.batch_size as f64,
            eta_secs: if sps > 0.0 {
                (self.plan.total_steps().saturating_sub(at.step)) as f64 / sps
            } else {
                f64::NAN
            },
        };
        if !t.emit(TrainEvent::Step(report)) {
            return false;
        }
        if t.snapshot_every > 0 && at.step.is_multiple_of(t.snapshot_every) {
            t.emit(TrainEvent::Snapshot {
                step: at.step,
                model: Box::new(self.model().valid()),
            });
        }
        true
    }

    fn end_epoch(&mut self, finished: usize, at: Counters) -> Result<(), RunError> {
        let t = self.trainer;
        let train_mean = self.state.epoch_sums.mean(self.plan.steps_per_epoch);
        let inference = self.model().valid();
        let val = t.validate(&inference);
        let retrieval = t.held_out_scores(&inference);
        let reduced = self.state.scheduler.step(train_mean.total as f64);
        self.state.epoch_sums = Default::default();
        self.last_val = val;
        t.emit(TrainEvent::Epoch(EpochReport {
            epoch: finished,
            step: at.step,
            train: train_mean,
            val,
            lr: self.state.scheduler.lr,
            lr_reduced: reduced,
            retrieval,
        }));
        if let Some(r) = retrieval
            && self.state.best.is_none_or(|b| r.better_than(&b))
        {
            self.state.best = Some(r);
            t.save(
                &t.out_dir.join(BEST),
                &self.state,
                self.model(),
                &self.optim,
                self.adversary.as_ref(),
            )?;
        }
        Ok(())
    }

    fn save_latest(&mut self, at: Counters, boundary: bool) -> Result<(), RunError> {
        let keep = boundary.then(|| format!("epoch-{:04}.dmck", at.epoch));
        let path = self.trainer.save_latest(
            &self.state,
            self.model(),
            &self.optim,
            self.adversary.as_ref(),
            keep,
        )?;
        self.last_ckpt = Some(path);
        Ok(())
    }

    fn paused(&mut self, step: u64) {
        self.trainer.emit(TrainEvent::Paused { step });
    }

    fn resumed(&mut self, step: u64) {
        self.trainer.emit(TrainEvent::Resumed { step });
    }

    fn error(&mut self, message: String) {
        self.trainer.emit(TrainEvent::Error(message));
    }
}

/// Steps per second over the last few seconds of steps.
struct RateMeter {
    times: std::collections::VecDeque<Instant>,
}

impl RateMeter {
    fn new() -> Self {
        Self {
            times: std::collections::VecDeque::with_capacity(64),
        }
    }

    fn tick(&mut self) {
        if self.times.len() == 50 {
            self.times.pop_front();
        }
        self.times.push_back(Instant::now());
    }

    fn per_sec(&self) -> f64 {
        match (self.times.front(), self.times.back()) {
            (Some(a), Some(b)) if self.times.len() >= 2 => {
                let dt = b.duration_since(*a).as_secs_f64();
                if dt > 0.0 {
                    (self.times.len() - 1) as f64 / dt
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }
}
