//! The building blocks of docs/design.md §1: zero-padded, biased convolutions, residual blocks
//! without an activation after the sum, and nearest ×2 upsampling blocks with BatchNorm.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv_transpose2d, conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions, InterpolateMode, InterpolateOptions};

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

/// `conv` with every weight and bias 0: the last layer of a residual branch that starts as
/// the identity (the pretrained preset's encoder, so that its latent starts as a projection
/// of the pretrained map rather than that plus noise).
pub fn zeroed(conv: Conv2d) -> Conv2d {
    let device = conv.weight.device();
    let shape = conv.weight.shape();
    Conv2d {
        weight: Param::from_tensor(Tensor::zeros(shape, &device)),
        bias: conv
            .bias
            .map(|b| Param::from_tensor(Tensor::zeros(b.shape(), &device))),
        ..conv
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

    /// The same blocks (the same random draws), each starting as the identity: `conv_b` 0.
    pub fn identity(channels: usize, count: usize, device: &Device, init: &mut Init) -> Self {
        let mut stack = Self::new(channels, count, device, init);
        for b in &mut stack.blocks {
            b.conv_b = zeroed(b.conv_b.clone());
        }
        stack
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
        relu(self.norm.forward(upsample_conv(&self.conv, x)))
    }
}

/// `conv(upsample_nearest_2x(x))` for the 5×5, stride-1, padding-2 convolution of an
/// [`UpBlock`], the plain way: the reference for [`upsample_conv`].
pub fn upsample_conv_plain(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let x = interpolate(
        x,
        InterpolateOptions::new(InterpolateMode::Nearest).with_scale_factor([2.0, 2.0]),
    );
    conv.forward(x)
}

/// The same function as [`upsample_conv_plain`], computed without the upsampled image.
///
/// Why: an output pixel `(2i + a, 2j + b)` of a 5×5 convolution over a nearest-×2 image only
/// sees input rows `i − 1 ..= i + 1` (and columns likewise), with taps that land on the same
/// input pixel adding up. So each of the four output phases `(a, b)` is a 3×3 convolution of the
/// small image with summed taps; stacking the four as output channels makes it one convolution,
/// followed by a depth-to-space shuffle. That is 9/25 of the multiply-adds, on a quarter of the
/// pixels, and the gemm gets four times the output channels; measured on the compact preset it
/// is most of the decoder's time. The parameters stay the 5×5 weights, so checkpoints and
/// gradients are those of the plain form (the tap sums are part of the autodiff graph).
pub fn upsample_conv(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [co, ci, k, _] = conv.weight.dims();
    assert_eq!(
        (k, conv.padding.clone(), conv.stride),
        (5, PaddingConfig2d::Explicit(2, 2, 2, 2), [1, 1]),
        "upsample_conv is written for the 5×5, padding-2 convolution of docs/design.md §1"
    );
    let w = conv.weight.val();
    let device = w.device();
    // Rows (phase, input offset −1/0/+1), columns the five taps: which taps land where.
    #[rustfmt::skip]
    let taps = Tensor::<2>::from_data(
        TensorData::new(
            vec![
                1.0f32, 1.0, 0.0, 0.0, 0.0, // phase 0: taps 0,1 → offset −1
                0.0, 0.0, 1.0, 1.0, 0.0,    //          taps 2,3 → offset 0
                0.0, 0.0, 0.0, 0.0, 1.0,    //          tap 4    → offset +1
                1.0, 0.0, 0.0, 0.0, 0.0,    // phase 1: tap 0    → offset −1
                0.0, 1.0, 1.0, 0.0, 0.0,    //          taps 1,2 → offset 0
                0.0, 0.0, 0.0, 1.0, 1.0,    //          taps 3,4 → offset +1
            ],
            [6, 5],
        ),
        &device,
    );
    // [Co, Ci, 5, 5] → [Co, Ci, (a, p), (b, q)] = taps · W · tapsᵀ.
    let summed = taps
        .clone()
        .unsqueeze::<4>()
        .matmul(w.matmul(taps.transpose().unsqueeze::<4>()));
    let w4: Tensor<4> = summed
        .reshape([co, ci, 2, 3, 2, 3])
        .permute([2, 4, 0, 1, 3, 5]) // [a, b, Co, Ci, p, q]
        .reshape([4 * co, ci, 3, 3]);
    let bias = conv.bias.as_ref().map(|b| b.val().repeat_dim(0, 4));
    let y = conv2d(x, w4, bias, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    let [n, _, h, wd] = y.dims();
    // Channel (a, b, co) at (i, j) → output (co, 2i + a, 2j + b).
    y.reshape([n, 2, 2, co, h, wd])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([n, co, 2 * h, 2 * wd])
}

/// A stride-1 convolution computed as the transposed convolution with the flipped, transposed
/// kernel: the same function and parameters as `conv.forward(x)`.
///
/// Why: the decoder's last layer (7×7, base width → 3 channels) narrows sharply. The plain
/// convolution unfolds `in channels × 49` values per output pixel (im2col) and its input
/// gradient scatters as many back; the transposed form unfolds `out channels × 49` forward and
/// its input gradient is a plain convolution with 3 input channels, several times faster on the
/// CPU backend (docs/benchmarks.md, "Code choices"). For layers that keep or widen their
/// channels it gains nothing, so only that layer uses it.
pub fn conv_via_transpose(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, k, k2] = conv.weight.dims();
    let PaddingConfig2d::Explicit(p, _, _, _) = conv.padding.clone() else {
        unreachable!("the model's convolutions have explicit padding")
    };
    assert_eq!(
        (k, conv.stride, conv.padding.clone()),
        (k2, [1, 1], PaddingConfig2d::Explicit(p, p, p, p)),
        "conv_via_transpose is written for square, stride-1, evenly padded convolutions"
    );
    let flipped = conv.weight.val().swap_dims(0, 1).flip([2, 3]); // [Ci, Co, k, k]
    let pad = k - 1 - p;
    conv_transpose2d(
        x,
        flipped,
        conv.bias.as_ref().map(|b| b.val()),
        ConvTransposeOptions::new([1, 1], [pad, pad], [0, 0], [1, 1], 1),
    )
}
