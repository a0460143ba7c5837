//! The retrieval index behind the Retrieval tab: what an index depends on (its key), the
//! build as a background [`Job`] (embed, search, project), the state machine from idle to
//! ready or failed, and a small cache of recent results. The views in `retrieval_panel` only
//! read what this holds.

use std::sync::Arc;

use burn::prelude::Device;

use crate::data::{Dataset, Domain, Positives, Split};
use crate::model::DoubleVae;
use crate::retrieval::embed::embed;
use crate::retrieval::eval::{Evaluation, evaluate_with};
use crate::retrieval::global::{Descriptor, global_descriptors};
use crate::retrieval::method_rows::{check_evaluable, evaluation_items};
use crate::retrieval::pca::pca_2d;
use crate::retrieval::whiten::Adaptation;
use crate::run::job::Job;

/// What a retrieval result depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexKey {
    pub step: u64,
    /// The snapshot and the dataset load (`app::Provenance`): a second run's step k, or a
    /// reloaded dataset, never matches the first's.
    pub model: u64,
    pub dataset: u64,
    pub query: Domain,
    pub descriptor: Descriptor,
    pub rule: Positives,
    pub adaptation: Adaptation,
    pub weights: Option<Vec<u32>>,
}

impl IndexKey {
    /// The key of `inputs` with these settings.
    pub fn new(
        inputs: &IndexInputs,
        query: Domain,
        descriptor: Descriptor,
        rule: Positives,
        adaptation: Adaptation,
    ) -> Self {
        IndexKey {
            step: inputs.provenance.step,
            model: inputs.provenance.model,
            dataset: inputs.provenance.dataset,
            query,
            descriptor,
            rule,
            adaptation,
            weights: inputs
                .weights
                .as_ref()
                .map(|w| w.iter().map(|x| x.to_bits()).collect()),
        }
    }

    /// The same images, query direction, embedding and weights: only the model differs.
    pub fn same_but_step(&self, other: &IndexKey) -> bool {
        IndexKey {
            step: other.step,
            model: other.model,
            ..self.clone()
        } == *other
    }
}

pub struct RetrievalResult {
    pub evaluation: Evaluation,
    /// 2-D map of queries then database rows.
    pub map: Vec<[f32; 2]>,
    pub scope: &'static str,
}

/// Everything the build needs.
pub struct IndexInputs {
    pub provenance: super::ids::Provenance,
    pub model: Arc<DoubleVae>,
    pub dataset: Arc<Dataset>,
    pub split: Option<Split>,
    pub device: Device,
    pub weights: Option<Vec<f32>>,
}

enum State {
    Idle,
    Building {
        key: IndexKey,
        job: Job<RetrievalResult>,
    },
    Ready {
        key: IndexKey,
        result: Arc<RetrievalResult>,
    },
    Failed {
        key: IndexKey,
        error: String,
    },
}

/// Results kept for switching back and forth between snapshots or settings.
const CACHED: usize = 6;

pub struct RetrievalIndex {
    state: State,
    cache: Vec<(IndexKey, Arc<RetrievalResult>)>,
}

impl Default for RetrievalIndex {
    fn default() -> Self {
        Self {
            state: State::Idle,
            cache: Vec::new(),
        }
    }
}

/// What the views show of the index.
pub enum IndexView<'a> {
    Idle,
    Building { done: usize, total: usize },
    Failed(&'a str),
    Ready(&'a IndexKey),
}

impl RetrievalIndex {
    pub fn result(&self) -> Option<&Arc<RetrievalResult>> {
        match &self.state {
            State::Ready { result, .. } => Some(result),
            _ => None,
        }
    }

    pub fn is_building(&self) -> bool {
        matches!(self.state, State::Building { .. })
    }

    /// The key of the index shown or being built.
    pub fn current_key(&self) -> Option<&IndexKey> {
        match &self.state {
            State::Ready { key, .. } | State::Building { key, .. } => Some(key),
            State::Idle | State::Failed { .. } => None,
        }
    }

    /// Whether `key` is what is shown, being built, or already failed (then nothing to do).
    pub fn holds(&self, key: &IndexKey) -> bool {
        match &self.state {
            State::Ready { key: k, .. }
            | State::Building { key: k, .. }
            | State::Failed { key: k, .. } => k == key,
            State::Idle => false,
        }
    }

    pub fn cached(&self, key: &IndexKey) -> Option<Arc<RetrievalResult>> {
        self.cache
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone())
    }

    pub fn view(&self) -> IndexView<'_> {
        match &self.state {
            State::Idle => IndexView::Idle,
            State::Building { job, .. } => {
                let (done, total) = job.progress.get();
                IndexView::Building { done, total }
            }
            State::Failed { error, .. } => IndexView::Failed(error),
            State::Ready { key, .. } => IndexView::Ready(key),
        }
    }

    /// Build the index of `key` from `inputs` in the background; `wake` when it ends.
    pub fn build(&mut self, key: IndexKey, inputs: IndexInputs, wake: impl Fn() + Send + 'static) {
        let (query, descriptor, rule, adaptation) =
            (key.query, key.descriptor, key.rule, key.adaptation);
        let job = Job::spawn(
            "retrieval-index",
            "building the retrieval index",
            wake,
            move |progress| {
                let (items, scope) = evaluation_items(&inputs.dataset, inputs.split.as_ref());
                check_evaluable(&inputs.dataset, &items, scope)?;
                let e = embed(
                    &inputs.model,
                    &inputs.dataset,
                    items,
                    &inputs.device,
                    32,
                    |d, total| progress.set(d, total),
                );
                let pooled_e = e.pooled();
                // The pooled rows are adapted as pooled; the global descriptor is fitted on the
                // adapted spatial rows, as eval's rows are.
                let e = match descriptor {
                    Descriptor::Spatial => adaptation.apply(&e, query, &inputs.device),
                    Descriptor::Pooled => adaptation.apply(&pooled_e, query, &inputs.device),
                    Descriptor::Global => {
                        global_descriptors(&adaptation.apply(&e, query, &inputs.device), query)
                            .ok_or("the global descriptor needs at least two database images")?
                            .0
                    }
                };
                // Channel weights apply to the latent's channels, not to a global descriptor's.
                let w = inputs
                    .weights
                    .as_deref()
                    .filter(|_| descriptor != Descriptor::Global);
                let evaluation = evaluate_with(&e, query, w, &inputs.device, 0, &rule);
                // The map projects pooled descriptors, queries first, as the evaluation
                // orders them.
                let q_rows = pooled_e.of_domain(query);
                let d_rows = pooled_e.of_domain(query.other());
                let ordered = pooled_e.subset(&[q_rows, d_rows].concat());
                let map = pca_2d(&ordered.data, ordered.len(), ordered.channels);
                Ok(RetrievalResult {
                    evaluation,
                    map,
                    scope,
                })
            },
        );
        self.state = State::Building { key, job };
    }

    /// Show `result` as the index of `key`.
    pub fn show(&mut self, key: IndexKey, result: Arc<RetrievalResult>) {
        self.state = State::Ready { key, result };
    }

    /// A finished build: its key and result (cached), or the error (kept as the state).
    /// Never blocks.
    pub fn poll(&mut self) -> Option<Result<(IndexKey, Arc<RetrievalResult>), String>> {
        let State::Building { key, job } = &mut self.state else {
            return None;
        };
        let key = key.clone();
        match job.poll()? {
            Ok(result) => {
                let result = Arc::new(result);
                self.cache.push((key.clone(), result.clone()));
                if self.cache.len() > CACHED {
                    self.cache.remove(0);
                }
                Some(Ok((key, result)))
            }
            Err(error) => {
                self.state = State::Failed {
                    key,
                    error: error.clone(),
                };
                Some(Err(error))
            }
        }
    }

    /// Forget everything: the dataset changed.
    pub fn reset(&mut self) {
        self.cache.clear();
        self.state = State::Idle;
    }
}
