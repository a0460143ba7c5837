//! Shape of the double VAE: widths and image size, the only things that vary between presets.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Architecture of the double VAE (docs/design.md §1). Latent channels are always 4 × `base_width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Channels after the first convolution; the paper uses 64 (then 128, 256).
    pub base_width: usize,
    /// Side of the square input images in pixels; must be a multiple of 4.
    pub image_size: usize,
    /// `private`: each domain owns conv1–res 4 (docs/design.md §1, the research). `shared`: one
    /// conv1–res 4 for both domains, with a per-domain instance norm after each of the first
    /// three convolutions (§2b); files without the field are `private`.
    pub encoder: EncoderSharing,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EncoderSharing {
    #[default]
    Private,
    Shared,
}

impl EncoderSharing {
    pub fn name(self) -> &'static str {
        match self {
            EncoderSharing::Private => "private",
            EncoderSharing::Shared => "shared",
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self::PAPER
    }
}

impl ModelConfig {
    /// The research model: 17,560,326 parameters at 256 px.
    pub const PAPER: Self = Self {
        base_width: 64,
        image_size: 256,
        encoder: EncoderSharing::Private,
    };

    pub fn latent_channels(&self) -> usize {
        4 * self.base_width
    }

    /// Side of the latent map: two stride-2 convolutions.
    pub fn latent_size(&self) -> usize {
        self.image_size / 4
    }

    pub fn latent_shape(&self) -> [usize; 3] {
        [
            self.latent_channels(),
            self.latent_size(),
            self.latent_size(),
        ]
    }

    /// One-line description used in messages that compare architectures.
    pub fn describe(&self) -> String {
        let [c, h, w] = self.latent_shape();
        format!(
            "base width {} ({}→{}→{} channels), {} px images, latent {c}×{h}×{w}{}",
            self.base_width,
            self.base_width,
            2 * self.base_width,
            4 * self.base_width,
            self.image_size,
            match self.encoder {
                EncoderSharing::Private => "",
                EncoderSharing::Shared =>
                    ", one encoder for both domains (per-domain instance norms)",
            }
        )
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=512).contains(&self.base_width) {
            return Err(ConfigError::new(
                "model.base_width",
                self.base_width,
                "an integer from 1 to 512",
            ));
        }
        if self.image_size < 16 || self.image_size > 1024 || !self.image_size.is_multiple_of(4) {
            return Err(ConfigError::new(
                "model.image_size",
                self.image_size,
                "a multiple of 4 from 16 to 1024",
            ));
        }
        Ok(())
    }
}
