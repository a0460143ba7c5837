//! The supervised stage (DESIGN.md §3): the encoder frozen, one weight vector per matched
//! depth learned from triplets (anchor = a place by day, positive = it by night, negative =
//! another place by day or by night, 50/50), margin 1, Adam at 1e-3, batch 16. Runs on any
//! thread, reports through a channel, obeys pause/stop/save like stage one, checkpoints and
//! resumes exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::checkpoint::{HistoryPoint, WeightsCheckpoint, WeightsState};
use super::weights::{
    ChannelWeights, Depths, Hinge, features, share_for_mass, triplet_objective, weighted_distance,
};
use crate::data::{Dataset, Domain, Split, to_tensor};
use crate::device::ComputeDevice;
use crate::error::ConfigError;
use crate::model::{DoubleVae, ModelConfig};
use crate::train::Command;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightsConfig {
    pub depths: Depths,
    pub hinge: Hinge,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub margin: f32,
    pub seed: u64,
    pub save_every: usize,
}

impl Default for WeightsConfig {
    fn default() -> Self {
        Self {
            depths: Depths::Latent,
            hinge: Hinge::Triplet,
            epochs: 30,
            batch_size: 16,
            learning_rate: 1e-3,
            margin: 1.0,
            seed: 0,
            save_every: 5,
        }
    }
}

impl WeightsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.epochs == 0 {
            return Err(ConfigError::new("epochs", self.epochs, "an integer ≥ 1"));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::new(
                "batch_size",
                self.batch_size,
                "an integer ≥ 1",
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return Err(ConfigError::new(
                "learning_rate",
                self.learning_rate,
                "a number in (0, 1]",
            ));
        }
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(ConfigError::new(
                "margin",
                self.margin,
                "a finite number ≥ 0",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum WeightsEvent {
    Started {
        depths: Depths,
        steps_per_epoch: usize,
        total_steps: u64,
        train_places: usize,
        val_places: usize,
        resumed: bool,
        /// Held-out triplet loss with every weight at one (where the curve starts).
        initial_val: Option<f32>,
    },
    Step {
        step: u64,
        epoch: usize,
        loss: f32,
    },
    Epoch {
        epoch: usize,
        step: u64,
        train: f32,
        val: Option<f32>,
        share90: f32,
    },
    CheckpointWritten {
        path: PathBuf,
    },
    Error(String),
    Finished {
        step: u64,
        weights: Vec<Vec<f32>>,
        checkpoint: Option<PathBuf>,
    },
}

/// A triplet of dataset indices: day anchor, night positive, negative in its domain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Triplet {
    pub anchor: usize,
    pub positive: usize,
    pub negative: (Domain, usize),
}

/// Places with both a day and a night image among `day`/`night` indices: (place, day, night).
pub fn paired(ds: &Dataset, day: &[usize], night: &[usize]) -> Vec<(u32, usize, usize)> {
    let mut by_place = std::collections::BTreeMap::new();
    for &i in day {
        if let Some(p) = ds.day[i].place {
            by_place.entry(p).or_insert((None, None)).0.get_or_insert(i);
        }
    }
    for &i in night {
        if let Some(p) = ds.night[i].place {
            by_place.entry(p).or_insert((None, None)).1.get_or_insert(i);
        }
    }
    by_place
        .into_iter()
        .filter_map(|(p, (d, n))| Some((p, d?, n?)))
        .collect()
}

/// One triplet per place in `order`, negatives drawn from `rng`.
pub fn triplets(
    places: &[(u32, usize, usize)],
    order: &[usize],
    rng: &mut ChaCha8Rng,
) -> Vec<Triplet> {
    order
        .iter()
        .map(|&k| {
            let mut other = rng.random_range(0..places.len() - 1);
            if other >= k {
                other += 1;
            }
            let negative = if rng.random_bool(0.5) {
                (Domain::Day, places[other].1)
            } else {
                (Domain::Night, places[other].2)
            };
            Triplet {
                anchor: places[k].1,
                positive: places[k].2,
                negative,
            }
        })
        .collect()
}

pub struct WeightsTrainer {
    pub config: WeightsConfig,
    model: DoubleVae,
    model_config: ModelConfig,
    dataset: Arc<Dataset>,
    train_places: Vec<(u32, usize, usize)>,
    val_triplets: Vec<Triplet>,
    device: ComputeDevice,
    out: PathBuf,
    stage_one: (PathBuf, u64),
    events: Option<Sender<WeightsEvent>>,
    commands: Option<Receiver<Command>>,
    resume: Option<WeightsCheckpoint>,
}

impl WeightsTrainer {
    /// `model` is the stage-one model (any device: it is moved to `device` and frozen);
    /// `split` holds out the places stage one held out.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: WeightsConfig,
        model: &DoubleVae,
        model_config: ModelConfig,
        dataset: Arc<Dataset>,
        split: &Split,
        device: ComputeDevice,
        out: impl Into<PathBuf>,
        stage_one: (PathBuf, u64),
    ) -> Result<Self, String> {
        config.validate().map_err(|e| e.to_string())?;
        let train_places = paired(&dataset, &split.train_day, &split.train_night);
        if train_places.len() < 2 {
            return Err("the siamese stage needs ground truth: at least two training places with both a day and a night image (places.csv or paired file names)".into());
        }
        let val_places = paired(&dataset, &split.val_day, &split.val_night);
        let val_triplets = if val_places.len() >= 2 {
            let order: Vec<usize> = (0..val_places.len()).collect();
            triplets(
                &val_places,
                &order,
                &mut ChaCha8Rng::seed_from_u64(config.seed ^ 0x0ba1),
            )
        } else {
            Vec::new()
        };
        let model = model.valid().to_device(&device.device);
        Ok(Self {
            config,
            model,
            model_config,
            dataset,
            train_places,
            val_triplets,
            device,
            out: out.into(),
            stage_one,
            events: None,
            commands: None,
            resume: None,
        })
    }

    pub fn with_events(mut self, tx: Sender<WeightsEvent>) -> Self {
        self.events = Some(tx);
        self
    }

    pub fn with_commands(mut self, rx: Receiver<Command>) -> Self {
        self.commands = Some(rx);
        self
    }

    pub fn resume_from(mut self, ck: WeightsCheckpoint) -> Result<Self, String> {
        if ck.header.config.depths != self.config.depths {
            return Err(format!(
                "the weights checkpoint matches {}, this run matches {}",
                ck.header.config.depths.name(),
                self.config.depths.name()
            ));
        }
        let expect = self.config.depths.channels(self.model_config.base_width);
        if ck.header.channels != expect {
            return Err(format!(
                "the weights checkpoint has channels {:?}, this model has {:?}",
                ck.header.channels, expect
            ));
        }
        self.resume = Some(ck);
        Ok(self)
    }

    pub fn steps_per_epoch(&self) -> usize {
        (self.train_places.len() / self.config.batch_size).max(1)
    }

    fn emit(&self, e: WeightsEvent) -> bool {
        self.events.as_ref().is_none_or(|tx| tx.send(e).is_ok())
    }

    /// Features of a list of (domain, index) images, in order.
    fn feats(&self, imgs: &[(Domain, usize)]) -> Vec<Tensor<4>> {
        let dev = &self.device.device;
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
                features(&self.model, to_tensor(&batch, dev), d, self.config.depths),
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

    /// Distances d(a,p) and d(a,n) of a batch of triplets, on the autodiff device.
    fn distances(&self, w: &ChannelWeights, batch: &[Triplet]) -> (Tensor<1>, Tensor<1>) {
        let a = self.feats(
            &batch
                .iter()
                .map(|t| (Domain::Day, t.anchor))
                .collect::<Vec<_>>(),
        );
        let p = self.feats(
            &batch
                .iter()
                .map(|t| (Domain::Night, t.positive))
                .collect::<Vec<_>>(),
        );
        let n = self.feats(&batch.iter().map(|t| t.negative).collect::<Vec<_>>());
        let ad = |v: Vec<Tensor<4>>| v.into_iter().map(|t| t.autodiff()).collect::<Vec<_>>();
        let (a, p, n) = (ad(a), ad(p), ad(n));
        (weighted_distance(w, &a, &p), weighted_distance(w, &a, &n))
    }

    /// Held-out triplet loss (per-triplet hinge, the metric of DESIGN.md §4) with weights `w`.
    pub fn validation_loss(&self, w: &ChannelWeights) -> Option<f32> {
        if self.val_triplets.is_empty() {
            return None;
        }
        let mut total = 0.0;
        for chunk in self.val_triplets.chunks(64) {
            let (dap, dan) = self.distances(w, chunk);
            let l = triplet_objective(dap, dan, self.config.margin, Hinge::Triplet);
            total += l.inner().into_scalar::<f32>() * chunk.len() as f32;
        }
        Some(total / self.val_triplets.len() as f32)
    }

    fn save(
        &self,
        path: &Path,
        state: &WeightsState,
        w: &ChannelWeights,
        optim: &ModuleOptimizer,
    ) -> Result<(), String> {
        super::checkpoint::save(
            path,
            &self.config,
            &self.model_config,
            &self.stage_one,
            state,
            w,
            Some(optim),
        )
    }

    pub fn train(mut self) -> Result<(ChannelWeights, WeightsState), String> {
        let cfg = self.config.clone();
        let ad = self.device.device.clone().autodiff();
        let spe = self.steps_per_epoch();
        let channels = cfg.depths.channels(self.model_config.base_width);
        let adam = AdamConfig::new().with_epsilon(1e-8);
        let resumed = self.resume.is_some();
        let (mut w, mut optim, mut state) = match self.resume.take() {
            Some(ck) => {
                let w = ck.build(&ad)?;
                let optim = match &ck.optimizer {
                    Some(b) => adam
                        .init()
                        .from_bytes(b.clone())
                        .map_err(|e| format!("cannot read the optimiser state: {e}"))?,
                    None => adam.init(),
                };
                (w, optim, ck.header.state)
            }
            None => (
                ChannelWeights::ones(&channels, &ad),
                adam.init(),
                WeightsState::default(),
            ),
        };
        let total = (cfg.epochs * spe) as u64;
        std::fs::create_dir_all(&self.out)
            .map_err(|e| format!("cannot create {}: {e}", self.out.display()))?;
        if state.history.is_empty()
            && let Some(v) = self.validation_loss(&w)
        {
            // Where w = 1 starts, for the curves.
            state.history.push(HistoryPoint {
                step: 0,
                epoch: 0,
                train: None,
                val: Some(v),
            });
        }
        self.emit(WeightsEvent::Started {
            depths: cfg.depths,
            steps_per_epoch: spe,
            total_steps: total,
            train_places: self.train_places.len(),
            val_places: self.val_triplets.len(),
            resumed,
            initial_val: state.history.first().and_then(|h| h.val),
        });
        let latest = self.out.join(super::checkpoint::LATEST);
        let mut stopped = false;
        'epochs: while state.epoch < cfg.epochs {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
            rng.set_stream(state.epoch as u64 + 1);
            let mut order: Vec<usize> = (0..self.train_places.len()).collect();
            order.shuffle(&mut rng);
            let epoch_triplets = triplets(&self.train_places, &order, &mut rng);
            while state.step_in_epoch < spe {
                if let Some(rx) = &self.commands {
                    let mut paused = false;
                    loop {
                        let c = if paused {
                            rx.recv().ok()
                        } else {
                            rx.try_recv()
                                .map_err(|e| e == TryRecvError::Disconnected)
                                .ok()
                        };
                        match c {
                            Some(Command::Pause) => paused = true,
                            Some(Command::Resume) => paused = false,
                            Some(Command::Stop) => {
                                stopped = true;
                                break 'epochs;
                            }
                            Some(Command::SaveNow) => {
                                if let Err(e) = self.save(&latest, &state, &w, &optim) {
                                    self.emit(WeightsEvent::Error(e));
                                }
                            }
                            None if paused => {
                                stopped = true;
                                break 'epochs;
                            }
                            None => break,
                        }
                    }
                }
                let b = cfg.batch_size;
                let batch = &epoch_triplets[state.step_in_epoch * b
                    ..((state.step_in_epoch + 1) * b).min(epoch_triplets.len())];
                let (dap, dan) = self.distances(&w, batch);
                let loss = triplet_objective(dap, dan, cfg.margin, cfg.hinge);
                let value = loss.clone().inner().into_scalar::<f32>();
                if !value.is_finite() {
                    let msg = format!("the triplet loss became non-finite at step {}", state.step);
                    self.emit(WeightsEvent::Error(msg.clone()));
                    return Err(msg);
                }
                let grads = GradientsParams::from_grads(loss.backward(), &w);
                w = optim.step(cfg.learning_rate, w, grads);
                state.step += 1;
                state.step_in_epoch += 1;
                state.epoch_loss_sum += value as f64;
                if !self.emit(WeightsEvent::Step {
                    step: state.step,
                    epoch: state.epoch,
                    loss: value,
                }) {
                    stopped = true;
                    break 'epochs;
                }
            }
            let train = (state.epoch_loss_sum / spe as f64) as f32;
            let val = self.validation_loss(&w);
            let share90 = w
                .to_vecs()
                .first()
                .map(|v| share_for_mass(v, 0.9).1)
                .unwrap_or(f32::NAN);
            state.history.push(HistoryPoint {
                step: state.step,
                epoch: state.epoch + 1,
                train: Some(train),
                val,
            });
            let epoch = state.epoch;
            state.epoch += 1;
            state.step_in_epoch = 0;
            state.epoch_loss_sum = 0.0;
            self.emit(WeightsEvent::Epoch {
                epoch,
                step: state.step,
                train,
                val,
                share90,
            });
            if state.epoch % cfg.save_every.max(1) == 0 || state.epoch == cfg.epochs {
                self.save(&latest, &state, &w, &optim)?;
                self.emit(WeightsEvent::CheckpointWritten {
                    path: latest.clone(),
                });
            }
        }
        if stopped {
            self.save(&latest, &state, &w, &optim)?;
            self.emit(WeightsEvent::CheckpointWritten {
                path: latest.clone(),
            });
        }
        self.emit(WeightsEvent::Finished {
            step: state.step,
            weights: w.to_vecs(),
            checkpoint: Some(latest),
        });
        Ok((w.valid(), state))
    }
}
