//! The CPU backend's convolution kernels (vendor/burn-flex, `conv2d_gemm.rs`) against direct
//! loops in f64: outputs and the gradients of `sum(y ⊙ r)` for x, the weight and the bias.

use burn::prelude::*;
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use duskmatch::model::init::Init;

use crate::common::*;

/// One convolution: shapes and options, shared by the direct loops and burn.
#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    /// Input channels and size (of the transposed convolution, for `transposed`).
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    k: [usize; 2],
    stride: [usize; 2],
    /// (begin, end) per axis; a transposed convolution uses `begin` on both sides.
    pad: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
    /// Output padding of a transposed convolution.
    out_pad: [usize; 2],
    transposed: bool,
    /// The forward path this case is meant to exercise on a CPU with AVX-512.
    kernel: Kernel,
}

/// The forward paths of the vendored convolution (`burn_flex::ops::conv_kernel_counts`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    Gemm,
    /// The AVX-512 direct kernel; the GEMM on CPUs without AVX-512.
    Direct,
    /// Winograd F(2×2, 3×3) with AVX-512 transforms; the GEMM without.
    Winograd,
    /// Not through the vendored forward at all (grouped: upstream's kernel; transposed).
    Elsewhere,
}

impl Kernel {
    /// What this CPU runs for a case meant for `self`.
    fn here(self) -> Kernel {
        let avx512 = std::is_x86_feature_detected!("avx512f");
        match self {
            Kernel::Direct | Kernel::Winograd if !avx512 => Kernel::Gemm,
            k => k,
        }
    }

    /// The counts one forward convolution on this path adds.
    fn counts(self) -> burn_flex::ops::ConvKernelCounts {
        let mut c = burn_flex::ops::ConvKernelCounts::default();
        match self {
            Kernel::Gemm => c.gemm = 1,
            Kernel::Direct => c.direct = 1,
            Kernel::Winograd => c.winograd = 1,
            Kernel::Elsewhere => {}
        }
        c
    }
}

const BASE: Case = Case {
    batch: 2,
    ci: 5,
    h: 9,
    w: 7,
    co: 4,
    k: [3, 3],
    stride: [1, 1],
    pad: [(1, 1), (1, 1)],
    dilation: [1, 1],
    groups: 1,
    out_pad: [0, 0],
    transposed: false,
    kernel: Kernel::Gemm,
};

/// Winograd F(2×2, 3×3) (3×3, unit stride, 128+ channels both sides, on CPUs with AVX-512 like
/// the CI machines; elsewhere the GEMM path): 24 tile rows of 6 tiles, in chunks of 21 rows
/// and 3, the first straddling all three images.
const WINOGRAD: Case = Case {
    batch: 3,
    ci: 128,
    co: 128,
    h: 16,
    w: 12,
    kernel: Kernel::Winograd,
    ..BASE
};

/// The GEMM path with enough channels × columns for several row tiles per image, more tiles
/// than threads.
const GEMM_TILES: Case = Case {
    batch: 4,
    ci: 64,
    co: 3,
    h: 20,
    w: 64,
    ..BASE
};

impl Case {
    fn out_size(&self) -> [usize; 2] {
        let size = [self.h, self.w];
        std::array::from_fn(|i| {
            let span = self.dilation[i] * (self.k[i] - 1);
            if self.transposed {
                (size[i] - 1) * self.stride[i] + span + self.out_pad[i] + 1 - 2 * self.pad[i].0
            } else {
                (size[i] + self.pad[i].0 + self.pad[i].1 - span - 1) / self.stride[i] + 1
            }
        })
    }

    fn weight_shape(&self) -> [usize; 4] {
        let [kh, kw] = self.k;
        if self.transposed {
            [self.ci, self.co / self.groups, kh, kw]
        } else {
            [self.co, self.ci / self.groups, kh, kw]
        }
    }

    /// Calls `f(b, i, o, ((ci, iy, ix), (co, oy, ox)), weight index)` for every multiply-add
    /// of the convolution: output element `o` gains `x[i] · w[wi]`.
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [ho, wo] = self.out_size();
        let [kh, kw] = self.k;
        let (cig, cog) = (self.ci / self.groups, self.co / self.groups);
        for b in 0..self.batch {
            for grp in 0..self.groups {
                for cil in 0..cig {
                    for col in 0..cog {
                        let (ci, co) = (grp * cig + cil, grp * cog + col);
                        let wi = if self.transposed {
                            (ci * cog + col) * kh * kw
                        } else {
                            (co * cig + cil) * kh * kw
                        };
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let wi = wi + ky * kw + kx;
                                let (ry, rx) = (ky * self.dilation[0], kx * self.dilation[1]);
                                // Conv: input = out·stride + tap − pad.
                                // Transposed: output = in·stride + tap − pad.
                                let (outer, inner) = if self.transposed {
                                    ([self.h, self.w], [ho, wo])
                                } else {
                                    ([ho, wo], [self.h, self.w])
                                };
                                for a in 0..outer[0] {
                                    let Some(c) = (a * self.stride[0] + ry)
                                        .checked_sub(self.pad[0].0)
                                        .filter(|&c| c < inner[0])
                                    else {
                                        continue;
                                    };
                                    for d in 0..outer[1] {
                                        let Some(e) = (d * self.stride[1] + rx)
                                            .checked_sub(self.pad[1].0)
                                            .filter(|&e| e < inner[1])
                                        else {
                                            continue;
                                        };
                                        let ((iy, ix), (oy, ox)) = if self.transposed {
                                            ((a, d), (c, e))
                                        } else {
                                            ((c, e), (a, d))
                                        };
                                        let i = ((b * self.ci + ci) * self.h + iy) * self.w + ix;
                                        let o = ((b * self.co + co) * ho + oy) * wo + ox;
                                        f(i, o, wi);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Output, dx, dw and db of `sum(y ⊙ r)` by direct loops, in f64.
    fn direct(&self, x: &[f32], w: &[f32], bias: &[f32], r: &[f32]) -> [Vec<f32>; 4] {
        let [ho, wo] = self.out_size();
        let plane = ho * wo;
        let mut y: Vec<f64> = (0..self.batch * self.co * plane)
            .map(|o| bias[(o / plane) % self.co] as f64)
            .collect();
        let (mut dx, mut dw) = (vec![0f64; x.len()], vec![0f64; w.len()]);
        self.for_each_tap(|i, o, wi| {
            y[o] += x[i] as f64 * w[wi] as f64;
            dx[i] += r[o] as f64 * w[wi] as f64;
            dw[wi] += r[o] as f64 * x[i] as f64;
        });
        let mut db = vec![0f64; self.co];
        for (o, &ro) in r.iter().enumerate() {
            db[(o / plane) % self.co] += ro as f64;
        }
        [y, dx, dw, db].map(|v| v.into_iter().map(|v| v as f32).collect())
    }

    /// The same four through burn's autodiff on the CPU backend.
    fn burn(&self, x: &[f32], w: &[f32], bias: &[f32], r: &[f32]) -> [Vec<f32>; 4] {
        let dev = cpu().autodiff();
        let [ho, wo] = self.out_size();
        let x = Tensor::<4>::from_data(
            TensorData::new(x.to_vec(), [self.batch, self.ci, self.h, self.w]),
            &dev,
        )
        .require_grad();
        let w = Tensor::<4>::from_data(TensorData::new(w.to_vec(), self.weight_shape()), &dev)
            .require_grad();
        let b =
            Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [self.co]), &dev).require_grad();
        let r = Tensor::<4>::from_data(
            TensorData::new(r.to_vec(), [self.batch, self.co, ho, wo]),
            &dev,
        );
        let before = burn_flex::ops::conv_kernel_counts();
        let y = if self.transposed {
            let pad = self.pad.map(|(begin, _)| begin);
            let options = ConvTransposeOptions::new(
                self.stride,
                pad,
                self.out_pad,
                self.dilation,
                self.groups,
            );
            conv_transpose2d(x.clone(), w.clone(), Some(b.clone()), options)
        } else {
            let mut options = ConvOptions::new(self.stride, [0, 0], self.dilation, self.groups);
            options.padding = self.pad;
            conv2d(x.clone(), w.clone(), Some(b.clone()), options)
        };
        if !self.transposed {
            let after = burn_flex::ops::conv_kernel_counts();
            let ran = burn_flex::ops::ConvKernelCounts {
                winograd: after.winograd - before.winograd,
                direct: after.direct - before.direct,
                gemm: after.gemm - before.gemm,
            };
            assert_eq!(
                ran,
                self.kernel.here().counts(),
                "the forward path of {self:?} on this CPU"
            );
        }
        assert_eq!(y.dims(), [self.batch, self.co, ho, wo], "{self:?}");
        let grads = (y.clone() * r).sum().backward();
        let db = b.grad(&grads).expect("bias gradient");
        [
            vec4(y),
            vec4(x.grad(&grads).expect("input gradient")),
            vec4(w.grad(&grads).expect("weight gradient")),
            db.into_data().try_to_vec::<f32>().unwrap(),
        ]
    }

    /// Seeded input, weight, bias and output weighting `r`, uniform in ±1.
    fn inputs(&self, seed: u64) -> [Vec<f32>; 4] {
        let [ho, wo] = self.out_size();
        let mut init = Init::new(seed);
        [
            self.batch * self.ci * self.h * self.w,
            self.weight_shape().iter().product(),
            self.co,
            self.batch * self.co * ho * wo,
        ]
        .map(|n| init.uniform(n, 1.0))
    }

    fn check(&self, seed: u64) {
        let [x, w, bias, r] = self.inputs(seed);
        let expect = self.direct(&x, &w, &bias, &r);
        let got = self.burn(&x, &w, &bias, &r);
        for (name, (e, g)) in ["output", "dx", "dw", "db"]
            .iter()
            .zip(expect.iter().zip(&got))
        {
            assert_eq!(e.len(), g.len(), "{name} of {self:?}");
            let scale = e.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(e, g);
            assert!(
                diff <= 2e-5 * scale,
                "{name} of {self:?}: max diff {diff}, scale {scale}"
            );
        }
        // The checks must see real numbers, not all zeros.
        assert!(
            expect.iter().all(|v| v.iter().any(|&a| a.abs() > 1e-3)),
            "{self:?}"
        );
    }
}

#[test]
fn convolutions_match_direct_loops_with_gradients() {
    let cases = [
        // The model's residual 3×3 and a non-square image.
        BASE,
        // Stride-2 4×4 downsampling.
        Case {
            ci: 3,
            co: 6,
            h: 10,
            w: 10,
            k: [4, 4],
            stride: [2, 2],
            ..BASE
        },
        // Dilation, unequal strides and asymmetric padding.
        Case {
            dilation: [2, 1],
            stride: [1, 2],
            pad: [(2, 1), (0, 2)],
            ..BASE
        },
        // Unit stride with dilation and asymmetric padding.
        Case {
            dilation: [2, 2],
            pad: [(2, 2), (3, 1)],
            ..BASE
        },
        // 16+ input channels with dilation, asymmetric padding and a non-square kernel.
        Case {
            ci: 16,
            co: 5,
            dilation: [2, 2],
            pad: [(2, 2), (3, 1)],
            ..BASE
        },
        Case {
            ci: 16,
            co: 6,
            h: 8,
            w: 11,
            k: [5, 3],
            pad: [(0, 1), (2, 0)],
            ..BASE
        },
        // Groups (forward: upstream's kernel; gradients: the GEMM path).
        Case {
            ci: 4,
            co: 6,
            groups: 2,
            kernel: Kernel::Elsewhere,
            ..BASE
        },
        // Direct AVX-512 kernel (unit stride, output rows of whole 16-lane vectors, output
        // channels in eights): the compact model's 3×3, two channel blocks, an odd number of
        // pixel vectors per image (9 rows × 16 = 9 vectors) and a bias.
        Case {
            ci: 5,
            co: 16,
            h: 9,
            w: 16,
            kernel: Kernel::Direct,
            ..BASE
        },
        // ... with dilation, asymmetric padding, a non-square kernel and 32-pixel rows.
        Case {
            ci: 3,
            co: 8,
            h: 7,
            w: 32,
            k: [3, 5],
            dilation: [1, 2],
            pad: [(2, 1), (4, 4)],
            kernel: Kernel::Direct,
            ..BASE
        },
        // ... strided, through column phases: the compact model's 4×4 stride-2 downsampling,
        // then a 3×3 one whose bordered rows (33 wide) leave the odd phase one column short...
        Case {
            ci: 3,
            co: 8,
            h: 10,
            w: 32,
            k: [4, 4],
            stride: [2, 2],
            kernel: Kernel::Direct,
            ..BASE
        },
        Case {
            ci: 3,
            co: 8,
            h: 6,
            w: 31,
            stride: [2, 2],
            kernel: Kernel::Direct,
            ..BASE
        },
        // ... and three phases with unequal row and column strides and padding.
        Case {
            ci: 2,
            co: 8,
            h: 5,
            w: 46,
            stride: [1, 3],
            pad: [(1, 1), (0, 2)],
            kernel: Kernel::Direct,
            ..BASE
        },
        // Winograd: chunks straddling images...
        WINOGRAD,
        // ... odd output sizes (9×37: half tiles at the right and bottom; 19 tiles a row, in
        // one full and one partial group of 16), asymmetric padding and channel counts that
        // are not multiples of 8.
        Case {
            ci: 129,
            co: 130,
            h: 10,
            w: 37,
            pad: [(0, 1), (2, 0)],
            kernel: Kernel::Winograd,
            ..BASE
        },
        // ... 25 columns: 13 tiles, whose second vector of interleaved outputs is partial...
        Case {
            batch: 1,
            ci: 128,
            co: 128,
            h: 7,
            w: 25,
            kernel: Kernel::Winograd,
            ..BASE
        },
        // ... and 130 tiles a row (one tile row per chunk, nine groups of 16 tiles), two rows
        // of top padding and none at the sides.
        Case {
            batch: 1,
            ci: 128,
            co: 128,
            h: 4,
            w: 262,
            pad: [(2, 0), (0, 0)],
            kernel: Kernel::Winograd,
            ..BASE
        },
        // 1×1: the unfolded matrix is the input itself.
        Case {
            k: [1, 1],
            pad: [(0, 0), (0, 0)],
            ..BASE
        },
        // The first 7×7 layer, one image: a single task, run on the calling thread.
        Case {
            batch: 1,
            ci: 3,
            co: 8,
            h: 12,
            w: 12,
            k: [7, 7],
            pad: [(3, 3), (3, 3)],
            ..BASE
        },
        // Several row tiles per image.
        GEMM_TILES,
    ];
    for (i, case) in cases.iter().enumerate() {
        case.check(100 + i as u64);
    }
}

#[test]
fn transposed_convolutions_match_direct_loops_with_gradients() {
    let t = Case {
        transposed: true,
        ..BASE
    };
    let cases = [
        // ×2 upsampling.
        Case {
            k: [4, 4],
            stride: [2, 2],
            pad: [(1, 1), (1, 1)],
            ..t
        },
        // Output padding, unequal strides, dilation.
        Case {
            stride: [2, 3],
            out_pad: [1, 2],
            dilation: [1, 2],
            ..t
        },
        // The last 7×7 layer written as a transposed convolution.
        Case {
            ci: 6,
            co: 3,
            k: [7, 7],
            pad: [(3, 3), (3, 3)],
            ..t
        },
        // Groups (forward: upstream's kernel; gradients: the GEMM path).
        Case {
            ci: 4,
            co: 6,
            groups: 2,
            ..t
        },
        // Its input gradient is a 16-channel unit-stride convolution.
        Case { ci: 6, co: 16, ..t },
    ];
    for (i, case) in cases.iter().enumerate() {
        case.check(200 + i as u64);
    }
}

/// Seeded training must reproduce exactly whatever `--threads` says: every kernel cuts its work
/// into pieces that do not depend on the thread count, so one thread and two give the same bits
/// (outputs and all three gradients) on the Winograd, direct and GEMM paths.
#[test]
fn convolutions_give_the_same_bits_on_one_thread_and_two() {
    let cases = [
        WINOGRAD,
        // Direct forward (the compact model's 3×3 on 16×16 latents).
        Case {
            batch: 4,
            ci: 32,
            co: 32,
            h: 16,
            w: 16,
            kernel: Kernel::Direct,
            ..BASE
        },
        GEMM_TILES,
    ];
    for (i, case) in cases.iter().enumerate() {
        let [x, w, bias, r] = case.inputs(300 + i as u64);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| case.burn(&x, &w, &bias, &r))
        };
        let (one, two) = (on(1), on(2));
        for (name, (a, b)) in ["output", "dx", "dw", "db"]
            .iter()
            .zip(one.iter().zip(&two))
        {
            assert!(
                a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{name} of {case:?} differs between one thread and two"
            );
        }
    }
}
