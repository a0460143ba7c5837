//! The whole integration suite in one binary (linking burn and egui is the slow part).

mod align;
mod align_train;
mod app;
mod app_panels;
mod bench;
mod cli;
mod cli_matrix;
mod common;
mod config;
mod conv_kernels;
mod data_bad_files;
mod data_folder;
mod fine_tune;
mod gpu;
mod job;
mod model;
mod plan;
mod read_back;
mod retrieval;
mod run_loop;
mod saliency;
mod siamese;
mod store;
mod synth;
mod terms;
mod train;
