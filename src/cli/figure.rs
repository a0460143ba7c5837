//! `duskmatch figure`: the research's four-column figure (original, reconstruction, cycle
//! reconstruction, translation; day rows then night rows) from a checkpoint, as a PNG.

use std::path::PathBuf;

use clap::Args;

use super::DataArgs;
use crate::data::{DataSource, Split};
use crate::device::{self, BackendChoice};
use crate::model::views::{decode_grid, display_batch, grid_picture};

#[derive(Args, Debug)]
pub struct FigureArgs {
    /// Checkpoint file or run folder.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Images per domain (rows = 2 × this).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub rows: u32,
    /// Scale each image by this integer factor (nearest neighbour).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub scale: u32,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
}

pub fn run(args: FigureArgs) -> Result<(), String> {
    let ck = super::load_checkpoint(&args.checkpoint)?;
    let cfg = ck.header.config.clone();
    let source = match &args.data.data {
        Some(spec) => {
            let synth = match &cfg.data {
                DataSource::Synth(s) => *s,
                _ => Default::default(),
            };
            DataSource::parse_with(
                spec,
                args.data.synth(synth),
                args.data.robotcar(),
                args.data.layout(),
            )?
        }
        None => cfg.data.clone(),
    };
    let dev = device::select(args.backend)?;
    let model = ck.build_model(&dev.device)?;
    let size = cfg.model.image_size as u32;
    let (ds, report) = source.load(cfg.model.framing())?;
    for s in &report.skipped {
        eprintln!("warning: {s}");
    }
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let items = display_batch(&ds, &split, args.rows as usize, size);
    let grid = decode_grid(&model, &items, &dev.device, ck.header.state.at.step);
    let mut pic = grid_picture(&grid, 2);
    if args.scale > 1 {
        pic = image::imageops::resize(
            &pic,
            pic.width() * args.scale,
            pic.height() * args.scale,
            image::imageops::FilterType::Nearest,
        );
    }
    crate::data::image_io::save_png(&pic, &args.out)?;
    println!(
        "wrote {} ({} rows: day then night; columns: original | reconstruction | cycle reconstruction | translation) from step {}",
        args.out.display(),
        grid.rows.len(),
        ck.header.state.at.step
    );
    Ok(())
}
