//! Datasets: the synthetic day/night town, image folders, RobotCar Seasons; batching into
//! tensors. Nothing here knows the model.

pub mod batch;
pub mod dataset;
pub mod error;
pub mod folder;
pub mod image_io;
pub mod image_io_parallel;
pub mod layout;
pub mod limits;
pub mod robotcar;
pub mod source;
pub mod split;
pub mod synth;

pub use batch::to_tensor;
pub use dataset::{Dataset, Domain, Sample};
pub use error::{DataError, ImageError};
pub use image_io::{LoadReport, SkippedFile};
pub use source::DataSource;
pub use split::Split;
