//! The supervised stages: a siamese channel weighting of the frozen encoder's features, and
//! fine-tuning of the encoders on the same place labels.

pub mod checkpoint;
pub mod fine_tune;
pub mod trainer;
pub mod weights;

pub use fine_tune::{FineTuneStamp, Resume};
pub use trainer::{Method, Mining, Trained, WeightsConfig, WeightsEvent, WeightsTrainer};
pub use weights::{ChannelWeights, Depths, Hinge};
