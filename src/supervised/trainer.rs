//! The supervised stages, one loop for both (docs/design.md §3 and §3b):
//! - channel weights: the encoder frozen, one weight vector per matched depth learned from
//!   triplets (anchor = a place by day, positive = it by night, negative = another place by
//!   day or by night, 50/50), margin 1, Adam at 1e-3, batch 16;
//! - fine-tuning: the encoders themselves trained on the same place labels with the triplet
//!   hinge and in-batch hard negatives; the result is a model checkpoint (`latest.dmck`,
//!   `best.dmck` by held-out R@1) that eval, the app and every other command read as is.
//!
//! Runs on any thread, reports through a channel, obeys pause/stop/save like stage one,
//! checkpoints and resumes exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{HistoryPoint, SupervisedState, WeightsCheckpoint};
use super::config::{Mining, SupervisedConfig, SupervisedMethod};
use super::error::SupervisedError;
use super::events::SupervisedEvent;
use super::fine_tune::{FineTuneStamp, Resume};
use super::triplets::{Triplet, triplets};
use super::weights::{
    ChannelWeights, Hinge, batch_hard_objective, features, pair_distances, share_for_mass,
    triplet_objective, weighted_distance,
};
use crate::data::split::{MIN_EVAL_PLACES, paired_places};
use crate::data::{Dataset, Domain, Split, to_tensor};
use crate::device::ComputeDevice;
use crate::model::{DoubleVae, ModelConfig};
use crate::retrieval::eval::{HeldOutScores, held_out_scores};
use crate::retrieval::method_rows::evaluation_items;
use crate::train::Command;
use crate::train::RunError;
use crate::train::checkpoint::Header;
use crate::train::run_loop::{self, Counters, EventSink, Plan};

/// What the loop learns: the weights (on the autodiff device, the frozen model beside them)
/// or the model itself (on the autodiff device, the weights fixed at one).
enum Learner {
    Weights(ChannelWeights),
    Encoder {
        model: Box<DoubleVae>,
        ones: ChannelWeights,
    },
}

impl Learner {
    fn weights(&self) -> &ChannelWeights {
        match self {
            Learner::Weights(w) => w,
            Learner::Encoder { ones, .. } => ones,
        }
    }

    fn step(self, optim: &mut ModuleOptimizer, lr: f64, loss: Tensor<1>) -> Self {
        let grads = loss.backward();
        match self {
            Learner::Weights(w) => {
                let g = GradientsParams::from_grads(grads, &w);
                Learner::Weights(optim.step(lr, w, g))
            }
            Learner::Encoder { model, ones } => {
                let g = GradientsParams::from_grads(grads, &*model);
                Learner::Encoder {
                    model: Box::new(optim.step(lr, *model, g)),
                    ones,
                }
            }
        }
    }
}

/// What a supervised run produced: the weights (ones when fine-tuning), the fine-tuned model
/// (inference copy) and where the run stands.
pub struct Trained {
    pub weights: ChannelWeights,
    pub model: Option<DoubleVae>,
    pub state: SupervisedState,
}

/// A supervised stage inside the run loop: what it learns, its optimiser and state, with the
/// trainer's data, events and checkpoint writer.
struct SupervisedStage<'a> {
    trainer: &'a SupervisedTrainer,
    /// Taken out for the step (which consumes it) and put back.
    learner: Option<Learner>,
    optim: ModuleOptimizer,
    state: SupervisedState,
    /// The epoch's triplets, in order.
    triplets: Vec<Triplet>,
    last_loss: f32,
}

impl SupervisedStage<'_> {
    fn learner(&self) -> &Learner {
        self.learner
            .as_ref()
            .expect("the learner is back after each step")
    }

    fn save_to(&self, path: &Path) -> Result<(), SupervisedError> {
        self.trainer
            .save(path, &self.state, self.learner(), &self.optim)?;
        self.trainer.emit(SupervisedEvent::CheckpointWritten {
            path: path.to_path_buf(),
        });
        Ok(())
    }
}

impl run_loop::Stage for SupervisedStage<'_> {
    fn counters(&mut self) -> &mut Counters {
        &mut self.state.at
    }

    fn begin_epoch(&mut self, epoch: usize) {
        let t = self.trainer;
        let all: Vec<usize> = (0..t.train_places.len()).collect();
        let (order, mut rng) = run_loop::seeded_order(&all, t.config.seed, epoch as u64 + 1);
        self.triplets = triplets(&t.train_places, &order, &mut rng);
    }

    fn step(&mut self, at: Counters) -> Result<(), run_loop::NonFiniteLoss> {
        let b = self.trainer.config.batch_size;
        let i = at.step_in_epoch;
        let batch = &self.triplets[i * b..((i + 1) * b).min(self.triplets.len())];
        let loss = self.trainer.batch_loss(self.learner(), batch);
        let value = loss.clone().inner().into_scalar::<f32>();
        if !value.is_finite() {
            return Err(run_loop::NonFiniteLoss(format!("triplet loss {value}")));
        }
        let learner = self
            .learner
            .take()
            .expect("the learner is back after each step");
        self.learner = Some(learner.step(&mut self.optim, self.trainer.config.learning_rate, loss));
        self.state.epoch_loss_sum += value as f64;
        self.last_loss = value;
        Ok(())
    }

    fn report_step(&mut self, at: Counters) -> bool {
        self.trainer.emit(SupervisedEvent::Step {
            step: at.step,
            epoch: at.epoch,
            loss: self.last_loss,
        })
    }

    fn end_epoch(&mut self, finished: usize, at: Counters) -> Result<(), RunError> {
        let t = self.trainer;
        let spe = t.steps_per_epoch();
        let train = (self.state.epoch_loss_sum / spe as f64) as f32;
        let (val, retrieval) = t.evaluate(self.learner());
        let share90 = match self.learner() {
            Learner::Weights(w) => w
                .to_vecs()
                .first()
                .map(|v| share_for_mass(v, 0.9).1)
                .unwrap_or(f32::NAN),
            Learner::Encoder { .. } => 1.0,
        };
        self.state.history.push(HistoryPoint {
            step: at.step,
            epoch: at.epoch,
            train: Some(train),
            val,
        });
        self.state.epoch_loss_sum = 0.0;
        let improved = retrieval.is_some_and(|r| self.state.best.is_none_or(|b| r.better_than(&b)));
        if improved {
            self.state.best = retrieval;
        }
        t.emit(SupervisedEvent::Epoch {
            epoch: finished,
            step: at.step,
            train,
            val,
            share90,
            retrieval,
        });
        if improved {
            self.save_to(&t.out.join(crate::train::checkpoint::BEST))
                .map_err(|e| RunError::Stage(e.into()))?;
        }
        Ok(())
    }

    fn save_latest(&mut self, _at: Counters, _boundary: bool) -> Result<(), RunError> {
        self.save_to(&self.trainer.latest_path())
            .map_err(|e| RunError::Stage(e.into()))
    }

    fn paused(&mut self, step: u64) {
        self.trainer.emit(SupervisedEvent::Paused { step });
    }

    fn resumed(&mut self, step: u64) {
        self.trainer.emit(SupervisedEvent::Resumed { step });
    }

    fn error(&mut self, message: String) {
        self.trainer.emit(SupervisedEvent::Error(message));
    }

    fn loss_name(&self) -> &'static str {
        "triplet loss"
    }
}

pub struct SupervisedTrainer {
    pub config: SupervisedConfig,
    model: DoubleVae,
    model_config: ModelConfig,
    dataset: Arc<Dataset>,
    split: Split,
    train_places: Vec<(u32, usize, usize)>,
    val_triplets: Vec<Triplet>,
    device: ComputeDevice,
    out: PathBuf,
    stage_one: (PathBuf, u64),
    /// The stage-one model's fingerprint, which the files record and a resume must match;
    /// computed on first use (it reads every parameter back), so `new` stays cheap for the
    /// app's GUI thread and the run computes it on its own.
    stage_one_fingerprint: std::sync::OnceLock<String>,
    /// The stage-one checkpoint's header: a fine-tuned model is saved under it.
    stage_one_header: Option<Header>,
    events: Option<EventSink<SupervisedEvent>>,
    commands: Option<Receiver<Command>>,
    resume: Option<Resume>,
}

impl SupervisedTrainer {
    /// `model` is the stage-one model (any device: it is moved to `device`; frozen for the
    /// weights, the starting point when fine-tuning); `split` holds out the places stage one
    /// held out.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: SupervisedConfig,
        model: &DoubleVae,
        model_config: ModelConfig,
        dataset: Arc<Dataset>,
        split: &Split,
        device: ComputeDevice,
        out: impl Into<PathBuf>,
        stage_one: (PathBuf, u64),
    ) -> Result<Self, SupervisedError> {
        config.validate()?;
        let train_places = paired_places(&dataset, &split.train_day, &split.train_night);
        if train_places.len() < 2 {
            return Err(SupervisedError::NoGroundTruth);
        }
        let val_places = paired_places(&dataset, &split.val_day, &split.val_night);
        // The stage is judged on held-out triplets (and fine-tuning on held-out retrieval):
        // without them a run could only report NaN.
        if val_places.len() < MIN_EVAL_PLACES {
            return Err(SupervisedError::TooFewHeldOut {
                held: val_places.len(),
                min: MIN_EVAL_PLACES,
            });
        }
        if config.mining == Mining::BatchHard && train_places.len() < config.batch_size {
            return Err(SupervisedError::BatchHard {
                places: train_places.len(),
                batch: config.batch_size,
            });
        }
        let order: Vec<usize> = (0..val_places.len()).collect();
        let val_triplets = triplets(
            &val_places,
            &order,
            &mut ChaCha8Rng::seed_from_u64(config.seed ^ 0x0ba1),
        );
        let model = model.valid().to_device(&device.device);
        Ok(Self {
            config,
            model,
            model_config,
            dataset,
            split: split.clone(),
            train_places,
            val_triplets,
            device,
            out: out.into(),
            stage_one,
            stage_one_fingerprint: std::sync::OnceLock::new(),
            stage_one_header: None,
            events: None,
            commands: None,
            resume: None,
        })
    }

    fn stage_one_fingerprint(&self) -> &str {
        self.stage_one_fingerprint
            .get_or_init(|| crate::model::fingerprint::fingerprint(&self.model))
    }

    pub fn with_events(self, tx: Sender<SupervisedEvent>) -> Self {
        self.with_event_sink(run_loop::channel_sink(tx))
    }

    pub fn with_event_sink(mut self, sink: EventSink<SupervisedEvent>) -> Self {
        self.events = Some(sink);
        self
    }

    pub fn with_commands(mut self, rx: Receiver<Command>) -> Self {
        self.commands = Some(rx);
        self
    }

    /// The stage-one checkpoint's header, which a fine-tuned model is saved under (its
    /// training config and progress stay those of stage one).
    pub fn with_stage_one_header(mut self, header: Header) -> Self {
        self.stage_one_header = Some(header);
        self
    }

    /// Continue a weights run from its file.
    pub fn resume_from(self, ck: WeightsCheckpoint) -> Result<Self, SupervisedError> {
        self.resume_with(Resume::Weights(Box::new(ck)))
    }

    /// Continue a weights or a fine-tuning run; the file must be of this run's method, depths
    /// and architecture, learned on the same stage-one checkpoint, and hold its optimiser.
    pub fn resume_with(mut self, resume: Resume) -> Result<Self, SupervisedError> {
        let (config, stage_one, fingerprint, has_optimizer) = match &resume {
            Resume::Weights(ck) => (
                ck.header.config.clone(),
                (ck.header.stage_one.clone(), ck.header.stage_one_step),
                ck.header.stage_one_fingerprint.clone(),
                ck.optimizer.is_some(),
            ),
            Resume::FineTune { stamp, checkpoint } => (
                stamp.config.clone(),
                (stamp.stage_one.clone(), stamp.stage_one_step),
                stamp.stage_one_fingerprint.clone(),
                checkpoint.optimizer.is_some(),
            ),
        };
        if config.method != self.config.method {
            return Err(SupervisedError::Method {
                file: config.method.name(),
                run: self.config.method.name(),
            });
        }
        if config.depths != self.config.depths {
            return Err(SupervisedError::Depths {
                file: config.depths.name(),
                run: self.config.depths.name(),
            });
        }
        match &resume {
            Resume::Weights(ck) => {
                let expect = self.config.depths.channels(self.model_config.base_width);
                if ck.header.channels != expect {
                    return Err(SupervisedError::Channels {
                        file: ck.header.channels.clone(),
                        model: expect,
                    });
                }
            }
            Resume::FineTune { checkpoint, .. } => {
                checkpoint.check_architecture(&self.model_config)?
            }
        }
        if stage_one.1 != self.stage_one.1 {
            return Err(SupervisedError::StageOneStep {
                file_path: stage_one.0.clone(),
                file_step: stage_one.1,
                run_step: self.stage_one.1,
                run_path: self.stage_one.0.clone(),
            });
        }
        if let Some(f) = fingerprint.filter(|f| f != self.stage_one_fingerprint()) {
            return Err(SupervisedError::Fingerprint {
                step: stage_one.1,
                file: f,
                model: self.stage_one_fingerprint().to_string(),
                path: stage_one.0.clone(),
            });
        }
        if !has_optimizer {
            return Err(SupervisedError::NoOptimizer);
        }
        self.resume = Some(resume);
        Ok(self)
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.train_places.len() / self.config.batch_size).max(1)
    }

    fn emit(&self, e: SupervisedEvent) -> bool {
        self.events.as_ref().is_none_or(|sink| sink(e))
    }

    /// Features of a list of (domain, index) images, in order, from `model` on `dev`.
    fn feats(&self, model: &DoubleVae, dev: &Device, imgs: &[(Domain, usize)]) -> Vec<Tensor<4>> {
        let depth_count = self.config.depths.taps().len();
        let mut per_domain: Vec<(Vec<usize>, Vec<Tensor<4>>)> = Vec::new();
        for d in Domain::BOTH {
            let pos: Vec<usize> = (0..imgs.len()).filter(|&k| imgs[k].0 == d).collect();
            if pos.is_empty() {
                continue;
            }
            let batch: Vec<&image::RgbImage> = pos
                .iter()
                .map(|&k| &self.dataset.domain(d)[imgs[k].1].image)
                .collect();
            per_domain.push((
                pos,
                features(model, to_tensor(&batch, dev), d, self.config.depths),
            ));
        }
        // Rows come grouped by domain; put them back in the order asked for.
        let grouped: Vec<usize> = per_domain
            .iter()
            .flat_map(|(p, _)| p.iter().copied())
            .collect();
        let mut inverse = vec![0usize; grouped.len()];
        for (row, &k) in grouped.iter().enumerate() {
            inverse[k] = row;
        }
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(
                inverse.iter().map(|&i| i as i64).collect::<Vec<_>>(),
                [inverse.len()],
            ),
            dev,
        );
        (0..depth_count)
            .map(|k| {
                let cat = Tensor::cat(per_domain.iter().map(|(_, f)| f[k].clone()).collect(), 0);
                cat.select(0, idx.clone())
            })
            .collect()
    }

    /// Features on the autodiff device: through the learned encoder when fine-tuning, from
    /// the frozen one (then lifted) for the weights.
    fn learner_feats(&self, learner: &Learner, imgs: &[(Domain, usize)]) -> Vec<Tensor<4>> {
        match learner {
            Learner::Encoder { model, ones } => {
                let ad = ones.depths[0].val().device();
                self.feats(model, &ad, imgs)
            }
            Learner::Weights(_) => self
                .feats(&self.model, &self.device.device, imgs)
                .into_iter()
                .map(|t| t.autodiff())
                .collect(),
        }
    }

    /// The training objective of one batch of triplets.
    fn batch_loss(&self, learner: &Learner, batch: &[Triplet]) -> Tensor<1> {
        let cfg = &self.config;
        let anchors: Vec<(Domain, usize)> = batch.iter().map(|t| (Domain::Day, t.anchor)).collect();
        let positives: Vec<(Domain, usize)> =
            batch.iter().map(|t| (Domain::Night, t.positive)).collect();
        let a = self.learner_feats(learner, &anchors);
        let p = self.learner_feats(learner, &positives);
        match cfg.mining {
            Mining::Random => {
                let n = self.learner_feats(
                    learner,
                    &batch.iter().map(|t| t.negative).collect::<Vec<_>>(),
                );
                let w = learner.weights();
                triplet_objective(
                    weighted_distance(w, &a, &p),
                    weighted_distance(w, &a, &n),
                    cfg.margin,
                    cfg.hinge,
                )
            }
            // Rows are night anchors, columns day images.
            Mining::BatchHard => {
                batch_hard_objective(pair_distances(learner.weights(), &p, &a), cfg.margin)
            }
        }
    }

    /// Held-out triplet loss (per-triplet hinge, random negatives: the metric of docs/design.md §4)
    /// of `model` with weights `w`, both off the autodiff device.
    pub fn validation_loss_of(&self, model: &DoubleVae, w: &ChannelWeights) -> Option<f32> {
        if self.val_triplets.is_empty() {
            return None;
        }
        let dev = &self.device.device;
        let mut total = 0.0;
        for chunk in self.val_triplets.chunks(64) {
            let f = |imgs: Vec<(Domain, usize)>| self.feats(model, dev, &imgs);
            let a = f(chunk.iter().map(|t| (Domain::Day, t.anchor)).collect());
            let p = f(chunk.iter().map(|t| (Domain::Night, t.positive)).collect());
            let n = f(chunk.iter().map(|t| t.negative).collect());
            let l = triplet_objective(
                weighted_distance(w, &a, &p),
                weighted_distance(w, &a, &n),
                self.config.margin,
                Hinge::Triplet,
            );
            total += l.into_scalar::<f32>() * chunk.len() as f32;
        }
        Some(total / self.val_triplets.len() as f32)
    }

    /// [`Self::validation_loss_of`] the frozen model with weights `w`.
    pub fn validation_loss(&self, w: &ChannelWeights) -> Option<f32> {
        self.validation_loss_of(&self.model, &w.valid().to_device(&self.device.device))
    }

    fn evaluate(&self, learner: &Learner) -> (Option<f32>, Option<HeldOutScores>) {
        match learner {
            Learner::Weights(w) => (self.validation_loss(w), None),
            Learner::Encoder { model, .. } => {
                let model = model.valid().to_device(&self.device.device);
                let ones = ChannelWeights::ones(
                    &self.config.depths.channels(self.model_config.base_width),
                    &self.device.device,
                );
                let (items, _) = evaluation_items(&self.dataset, Some(&self.split));
                let scores = (!self.split.val_day.is_empty() && !self.split.val_night.is_empty())
                    .then(|| {
                        held_out_scores(
                            &model,
                            &self.dataset,
                            &items,
                            &self.device.device,
                            self.config.seed,
                        )
                    })
                    .flatten();
                (self.validation_loss_of(&model, &ones), scores)
            }
        }
    }

    fn save(
        &self,
        path: &Path,
        state: &SupervisedState,
        learner: &Learner,
        optim: &ModuleOptimizer,
    ) -> Result<(), SupervisedError> {
        match learner {
            Learner::Weights(w) => Ok(super::checkpoint::save(
                path,
                &self.config,
                &self.model_config,
                (
                    &self.stage_one.0,
                    self.stage_one.1,
                    self.stage_one_fingerprint(),
                ),
                state,
                w,
                Some(optim),
            )?),
            Learner::Encoder { model, .. } => {
                let header = self
                    .stage_one_header
                    .as_ref()
                    .ok_or(SupervisedError::NoStageOneHeader)?;
                let stamp = FineTuneStamp {
                    config: self.config.clone(),
                    stage_one: self.stage_one.0.clone(),
                    stage_one_step: self.stage_one.1,
                    stage_one_fingerprint: Some(self.stage_one_fingerprint().to_string()),
                    state: state.clone(),
                };
                Ok(super::fine_tune::save(
                    path,
                    header,
                    &stamp,
                    &model.valid(),
                    optim,
                )?)
            }
        }
    }

    fn latest_path(&self) -> PathBuf {
        self.out.join(match self.config.method {
            SupervisedMethod::Weights => super::checkpoint::WEIGHTS_FILE,
            SupervisedMethod::FineTune => crate::train::checkpoint::LATEST,
        })
    }

    pub fn train(mut self) -> Result<Trained, SupervisedError> {
        let cfg = self.config.clone();
        let ad = self.device.device.clone().autodiff();
        let spe = self.steps_per_epoch();
        let channels = cfg.depths.channels(self.model_config.base_width);
        let adam = AdamConfig::new().with_epsilon(1e-8);
        let restore = |bytes: &Option<burn::tensor::Bytes>| {
            run_loop::restore_optimizer(&adam, bytes.clone(), "optimiser state")
        };
        if cfg.method == SupervisedMethod::FineTune && self.stage_one_header.is_none() {
            return Err(SupervisedError::NoStageOneHeader);
        }
        let resumed = self.resume.is_some();
        let (learner, optim, mut state) = match self.resume.take() {
            Some(Resume::Weights(ck)) => (
                Learner::Weights(ck.build(&ad)?),
                restore(&ck.optimizer)?,
                ck.header.state.clone(),
            ),
            Some(Resume::FineTune { stamp, checkpoint }) => (
                Learner::Encoder {
                    model: Box::new(checkpoint.build_model(&ad)?),
                    ones: ChannelWeights::ones(&channels, &ad),
                },
                restore(&checkpoint.optimizer)?,
                stamp.state,
            ),
            None => (
                match cfg.method {
                    SupervisedMethod::Weights => {
                        Learner::Weights(ChannelWeights::ones(&channels, &ad))
                    }
                    SupervisedMethod::FineTune => Learner::Encoder {
                        model: Box::new(self.model.clone().fork(&ad).train()),
                        ones: ChannelWeights::ones(&channels, &ad),
                    },
                },
                adam.init(),
                SupervisedState::default(),
            ),
        };
        let total = (cfg.epochs * spe) as u64;
        std::fs::create_dir_all(&self.out).map_err(|source| SupervisedError::CreateDir {
            path: self.out.clone(),
            source,
        })?;
        if state.history.is_empty()
            && let (Some(v), _) = self.evaluate(&learner)
        {
            // Where the stage starts (w = 1, or the encoder as stage one left it).
            state.history.push(HistoryPoint {
                step: 0,
                epoch: 0,
                train: None,
                val: Some(v),
            });
        }
        self.emit(SupervisedEvent::Started {
            method: cfg.method,
            depths: cfg.depths,
            steps_per_epoch: spe,
            total_steps: total,
            step: state.at.step,
            train_places: self.train_places.len(),
            val_places: self.val_triplets.len(),
            resumed,
            initial_val: state.history.first().and_then(|h| h.val),
        });
        let plan = Plan {
            epochs: cfg.epochs,
            steps_per_epoch: spe,
            max_steps: 0,
            save_every: cfg.save_every,
        };
        let commands = self.commands.take();
        let mut stage = SupervisedStage {
            trainer: &self,
            learner: Some(learner),
            optim,
            state,
            triplets: Vec::new(),
            last_loss: f32::NAN,
        };
        run_loop::run(&mut stage, plan, commands.as_ref())?;
        let (learner, state) = (
            stage.learner.take().expect("the learner is back"),
            stage.state,
        );
        let latest = self.latest_path();
        let weights = learner.weights().valid();
        self.emit(SupervisedEvent::Finished {
            step: state.at.step,
            weights: weights.to_vecs(),
            checkpoint: Some(latest),
        });
        let model = match learner {
            Learner::Encoder { model, .. } => Some(model.valid()),
            Learner::Weights(_) => None,
        };
        Ok(Trained {
            weights,
            model,
            state,
        })
    }
}
