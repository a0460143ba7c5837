//! What the model makes of an image at inference (no noise, `mu` only): the four columns the
//! research shows side by side.

use burn::prelude::*;
use image::RgbImage;

use super::vae::DoubleVae;
use crate::data::batch::to_images;
use crate::data::{Domain, to_tensor};

/// Original, reconstruction, cycle reconstruction and translation of one batch, all `[B,3,H,W]`.
pub struct Views {
    pub original: Tensor<4>,
    pub reconstruction: Tensor<4>,
    pub cycle: Tensor<4>,
    /// Day→night for day inputs, night→day for night inputs.
    pub translation: Tensor<4>,
}

impl DoubleVae {
    /// The four views of a batch from `domain`. Use a `valid()` model so BatchNorm uses its
    /// running statistics.
    pub fn views(&self, x: Tensor<4>, domain: Domain) -> Views {
        let other = domain.other();
        let mu = self.encode(x.clone(), domain);
        let (day, night) = self.decode_both(mu);
        let (reconstruction, translation) = match domain {
            Domain::Day => (day, night),
            Domain::Night => (night, day),
        };
        let back = self.encode(translation.clone(), other);
        let cycle = self.decode(back, domain);
        Views {
            original: x,
            reconstruction,
            cycle,
            translation,
        }
    }
}

/// One image of the display batch.
#[derive(Clone)]
pub struct DisplayItem {
    pub domain: Domain,
    pub name: String,
    pub image: RgbImage,
}

/// The four columns of one row: original, reconstruction, cycle reconstruction, translation.
#[derive(Clone)]
pub struct GridRow {
    pub domain: Domain,
    pub name: String,
    pub images: [RgbImage; 4],
}

#[derive(Clone)]
pub struct GridSnapshot {
    pub step: u64,
    pub rows: Vec<GridRow>,
}

pub const COLUMNS: [&str; 4] = [
    "original",
    "reconstruction",
    "cycle reconstruction",
    "translation",
];

/// Run the model on the display batch: one batched pass per domain.
pub fn decode_grid(
    model: &DoubleVae,
    items: &[DisplayItem],
    device: &Device,
    step: u64,
) -> GridSnapshot {
    let mut rows = Vec::with_capacity(items.len());
    for domain in Domain::BOTH {
        let group: Vec<&DisplayItem> = items.iter().filter(|i| i.domain == domain).collect();
        if group.is_empty() {
            continue;
        }
        let imgs: Vec<&RgbImage> = group.iter().map(|i| &i.image).collect();
        let views = model.views(to_tensor(&imgs, device), domain);
        // After a pretrained network the decoders draw a quarter of the input's side: shown
        // at the original's size, so that the four columns line up.
        let (w, h) = imgs[0].dimensions();
        let shown = |t: Tensor<4>| -> Vec<RgbImage> {
            to_images(t)
                .into_iter()
                .map(|img| match img.dimensions() == (w, h) {
                    true => img,
                    false => {
                        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
                    }
                })
                .collect()
        };
        let rec = shown(views.reconstruction);
        let cyc = shown(views.cycle);
        let tra = shown(views.translation);
        for (k, item) in group.iter().enumerate() {
            rows.push(GridRow {
                domain,
                name: item.name.clone(),
                images: [
                    item.image.clone(),
                    rec[k].clone(),
                    cyc[k].clone(),
                    tra[k].clone(),
                ],
            });
        }
    }
    GridSnapshot { step, rows }
}

/// The grid as one picture: rows as in [`GridSnapshot`], the four columns side by side,
/// separated by `gap` pixels of dark grey.
pub fn grid_picture(grid: &GridSnapshot, gap: u32) -> RgbImage {
    let Some(first) = grid.rows.first() else {
        return RgbImage::new(1, 1);
    };
    let (w, h) = first.images[0].dimensions();
    let cols = 4u32;
    let rows = grid.rows.len() as u32;
    let mut out = RgbImage::from_pixel(
        cols * w + (cols + 1) * gap,
        rows * h + (rows + 1) * gap,
        image::Rgb([40, 40, 40]),
    );
    for (r, row) in grid.rows.iter().enumerate() {
        for (c, img) in row.images.iter().enumerate() {
            let x = gap + c as u32 * (w + gap);
            let y = gap + r as u32 * (h + gap);
            image::imageops::replace(&mut out, img, x as i64, y as i64);
        }
    }
    out
}

/// `per_domain` held-out images of each domain (validation split; all images when nothing is
/// held out), resized to `size` px when the dataset is at another size.
pub fn display_batch(
    ds: &crate::data::Dataset,
    split: &crate::data::Split,
    per_domain: usize,
    size: u32,
) -> Vec<DisplayItem> {
    let resize = |img: &RgbImage| {
        if img.width() == size {
            img.clone()
        } else {
            image::imageops::resize(img, size, size, image::imageops::FilterType::Triangle)
        }
    };
    let mut items = Vec::new();
    for domain in Domain::BOTH {
        let held = split.val(domain);
        let list: Vec<usize> = if held.is_empty() {
            (0..ds.domain(domain).len()).collect()
        } else {
            held.to_vec()
        };
        items.extend(list.iter().take(per_domain).map(|&i| {
            let s = &ds.domain(domain)[i];
            DisplayItem {
                domain,
                name: s.name.clone(),
                image: resize(&s.image),
            }
        }));
    }
    items
}
