//! 2D convolution, its two gradients and the transposed convolution as one GEMM per row tile.
//!
//! Added by duskmatch (see `VENDORED.md`). Upstream's path converts every input to NHWC, builds
//! patch rows of a 512-pixel tile per image and scatters the GEMM result back to NCHW; its
//! backward passes go through the generic defaults (input gradient = a transposed convolution
//! with a col2im scatter per pixel; weight gradient = a convolution whose "kernel" is the whole
//! output gradient, i.e. GEMMs with N = kh·kw). Here everything stays NCHW:
//!
//! - `col` is the classic unfolded matrix `[ci·kh·kw, pixels]` of one image and one tile of
//!   output rows, built from a zero-bordered copy of the input rows the tile reads, so each of
//!   its runs is a plain copy (or a strided gather) with no border arithmetic. The GEMM writes
//!   straight into the NCHW output.
//! - forward:          `y[co, p]   = W[co, k] · col[k, p]`
//! - input gradient:   `dcol[k, p] = Wᵀ[k, co] · dy[co, p]`, then `col2im` adds `dcol` back
//! - weight gradient:  `dW[co, k] += dy[co, p] · colᵀ[p, k]`, summed over images and tiles
//! - a transposed convolution is the input gradient of the convolution that has its output as
//!   input (the weights share one memory layout); its gradients are that convolution's forward
//!   and weight gradient.
//!
//! Groups, stride, dilation and asymmetric padding are all handled, so the backward overrides
//! never need the generic fallback.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::{DType, Element, ops::ConvOptions, ops::ConvTransposeOptions};
use burn_std::{Bytes, Shape, bf16};

use crate::ops::conv_common::add_bias;
use crate::ops::module::{cast_from_f32, cast_to_f32};
use crate::{FlexTensor, Layout};

mod direct;
mod winograd;

/// Elements of one unfolded tile: 256 Ki floats (1 MiB) keeps `col` near the GEMM's packed
/// panels in L2 ...
const TILE_ELEMS: usize = 256 * 1024;
/// ... unless that leaves the GEMM fewer than this many columns (wide layers: 256 channels × 9
/// taps): narrow products ran at 190 GFLOP/s against 240 for 512 columns on one core.
const MIN_TILE_COLS: usize = 512;
/// Weight gradients are summed in this many fixed parts (each a full-size accumulator).
const WEIGHT_GRAD_PARTS: usize = 8;

/// The convolution seen from its input side: what every kernel below needs.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    groups: usize,
    /// Input channels and size.
    ci: usize,
    h: usize,
    w: usize,
    /// Output channels and size.
    co: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    /// Padding before the first row / column (the end padding only shapes `ho`, `wo`).
    ph: usize,
    pw: usize,
    dh: usize,
    dw: usize,
}

impl Geometry {
    fn conv(x: &[usize], weight: &[usize], options: &ConvOptions<2>) -> Self {
        let [batch, ci, h, w] = [x[0], x[1], x[2], x[3]];
        let [co, _, kh, kw] = [weight[0], weight[1], weight[2], weight[3]];
        let [ph, pw] = options.padding_begin();
        let [peh, pew] = options.padding_end();
        let out = |size: usize, pb: usize, pe: usize, k: usize, s: usize, d: usize| {
            (size + pb + pe - d * (k - 1) - 1) / s + 1
        };
        Self {
            batch,
            groups: options.groups,
            ci,
            h,
            w,
            co,
            ho: out(h, ph, peh, kh, options.stride[0], options.dilation[0]),
            wo: out(w, pw, pew, kw, options.stride[1], options.dilation[1]),
            kh,
            kw,
            sh: options.stride[0],
            sw: options.stride[1],
            ph,
            pw,
            dh: options.dilation[0],
            dw: options.dilation[1],
        }
    }

    /// The convolution whose input gradient is the transposed convolution of `x` with `weight`
    /// (`[ci_t, co_t / groups, kh, kw]`, the memory layout of that convolution's weight).
    fn transposed(x: &[usize], weight: &[usize], options: &ConvTransposeOptions<2>) -> Self {
        let [batch, ci_t, h, w] = [x[0], x[1], x[2], x[3]];
        let [_, co_t_g, kh, kw] = [weight[0], weight[1], weight[2], weight[3]];
        let out = |size: usize, k: usize, i: usize| {
            (size - 1) * options.stride[i]
                + options.dilation[i] * (k - 1)
                + options.padding_out[i]
                + 1
                - 2 * options.padding[i]
        };
        Self {
            batch,
            groups: options.groups,
            ci: co_t_g * options.groups,
            h: out(h, kh, 0),
            w: out(w, kw, 1),
            co: ci_t,
            ho: h,
            wo: w,
            kh,
            kw,
            sh: options.stride[0],
            sw: options.stride[1],
            ph: options.padding[0],
            pw: options.padding[1],
            dh: options.dilation[0],
            dw: options.dilation[1],
        }
    }

    fn ci_g(&self) -> usize {
        self.ci / self.groups
    }
    fn co_g(&self) -> usize {
        self.co / self.groups
    }
    /// Rows of `col`: one per (input channel of a group, ky, kx).
    fn k_g(&self) -> usize {
        self.ci_g() * self.kh * self.kw
    }
    fn in_plane(&self) -> usize {
        self.h * self.w
    }
    fn out_plane(&self) -> usize {
        self.ho * self.wo
    }
    /// Output rows per tile.
    fn tile_rows(&self) -> usize {
        let by_size = TILE_ELEMS / (self.k_g() * self.wo).max(1);
        let by_cols = MIN_TILE_COLS.div_ceil(self.wo.max(1));
        by_size.max(by_cols).clamp(1, self.ho.max(1))
    }
    fn tiles(&self) -> usize {
        self.ho.div_ceil(self.tile_rows())
    }
    fn tile(&self, t: usize) -> (usize, usize) {
        let r = self.tile_rows();
        (t * r, ((t + 1) * r).min(self.ho))
    }
    /// Rows of the zero-bordered input copy that output rows `oy0..oy1` read.
    fn padded_rows(&self, oy0: usize, oy1: usize) -> usize {
        (oy1 - oy0 - 1) * self.sh + (self.kh - 1) * self.dh + 1
    }
    /// Columns of that copy: every input column an output row reads, border included.
    fn padded_width(&self) -> usize {
        (self.wo - 1) * self.sw + (self.kw - 1) * self.dw + 1
    }
    /// Scratch elements [`im2col`] needs beside `col` for a tile of `rows` output rows.
    fn padded_len(&self, rows: usize) -> usize {
        self.ci_g() * self.padded_rows(0, rows) * self.padded_width() + 1
    }
    /// A 1×1, unit-stride, unpadded convolution: `col` is the input itself.
    fn is_pointwise(&self) -> bool {
        self.kh == 1
            && self.kw == 1
            && self.sh == 1
            && self.sw == 1
            && self.ph == 0
            && self.pw == 0
            && self.ho == self.h
            && self.wo == self.w
    }

    /// Output columns `[lo, hi)` whose tap `kx` falls inside the input row.
    fn valid_cols(&self, kx: usize) -> (usize, usize) {
        let off = kx * self.dw; // input column = ox·sw + off − pw
        let lo = if off >= self.pw {
            0
        } else {
            (self.pw - off).div_ceil(self.sw)
        };
        let hi = if self.w + self.pw > off {
            ((self.w + self.pw - off - 1) / self.sw + 1).min(self.wo)
        } else {
            0
        };
        (lo.min(hi), hi)
    }

    /// Input row of output row `oy` and tap `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky * self.dh)
            .checked_sub(self.ph)
            .filter(|&iy| iy < self.h)
    }
}

/// The element types the GEMM crate multiplies natively.
pub(crate) trait GemmElement:
    Element
    + burn_backend::ElementAdd
    + bytemuck::Pod
    + Copy
    + Send
    + Sync
    + core::ops::Add<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
}
impl GemmElement for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmElement for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl GemmElement for burn_std::f16 {
    const ZERO: Self = burn_std::f16::ZERO;
    const ONE: Self = burn_std::f16::ONE;
}

/// A strided matrix operand: element (r, c) is at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
struct Mat<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}

/// `dst = (accumulate ? dst : 0) + lhs · rhs` with `dst` `[m, n]` of row stride `dst_rs`.
///
/// Always single-threaded: the tasks around it are the parallel units. (gemm's own rayon
/// split, called from a pool thread, changed the summation order from run to run, and seeded
/// training must reproduce exactly.)
///
/// # Safety
/// Every operand must be valid for its shape and strides, and `dst` not aliased.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<T: GemmElement>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
) {
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Unfolds output rows `oy0..oy1` of one image and group: `col[k, p]`, `k = (c, ky, kx)`.
/// `pad` is scratch for [`Geometry::padded_len`] elements.
fn im2col<T: GemmElement>(
    x: &[T],
    g: &Geometry,
    oy0: usize,
    oy1: usize,
    col: &mut [T],
    pad: &mut [T],
) {
    pad_rows(x, g, oy0, oy1, pad);
    unfold_padded(pad, g, oy0, oy1, col);
}

/// The input rows that output rows `oy0..oy1` read, copied with their zero border:
/// `[ci / groups, padded_rows, padded_width]`, plus one slack element (see [`gather`]).
///
/// Both halves of [`im2col`] are compiled once per SIMD level (macerator picks at run time)
/// so that their copies and strided gathers are vectorised.
#[allow(clippy::extra_unused_type_parameters)]
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn pad_rows<#[cfg(feature = "simd")] S: macerator::Simd, T: GemmElement>(
    x: &[T],
    g: &Geometry,
    oy0: usize,
    oy1: usize,
    pad: &mut [T],
) {
    let (rows, wp) = (g.padded_rows(oy0, oy1), g.padded_width());
    let iy0 = (oy0 * g.sh) as isize - g.ph as isize;
    // Padded column q holds input column q - pw.
    let left = g.pw.min(wp);
    let right_start = (g.pw + g.w).min(wp);
    for c in 0..g.ci_g() {
        let plane = &x[c * g.in_plane()..(c + 1) * g.in_plane()];
        let dst_plane = &mut pad[c * rows * wp..(c + 1) * rows * wp];
        for (r, dst) in dst_plane.chunks_exact_mut(wp).enumerate() {
            let iy = iy0 + r as isize;
            if iy < 0 || iy >= g.h as isize {
                dst.fill(T::ZERO);
                continue;
            }
            let src = &plane[iy as usize * g.w..][..g.w];
            dst[..left].fill(T::ZERO);
            copy_rows(src, 0, &mut dst[left..right_start], right_start - left);
            dst[right_start..].fill(T::ZERO);
        }
    }
    pad[g.ci_g() * rows * wp] = T::ZERO;
}

/// `col` from the zero-bordered rows of [`pad_rows`]: every run of the unfolded matrix is a
/// plain (or strided) copy of `wo` elements, with no border arithmetic. (Unfolding straight
/// from the image, with the border worked out per run, cost the compact encoder's stride-2
/// layers more than their GEMMs.)
#[allow(clippy::extra_unused_type_parameters)]
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn unfold_padded<#[cfg(feature = "simd")] S: macerator::Simd, T: GemmElement>(
    pad: &[T],
    g: &Geometry,
    oy0: usize,
    oy1: usize,
    col: &mut [T],
) {
    let (rows, wp) = (g.padded_rows(oy0, oy1), g.padded_width());
    let (out_rows, wo) = (oy1 - oy0, g.wo);
    let cols = out_rows * wo;
    for c in 0..g.ci_g() {
        let plane = &pad[c * rows * wp..];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                let dst_row = &mut col[row * cols..(row + 1) * cols];
                let src = &plane[ky * g.dh * wp + kx * g.dw..];
                if g.sw == 1 {
                    copy_rows(src, g.sh * wp, dst_row, wo);
                    continue;
                }
                for (r, dst) in dst_row.chunks_exact_mut(wo).enumerate() {
                    gather(&src[r * g.sh * wp..], g.sw, dst);
                }
            }
        }
    }
}

/// `dst` row `r` (of `dst.len() / width`) = `src[r·stride..][..width]`, in blocks of 16 that
/// compile to vector moves: rows here are 16–64 elements, where a `memcpy` call per row
/// costs as much as the copy.
#[inline(always)]
fn copy_rows<T: GemmElement>(src: &[T], stride: usize, dst: &mut [T], width: usize) {
    let rows = if width == 0 { 0 } else { dst.len() / width };
    if rows == 0 {
        return;
    }
    assert!(dst.len() == rows * width && src.len() >= (rows - 1) * stride + width);
    let (blocks, tail) = (width / 16, width % 16);
    // SAFETY: the assert above bounds every read and write below.
    unsafe {
        for r in 0..rows {
            let s = src.as_ptr().add(r * stride);
            let d = dst.as_mut_ptr().add(r * width);
            for j in 0..blocks {
                core::ptr::copy_nonoverlapping(s.add(16 * j), d.add(16 * j), 16);
            }
            for j in 16 * blocks..16 * blocks + tail {
                *d.add(j) = *s.add(j);
            }
        }
    }
}

/// `dst[i] = src[i·step]`. For step 2 it reads pairs up to `src[2·len − 1]`, one past the
/// last element it keeps, so the compiler sees a fixed stride and shuffles instead of
/// gathering; [`pad_rows`] leaves a slack element so that read stays in bounds.
#[inline(always)]
fn gather<T: GemmElement>(src: &[T], step: usize, dst: &mut [T]) {
    match step {
        2 => {
            let n = dst.len();
            for (d, pair) in dst.iter_mut().zip(src[..2 * n].chunks_exact(2)) {
                *d = pair[0];
            }
        }
        _ => {
            for (d, s) in dst.iter_mut().zip(src.iter().step_by(step)) {
                *d = *s;
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds `col` back into the image it was unfolded from.
fn col2im_add<T: GemmElement>(col: &[T], g: &Geometry, oy0: usize, oy1: usize, x: &mut [T]) {
    let cols = (oy1 - oy0) * g.wo;
    for c in 0..g.ci_g() {
        let plane = &mut x[c * g.in_plane()..(c + 1) * g.in_plane()];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                let src_row = &col[row * cols..(row + 1) * cols];
                let (lo, hi) = g.valid_cols(kx);
                if lo >= hi {
                    continue;
                }
                for oy in oy0..oy1 {
                    let Some(iy) = g.input_row(oy, ky) else {
                        continue;
                    };
                    let src = &src_row[(oy - oy0) * g.wo + lo..(oy - oy0) * g.wo + hi];
                    let ix0 = lo * g.sw + kx * g.dw - g.pw;
                    let dst = &mut plane[iy * g.w..(iy + 1) * g.w];
                    if g.sw == 1 {
                        for (d, &s) in dst[ix0..ix0 + src.len()].iter_mut().zip(src) {
                            *d = *d + s;
                        }
                    } else {
                        for (i, &s) in src.iter().enumerate() {
                            let d = &mut dst[ix0 + i * g.sw];
                            *d = *d + s;
                        }
                    }
                }
            }
        }
    }
}

/// Raw output pointer shared by tasks that write disjoint parts of it.
#[derive(Clone, Copy)]
struct SharedOut<T>(*mut T);
unsafe impl<T> Send for SharedOut<T> {}
unsafe impl<T> Sync for SharedOut<T> {}

/// Runs `f(i)` for `i in 0..n`, on the rayon pool when there is one.
fn for_each_task(n: usize, f: impl Fn(usize) + Send + Sync) {
    #[cfg(feature = "rayon")]
    if use_pool(n) {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each(f);
        return;
    }
    (0..n).for_each(f);
}

/// Whether `tasks` tasks are worth handing to the pool. With one task or one pool thread they
/// run on the calling thread: handing work to the pool from outside it costs a sleep and a
/// wake-up per call (compact encoder at 1 thread: 1870 → 2300 images/s).
#[cfg(feature = "rayon")]
fn use_pool(tasks: usize) -> bool {
    tasks > 1 && rayon::current_num_threads() > 1
}

#[cfg(feature = "std")]
std::thread_local! {
    /// Each thread's unfolding buffer, kept between calls: allocating (and zeroing) a fresh
    /// one per call cost more than the unfolding itself at batch 8 (first layer of the compact
    /// encoder: 180 against 93 µs per image at batch 64). Words, to be aligned for any `T`.
    static SCRATCH: core::cell::RefCell<Vec<u64>> = const { core::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` elements; what it holds is stale and
/// is overwritten by the caller.
fn with_scratch<T: GemmElement, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let bytes = len * core::mem::size_of::<T>();
    let run = |buf: &mut Vec<u64>| {
        let words = bytes.div_ceil(8);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        let raw: &mut [u8] = bytemuck::cast_slice_mut(&mut buf[..words]);
        f(bytemuck::cast_slice_mut(&mut raw[..bytes]))
    };
    #[cfg(feature = "std")]
    {
        // A nested call (none today) would get a buffer of its own rather than a panic.
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => run(&mut buf),
            Err(_) => run(&mut Vec::new()),
        })
    }
    #[cfg(not(feature = "std"))]
    run(&mut Vec::new())
}

/// How many forward convolutions on this thread took each of this module's paths, so a test
/// can assert the kernel it exercised: the choice depends on the CPU (the Winograd and direct
/// kernels need AVX-512), and a test that silently fell back to the GEMM would pass on a CPU
/// without it while testing nothing of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvKernelCounts {
    pub winograd: u64,
    pub direct: u64,
    pub gemm: u64,
}

#[cfg(feature = "std")]
std::thread_local! {
    static KERNEL_COUNTS: core::cell::Cell<ConvKernelCounts> =
        const { core::cell::Cell::new(ConvKernelCounts { winograd: 0, direct: 0, gemm: 0 }) };
}

/// This thread's counts so far (all zero without `std`).
pub fn conv_kernel_counts() -> ConvKernelCounts {
    #[cfg(feature = "std")]
    return KERNEL_COUNTS.with(|c| c.get());
    #[cfg(not(feature = "std"))]
    ConvKernelCounts::default()
}

fn count_kernel(bump: impl FnOnce(&mut ConvKernelCounts)) {
    #[cfg(feature = "std")]
    KERNEL_COUNTS.with(|c| {
        let mut v = c.get();
        bump(&mut v);
        c.set(v);
    });
    #[cfg(not(feature = "std"))]
    let _ = bump;
}

/// `y = conv(x, weight) + bias`, NCHW.
fn forward<T: GemmElement>(x: &[T], weight: &[T], bias: Option<&[T]>, g: &Geometry) -> Vec<T> {
    let len = g.batch * g.co * g.out_plane();
    // Every element is written exactly once (by the Winograd output transform, the direct
    // kernel, or one GEMM with read_dst = false) before `set_len`, so the output is never
    // zero-filled first.
    let mut y: Vec<T> = Vec::with_capacity(len);
    // The f32 kernels that skip unfolding, tried in this order.
    type F32Kernel = unsafe fn(&[f32], &[f32], Option<&[f32]>, &Geometry, *mut f32);
    let is_f32 = core::any::TypeId::of::<T>() == core::any::TypeId::of::<f32>();
    let kernel: Option<F32Kernel> = if !is_f32 {
        None
    } else if winograd::applies(g) {
        count_kernel(|c| c.winograd += 1);
        Some(winograd::forward)
    } else if direct::applies(g) {
        count_kernel(|c| c.direct += 1);
        Some(direct::forward)
    } else {
        None
    };
    if kernel.is_none() {
        count_kernel(|c| c.gemm += 1);
    }
    if let Some(kernel) = kernel {
        // T is f32 here, so these casts are identities.
        // SAFETY: `y` has room for the `len` elements the call writes, and the kernel's
        // `applies` held.
        unsafe {
            kernel(
                bytemuck::cast_slice(x),
                bytemuck::cast_slice(weight),
                bias.map(bytemuck::cast_slice),
                g,
                y.as_mut_ptr().cast::<f32>(),
            );
            y.set_len(len);
        }
        return y;
    }
    let tasks = g.batch * g.tiles();
    let out = SharedOut(y.as_mut_ptr());
    let (k_g, n) = (g.k_g(), g.out_plane());
    for_each_task(tasks, |task| {
        let (b, (oy0, oy1)) = (task / g.tiles(), g.tile(task % g.tiles()));
        let cols = (oy1 - oy0) * g.wo;
        // A pointwise convolution multiplies the input itself: no scratch.
        let (col_len, pad_len) = if g.is_pointwise() {
            (0, 0)
        } else {
            (k_g * cols, g.padded_len(oy1 - oy0))
        };
        with_scratch(col_len + pad_len, |scratch: &mut [T]| {
            let (col, pad) = scratch.split_at_mut(col_len);
            let out = out;
            for grp in 0..g.groups {
                let x_bg =
                    &x[(b * g.ci + grp * g.ci_g()) * g.in_plane()..][..g.ci_g() * g.in_plane()];
                let rhs = if g.is_pointwise() {
                    Mat {
                        ptr: x_bg[oy0 * g.wo..].as_ptr(),
                        rs: n as isize,
                        cs: 1,
                    }
                } else {
                    im2col(x_bg, g, oy0, oy1, col, pad);
                    Mat {
                        ptr: col.as_ptr(),
                        rs: cols as isize,
                        cs: 1,
                    }
                };
                let w_g = Mat {
                    ptr: weight[grp * g.co_g() * k_g..].as_ptr(),
                    rs: k_g as isize,
                    cs: 1,
                };
                // SAFETY: task (b, tile) alone writes rows oy0..oy1 of image b.
                unsafe {
                    let dst = out.0.add((b * g.co + grp * g.co_g()) * n + oy0 * g.wo);
                    gemm(g.co_g(), cols, k_g, dst, n, false, w_g, rhs);
                }
            }
        })
    });
    // SAFETY: the tasks above covered every (image, channel, output row) once.
    unsafe { y.set_len(len) };
    if let Some(bias) = bias {
        add_bias(&mut y, bias, g.batch, g.co, n);
    }
    y
}

/// The gradient of [`forward`] with respect to its input `x`.
fn input_grad<T: GemmElement>(dy: &[T], weight: &[T], g: &Geometry) -> Vec<T> {
    let mut dx = vec![T::ZERO; g.batch * g.ci * g.in_plane()];
    // Tiles of one image overlap in dx, so images are the parallel tasks.
    let out = SharedOut(dx.as_mut_ptr());
    let (k_g, n) = (g.k_g(), g.out_plane());
    for_each_task(g.batch, |b| {
        let out = out;
        // SAFETY: image b's slice of dx is written by this task only.
        let dx_b = unsafe {
            core::slice::from_raw_parts_mut(out.0.add(b * g.ci * g.in_plane()), g.ci * g.in_plane())
        };
        with_scratch(k_g * g.tile_rows() * g.wo, |col: &mut [T]| {
            for t in 0..g.tiles() {
                let (oy0, oy1) = g.tile(t);
                let cols = (oy1 - oy0) * g.wo;
                for grp in 0..g.groups {
                    let w_g_t = Mat {
                        ptr: weight[grp * g.co_g() * k_g..].as_ptr(),
                        rs: 1,
                        cs: k_g as isize,
                    };
                    let dy_bg = Mat {
                        ptr: dy[(b * g.co + grp * g.co_g()) * n + oy0 * g.wo..].as_ptr(),
                        rs: n as isize,
                        cs: 1,
                    };
                    let dx_bg =
                        &mut dx_b[grp * g.ci_g() * g.in_plane()..][..g.ci_g() * g.in_plane()];
                    if g.is_pointwise() {
                        // col2im of a pointwise convolution is the identity: accumulate in place.
                        unsafe {
                            gemm(
                                k_g,
                                cols,
                                g.co_g(),
                                dx_bg[oy0 * g.wo..].as_mut_ptr(),
                                n,
                                true,
                                w_g_t,
                                dy_bg,
                            )
                        };
                        continue;
                    }
                    unsafe {
                        gemm(
                            k_g,
                            cols,
                            g.co_g(),
                            col.as_mut_ptr(),
                            cols,
                            false,
                            w_g_t,
                            dy_bg,
                        )
                    };
                    col2im_add(&col[..k_g * cols], g, oy0, oy1, dx_bg);
                }
            }
        })
    });
    dx
}

/// The gradient of [`forward`] with respect to `weight`, `[co, ci / groups, kh, kw]`.
fn weight_grad<T: GemmElement>(x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
    let (k_g, n) = (g.k_g(), g.out_plane());
    let len = g.co * k_g;
    let tasks = g.batch * g.tiles();
    let one_task = |acc: &mut Vec<T>, scratch: &mut [T], task: usize| {
        let (b, (oy0, oy1)) = (task / g.tiles(), g.tile(task % g.tiles()));
        let cols = (oy1 - oy0) * g.wo;
        for grp in 0..g.groups {
            let x_bg = &x[(b * g.ci + grp * g.ci_g()) * g.in_plane()..][..g.ci_g() * g.in_plane()];
            let col_t = if g.is_pointwise() {
                Mat {
                    ptr: x_bg[oy0 * g.wo..].as_ptr(),
                    rs: 1,
                    cs: n as isize,
                }
            } else {
                let (col, pad) = scratch.split_at_mut(k_g * g.tile_rows() * g.wo);
                let col = &mut col[..k_g * cols];
                im2col(x_bg, g, oy0, oy1, col, pad);
                Mat {
                    ptr: col.as_ptr(),
                    rs: 1,
                    cs: cols as isize,
                }
            };
            let dy_bg = Mat {
                ptr: dy[(b * g.co + grp * g.co_g()) * n + oy0 * g.wo..].as_ptr(),
                rs: n as isize,
                cs: 1,
            };
            let dst = acc[grp * g.co_g() * k_g..].as_mut_ptr();
            unsafe { gemm(g.co_g(), k_g, cols, dst, k_g, true, dy_bg, col_t) };
        }
    };
    // Fixed parts, each summing its tasks in order, added in order: the same sums for any
    // thread count or schedule, so a seeded run reproduces exactly (a work-stealing fold
    // changed the summation order from run to run).
    let parts = tasks.clamp(1, WEIGHT_GRAD_PARTS);
    let per_part = tasks.div_ceil(parts);
    let part = |p: usize| {
        let mut acc = vec![T::ZERO; len];
        let col_len = if g.is_pointwise() {
            0
        } else {
            k_g * g.tile_rows() * g.wo + g.padded_len(g.tile_rows())
        };
        with_scratch(col_len, |scratch: &mut [T]| {
            for task in p * per_part..((p + 1) * per_part).min(tasks) {
                one_task(&mut acc, scratch, task);
            }
        });
        acc
    };
    #[cfg(feature = "rayon")]
    let partials: Vec<Vec<T>> = if use_pool(parts) {
        use rayon::prelude::*;
        (0..parts).into_par_iter().map(part).collect()
    } else {
        (0..parts).map(part).collect()
    };
    #[cfg(not(feature = "rayon"))]
    let partials: Vec<Vec<T>> = (0..parts).map(part).collect();
    let mut partials = partials.into_iter();
    let mut sum = partials.next().unwrap_or_else(|| vec![T::ZERO; len]);
    for p in partials {
        sum.iter_mut().zip(&p).for_each(|(a, &b)| *a = *a + b);
    }
    sum
}

fn tensor<T: GemmElement>(data: Vec<T>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        T::dtype(),
    )
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// Runs `f` in the tensors' own element type, or in f32 for bf16 (which the GEMM lacks).
macro_rules! by_dtype {
    ($name:literal, $dtype:expr, $args:expr, |$t:ident| $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                ($body)($args)
            }
            DType::F64 => {
                type $t = f64;
                ($body)($args)
            }
            DType::F16 => {
                type $t = burn_std::f16;
                ($body)($args)
            }
            DType::BF16 => {
                type $t = f32;
                let widened = $args
                    .map(|t: Option<FlexTensor>| t.map(|t| cast_to_f32::<bf16>(t, bf16::to_f32)));
                cast_from_f32::<bf16>(($body)(widened), bf16::from_f32)
            }
            dtype => panic!("{}: unsupported dtype {:?}", $name, dtype),
        }
    };
}

/// Forward 2D convolution.
pub(crate) fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let g = Geometry::conv(&dims(&x), &dims(&weight), options);
    by_dtype!("conv2d", x.dtype(), [Some(x), Some(weight), bias], |T| {
        |[x, w, b]: [Option<FlexTensor>; 3]| {
            let (x, w) = (x.unwrap().to_contiguous(), w.unwrap().to_contiguous());
            let b = b.map(|b| b.to_contiguous());
            let y = forward::<T>(
                x.storage(),
                w.storage(),
                b.as_ref().map(|b| b.storage()),
                &g,
            );
            tensor(y, [g.batch, g.co, g.ho, g.wo])
        }
    })
}

/// Gradient of [`conv2d`] with respect to `x`.
pub(crate) fn conv2d_x_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let g = Geometry::conv(&dims(&x), &dims(&weight), options);
    by_dtype!(
        "conv2d_x_backward",
        x.dtype(),
        [Some(weight), Some(output_grad)],
        |T| {
            |[w, dy]: [Option<FlexTensor>; 2]| {
                let (w, dy) = (w.unwrap().to_contiguous(), dy.unwrap().to_contiguous());
                tensor(
                    input_grad::<T>(dy.storage(), w.storage(), &g),
                    [g.batch, g.ci, g.h, g.w],
                )
            }
        }
    )
}

/// Gradient of [`conv2d`] with respect to `weight`.
pub(crate) fn conv2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let w_shape = dims(&weight);
    let g = Geometry::conv(&dims(&x), &w_shape, options);
    by_dtype!(
        "conv2d_weight_backward",
        x.dtype(),
        [Some(x), Some(output_grad)],
        |T| {
            |[x, dy]: [Option<FlexTensor>; 2]| {
                let (x, dy) = (x.unwrap().to_contiguous(), dy.unwrap().to_contiguous());
                let dw = weight_grad::<T>(x.storage(), dy.storage(), &g);
                tensor(dw, [w_shape[0], w_shape[1], w_shape[2], w_shape[3]])
            }
        }
    )
}

/// Transposed 2D convolution: the input gradient of the matching convolution, plus bias.
pub(crate) fn conv_transpose2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvTransposeOptions<2>,
) -> FlexTensor {
    let g = Geometry::transposed(&dims(&x), &dims(&weight), options);
    by_dtype!(
        "conv_transpose2d",
        x.dtype(),
        [Some(x), Some(weight), bias],
        |T| {
            |[x, w, b]: [Option<FlexTensor>; 3]| {
                let (x, w) = (x.unwrap().to_contiguous(), w.unwrap().to_contiguous());
                let mut y = input_grad::<T>(x.storage(), w.storage(), &g);
                if let Some(b) = b.map(|b| b.to_contiguous()) {
                    add_bias(&mut y, b.storage(), g.batch, g.ci, g.in_plane());
                }
                tensor(y, [g.batch, g.ci, g.h, g.w])
            }
        }
    )
}

/// Gradient of [`conv_transpose2d`] with respect to `x`: the matching convolution's forward.
pub(crate) fn conv_transpose2d_x_backward(
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvTransposeOptions<2>,
) -> FlexTensor {
    let conv = conv_options(options);
    conv2d(output_grad, weight, None, &conv)
}

/// Gradient of [`conv_transpose2d`] with respect to `weight`: the matching convolution's
/// weight gradient, with the transposed convolution's output as that convolution's input.
pub(crate) fn conv_transpose2d_weight_backward(
    x: FlexTensor,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvTransposeOptions<2>,
) -> FlexTensor {
    let conv = conv_options(options);
    conv2d_weight_backward(output_grad, weight, x, &conv)
}

/// The options of the convolution matching a transposed one. Its input is the transposed
/// output, whose size already includes the output padding; the floor in the convolution's size
/// formula then gives back the transposed input's size.
fn conv_options(options: &ConvTransposeOptions<2>) -> ConvOptions<2> {
    ConvOptions::new(
        options.stride,
        options.padding,
        options.dilation,
        options.groups,
    )
}
