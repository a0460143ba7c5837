//! Which input pixels can influence one latent position: the encoder's receptive field,
//! traced back layer by layer (conv1 k7 p3, two k4 s2 p1, eight k3 p1 in four residual blocks).

/// Inclusive input rows (or columns) that latent index `i` depends on, clipped to the image.
pub fn receptive_range(i: usize, image_size: usize) -> (usize, usize) {
    let (mut lo, mut hi) = (i as i64, i as i64);
    // Residual blocks, last to first: each widens by 2 (two 3×3 convolutions).
    lo -= 2 * 4;
    hi += 2 * 4;
    // conv2_2 and conv2_1: kernel 4, stride 2, padding 1.
    for _ in 0..2 {
        lo = lo * 2 - 1;
        hi = hi * 2 - 1 + 3;
    }
    // conv1: kernel 7, stride 1, padding 3.
    lo -= 3;
    hi += 3;
    (
        lo.max(0) as usize,
        (hi.min(image_size as i64 - 1)).max(0) as usize,
    )
}
