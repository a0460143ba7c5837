//! Training: config, the loop, checkpoints. Uses `data` and `model`; knows nothing of the GUI.

pub mod checkpoint;
pub mod config;
pub mod counters;
pub mod error;
pub mod events;
pub mod metrics_log;
pub mod noise;
pub mod plan;
pub mod run_dir;
pub mod run_loop;
pub mod runs;
pub mod scheduler;
pub mod step;
pub mod step_bench;
pub mod tensorboard;
pub mod trainer;

pub use config::{Preset, TrainingConfig};
pub use error::RunError;
pub use events::{Command, Progress, StopReason, TrainEvent};
pub use trainer::{TrainSummary, Trainer};
