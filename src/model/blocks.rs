//! The building blocks of DESIGN.md §1: zero-padded, biased convolutions, residual blocks
//! without an activation after the sum, and nearest ×2 upsampling blocks with BatchNorm.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};

use super::init::Init;

/// A square convolution with explicit zero padding and a bias, initialised as PyTorch's
/// `Conv2d`: weights and bias uniform in ±1/√fan_in.
pub fn conv(
    cin: usize,
    cout: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    device: &Device,
    init: &mut Init,
) -> Conv2d {
    let fan_in = cin * kernel * kernel;
    let bound = 1.0 / (fan_in as f32).sqrt();
    let weight = TensorData::new(
        init.uniform(cout * fan_in, bound),
        [cout, cin, kernel, kernel],
    );
    let bias = TensorData::new(init.uniform(cout, bound), [cout]);
    Conv2d {
        weight: Param::from_data(weight, device),
        bias: Some(Param::from_data(bias, device)),
        stride: [stride, stride],
        kernel_size: [kernel, kernel],
        dilation: [1, 1],
        groups: 1,
        padding: PaddingConfig2d::Explicit(pad, pad, pad, pad),
    }
}

/// `x + conv_b(relu(conv_a(x)))`, two 3×3 convolutions, no activation after the sum.
#[derive(Module, Debug)]
pub struct ResBlock {
    pub conv_a: Conv2d,
    pub conv_b: Conv2d,
}

impl ResBlock {
    pub fn new(channels: usize, device: &Device, init: &mut Init) -> Self {
        Self {
            conv_a: conv(channels, channels, 3, 1, 1, device, init),
            conv_b: conv(channels, channels, 3, 1, 1, device, init),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv_b.forward(relu(self.conv_a.forward(x.clone())));
        x + y
    }
}

/// A run of residual blocks; used for both the shared and the domain-owned stages.
#[derive(Module, Debug)]
pub struct ResStack {
    pub blocks: Vec<ResBlock>,
}

impl ResStack {
    pub fn new(channels: usize, count: usize, device: &Device, init: &mut Init) -> Self {
        Self {
            blocks: (0..count)
                .map(|_| ResBlock::new(channels, device, init))
                .collect(),
        }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for block in &self.blocks {
            x = block.forward(x);
        }
        x
    }

    /// The output after each block, for deep feature matching.
    pub fn forward_all(&self, mut x: Tensor<4>, out: &mut Vec<Tensor<4>>) -> Tensor<4> {
        for block in &self.blocks {
            x = block.forward(x);
            out.push(x.clone());
        }
        x
    }
}

/// Nearest ×2 upsampling, a 5×5 convolution, BatchNorm and ReLU.
#[derive(Module, Debug)]
pub struct UpBlock {
    pub conv: Conv2d,
    pub norm: BatchNorm,
}

impl UpBlock {
    pub fn new(cin: usize, cout: usize, device: &Device, init: &mut Init) -> Self {
        Self {
            conv: conv(cin, cout, 5, 1, 2, device, init),
            norm: BatchNormConfig::new(cout).init(device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
        );
        relu(self.norm.forward(self.conv.forward(x)))
    }
}
