//! 2D convolution, its two gradients and the transposed convolution as one GEMM per row tile.
//!
//! Added by duskmatch (see `VENDORED.md`). Upstream's path converts every input to NHWC, builds
//! patch rows of a 512-pixel tile per image and scatters the GEMM result back to NCHW; its
//! backward passes go through the generic defaults (input gradient = a transposed convolution
//! with a col2im scatter per pixel; weight gradient = a convolution whose "kernel" is the whole
//! output gradient, i.e. GEMMs with N = kh·kw). Here everything stays NCHW:
//!
//! - `col` is the classic unfolded matrix `[ci·kh·kw, pixels]` of one image and one tile of
//!   output rows. With unit stride each of its rows is a run of contiguous copies, so building it
//!   is memcpy-speed, and the GEMM writes straight into the NCHW output.
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
fn im2col<T: GemmElement>(x: &[T], g: &Geometry, oy0: usize, oy1: usize, col: &mut [T]) {
    let cols = (oy1 - oy0) * g.wo;
    for c in 0..g.ci_g() {
        let plane = &x[c * g.in_plane()..(c + 1) * g.in_plane()];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (c * g.kh + ky) * g.kw + kx;
                let dst_row = &mut col[row * cols..(row + 1) * cols];
                let (lo, hi) = g.valid_cols(kx);
                if g.sh == 1 && g.sw == 1 && g.wo == g.w {
                    unfold_same_width_row(plane, g, ky, kx, oy0, oy1, (lo, hi), dst_row);
                    continue;
                }
                for oy in oy0..oy1 {
                    let dst = &mut dst_row[(oy - oy0) * g.wo..(oy - oy0 + 1) * g.wo];
                    let Some(iy) = g.input_row(oy, ky) else {
                        dst.fill(T::ZERO);
                        continue;
                    };
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    if lo < hi {
                        let ix0 = lo * g.sw + kx * g.dw - g.pw;
                        let src = &plane[iy * g.w..(iy + 1) * g.w];
                        if g.sw == 1 {
                            dst[lo..hi].copy_from_slice(&src[ix0..ix0 + hi - lo]);
                        } else {
                            for (i, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = src[ix0 + i * g.sw];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row of [`im2col`] for a unit-stride convolution that keeps the width. Consecutive
/// output pixels then read consecutive input pixels, even across rows, so the whole tile is
/// one contiguous copy; only the columns that wrapped around a row edge are zeroed after it.
/// (Small images have rows of 16–64 pixels: copying them one by one cost more than the copy.)
#[allow(clippy::too_many_arguments)]
fn unfold_same_width_row<T: GemmElement>(
    plane: &[T],
    g: &Geometry,
    ky: usize,
    kx: usize,
    oy0: usize,
    oy1: usize,
    (lo, hi): (usize, usize),
    dst: &mut [T],
) {
    let w = g.w;
    // Output rows whose input row is inside the image.
    let oy_lo = oy0.max(g.ph.saturating_sub(ky * g.dh));
    let oy_hi = oy1.min((g.h + g.ph).saturating_sub(ky * g.dh));
    if oy_lo >= oy_hi || lo >= hi {
        dst.fill(T::ZERO);
        return;
    }
    let (j_begin, j_end) = ((oy_lo - oy0) * w, (oy_hi - oy0) * w);
    // Input index of tile position j is `base + j`.
    let base = (oy0 * w + ky * g.dh * w + kx * g.dw) as isize - (g.ph * w + g.pw) as isize;
    let j0 = j_begin.max((-base).max(0) as usize);
    let j1 = j_end.min((plane.len() as isize - base).max(0) as usize);
    dst[..j_begin.max(j0).min(j_end)].fill(T::ZERO);
    dst[j1.max(j_begin).min(j_end)..].fill(T::ZERO);
    if j0 < j1 {
        let src = (base + j0 as isize) as usize;
        dst[j0..j1].copy_from_slice(&plane[src..src + (j1 - j0)]);
    }
    if lo > 0 || hi < w {
        for r in (j_begin..j_end).step_by(w) {
            dst[r..r + lo].fill(T::ZERO);
            dst[r + hi..r + w].fill(T::ZERO);
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

/// Runs `f(scratch, i)` for `i in 0..n`, on the rayon pool when there is one. Each worker
/// reuses one scratch buffer across its tasks instead of allocating (and zeroing) per task.
fn for_each_task<T: GemmElement>(n: usize, f: impl Fn(&mut Vec<T>, usize) + Send + Sync) {
    #[cfg(feature = "rayon")]
    if use_pool(n) {
        use rayon::prelude::*;
        (0..n).into_par_iter().for_each_init(Vec::new, f);
        return;
    }
    let mut scratch = Vec::new();
    (0..n).for_each(|i| f(&mut scratch, i));
}

/// Whether `tasks` tasks are worth handing to the pool. With one task or one pool thread they
/// run on the calling thread: handing work to the pool from outside it costs a sleep and a
/// wake-up per call (compact encoder at 1 thread: 1870 → 2300 images/s).
#[cfg(feature = "rayon")]
fn use_pool(tasks: usize) -> bool {
    tasks > 1 && rayon::current_num_threads() > 1
}

/// `scratch` grown to at least `len` elements; what it holds is overwritten by the caller.
fn scratch_of<T: GemmElement>(scratch: &mut Vec<T>, len: usize) -> &mut [T] {
    if scratch.len() < len {
        scratch.resize(len, T::ZERO);
    }
    &mut scratch[..len]
}

/// `y = conv(x, weight) + bias`, NCHW.
fn forward<T: GemmElement>(x: &[T], weight: &[T], bias: Option<&[T]>, g: &Geometry) -> Vec<T> {
    let len = g.batch * g.co * g.out_plane();
    // Every element is written by exactly one GEMM (read_dst = false) before `set_len`, so
    // the output is never zero-filled first.
    let mut y: Vec<T> = Vec::with_capacity(len);
    let tasks = g.batch * g.tiles();
    let out = SharedOut(y.as_mut_ptr());
    let (k_g, n) = (g.k_g(), g.out_plane());
    for_each_task(tasks, |scratch: &mut Vec<T>, task| {
        let (b, (oy0, oy1)) = (task / g.tiles(), g.tile(task % g.tiles()));
        let cols = (oy1 - oy0) * g.wo;
        let col = scratch_of(scratch, if g.is_pointwise() { 0 } else { k_g * cols });
        let out = out;
        for grp in 0..g.groups {
            let x_bg = &x[(b * g.ci + grp * g.ci_g()) * g.in_plane()..][..g.ci_g() * g.in_plane()];
            let rhs = if g.is_pointwise() {
                Mat {
                    ptr: x_bg[oy0 * g.wo..].as_ptr(),
                    rs: n as isize,
                    cs: 1,
                }
            } else {
                im2col(x_bg, g, oy0, oy1, col);
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
    for_each_task(g.batch, |scratch: &mut Vec<T>, b| {
        let out = out;
        // SAFETY: image b's slice of dx is written by this task only.
        let dx_b = unsafe {
            core::slice::from_raw_parts_mut(out.0.add(b * g.ci * g.in_plane()), g.ci * g.in_plane())
        };
        let col = scratch_of(scratch, k_g * g.tile_rows() * g.wo);
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
                let dx_bg = &mut dx_b[grp * g.ci_g() * g.in_plane()..][..g.ci_g() * g.in_plane()];
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
    });
    dx
}

/// The gradient of [`forward`] with respect to `weight`, `[co, ci / groups, kh, kw]`.
fn weight_grad<T: GemmElement>(x: &[T], dy: &[T], g: &Geometry) -> Vec<T> {
    let (k_g, n) = (g.k_g(), g.out_plane());
    let len = g.co * k_g;
    let tasks = g.batch * g.tiles();
    let one_task = |acc: &mut Vec<T>, col: &mut Vec<T>, task: usize| {
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
                let col = scratch_of(col, k_g * cols);
                im2col(x_bg, g, oy0, oy1, col);
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
        let (mut acc, mut col) = (vec![T::ZERO; len], Vec::new());
        for task in p * per_part..((p + 1) * per_part).min(tasks) {
            one_task(&mut acc, &mut col, task);
        }
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
