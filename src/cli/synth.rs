//! `duskmatch synth`: the synthetic town written out as a dataset on disk, in any layout the
//! loader reads, with its places `--spacing` metres apart along one street: the plain folder
//! with place ids or positions in `places.csv`, the VPR downloaders' layout (positions in the
//! names), or two frame-aligned sequences. Fixtures for tests, and a way to try a benchmark's
//! commands without downloading it.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::data::synth::{Condition, SynthConfig, generate};
use crate::data::{Domain, Sample};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SynthLayout {
    /// day/, night/, places.csv with `file,place`.
    Folder,
    /// day/, night/, places.csv with `file,easting,northing`.
    Positions,
    /// day/, night/, places.csv with `file,lat,lon` (the street runs north).
    Latlon,
    /// The downloaders' ROOT/images/test/{database,queries}/@<e>@<n>@<name>@.png.
    Benchmark,
    /// sequence-a/ (day) and sequence-b/ (night), one frame per place, same file names.
    Sequences,
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Folder to create.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub places: usize,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    #[arg(long, default_value_t = SynthConfig::default().seed)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = SynthLayout::Folder)]
    pub layout: SynthLayout,
    /// Metres between neighbouring places along the street (positions layouts); the street winds
    /// through blocks ten places wide.
    #[arg(long, default_value_t = 50.0)]
    pub spacing: f64,
    /// How the night images are rendered: the usual night, or a condition kept for
    /// evaluation (dusk, fog, rain, warm/cool white balance, dark/bright exposure, noise,
    /// jitter); the day images are the same whatever it is.
    #[arg(long, value_enum, default_value_t = Condition::Night)]
    pub condition: Condition,
}

/// Where the town's street starts: a UTM position in Pittsburgh's zone, and its latitude and
/// longitude, so files look like the real benchmarks'.
const ORIGIN_EASTING: f64 = 585_000.0;
const ORIGIN_NORTHING: f64 = 4_477_000.0;
const ORIGIN_LAT: f64 = 40.44;
const ORIGIN_LON: f64 = -79.99;
/// Metres per degree of latitude on the mean sphere (the haversine's radius).
const METRES_PER_DEGREE: f64 = crate::data::position::EARTH_RADIUS_M * std::f64::consts::PI / 180.0;

pub fn run(args: SynthArgs) -> Result<(), String> {
    let cfg = SynthConfig {
        places: args.places,
        seed: args.seed,
        condition: args.condition,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    if !(16..=2048).contains(&args.size) {
        return Err(format!(
            "--size {} is not allowed: expected 16 to 2048 px",
            args.size
        ));
    }
    if !(args.spacing.is_finite() && args.spacing > 0.0) {
        return Err(format!(
            "--spacing {} is not allowed: expected metres > 0",
            args.spacing
        ));
    }
    let ds = generate(&cfg, args.size);
    let mut csv = match args.layout {
        SynthLayout::Folder => String::from("file,place\n"),
        SynthLayout::Positions => String::from("file,easting,northing\n"),
        SynthLayout::Latlon => String::from("file,lat,lon\n"),
        SynthLayout::Benchmark | SynthLayout::Sequences => String::new(),
    };
    for s in ds.day.iter().chain(&ds.night) {
        let p = s.place.unwrap_or(0);
        let (east, north) = street(p as usize, args.spacing);
        let (e, n) = (ORIGIN_EASTING + east, ORIGIN_NORTHING + north);
        let file = file_name(args.layout, s, p, e, n);
        let path = args.out.join(&file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        crate::data::image_io::save_png(&s.image, &path)?;
        match args.layout {
            SynthLayout::Folder => csv.push_str(&format!("{file},{p}\n")),
            SynthLayout::Positions => csv.push_str(&format!("{file},{e},{n}\n")),
            SynthLayout::Latlon => {
                let lat = ORIGIN_LAT + north / METRES_PER_DEGREE;
                let lon = ORIGIN_LON + east / (METRES_PER_DEGREE * ORIGIN_LAT.to_radians().cos());
                csv.push_str(&format!("{file},{lat:.9},{lon:.9}\n"));
            }
            SynthLayout::Benchmark | SynthLayout::Sequences => {}
        }
    }
    if !csv.is_empty() {
        crate::store::write_file(&args.out.join("places.csv"), csv.as_bytes())?;
    }
    println!(
        "wrote {} places ({} images at {} px, {:?} layout, {} m apart) to {}",
        args.places,
        ds.len(),
        args.size,
        args.layout,
        args.spacing,
        args.out.display()
    );
    Ok(())
}

/// Place `p`'s offset from the origin along a street that winds through blocks: ten places
/// east, one step north, ten places west, and so on, every place `spacing` metres from the
/// next and at least that far from every other.
pub fn street(p: usize, spacing: f64) -> (f64, f64) {
    const ROW: usize = 10;
    let (row, k) = (p / ROW, p % ROW);
    let col = if row % 2 == 0 { k } else { ROW - 1 - k };
    (col as f64 * spacing, row as f64 * spacing)
}

fn file_name(layout: SynthLayout, s: &Sample, p: u32, e: f64, n: f64) -> String {
    match layout {
        SynthLayout::Folder | SynthLayout::Positions | SynthLayout::Latlon => {
            format!("{}/place-{p:05}.png", s.domain)
        }
        SynthLayout::Benchmark => {
            let side = match s.domain {
                Domain::Day => "database",
                Domain::Night => "queries",
            };
            format!("images/test/{side}/@{e:.2}@{n:.2}@17@T@place-{p:05}@.png")
        }
        SynthLayout::Sequences => {
            let seq = match s.domain {
                Domain::Day => "sequence-a",
                Domain::Night => "sequence-b",
            };
            format!("{seq}/{p:05}.png")
        }
    }
}
