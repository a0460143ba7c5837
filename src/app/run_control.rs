//! Run control: start, continue, pause, stop and save a stage-one run, and change the
//! dataset. The rules of a continued run are `train::plan`'s, as the command line's.

use super::DuskApp;
use super::dataset_panel::DatasetState;
use super::notices::Level;
use super::session::TrainingSession;
use super::training_panel::TrainAction;
use crate::data::DataSource;
use crate::run::job;
use crate::train::checkpoint::{self, Checkpoint};
use crate::train::{Command, Trainer, plan};

impl DuskApp {
    /// Carry out a training action.
    pub fn act(&mut self, action: TrainAction) {
        match action {
            TrainAction::TogglePause => {
                if let Some(s) = &mut self.session {
                    s.toggle_pause();
                }
            }
            TrainAction::Stop => {
                if let Some(s) = &self.session {
                    s.send(Command::Stop);
                }
            }
            TrainAction::SaveNow => {
                if let Some(s) = &self.session {
                    s.send(Command::SaveNow);
                }
            }
            TrainAction::Start | TrainAction::Continue => self.start(action),
        }
    }

    /// Start a new run, or continue the run in view: the newest checkpoint a run of this
    /// window wrote, else the loaded one. That checkpoint is read by a job first.
    pub(super) fn start(&mut self, action: TrainAction) {
        if action != TrainAction::Continue {
            return self.start_with(action, None);
        }
        let path = match (&self.run_checkpoint, &self.loaded) {
            (Some(p), _) => p.clone(),
            (None, Some(l)) => l.path.clone(),
            (None, None) => {
                self.notify(Level::Error, "no checkpoint to continue from");
                return;
            }
        };
        if self.continue_job.is_some() {
            return;
        }
        self.continue_job = Some(job::Job::spawn(
            "continue-loader",
            format!("reading {} to continue it", path.display()),
            self.waker.waker(),
            move |_| Ok(checkpoint::load(&path)?),
        ));
    }

    /// What Continue would resume, for the button's label.
    pub fn continue_source(&self) -> Option<&std::path::Path> {
        self.run_checkpoint
            .as_deref()
            .or(self.loaded.as_ref().map(|l| l.path.as_path()))
    }

    pub(super) fn start_with(&mut self, action: TrainAction, resume: Option<Box<Checkpoint>>) {
        let Some(config) = self.editor.valid().cloned() else {
            self.notify(Level::Error, "fix the configuration first");
            return;
        };
        let Some(dev) = self.device.clone() else {
            self.notify(
                Level::Warning,
                "the device is still being probed; try again in a moment",
            );
            return;
        };
        if action == TrainAction::Continue && resume.is_none() {
            self.notify(Level::Error, "no checkpoint to continue from");
            return;
        }
        // A resumed run keeps the checkpoint's architecture and schedule and trains the
        // editor's number of epochs more (as `train --resume --more-epochs N`); the data may
        // change.
        let config = match &resume {
            Some(ck) => {
                let mut c = crate::train::TrainingConfig {
                    data: config.data.clone(),
                    ..ck.header.config.clone()
                };
                if let Err(e) = plan::extend_by_epochs(&mut c, ck.header.state.at, config.epochs) {
                    self.notify(Level::Error, e.to_string());
                    return;
                }
                c
            }
            None => config,
        };
        let needs_reload = match &self.dataset {
            DatasetState::Ready {
                dataset, source, ..
            } => dataset.framing() != config.model.framing() || *source != config.data,
            DatasetState::Loading { .. } => {
                self.start_when_ready = Some((action, resume));
                return;
            }
            DatasetState::Failed { .. } => true,
        };
        if needs_reload {
            self.start_when_ready = Some((action, resume));
            self.dataset = DatasetState::load(
                config.data.clone(),
                config.model.framing(),
                self.waker.waker(),
            );
            return;
        }
        let dataset = self.dataset.dataset().cloned().expect("ready");
        let out = crate::train::run_dir::run_dir_in(&self.options.runs_dir, "");
        let trainer = Trainer::new(config.clone(), dataset.clone(), dev, &out)
            .and_then(|t| match resume {
                Some(ck) => t.resume_from(*ck),
                None => Ok(t),
            })
            .map(|t| t.with_snapshots(self.settings.snapshot_every.max(1)));
        match trainer {
            Ok(t) => {
                // Continuing a checkpoint extends its curves and snapshots; a new run starts clean.
                if action == TrainAction::Start {
                    self.history.clear();
                    self.snapshots.clear();
                }
                self.snapshots.live = true;
                self.pending_decode = None;
                self.display = None;
                self.running_config = Some(config);
                self.session = Some(TrainingSession::start(t, self.waker.waker()));
                self.notify(Level::Info, format!("training into {}", out.display()));
            }
            Err(e) => self.notify(Level::Error, e),
        }
    }

    pub(super) fn load_dataset(&mut self, source: DataSource) {
        if self.session.as_ref().is_some_and(|s| s.is_active()) {
            self.notify(Level::Warning, "stop training before changing the dataset");
            return;
        }
        self.editor.draft.data = source.clone();
        self.editor.revalidate();
        let size = self.editor.draft.model.framing();
        self.dataset = DatasetState::load(source, size, self.waker.waker());
    }
}
