//! Winograd F(2×2, 3×3) forward convolution for f32: 3×3, unit-stride, undilated layers with
//! many channels.
//!
//! Added by duskmatch (see `VENDORED.md`). The direct kernel already runs these layers near the
//! core's FMA peak, so the only way past it is fewer multiplications. Each 2×2 block of outputs
//! is computed from its 4×4 input patch with 16 products per (output, input) channel pair
//! instead of 36 (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
//!
//! - weights:  `U = G g Gᵀ`, 16 matrices `U[ξ]` of `co × ci`;
//! - input:    `V = Bᵀ d B`, 16 matrices `V[ξ]` of `ci × tiles`;
//! - products: `M[ξ] = U[ξ] · V[ξ]`, 16 GEMMs;
//! - output:   `Y = Aᵀ M A`, plus the bias.
//!
//! The transforms only add and subtract (G's halves are exact), but their terms partly cancel,
//! so the rounding error is somewhat larger than a direct sum's; the tests hold it to the same
//! tolerance against f64 loops. Tiles are cut into chunks of a fixed number of tile rows, the
//! parallel tasks; the chunk size never depends on the thread count, so neither do the results.

#[cfg(all(target_arch = "x86_64", feature = "std"))]
use alloc::vec;
use alloc::vec::Vec;

use super::{Geometry, Mat, SharedOut, for_each_task, gemm, with_scratch};

/// Products per tile: the 4×4 input patch of a 2×2 output block.
const XI: usize = 16;
/// Below this many input or output channels the transforms cost more than the products save
/// (encoder images/s, one core, batch 8): 64 channels, Winograd 1107–1116 against direct
/// 1134–1161; 128 channels, Winograd 358 against direct 309.
const MIN_CHANNELS: usize = 128;
/// Tiles per task, rounded to whole tile rows: the GEMMs' column count. 64, 128 and 256
/// measured the same within noise (paper encoder, one core, 109–114 images/s at batch 8);
/// 128 keeps the per-thread scratch at 4 MiB for 256 channels (rows up to 256 pixels wide)
/// and gives two threads four tasks at batch 8.
const CHUNK_TILES: usize = 128;

/// Whether [`forward`] computes this convolution.
pub(super) fn applies(g: &Geometry) -> bool {
    g.groups == 1
        && (g.kh, g.kw, g.sh, g.sw, g.dh, g.dw) == (3, 3, 1, 1, 1, 1)
        && g.ci >= MIN_CHANNELS
        && g.co >= MIN_CHANNELS
        && super::direct::avx512()
}

/// Tile grid of one image: (tile rows, tiles per row).
fn grid(g: &Geometry) -> (usize, usize) {
    (g.ho.div_ceil(2), g.wo.div_ceil(2))
}

/// `y = conv(x, weight) + bias`, NCHW, written to `y`; only where [`applies`] holds.
///
/// # Safety
/// `y` must be writable for `batch · co · ho · wo` floats.
pub(super) unsafe fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &Geometry,
    y: *mut f32,
) {
    assert!(applies(g));
    // SAFETY: AVX-512 was detected (`applies`).
    let u = unsafe { weights(weight) };
    let (ty, tx) = grid(g);
    let tile_rows = g.batch * ty;
    let rows_per_task = (CHUNK_TILES / tx).max(1);
    let out = SharedOut(y);
    for_each_task(tile_rows.div_ceil(rows_per_task), |task| {
        let out = out;
        let q0 = task * rows_per_task;
        let q1 = (q0 + rows_per_task).min(tile_rows);
        let nt = (q1 - q0) * tx;
        let (v_len, m_len) = (XI * g.ci * nt, XI * g.co * nt);
        with_scratch(
            v_len + m_len + pad_len(g, q1 - q0),
            |scratch: &mut [f32]| {
                let (v, rest) = scratch.split_at_mut(v_len);
                let (m, pad) = rest.split_at_mut(m_len);
                // SAFETY: AVX-512 was detected (`applies`).
                unsafe { input(x, g, q0, q1, v, pad) };
                for xi in 0..XI {
                    let lhs = Mat {
                        ptr: u[xi * g.co * g.ci..].as_ptr(),
                        rs: g.ci as isize,
                        cs: 1,
                    };
                    let rhs = Mat {
                        ptr: v[xi * g.ci * nt..].as_ptr(),
                        rs: nt as isize,
                        cs: 1,
                    };
                    // SAFETY: `m[xi]` is `co × nt`, `u[xi]` `co × ci`, `v[xi]` `ci × nt`.
                    unsafe {
                        let dst = m[xi * g.co * nt..].as_mut_ptr();
                        gemm(g.co, nt, g.ci, dst, nt, false, lhs, rhs);
                    }
                }
                // SAFETY: AVX-512 was detected; tile rows q0..q1 cover output rows no other task
                // writes.
                unsafe { output(m, bias, g, q0, q1, out.0) };
            },
        )
    });
}

/// `U[ξ][o][c] = (G g Gᵀ)[ξ]` for every 3×3 kernel `g = weight[o][c]`.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
unsafe fn weights(weight: &[f32]) -> Vec<f32> {
    let mut u = vec![0.0; XI * weight.len() / 9];
    transform_weights(weight, &mut u);
    u
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
unsafe fn weights(_: &[f32]) -> Vec<f32> {
    unreachable!("Winograd convolutions need AVX-512 (`applies` is false here)")
}

/// The weight transform, on blocks of kernels turned tap-major first so that each tap of the
/// block is one contiguous run and the loop over kernels vectorises (kernel by kernel it was
/// 1.8 % of a perf profile of the paper model's bench; tap-major, paper training at one thread
/// went from 0.259 to 0.28 steps/s).
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[inline(always)]
fn transform_weights(weight: &[f32], u: &mut [f32]) {
    const BLOCK: usize = 256;
    let n = weight.len() / 9;
    let mut taps = [[0.0f32; BLOCK]; 9];
    for n0 in (0..n).step_by(BLOCK) {
        let len = BLOCK.min(n - n0);
        for (p, k) in weight[n0 * 9..][..len * 9].chunks_exact(9).enumerate() {
            for (tap, &w) in taps.iter_mut().zip(k) {
                tap[p] = w;
            }
        }
        let [g0, g1, g2, g3, g4, g5, g6, g7, g8] = &taps;
        // G applied to three values: rows (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1).
        let g3v = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
        for p in 0..len {
            // G down the columns of the kernel, then along the rows.
            let cols = [
                g3v(g0[p], g3[p], g6[p]),
                g3v(g1[p], g4[p], g7[p]),
                g3v(g2[p], g5[p], g8[p]),
            ];
            for i in 0..4 {
                let row = g3v(cols[0][i], cols[1][i], cols[2][i]);
                for (j, val) in row.into_iter().enumerate() {
                    u[(i * 4 + j) * n + n0 + p] = val;
                }
            }
        }
    }
}

/// Floats per AVX-512 vector: tiles handled at once along a row.
const LANES: usize = 16;

/// Length of a bordered input row: `2·tx + 2` columns, rounded so that the last group of 16
/// tiles can read 34 floats from its first column.
fn row_len(tx: usize) -> usize {
    2 * LANES * tx.div_ceil(LANES) + 2
}

/// Floats of scratch [`input`] needs: the bordered rows of one task's tile rows.
fn pad_len(g: &Geometry, tile_rows: usize) -> usize {
    (2 * tile_rows + 2) * row_len(grid(g).1)
}

/// The first `n` lanes (`n ≤ 16`).
#[cfg(all(target_arch = "x86_64", feature = "std"))]
fn lanes(n: usize) -> u16 {
    if n >= LANES { u16::MAX } else { (1 << n) - 1 }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
use core::arch::x86_64::{
    __m512, __m512i, _mm512_add_ps, _mm512_loadu_epi32, _mm512_loadu_ps, _mm512_mask_storeu_ps,
    _mm512_maskz_loadu_ps, _mm512_permutex2var_ps, _mm512_set1_ps, _mm512_sub_ps,
};

/// Lane indices into a pair of vectors for `_mm512_permutex2var_ps`.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
fn indices(f: impl Fn(i32) -> i32) -> __m512i {
    let idx: [i32; LANES] = core::array::from_fn(|i| f(i as i32));
    // SAFETY: `idx` holds 16 i32.
    unsafe { _mm512_loadu_epi32(idx.as_ptr()) }
}

/// `V[ξ][c][t] = (Bᵀ d B)[ξ]` for the input patch `d` of every tile `t` in tile rows `q0..q1`
/// (row `q` is image `q / ty`, tile row `q % ty`). `pad` is scratch for [`pad_len`] floats.
///
/// Sixteen tiles of a row at a time: tile `k` reads columns `2k .. 2k + 3`, so the even and
/// odd columns of two pairs of vectors give the four columns of 16 patches.
///
/// # Safety
/// AVX-512F must be available.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
unsafe fn input(x: &[f32], g: &Geometry, q0: usize, q1: usize, v: &mut [f32], pad: &mut [f32]) {
    let (ty, tx) = grid(g);
    let (wp, nt) = (row_len(tx), (q1 - q0) * tx);
    let even = indices(|i| 2 * i);
    let odd = indices(|i| 2 * i + 1);
    let mut q = q0;
    while q < q1 {
        // This image's tile rows r0..r1 in the task, and their bordered input rows.
        let (b, r0) = (q / ty, q % ty);
        let r1 = (r0 + q1 - q).min(ty);
        let rows = 2 * (r1 - r0) + 2;
        for c in 0..g.ci {
            let plane = &x[(b * g.ci + c) * g.in_plane()..][..g.in_plane()];
            for (j, row) in pad[..rows * wp].chunks_exact_mut(wp).enumerate() {
                row.fill(0.0);
                if let Some(iy) = (2 * r0 + j).checked_sub(g.ph).filter(|&iy| iy < g.h) {
                    // wp ≥ 2·tx + 2 ≥ wo + 2 = pw + w + end padding.
                    row[g.pw..][..g.w].copy_from_slice(&plane[iy * g.w..][..g.w]);
                }
            }
            for r in r0..r1 {
                let d = pad[2 * (r - r0) * wp..].as_ptr();
                let at = c * nt + (q - q0 + r - r0) * tx;
                for k0 in (0..tx).step_by(LANES) {
                    // SAFETY: rows 2(r − r0) .. + 3 of `pad` are read at columns 2·k0 .. + 34,
                    // inside `row_len`; `v[ξ]` is written at tiles k0 .. tx of this tile row.
                    unsafe {
                        // Bᵀ d down the columns: rows (1, 0, −1, 0), (0, 1, 1, 0), (0, −1, 1, 0)
                        // and (0, 1, 0, −1), at the four column offsets 0, 16, 2 and 18.
                        let col = |off: usize| -> [__m512; 4] {
                            let p: [__m512; 4] = core::array::from_fn(|k| {
                                _mm512_loadu_ps(d.add(k * wp + 2 * k0 + off))
                            });
                            [
                                _mm512_sub_ps(p[0], p[2]),
                                _mm512_add_ps(p[1], p[2]),
                                _mm512_sub_ps(p[2], p[1]),
                                _mm512_sub_ps(p[1], p[3]),
                            ]
                        };
                        let (lo, hi, lo2, hi2) = (col(0), col(LANES), col(2), col(LANES + 2));
                        let mask = lanes(tx - k0);
                        for i in 0..4 {
                            // Columns 2k, 2k + 1, 2k + 2, 2k + 3 of tiles k0 .. k0 + 16.
                            let a = _mm512_permutex2var_ps(lo[i], even, hi[i]);
                            let b = _mm512_permutex2var_ps(lo[i], odd, hi[i]);
                            let c2 = _mm512_permutex2var_ps(lo2[i], even, hi2[i]);
                            let d3 = _mm512_permutex2var_ps(lo2[i], odd, hi2[i]);
                            let out = [
                                _mm512_sub_ps(a, c2),
                                _mm512_add_ps(b, c2),
                                _mm512_sub_ps(c2, b),
                                _mm512_sub_ps(b, d3),
                            ];
                            for (j, val) in out.into_iter().enumerate() {
                                let dst = v.as_mut_ptr().add((i * 4 + j) * g.ci * nt + at + k0);
                                _mm512_mask_storeu_ps(dst, mask, val);
                            }
                        }
                    }
                }
            }
        }
        q += r1 - r0;
    }
}

/// `y = Aᵀ M A + bias` for the tiles of tile rows `q0..q1`; `Aᵀ` has rows (1, 1, 1, 0) and
/// (0, 1, −1, −1). Sixteen tiles at a time, their two output columns interleaved on store.
///
/// # Safety
/// AVX-512F must be available; `y` must be writable at the output rows of tile rows `q0..q1`
/// of every channel.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx512f")]
unsafe fn output(m: &[f32], bias: Option<&[f32]>, g: &Geometry, q0: usize, q1: usize, y: *mut f32) {
    let (ty, tx) = grid(g);
    let nt = (q1 - q0) * tx;
    let first = indices(|i| (i / 2) + (i % 2) * 16);
    let second = indices(|i| 8 + (i / 2) + (i % 2) * 16);
    for o in 0..g.co {
        let bias = _mm512_set1_ps(bias.map_or(0.0, |b| b[o]));
        for q in q0..q1 {
            let (b, r) = (q / ty, q % ty);
            let at = o * nt + (q - q0) * tx;
            for k0 in (0..tx).step_by(LANES) {
                let mask = lanes(tx - k0);
                // SAFETY: `m[ξ]` is read at this tile row's tiles k0 .. tx; `y` is written at
                // output rows 2r, 2r + 1 (those below ho) and columns 2·k0 .. wo of channel o.
                unsafe {
                    let mm: [__m512; XI] = core::array::from_fn(|xi| {
                        _mm512_maskz_loadu_ps(mask, m.as_ptr().add(xi * g.co * nt + at + k0))
                    });
                    // Aᵀ down the columns, then along the rows.
                    let s0: [__m512; 4] = core::array::from_fn(|j| {
                        _mm512_add_ps(_mm512_add_ps(mm[j], mm[4 + j]), mm[8 + j])
                    });
                    let s1: [__m512; 4] = core::array::from_fn(|j| {
                        _mm512_sub_ps(_mm512_sub_ps(mm[4 + j], mm[8 + j]), mm[12 + j])
                    });
                    for (dy, s) in [s0, s1].into_iter().enumerate() {
                        let oy = 2 * r + dy;
                        if oy >= g.ho {
                            continue;
                        }
                        let left =
                            _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), s[2]), bias);
                        let right =
                            _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(s[1], s[2]), s[3]), bias);
                        let row = y.add((b * g.co + o) * g.out_plane() + oy * g.wo + 2 * k0);
                        let cols = g.wo - 2 * k0;
                        let lo = _mm512_permutex2var_ps(left, first, right);
                        _mm512_mask_storeu_ps(row, lanes(cols), lo);
                        if cols > LANES {
                            let hi = _mm512_permutex2var_ps(left, second, right);
                            _mm512_mask_storeu_ps(row.add(LANES), lanes(cols - LANES), hi);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
unsafe fn input(_: &[f32], _: &Geometry, _: usize, _: usize, _: &mut [f32], _: &mut [f32]) {
    unreachable!("Winograd convolutions need AVX-512 (`applies` is false here)")
}

#[cfg(not(all(target_arch = "x86_64", feature = "std")))]
unsafe fn output(_: &[f32], _: Option<&[f32]>, _: &Geometry, _: usize, _: usize, _: *mut f32) {
    unreachable!("Winograd convolutions need AVX-512 (`applies` is false here)")
}
