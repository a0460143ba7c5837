//! Helpers shared by the tests.

use burn::prelude::*;

pub fn cpu() -> Device {
    Device::flex()
}

pub fn vec4(t: Tensor<4>) -> Vec<f32> {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

pub fn scalar(t: Tensor<1>) -> f32 {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()[0]
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
