//! The training loop of DESIGN.md §2, as the research's `Trainer`: build it from a
//! `TrainingConfig`, call `train()`. It reports through an event channel and obeys pause,
//! resume, stop and save requests between steps, so a GUI can drive it from a thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{self, AdversaryParts, BEST, Checkpoint, LATEST, RunState};
use super::config::TrainingConfig;
use super::events::{Command, EpochReport, Progress, StepReport, StopReason, TrainEvent};
use super::metrics_log::MetricsLog;
use super::noise::StepNoise;
use super::scheduler::ReduceOnPlateau;
use super::step::{Adversary, train_step};
use crate::data::{Dataset, Domain, Split, to_tensor};
use crate::device::ComputeDevice;
use crate::model::loss::unit_loss_with;
use crate::model::{DoubleVae, LossValues, Objective};
use crate::retrieval::compare::evaluation_items;
use crate::retrieval::eval::{HeldOutScores, held_out_scores};

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
    events: Option<Sender<TrainEvent>>,
    commands: Option<Receiver<Command>>,
    snapshot_every: u64,
    resume: Option<Checkpoint>,
    metrics: std::cell::RefCell<MetricsLog>,
}

/// Seeded permutation of one domain's training indices for one epoch.
fn epoch_order(indices: &[usize], seed: u64, epoch: usize, domain: Domain) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((epoch as u64) << 1) | (domain == Domain::Night) as u64 | 0x1000);
    let mut v = indices.to_vec();
    v.shuffle(&mut rng);
    v
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
    ) -> Result<Self, String> {
        config.validate().map_err(|e| e.to_string())?;
        if dataset.image_size as usize != config.model.image_size {
            return Err(format!(
                "the dataset is at {} px but model.image_size is {}",
                dataset.image_size, config.model.image_size
            ));
        }
        let split = Split::new(&dataset, config.validation_fraction, config.seed);
        for d in Domain::BOTH {
            if split.train(d).is_empty() {
                return Err(format!(
                    "no {d} images left for training after holding out validation_fraction = {}",
                    config.validation_fraction
                ));
            }
        }
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

    pub fn with_events(mut self, tx: Sender<TrainEvent>) -> Self {
        self.events = Some(tx);
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
    pub fn resume_from(mut self, ckpt: Checkpoint) -> Result<Self, String> {
        ckpt.check_architecture(&self.config.model)?;
        if ckpt.header.state.supervised.is_some() {
            return Err("this checkpoint was fine-tuned on place labels; stage one does not resume it (its optimiser state is the fine-tuning's). Resume the fine-tuning with `duskmatch weights --method fine-tune --resume`, or resume the stage-one checkpoint it started from".into());
        }
        if ckpt.optimizer.is_none() {
            return Err("this checkpoint holds weights only (no optimiser state), so it cannot be resumed exactly; use it for evaluation, or start a new run".into());
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
            Some(tx) => tx.send(e).is_ok(),
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
    ) -> Result<PathBuf, String> {
        let parts = adversary.map(|a| AdversaryParts {
            discriminators: &a.discriminators,
            optimizer: &a.optimizer,
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
    ) -> Result<PathBuf, String> {
        let latest = self.out_dir.join(LATEST);
        self.save(&latest, state, model, optim, adversary)?;
        if let Some(name) = keep_as {
            let kept = self.out_dir.join(name);
            let _ = std::fs::remove_file(&kept);
            if std::fs::hard_link(&latest, &kept).is_err() {
                std::fs::copy(&latest, &kept)
                    .map_err(|e| format!("cannot write {}: {e}", kept.display()))?;
            }
        }
        self.emit(TrainEvent::CheckpointWritten {
            path: latest.clone(),
            step: state.step,
        });
        Ok(latest)
    }

    /// The image discriminators of `objective = aligned`: the resumed checkpoint's when it
    /// holds them, else fresh ones (with a notice when a checkpoint from before them resumes).
    #[allow(clippy::type_complexity)]
    fn build_adversary(&self, ad: &Device) -> Result<(Option<Adversary>, Option<String>), String> {
        let cfg = &self.config;
        if cfg.objective != Objective::Aligned {
            return Ok((None, None));
        }
        let adam = Adversary::adam(&cfg.align, cfg.adam_epsilon);
        let restored = self.resume.as_ref().and_then(|ck| {
            let d = ck.build_discriminators(&cfg.align.discriminator, ad)?;
            Some((d, ck.discriminator_optimizer.clone()))
        });
        let mut note = None;
        let adversary = match restored {
            Some((d, optim)) => {
                let optimizer = match optim {
                    Some(bytes) => adam.init().from_bytes(bytes).map_err(|e| {
                        format!("cannot read the discriminators' optimiser state: {e}")
                    })?,
                    None => adam.init(),
                };
                Adversary {
                    discriminators: d?,
                    optimizer,
                }
            }
            None => {
                if self.resume.is_some() {
                    note = Some("the resumed checkpoint holds no image discriminators (it predates them or used the research objective): they start fresh".to_string());
                }
                Adversary::new(&cfg.align, cfg.adam_epsilon, cfg.seed, ad)
            }
        };
        Ok((Some(adversary), note))
    }

    /// Run until the configured epochs or steps are done, or a stop request arrives.
    pub fn train(mut self) -> Result<TrainSummary, String> {
        let cfg = self.config.clone();
        let ad = self.device.device.clone().autodiff();
        let host_noise = !self.device.is_gpu;
        let steps_per_epoch = self.steps_per_epoch();
        let b = cfg.batch_size;

        let adam = AdamConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(cfg.adam_epsilon as f32);
        let resumed = self.resume.is_some();
        let (mut adversary, adversary_note) = self.build_adversary(&ad)?;
        let (mut model, mut optim, mut state) = match self.resume.take() {
            Some(ck) => {
                let model = ck.build_model(&ad)?;
                let optim = adam
                    .init()
                    .from_bytes(ck.optimizer.clone().expect("checked in resume_from"))
                    .map_err(|e| format!("cannot read the optimiser state: {e}"))?;
                (model, optim, ck.header.state)
            }
            None => {
                let state = RunState {
                    epoch: 0,
                    step_in_epoch: 0,
                    step: 0,
                    scheduler: ReduceOnPlateau::new(cfg.plateau, cfg.learning_rate),
                    epoch_sums: Default::default(),
                    best: None,
                    rng: "weights: ChaCha8(seed); epoch order: ChaCha8(seed, epoch); noise: ChaCha8(splitmix(seed, step))".into(),
                    supervised: None,
                };
                (
                    DoubleVae::new(&cfg.model, cfg.seed, &ad),
                    adam.init(),
                    state,
                )
            }
        };

        let total_steps = {
            let all = (cfg.epochs * steps_per_epoch) as u64;
            if cfg.max_steps > 0 {
                all.min(cfg.max_steps)
            } else {
                all
            }
        };
        let progress = |s: &RunState| Progress {
            epoch: s.epoch,
            epochs: cfg.epochs,
            step: s.step,
            total_steps,
            steps_per_epoch,
        };
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.out_dir.display()))?;
        let _ = std::fs::write(self.out_dir.join("config.toml"), cfg.to_toml());
        *self.metrics.borrow_mut() = MetricsLog::open(&self.out_dir);
        self.emit(TrainEvent::Started {
            device: self.device.label.clone(),
            note: self.device.note.clone(),
            dataset: self.dataset.describe(),
            progress: progress(&state),
            resumed,
        });
        if let Some(note) = adversary_note {
            self.emit(TrainEvent::Warning(note));
        }

        let mut last = LossValues::default();
        let mut last_val = None;
        let mut last_ckpt = None;
        let mut rate = RateMeter::new();
        let mut reason = StopReason::Finished;

        'epochs: while state.epoch < cfg.epochs {
            let day_order = epoch_order(&self.split.train_day, cfg.seed, state.epoch, Domain::Day);
            let night_order = epoch_order(
                &self.split.train_night,
                cfg.seed,
                state.epoch,
                Domain::Night,
            );
            while state.step_in_epoch < steps_per_epoch {
                if cfg.max_steps > 0 && state.step >= cfg.max_steps {
                    reason = StopReason::MaxSteps;
                    break 'epochs;
                }
                match self.poll_commands(&state, &model, &optim, adversary.as_ref()) {
                    Flow::Continue => {}
                    Flow::Stop => {
                        reason = StopReason::Stopped;
                        break 'epochs;
                    }
                }

                let i = state.step_in_epoch;
                let a = self.batch(Domain::Day, &take_wrapped(&day_order, i * b, b), &ad);
                let bb = self.batch(Domain::Night, &take_wrapped(&night_order, i * b, b), &ad);
                let mut noise = StepNoise::for_step(cfg.seed, state.step, &ad, host_noise);
                let lr = state.scheduler.lr;
                let (next, values) = train_step(
                    model,
                    &mut optim,
                    adversary.as_mut(),
                    a,
                    bb,
                    &cfg.loss_weights,
                    &cfg.align,
                    &mut noise,
                    lr,
                );
                model = next;
                if !values.is_finite() {
                    let msg = format!(
                        "the loss became non-finite at step {} ({values:?}); training stopped and the last checkpoint was kept. Try a lower learning_rate.",
                        state.step
                    );
                    self.emit(TrainEvent::Error(msg.clone()));
                    return Err(msg);
                }

                state.step += 1;
                state.step_in_epoch += 1;
                state.epoch_sums.add(&values);
                last = values;
                rate.tick();
                let sps = rate.per_sec();
                let report = StepReport {
                    progress: progress(&state),
                    losses: values,
                    lr: state.scheduler.lr,
                    steps_per_sec: sps,
                    images_per_sec: sps * 2.0 * b as f64,
                    eta_secs: if sps > 0.0 {
                        (total_steps.saturating_sub(state.step)) as f64 / sps
                    } else {
                        f64::NAN
                    },
                };
                if !self.emit(TrainEvent::Step(report)) {
                    reason = StopReason::Stopped; // nobody is listening any more
                    break 'epochs;
                }
                if self.snapshot_every > 0 && state.step % self.snapshot_every == 0 {
                    self.emit(TrainEvent::Snapshot {
                        step: state.step,
                        model: Box::new(model.valid()),
                    });
                }
            }

            // End of epoch: validation, schedule, checkpoint.
            let train_mean = state.epoch_sums.mean(steps_per_epoch);
            let inference = model.valid();
            let val = self.validate(&inference);
            let retrieval = self.held_out_scores(&inference);
            let reduced = state.scheduler.step(train_mean.total as f64);
            let epoch = state.epoch;
            state.epoch += 1;
            state.step_in_epoch = 0;
            state.epoch_sums = Default::default();
            last_val = val;
            self.emit(TrainEvent::Epoch(EpochReport {
                epoch,
                step: state.step,
                train: train_mean,
                val,
                lr: state.scheduler.lr,
                lr_reduced: reduced,
                retrieval,
            }));
            if let Some(r) = retrieval
                && state.best.is_none_or(|b| r.better_than(&b))
            {
                state.best = Some(r);
                let best = self.out_dir.join(BEST);
                self.save(&best, &state, &model, &optim, adversary.as_ref())?;
            }
            if state.epoch % cfg.save_every == 0 || state.epoch == cfg.epochs {
                last_ckpt = Some(self.save_latest(
                    &state,
                    &model,
                    &optim,
                    adversary.as_ref(),
                    Some(format!("epoch-{:04}.dmck", state.epoch)),
                )?);
            }
        }

        // Whatever ended the run, the state it reached is on disk.
        if reason != StopReason::Finished || last_ckpt.is_none() {
            last_ckpt = Some(self.save_latest(&state, &model, &optim, adversary.as_ref(), None)?);
        }
        let progress = progress(&state);
        self.emit(TrainEvent::Finished {
            reason,
            progress,
            checkpoint: last_ckpt.clone(),
        });
        Ok(TrainSummary {
            reason,
            progress,
            last,
            val: last_val,
            checkpoint: last_ckpt,
            model: model.valid(),
        })
    }

    /// Apply queued requests; while paused, wait for the next one without spinning.
    fn poll_commands(
        &self,
        state: &RunState,
        model: &DoubleVae,
        optim: &ModuleOptimizer,
        adversary: Option<&Adversary>,
    ) -> Flow {
        let Some(rx) = &self.commands else {
            return Flow::Continue;
        };
        let mut paused = false;
        loop {
            let cmd = if paused {
                match rx.recv() {
                    Ok(c) => c,
                    Err(_) => return Flow::Stop,
                }
            } else {
                match rx.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {
                        return Flow::Continue;
                    }
                }
            };
            match cmd {
                Command::Pause => {
                    if !paused {
                        paused = true;
                        self.emit(TrainEvent::Paused { step: state.step });
                    }
                }
                Command::Resume => {
                    if paused {
                        self.emit(TrainEvent::Resumed { step: state.step });
                    }
                    paused = false;
                }
                Command::Stop => return Flow::Stop,
                Command::SaveNow => {
                    if let Err(e) = self.save_latest(state, model, optim, adversary, None) {
                        self.emit(TrainEvent::Error(e));
                    }
                }
            }
        }
    }
}

enum Flow {
    Continue,
    Stop,
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
