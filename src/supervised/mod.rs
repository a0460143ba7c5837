//! The supervised stages: a siamese channel weighting of the frozen encoder's features, and
//! fine-tuning of the encoders on the same place labels.

pub mod checkpoint;
pub mod config;
pub mod error;
pub mod events;
pub mod fine_tune;
pub mod plan;
pub mod pseudo;
pub mod trainer;
pub mod triplets;
pub mod weights;

pub use config::{Mining, SupervisedConfig, SupervisedMethod};
pub use events::SupervisedEvent;
pub use fine_tune::{FineTuneStamp, Resume};
pub use trainer::{SupervisedTrainer, Trained};
pub use weights::{ChannelWeights, Depths, Hinge};
