//! duskmatch: learn to recognise the same place by day and by night.
//!
//! Layers, lowest first; a lower one never imports a higher one:
//! `data` → `model` → `train` / `retrieval` / `saliency` → `app` and the command line.
//! `store` (the file container) sits below them all.

pub mod app;
pub mod cli;
pub mod data;
pub mod device;
pub mod error;
pub mod json_float;
pub mod model;
pub mod retrieval;
pub mod run;
pub mod saliency;
pub mod store;
pub mod supervised;
pub mod sysinfo;
pub mod train;
