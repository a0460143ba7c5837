use std::path::Path;

use duskmatch::data::DataSource;
use duskmatch::data::Pixels;
use duskmatch::data::folder::load_folder;
use duskmatch::data::image_io::center_square;
use duskmatch::data::robotcar::{RobotCarSelection, load_robotcar};
use duskmatch::data::synth::SynthConfig;

use crate::common::tempdir;

fn save(dir: &Path, name: &str, img: &image::RgbImage) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    img.save(&p).unwrap();
}

fn solid(w: u32, h: u32, c: [u8; 3]) -> image::RgbImage {
    image::RgbImage::from_pixel(w, h, image::Rgb(c))
}

#[test]
fn center_square_crops_the_middle_then_resizes() {
    // 30×10: left third red, middle blue, right third green. The centre square is all blue.
    let img = image::RgbImage::from_fn(30, 10, |x, _| match x {
        0..10 => image::Rgb([255, 0, 0]),
        10..20 => image::Rgb([0, 0, 255]),
        _ => image::Rgb([0, 255, 0]),
    });
    let sq = center_square(&img, 5);
    assert_eq!(sq.dimensions(), (5, 5));
    assert!(sq.pixels().all(|p| p.0 == [0, 0, 255]));
}

#[test]
fn places_csv_gives_ground_truth() {
    let dir = tempdir();
    let d = dir.path();
    save(d, "day/a.png", &solid(20, 20, [200, 200, 200]));
    save(d, "day/b.png", &solid(20, 20, [180, 180, 180]));
    save(d, "night/x.png", &solid(20, 20, [20, 20, 20]));
    save(d, "night/y.png", &solid(20, 20, [30, 30, 30]));
    std::fs::write(
        d.join("places.csv"),
        "file,place\nday/a.png,market\nday/b.png,bridge\nnight/x.png,bridge\ny.png,market\n",
    )
    .unwrap();
    let (ds, _) = load_folder(d, 16, Pixels::Decoded).unwrap();
    let place = |name: &str| {
        ds.day
            .iter()
            .chain(&ds.night)
            .find(|s| s.name.ends_with(name))
            .unwrap()
            .place
    };
    assert_eq!(place("a.png"), place("y.png"));
    assert_eq!(place("b.png"), place("x.png"));
    assert_ne!(place("a.png"), place("b.png"));
}

#[test]
fn wrong_and_empty_folders_say_what_layout_was_expected() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("photos")).unwrap();
    let e = DataSource::from_dir(d, RobotCarSelection::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("DIR/day") && e.contains("found: photos"), "{e}");
    let e = DataSource::from_dir(&d.join("missing"), RobotCarSelection::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    std::fs::create_dir_all(d.join("day")).unwrap();
    std::fs::create_dir_all(d.join("night")).unwrap();
    let e = load_folder(d, 16, Pixels::Decoded).unwrap_err().to_string();
    assert!(e.contains("no PNG or JPEG images"), "{e}");
    // Only day images: the night side is named.
    save(d, "day/a.png", &solid(20, 20, [1, 2, 3]));
    let e = load_folder(d, 16, Pixels::Decoded).unwrap_err().to_string();
    assert!(e.contains("night/"), "{e}");
    // `synth` parses without a folder.
    assert!(matches!(
        DataSource::parse(
            "synth",
            SynthConfig::default(),
            RobotCarSelection::default()
        ),
        Ok(DataSource::Synth(_))
    ));
}

#[test]
fn robotcar_layout_reads_chosen_conditions() {
    let dir = tempdir();
    let d = dir.path();
    for (cond, shade) in [
        ("overcast-reference", 200u8),
        ("sun", 230),
        ("night", 20),
        ("night-rain", 30),
    ] {
        for cam in ["left", "rear"] {
            for t in 0..2 {
                save(
                    d,
                    &format!("images/{cond}/{cam}/1418{t}00000.jpg"),
                    &solid(64, 48, [shade, shade, shade]),
                );
            }
        }
    }
    let ds = DataSource::from_dir(d, RobotCarSelection::default()).unwrap();
    assert!(matches!(ds, DataSource::RobotCar { .. }));
    let (set, report) = ds.load(16).unwrap();
    assert_eq!(set.day.len(), 4, "overcast-reference × 2 cameras × 2");
    assert_eq!(set.night.len(), 8, "night and night-rain");
    assert_eq!(report.skipped.len(), 0);
    assert!(!set.has_ground_truth());
    // A chosen camera and another day condition.
    let sel = RobotCarSelection {
        day_conditions: vec!["sun".into()],
        night_conditions: vec!["night".into()],
        cameras: vec!["rear".into()],
    };
    let (set, _) = load_robotcar(d, 16, &sel, Pixels::Decoded).unwrap();
    assert_eq!((set.day.len(), set.night.len()), (2, 2));
    assert!(set.day.iter().all(|s| s.name.contains("sun/rear")));
    assert!(set.day[0].image.get_pixel(0, 0).0[0] > 200);
    // An unknown condition lists what is there.
    let sel = RobotCarSelection {
        day_conditions: vec!["dawn".into()],
        ..Default::default()
    };
    let e = load_robotcar(d, 16, &sel, Pixels::Decoded)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dawn") && e.contains("night-rain") && e.contains("overcast-reference"),
        "{e}"
    );
}

#[test]
fn a_wide_photograph_is_cropped_to_its_centre_or_resized_whole_as_the_model_says() {
    use duskmatch::data::image_io::{Framing, load_framed};
    let dir = tempdir();
    // 40 × 20: a green band on the left quarter (x < 10), grey elsewhere.
    let img = image::RgbImage::from_fn(40, 20, |x, _| {
        if x < 10 {
            image::Rgb([0, 255, 0])
        } else {
            image::Rgb([128, 128, 128])
        }
    });
    let path = dir.path().join("wide.png");
    img.save(&path).unwrap();
    let cropped = load_framed(&path, 16.into()).unwrap();
    let whole = load_framed(
        &path,
        Framing {
            size: 16,
            whole: true,
        },
    )
    .unwrap();
    assert_eq!(
        (cropped.dimensions(), whole.dimensions()),
        ((16, 16), (16, 16))
    );
    // The centred square starts at x = 10: no green. The whole frame keeps its left quarter.
    assert_eq!(cropped.get_pixel(0, 8).0, [128, 128, 128]);
    assert_eq!(whole.get_pixel(0, 8).0, [0, 255, 0]);
    assert_eq!(whole.get_pixel(15, 8).0, [128, 128, 128]);
    // The pretrained preset frames whole; the research presets crop.
    use duskmatch::train::Preset;
    assert!(Preset::Pretrained.config().model.framing().whole);
    assert!(!Preset::Compact.config().model.framing().whole);
}
