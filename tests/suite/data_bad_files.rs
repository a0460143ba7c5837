//! Every kind of bad file is skipped with a warning naming it; nothing panics.

use std::path::Path;

use duskmatch::data::Pixels;
use duskmatch::data::folder::load_folder;
use duskmatch::data::image_io::read_rgb;

use crate::common::tempdir;

fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims `w`×`h` but carries no pixel data to speak of.
fn png_header_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&ihdr);
    v.extend(crc32(&ihdr).to_be_bytes());
    // A few bytes of (bogus) image data, as an attacker's file would carry.
    let mut idat = b"IDAT".to_vec();
    idat.extend([0x78, 0x9c, 0x01, 0x02, 0x03, 0x04]);
    v.extend(6u32.to_be_bytes());
    v.extend(&idat);
    v.extend(crc32(&idat).to_be_bytes());
    v
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn each_bad_file_kind_is_refused_with_a_reason() {
    let dir = tempdir();
    let d = dir.path();
    let good = png_bytes(40, 30);
    write(d, "good.png", &good);
    write(d, "empty.png", b"");
    write(d, "text.png", b"this is not an image at all, just words\n");
    write(d, "truncated.png", &good[..good.len() / 2]);
    let mut corrupt = good.clone();
    for b in corrupt.iter_mut().skip(40).take(60) {
        *b ^= 0x5a;
    }
    write(d, "corrupt.png", &corrupt);
    write(d, "tiny.png", &png_bytes(1, 1));
    write(d, "enormous.png", &png_header_claiming(60_000, 60_000));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::RgbImage::new(32, 32)
        .write_to(&mut jpeg, image::ImageFormat::Jpeg)
        .unwrap();
    let jpeg = jpeg.into_inner();
    write(d, "truncated.jpg", &jpeg[..jpeg.len() / 3]);

    assert_eq!(
        read_rgb(&d.join("good.png")).unwrap().dimensions(),
        (40, 30)
    );
    let reason = |n: &str| read_rgb(&d.join(n)).unwrap_err().to_string();
    assert!(
        reason("empty.png").contains("empty"),
        "{}",
        reason("empty.png")
    );
    assert!(
        reason("text.png").contains("not a PNG or JPEG"),
        "{}",
        reason("text.png")
    );
    assert!(
        reason("truncated.png").contains("truncated"),
        "{}",
        reason("truncated.png")
    );
    assert!(!reason("corrupt.png").is_empty());
    assert!(
        reason("tiny.png").contains("too small: 1×1"),
        "{}",
        reason("tiny.png")
    );
    assert!(
        reason("enormous.png").contains("60000×60000"),
        "{}",
        reason("enormous.png")
    );
    assert!(
        reason("truncated.jpg").contains("truncated"),
        "{}",
        reason("truncated.jpg")
    );
}

#[test]
fn a_folder_with_bad_files_loads_the_good_ones_and_names_the_rest() {
    let dir = tempdir();
    let d = dir.path();
    for i in 0..3 {
        write(d, &format!("day/{i}.png"), &png_bytes(50, 40));
        write(d, &format!("night/{i}.png"), &png_bytes(40, 50));
    }
    write(d, "day/zero.png", b"");
    write(d, "night/huge.png", &png_header_claiming(60_000, 60_000));
    write(d, "night/tiny.png", &png_bytes(1, 1));
    write(d, "day/notes.txt", b"ignored: not an image name");
    let (ds, report) = load_folder(d, 24, Pixels::Decoded).unwrap();
    assert_eq!(ds.day.len(), 3);
    assert_eq!(ds.night.len(), 3);
    assert_eq!(report.loaded, 6);
    assert_eq!(report.skipped.len(), 3);
    let named: Vec<String> = report.skipped.iter().map(|s| s.to_string()).collect();
    for f in ["zero.png", "huge.png", "tiny.png"] {
        assert!(
            named.iter().any(|s| s.contains(f)),
            "{f} not named in {named:?}"
        );
    }
    assert!(ds.day.iter().all(|s| s.image.dimensions() == (24, 24)));
    // Stems present in both domains are paired as the same place.
    assert!(ds.has_ground_truth());
    assert_eq!(ds.day[1].place, ds.night[1].place);
    assert_ne!(ds.day[0].place, ds.day[1].place);
}
