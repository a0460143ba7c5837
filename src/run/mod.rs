//! The one run mechanism of the app and the command line: work on a named thread with its
//! panic caught, progress readable at any time, and, for a training run of any stage, the
//! commands it takes and the events it streams (docs/design.md §6). It knows no GUI: the
//! window passes a wake callback, the command line a no-op and a blocking read.

pub mod job;
pub mod lifecycle;

pub use job::{Job, JobProgress, NoEvents, RunLink};
pub use lifecycle::{Lifecycle, Phase, RunStatus, StageEvent};
