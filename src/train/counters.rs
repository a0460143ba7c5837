//! Where a run stands, the whole of a run's position: every random draw derives from the seed
//! and these counters, so a checkpoint that keeps them resumes bitwise.

/// The epoch in progress (zero-based), the steps of it done, and the steps of the whole run
/// done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub step: u64,
}
