//! `duskmatch synth`: the synthetic town written out as an ordinary folder dataset.

use std::path::PathBuf;

use clap::Args;

use crate::data::synth::{SynthConfig, generate};

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Folder to create (day/, night/, places.csv).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub places: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    pub seed: u64,
}

pub fn run(args: SynthArgs) -> Result<(), String> {
    let cfg = SynthConfig {
        places: args.places,
        seed: args.seed,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    if !(16..=2048).contains(&args.size) {
        return Err(format!(
            "--size {} is not allowed: expected 16 to 2048 px",
            args.size
        ));
    }
    let ds = generate(&cfg, args.size);
    let mut csv = String::from("file,place\n");
    for s in ds.day.iter().chain(&ds.night) {
        let file = format!("{}/place-{:05}.png", s.domain, s.place.unwrap_or(0));
        let path = args.out.join(&file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        crate::data::image_io::save_png(&s.image, &path)?;
        csv.push_str(&format!("{file},{}\n", s.place.unwrap_or(0)));
    }
    crate::store::write_file(&args.out.join("places.csv"), csv.as_bytes())?;
    println!(
        "wrote {} places ({} images at {} px) to {}",
        args.places,
        ds.len(),
        args.size,
        args.out.display()
    );
    Ok(())
}
