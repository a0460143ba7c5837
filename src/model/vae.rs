//! The UNIT-style double VAE of docs/design.md §1: a day (A) and a night (B) autoencoder whose
//! encoders end in, and whose decoders start with, the same shared residual blocks.

use burn::nn::conv::Conv2d;
use burn::nn::{InstanceNorm, InstanceNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::backbone::{Backbone, TRUNK_CHANNELS};
use super::blocks::{ResStack, UpBlock, conv, zeroed};
use super::config::{EncoderSharing, ModelConfig};
use super::init::Init;
use crate::data::Domain;

/// The domain-owned part of an encoder: conv1, conv2_1, conv2_2 and residual blocks 3–4.
#[derive(Module, Debug)]
pub struct PrivateEncoder {
    pub conv1: Conv2d,
    pub conv2_1: Conv2d,
    pub conv2_2: Conv2d,
    pub res: ResStack,
    /// After a pretrained network: conv1 is a linear 1×1 projection of its map, and conv2_1,
    /// conv2_2 form a residual block on it that starts as the identity.
    pub after_backbone: bool,
}

impl PrivateEncoder {
    fn new(config: &ModelConfig, device: &Device, init: &mut Init) -> Self {
        let w = config.base_width;
        match config.backbone {
            // The research's: from pixels, down by four.
            None => Self {
                conv1: conv(3, w, 7, 1, 3, device, init),
                conv2_1: conv(w, 2 * w, 4, 2, 1, device, init),
                conv2_2: conv(2 * w, 4 * w, 4, 2, 1, device, init),
                res: ResStack::new(4 * w, 2, device, init),
                after_backbone: false,
            },
            // After a pretrained network the map is already at its stride and already
            // describes the place: a linear projection of its channels (a random projection
            // keeps its distances), then residual layers that start as the identity, so the
            // latent starts as that projection and training moves it from there.
            Some(_) => Self {
                conv1: conv(TRUNK_CHANNELS, 4 * w, 1, 1, 0, device, init),
                conv2_1: conv(4 * w, 4 * w, 3, 1, 1, device, init),
                conv2_2: zeroed(conv(4 * w, 4 * w, 3, 1, 1, device, init)),
                res: ResStack::identity(4 * w, 2, device, init),
                after_backbone: true,
            },
        }
    }

    /// `norms`: the domain's instance norms after conv1, conv2_1 and conv2_2, when the encoder
    /// serves both domains.
    fn forward(
        &self,
        x: Tensor<4>,
        norms: Option<&DomainNorms>,
        taps: Option<&mut Vec<Tensor<4>>>,
    ) -> Tensor<4> {
        let norm = |k: usize, h: Tensor<4>| match norms {
            Some(n) => n.norms[k].forward(h),
            None => h,
        };
        let (x1, x2, x3) = if self.after_backbone {
            let x1 = norm(0, self.conv1.forward(x));
            let x2 = relu(norm(1, self.conv2_1.forward(x1.clone())));
            let x3 = x1.clone() + norm(2, self.conv2_2.forward(x2.clone()));
            (x1, x2, x3)
        } else {
            let x1 = relu(norm(0, self.conv1.forward(x)));
            let x2 = relu(norm(1, self.conv2_1.forward(x1.clone())));
            let x3 = relu(norm(2, self.conv2_2.forward(x2.clone())));
            (x1, x2, x3)
        };
        match taps {
            Some(taps) => {
                taps.extend([x1, x2, x3.clone()]);
                self.res.forward_all(x3, taps)
            }
            None => self.res.forward(x3),
        }
    }
}

/// One domain's instance norms (affine) of a shared encoder: what stays domain-specific when
/// both domains go through the same convolutions, as domain-specific normalisation in domain
/// adaptation. They remove each image's per-channel brightness and contrast, which is most of
/// what tells a night image from a day one.
#[derive(Module, Debug)]
pub struct DomainNorms {
    pub norms: Vec<InstanceNorm>,
}

impl DomainNorms {
    fn new(config: &ModelConfig, device: &Device) -> Self {
        let w = config.base_width;
        let widths = match config.backbone {
            None => [w, 2 * w, 4 * w],
            Some(_) => [4 * w; 3],
        };
        Self {
            norms: widths
                .iter()
                .map(|&c| InstanceNormConfig::new(c).init(device))
                .collect(),
        }
    }
}

/// The domain-owned part of a decoder: residual blocks 3–4, two up blocks, the output conv;
/// after a pretrained network, one more up block first (`ups`, empty in the research's).
#[derive(Module, Debug)]
pub struct PrivateDecoder {
    pub res: ResStack,
    pub ups: Vec<UpBlock>,
    pub up1: UpBlock,
    pub up2: UpBlock,
    pub out: Conv2d,
}

impl PrivateDecoder {
    fn new(config: &ModelConfig, device: &Device, init: &mut Init) -> Self {
        let w = config.base_width;
        Self {
            res: ResStack::new(4 * w, 2, device, init),
            ups: (0..config.extra_up_blocks())
                .map(|_| UpBlock::new(4 * w, 4 * w, device, init))
                .collect(),
            up1: UpBlock::new(4 * w, 2 * w, device, init),
            up2: UpBlock::new(2 * w, w, device, init),
            out: conv(w, 3, 7, 1, 3, device, init),
        }
    }

    fn forward(&self, h: Tensor<4>) -> Tensor<4> {
        let mut x = self.res.forward(h);
        for up in &self.ups {
            x = up.forward(x);
        }
        let x = self.up2.forward(self.up1.forward(x));
        sigmoid(super::blocks::conv_via_transpose(&self.out, x))
    }
}

/// Both autoencoders. Field names say who owns each part; `shared` parts serve both domains.
#[derive(Module, Debug)]
pub struct DoubleVae {
    /// The frozen pretrained network both encoders start with (`model.backbone`): constant
    /// tensors, so neither the optimiser nor a checkpoint holds them; every build of the model
    /// reads the same compiled-in weights.
    pub backbone: Option<Backbone>,
    /// Side of the images the encoders read; inputs of another size (the decoders'
    /// translations, at `image_size / 4` after a backbone) are resized to it first.
    pub image_size: usize,
    /// Side of the decoders' images (`ModelConfig::decoded_size`).
    pub decoded_size: usize,
    /// The day encoder; with a shared encoder, the one encoder of both domains.
    pub enc_day: PrivateEncoder,
    /// The night encoder; `None` with a shared encoder.
    pub enc_night: Option<PrivateEncoder>,
    /// Per-domain instance norms of a shared encoder: `[day, night]`.
    pub enc_norms: Option<Vec<DomainNorms>>,
    pub enc_shared: ResStack,
    pub dec_shared: ResStack,
    pub dec_day: PrivateDecoder,
    pub dec_night: PrivateDecoder,
}

/// Number of encoder depths that can be tapped for deep feature matching: the outputs of
/// conv1, conv2_1, conv2_2 and of each of the four residual blocks (the last one is `mu`).
pub const ENCODER_TAPS: usize = 7;
/// The tap that is `mu`, the latent.
pub const LATENT_TAP: usize = ENCODER_TAPS - 1;

impl DoubleVae {
    /// A freshly initialised model; the same seed gives the same weights on every device.
    pub fn new(config: &ModelConfig, seed: u64, device: &Device) -> Self {
        let w = config.base_width;
        let init = &mut Init::new(seed);
        let shared = config.encoder == EncoderSharing::Shared;
        let enc_day = PrivateEncoder::new(config, device, init);
        Self {
            // The weights are compiled in and checked by the test suite; only a broken build
            // can fail here.
            backbone: config
                .backbone
                .map(|_| Backbone::pretrained(device).expect("the compiled-in pretrained weights")),
            image_size: config.image_size,
            decoded_size: config.decoded_size(),
            enc_night: (!shared).then(|| match config.backbone {
                None => PrivateEncoder::new(config, device, init),
                // Both domains' layers start as the same projection of the same pretrained
                // map, so that day and night codes start comparable; training parts them.
                Some(_) => enc_day.clone(),
            }),
            enc_day,
            enc_norms: shared.then(|| {
                vec![
                    DomainNorms::new(config, device),
                    DomainNorms::new(config, device),
                ]
            }),
            enc_shared: match config.backbone {
                None => ResStack::new(4 * w, 2, device, init),
                Some(_) => ResStack::identity(4 * w, 2, device, init),
            },
            dec_shared: ResStack::new(4 * w, 2, device, init),
            dec_day: PrivateDecoder::new(config, device, init),
            dec_night: PrivateDecoder::new(config, device, init),
        }
    }

    /// What the encoders' first layer reads: the images themselves, or the pretrained
    /// network's map of them (resized to `image_size` first where they are another size).
    fn features(&self, x: Tensor<4>) -> Tensor<4> {
        let Some(net) = &self.backbone else {
            return x;
        };
        let [_, _, h, w] = x.dims();
        let x = if (h, w) == (self.image_size, self.image_size) {
            x
        } else {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size([self.image_size, self.image_size]),
            )
        };
        net.trunk(x)
    }

    /// What reconstruction and cycle compare a decoding with: the images, averaged down to
    /// the decoders' size where that is smaller (after a pretrained network).
    pub fn target(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let out = self.decoded_size;
        if self.backbone.is_none() || (h, w) == (out, out) {
            return x;
        }
        let (fh, fw) = (h / out, w / out);
        x.reshape([b, c, out, fh, out, fw])
            .mean_dim(5)
            .mean_dim(3)
            .reshape([b, c, out, out])
    }

    /// The first encoder stage of `domain` and its norms (when the stage is shared).
    fn encoder_of(&self, domain: Domain) -> (&PrivateEncoder, Option<&DomainNorms>) {
        let norms = self.enc_norms.as_ref().map(|n| match domain {
            Domain::Day => &n[0],
            Domain::Night => &n[1],
        });
        match (domain, &self.enc_night) {
            (Domain::Night, Some(night)) => (night, norms),
            _ => (&self.enc_day, norms),
        }
    }

    /// `mu` of an image batch in its own domain: `[B, 4w, H/4, W/4]`, no activation.
    pub fn encode(&self, x: Tensor<4>, domain: Domain) -> Tensor<4> {
        let (first, norms) = self.encoder_of(domain);
        self.enc_shared
            .forward(first.forward(self.features(x), norms, None))
    }

    /// Every encoder activation from shallow to deep; the last element is `mu`.
    pub fn encode_taps(&self, x: Tensor<4>, domain: Domain) -> Vec<Tensor<4>> {
        let (first, norms) = self.encoder_of(domain);
        let mut taps = Vec::with_capacity(ENCODER_TAPS);
        let h = first.forward(self.features(x), norms, Some(&mut taps));
        self.enc_shared.forward_all(h, &mut taps);
        taps
    }

    /// Decode a latent into one domain.
    pub fn decode(&self, z: Tensor<4>, domain: Domain) -> Tensor<4> {
        self.decode_private(self.dec_shared.forward(z), domain)
    }

    /// Decode a latent into both domains, running the shared blocks once: `(day, night)`.
    pub fn decode_both(&self, z: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let h = self.dec_shared.forward(z);
        (self.dec_day.forward(h.clone()), self.dec_night.forward(h))
    }

    fn decode_private(&self, h: Tensor<4>, domain: Domain) -> Tensor<4> {
        match domain {
            Domain::Day => self.dec_day.forward(h),
            Domain::Night => self.dec_night.forward(h),
        }
    }
}
