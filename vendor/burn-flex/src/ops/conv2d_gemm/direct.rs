//! Direct forward convolution for f32 with AVX-512, for layers whose output rows are whole
//! 16-lane vectors and whose output channels come in groups of 8.
//!
//! Added by duskmatch (see `VENDORED.md`). For small layers (the compact model's 32-channel
//! 3×3 convolutions on 16×16 images) the unfold-and-GEMM path spends as long writing and
//! re-reading the unfolded matrix as multiplying, and gemm's 6-column register blocks split 8 or
//! 32 channels unevenly. Here each block of 8 output channels × 2 vectors of 16 output pixels
//! stays in 16 registers while every (input channel, tap) adds one broadcast weight times one
//! shifted row of the zero-bordered input: 259 against 157 GFLOP/s on one core for that layer.
//! Each output element is one sum in a fixed order, so results do not depend on threads.

use alloc::vec::Vec;

use super::{Geometry, SharedOut, for_each_task, gather, pad_rows, with_scratch};

const LANES: usize = 16;
/// Output channels per register block.
const CB: usize = 8;
/// Pixel vectors per register block. 8 × 2 accumulators measured fastest with 4 × 4 (the same
/// speed); 8 × 3 leaves vectors unused at the end of 16×16 images, and 8 × 4 runs out of
/// registers.
const PB: usize = 2;

/// Whether [`forward`] can compute this convolution on this CPU.
pub(super) fn applies(g: &Geometry) -> bool {
    g.groups == 1 && g.wo % LANES == 0 && g.co % CB == 0 && !g.is_pointwise() && avx512()
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub(super) fn avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
pub(super) fn avx512() -> bool {
    false
}

/// `y = conv(x, weight) + bias`, NCHW, written to `y`; only where [`applies`] holds.
///
/// # Safety
/// `y` must be writable for `batch · co · ho · wo` floats.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub(super) unsafe fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    y: *mut f32,
) {
    assert!(applies(g));
    let k = g.k_g();
    // Weights as [co / CB][k][CB]: the 8 weights one step of the kernel broadcasts, together.
    let mut packed = Vec::with_capacity(g.co * k);
    for cb in 0..g.co / CB {
        for kk in 0..k {
            packed.extend((0..CB).map(|i| weight[(cb * CB + i) * k + kk]));
        }
    }
    // Strided layers read the bordered rows through `sw` column phases (phase q holds
    // columns q, q + sw, ...), so that every tap still reads 16 consecutive floats.
    let (rows, wp) = (g.padded_rows(0, g.ho), g.padded_width());
    let wq = wp.div_ceil(g.sw);
    let plane = rows * wq;
    let phases_len = if g.sw == 1 { 0 } else { g.sw * g.ci * plane };
    let taps: Vec<usize> = (0..g.kh * g.kw)
        .map(|t| {
            let (ky, col) = (t / g.kw, (t % g.kw) * g.dw);
            (col % g.sw) * g.ci * plane + ky * g.dh * wq + col / g.sw
        })
        .collect();
    let vectors = g.out_plane() / LANES;
    // Where output vector v starts, in the output plane and in the (phased) bordered plane.
    let at = |v: usize| {
        let (oy, ox) = (v * LANES / g.wo, v * LANES % g.wo);
        (oy * g.wo + ox, oy * g.sh * wq + ox)
    };

    let out = SharedOut(y);
    for_each_task(g.batch, |b| {
        let out = out;
        let x_b = &x[b * g.ci * g.in_plane()..][..g.ci * g.in_plane()];
        let pad_len = g.padded_len(g.ho);
        with_scratch(pad_len + phases_len, |scratch: &mut [f32]| {
            let (pad, phases) = scratch.split_at_mut(pad_len);
            pad_rows(x_b, g, 0, g.ho, pad);
            let input: &[f32] = if g.sw == 1 {
                pad
            } else {
                // SAFETY: AVX-512 was detected (`applies`).
                unsafe { deinterleave(pad, g.ci * rows, wp, g.sw, phases) };
                phases
            };
            for cb in 0..g.co / CB {
                let w = &packed[cb * k * CB..][..k * CB];
                let bias: [f32; CB] =
                    core::array::from_fn(|i| bias.map_or(0.0, |b| b[cb * CB + i]));
                let mut v = 0;
                while v < vectors {
                    let n = PB.min(vectors - v);
                    let (dst, src): ([usize; PB], [usize; PB]) = {
                        let p: [(usize, usize); PB] =
                            core::array::from_fn(|j| at(v + j.min(n - 1)));
                        (p.map(|p| p.0), p.map(|p| p.1))
                    };
                    // SAFETY: AVX-512 was detected (`applies`). Reads: a tap's 16 floats are
                    // columns ox·sw + kx·dw (ox < wo) of one bordered row, all inside it, so
                    // each read stays inside its channel's (phase's) plane of `input`.
                    // Writes: image b's channels cb·8.. and vectors v..v + n, this task's
                    // alone.
                    unsafe {
                        let base = out.0.add((b * g.co + cb * CB) * g.out_plane());
                        let dst = (base, g.out_plane(), dst, n);
                        block(input.as_ptr(), plane, g.ci, &taps, w, bias, src, dst);
                    }
                    v += n;
                }
            }
        })
    });
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
use core::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_storeu_ps,
};

/// `phases[q][r][j] = pad[r][j·step + q]` for the `rows` rows of `width` floats in `pad`
/// (zero past the row's end); each phase row is `width.div_ceil(step)` long.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
unsafe fn deinterleave(pad: &[f32], rows: usize, width: usize, step: usize, phases: &mut [f32]) {
    let wq = width.div_ceil(step);
    for q in 0..step.min(width) {
        // Columns q, q + step, ... of a row: `n` of them.
        let n = (width - q).div_ceil(step);
        let phase = &mut phases[q * rows * wq..][..rows * wq];
        for (r, dst) in phase.chunks_exact_mut(wq).enumerate() {
            // `gather` may read one float past the row (the next row, or `pad`'s slack).
            gather(&pad[r * width + q..], step, &mut dst[..n]);
            dst[n..].fill(0.0);
        }
    }
}

/// 8 output channels × `PB` output vectors, summed over every input channel and tap, then
/// stored: `out = (channel 0 of the block, channel stride, vector offsets, vectors to keep)`.
///
/// # Safety
/// AVX-512F must be available; `pad` must be readable at `c·plane + tap + src[j] .. + 16` for
/// every channel, tap and vector; `w` holds `ci · taps · 8` weights; `base + i·stride + dst[j]`
/// must be writable for 16 floats for every channel `i` and kept vector `j`.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    pad: *const f32,
    plane: usize,
    ci: usize,
    taps: &[usize],
    w: &[f32],
    bias: [f32; CB],
    src: [usize; PB],
    (base, stride, dst, n): (*mut f32, usize, [usize; PB], usize),
) {
    let mut acc: [[__m512; PB]; CB] = core::array::from_fn(|i| [_mm512_set1_ps(bias[i]); PB]);
    let mut wk = w.as_ptr();
    for c in 0..ci {
        // SAFETY: see the function's contract.
        unsafe {
            let pc = pad.add(c * plane);
            for &tap in taps {
                let x: [__m512; PB] =
                    core::array::from_fn(|j| _mm512_loadu_ps(pc.add(tap + src[j])));
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(*wk.add(i));
                    for (a, xj) in acc_i.iter_mut().zip(&x) {
                        *a = _mm512_fmadd_ps(wv, *xj, *a);
                    }
                }
                wk = wk.add(CB);
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, a) in acc_i.iter().take(n).enumerate() {
            // SAFETY: see the function's contract.
            unsafe { _mm512_storeu_ps(base.add(i * stride + dst[j]), *a) };
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
pub(super) unsafe fn forward(_: &[f32], _: &[f32], _: Option<&[f32]>, _: &Geometry, _: *mut f32) {
    unreachable!("direct convolutions need AVX-512 (`applies` is false here)")
}
