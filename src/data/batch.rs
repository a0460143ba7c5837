//! Images to tensors and back. Pixels are in [0, 1], no mean/std normalisation (docs/design.md §2).

use burn::prelude::*;
use image::RgbImage;

/// A tensor's values on the host as f32, whatever its device and autodiff state (empty if the
/// device cannot be read).
pub fn host_f32<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Stack same-sized RGB images into a `[B, 3, H, W]` float tensor in [0, 1].
pub fn to_tensor(images: &[&RgbImage], device: &Device) -> Tensor<4> {
    let (w, h) = images.first().map(|i| i.dimensions()).unwrap_or((0, 0));
    let (w, h) = (w as usize, h as usize);
    let plane = w * h;
    let mut data = vec![0f32; images.len() * 3 * plane];
    for (b, img) in images.iter().enumerate() {
        assert_eq!(
            img.dimensions(),
            (w as u32, h as u32),
            "images in a batch must share a size"
        );
        let base = b * 3 * plane;
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[base + c * plane + i] = px.0[c] as f32 / 255.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

/// Planar `[3, H, W]` floats in [0, 1] (one item of a batch) to an RGB image.
pub fn planar_to_image(data: &[f32], w: usize, h: usize) -> RgbImage {
    let plane = w * h;
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        let q = |c: usize| (data[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        image::Rgb([q(0), q(1), q(2)])
    })
}

/// A `[B, 3, H, W]` tensor back to images (values clamped to [0, 1]).
pub fn to_images(t: Tensor<4>) -> Vec<RgbImage> {
    let [b, _, h, w] = t.dims();
    let data = host_f32(t);
    (0..b)
        .map(|i| planar_to_image(&data[i * 3 * h * w..(i + 1) * 3 * h * w], w, h))
        .collect()
}
