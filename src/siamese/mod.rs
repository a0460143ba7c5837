//! The supervised stage: a siamese channel weighting of the frozen encoder's features.

pub mod checkpoint;
pub mod trainer;
pub mod weights;

pub use trainer::{WeightsConfig, WeightsEvent, WeightsTrainer};
pub use weights::{ChannelWeights, Depths, Hinge};
