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
    /// `Some`: the encoders start with a frozen network pretrained on ImageNet, whose stride-32
    /// map the domain layers read (docs/design.md §1c); the latent is then `image_size / 32` a
    /// side and the decoders draw `image_size / 4`. `None` (files without the field): the
    /// research's encoders, from pixels.
    pub backbone: Option<Pretrained>,
    /// Photographs resized whole into the square (nothing cut) rather than cropped to their
    /// centred square first; files without the field crop.
    pub whole_frame: bool,
}

/// Which pretrained network starts the encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pretrained {
    /// EfficientNet-Lite0 with its ImageNet weights, frozen, up to its last block (320
    /// channels at stride 32); `model::backbone`.
    EfficientnetLite0,
}

impl Pretrained {
    pub fn name(self) -> &'static str {
        match self {
            Pretrained::EfficientnetLite0 => "efficientnet-lite0",
        }
    }
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
        backbone: None,
        whole_frame: false,
    };

    pub fn latent_channels(&self) -> usize {
        4 * self.base_width
    }

    /// Side of the latent map: two stride-2 convolutions, or the pretrained network's stride.
    pub fn latent_size(&self) -> usize {
        match self.backbone {
            None => self.image_size / 4,
            Some(_) => self.image_size / super::backbone::STRIDE,
        }
    }

    /// Side of the decoders' images: the input's, or a quarter of it after a pretrained
    /// network (three ×2 up blocks from its stride-32 map). Reconstruction and cycle compare
    /// the input averaged down to this size ([`super::DoubleVae::target`]).
    pub fn decoded_size(&self) -> usize {
        match self.backbone {
            None => self.image_size,
            Some(_) => self.image_size / 4,
        }
    }

    /// How the dataset's photographs are framed for this model.
    pub fn framing(&self) -> crate::data::image_io::Framing {
        crate::data::image_io::Framing {
            size: self.image_size as u32,
            whole: self.whole_frame,
        }
    }

    /// Up blocks a decoder has beyond the research's two: one after a pretrained network.
    pub fn extra_up_blocks(&self) -> usize {
        match self.backbone {
            None => 0,
            Some(_) => 1,
        }
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
        let widths = match self.backbone {
            None => format!("{}→{}→{}", self.base_width, 2 * self.base_width, c),
            Some(_) => format!("{}→{c}", super::backbone::TRUNK_CHANNELS),
        };
        format!(
            "base width {} ({widths} channels), {} px images, latent {c}×{h}×{w}{}",
            self.base_width,
            self.image_size,
            match self.encoder {
                EncoderSharing::Private => "",
                EncoderSharing::Shared =>
                    ", one encoder for both domains (per-domain instance norms)",
            }
        ) + &match self.backbone {
            None => String::new(),
            Some(b) => format!(
                ", after a frozen pretrained {} (decoded at {} px)",
                b.name(),
                self.decoded_size()
            ),
        }
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
        let stride = super::backbone::STRIDE;
        if self.backbone.is_some() && !self.image_size.is_multiple_of(stride) {
            return Err(ConfigError::new(
                "model.image_size",
                self.image_size,
                format!("a multiple of {stride} from {stride} to 1024 with a pretrained backbone"),
            ));
        }
        Ok(())
    }
}
