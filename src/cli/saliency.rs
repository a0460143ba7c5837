//! `duskmatch saliency`: a latent channel back-propagated to the pixels of one image, written
//! as an overlay PNG and the raw map as .npy beside it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::data::Domain;
use crate::data::image_io::load_framed;
use crate::device::{self, BackendChoice};
use crate::saliency::{Colormap, SaliencyMethod, Target, map_npy, overlay, saliency};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Grad,
    Gradxinput,
    Smoothgrad,
}

#[derive(Args, Debug)]
pub struct SaliencyArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long)]
    pub image: PathBuf,
    #[arg(long)]
    pub domain: Domain,
    /// Latent channel.
    #[arg(long)]
    pub channel: usize,
    #[arg(long, value_enum, default_value_t = MethodArg::Grad)]
    pub method: MethodArg,
    /// SmoothGrad copies.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub samples: u32,
    /// SmoothGrad noise (pixel values are in [0, 1]).
    #[arg(long, default_value_t = 0.1, value_parser = super::value::positive_unit)]
    pub sigma: f32,
    /// Opacity of the heat map over the image.
    #[arg(long, default_value_t = 0.7, value_parser = super::value::unit_interval)]
    pub opacity: f32,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

pub fn run(a: SaliencyArgs) -> Result<(), String> {
    let ck = super::load_checkpoint(&a.checkpoint)?;
    let cfg = ck.header.config.model;
    if a.channel >= cfg.latent_channels() {
        return Err(format!(
            "--channel {} is not allowed: this model has latent channels 0 to {}",
            a.channel,
            cfg.latent_channels() - 1
        ));
    }
    let dev = device::select(a.backend)?;
    let model = ck.build_model(&dev.device)?;
    let img =
        load_framed(&a.image, cfg.framing()).map_err(|e| format!("{}: {e}", a.image.display()))?;
    let method = match a.method {
        MethodArg::Grad => SaliencyMethod::Grad,
        MethodArg::Gradxinput => SaliencyMethod::GradXInput,
        MethodArg::Smoothgrad => SaliencyMethod::SmoothGrad {
            n: a.samples as usize,
            sigma: a.sigma,
        },
    };
    let map = saliency(
        &model,
        &img,
        a.domain,
        &Target::Channel(a.channel),
        method,
        &dev.device,
        0,
    );
    let pic = overlay(&img, &map.values, map.max(), a.opacity, Colormap::Inferno);
    crate::data::image_io::save_png(&pic, &a.out)?;
    let npy = a.out.with_extension("npy");
    crate::store::write_file(&npy, &map_npy(&map))?;
    println!(
        "wrote {} ({} of latent channel {}, max {:.3e}) and {} ({}×{} map)",
        a.out.display(),
        method.name(),
        a.channel,
        map.max(),
        npy.display(),
        map.height,
        map.width
    );
    Ok(())
}
