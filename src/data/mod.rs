//! Datasets: the synthetic day/night town, image folders, RobotCar Seasons; batching into
//! tensors. Nothing here knows the model.

pub mod augment;
pub mod batch;
pub mod benchmark;
pub mod dataset;
pub mod decode;
pub mod domain;
pub mod error;
pub mod folder;
pub mod image_io;
pub mod image_io_parallel;
pub mod layout;
pub mod limits;
pub mod pixels;
pub mod places;
pub mod position;
pub mod robotcar;
pub mod sequences;
pub mod source;
pub mod split;
pub mod synth;

pub use batch::to_tensor;
pub use benchmark::LayoutOptions;
pub use dataset::{Dataset, Domain, Sample};
pub use error::{DataError, ImageError};
pub use image_io::{LoadReport, SkippedFile};
pub use pixels::Pixels;
pub use position::{GroundTruth, Position, Positives};
pub use source::DataSource;
pub use split::Split;
