//! Networks and losses. One code for every burn device: nothing here names a backend.

pub mod backbone;
pub mod blocks;
pub mod config;
pub mod contrast;
pub mod discriminator;
pub mod fingerprint;
pub mod init;
pub mod latent_discriminator;
pub mod loss;
pub mod summary;
pub mod terms;
pub mod vae;
pub mod views;

pub use config::ModelConfig;
pub use discriminator::{DiscriminatorConfig, Discriminators};
pub use latent_discriminator::LatentDiscriminator;
pub use loss::unit_loss;
pub use terms::{AlignConfig, AlignWeights, LossSums, LossValues, LossWeights, Objective, TERMS};
pub use vae::DoubleVae;
pub use views::Views;
