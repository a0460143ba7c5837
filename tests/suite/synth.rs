use duskmatch::data::Domain;
use duskmatch::data::synth::{SynthConfig, generate, render_place};

fn mean_luma(img: &image::RgbImage) -> f64 {
    img.pixels()
        .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64)
        .sum::<f64>()
        / (img.width() * img.height()) as f64
}

#[test]
fn same_seed_gives_identical_images() {
    let cfg = SynthConfig {
        places: 6,
        seed: 42,
        ..Default::default()
    };
    let a = generate(&cfg, 48);
    let b = generate(&cfg, 48);
    for d in Domain::BOTH {
        for (x, y) in a.domain(d).iter().zip(b.domain(d)) {
            assert_eq!(x.image.as_raw(), y.image.as_raw(), "{}", x.name);
            assert_eq!(x.place, y.place);
        }
    }
    // Another seed gives another town.
    let c = generate(
        &SynthConfig {
            places: 6,
            seed: 43,
            ..Default::default()
        },
        48,
    );
    assert_ne!(a.day[0].image.as_raw(), c.day[0].image.as_raw());
}

#[test]
fn a_place_renders_alone_as_in_the_town() {
    let town = generate(
        &SynthConfig {
            places: 5,
            seed: 9,
            ..Default::default()
        },
        40,
    );
    let (day, night) = render_place(9, 3, 40);
    assert_eq!(town.day[3].image.as_raw(), day.as_raw());
    assert_eq!(town.night[3].image.as_raw(), night.as_raw());
}

#[test]
fn places_carry_ground_truth_and_differ() {
    let town = generate(
        &SynthConfig {
            places: 8,
            seed: 1,
            ..Default::default()
        },
        32,
    );
    assert!(town.has_ground_truth());
    assert_eq!(town.day.len(), 8);
    assert_eq!(town.night.len(), 8);
    for (i, (d, n)) in town.day.iter().zip(&town.night).enumerate() {
        assert_eq!(d.place, Some(i as u32));
        assert_eq!(n.place, Some(i as u32));
        assert_eq!(d.group, n.group, "a place's two images share a split group");
    }
    for i in 1..8 {
        assert_ne!(town.day[0].image.as_raw(), town.day[i].image.as_raw());
    }
}

#[test]
fn night_is_darker_than_day_and_not_a_copy() {
    let town = generate(
        &SynthConfig {
            places: 20,
            seed: 5,
            ..Default::default()
        },
        64,
    );
    let mut darker = 0;
    for (d, n) in town.day.iter().zip(&town.night) {
        let (ld, ln) = (mean_luma(&d.image), mean_luma(&n.image));
        if ln < 0.6 * ld {
            darker += 1;
        }
        assert_ne!(d.image.as_raw(), n.image.as_raw());
    }
    assert!(
        darker >= 18,
        "only {darker}/20 nights are clearly darker than their day"
    );
}

#[test]
fn night_has_light_sources_brighter_than_its_mean() {
    // Lit windows and lamps: a night image is dark on average but has bright spots.
    let town = generate(
        &SynthConfig {
            places: 10,
            seed: 11,
            ..Default::default()
        },
        64,
    );
    for n in &town.night {
        let max = n
            .image
            .pixels()
            .map(|p| p[0].max(p[1]).max(p[2]))
            .max()
            .unwrap();
        assert!(
            max as f64 > 2.5 * mean_luma(&n.image),
            "{}: no highlights",
            n.name
        );
    }
}

/// FNV-1a over the bytes of the files, in order.
fn fnv1a(files: &[std::path::PathBuf]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for f in files {
        for b in std::fs::read(f).unwrap() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn the_default_rendering_is_the_one_written_before_conditions_existed() {
    use duskmatch::cli::synth::{SynthArgs, SynthLayout, run};
    let dir = crate::common::tempdir();
    run(SynthArgs {
        out: dir.path().to_path_buf(),
        places: 4,
        size: 32,
        seed: 3,
        layout: SynthLayout::Folder,
        spacing: 50.0,
        condition: Default::default(),
    })
    .unwrap();
    let root = dir.path();
    let files: Vec<_> = ["day", "night"]
        .iter()
        .flat_map(|d| (0..4).map(move |p| root.join(d).join(format!("place-{p:05}.png"))))
        .collect();
    // The hash of the same command's files written by the binary before this change.
    assert_eq!(fnv1a(&files), 0x269b_92d7_e198_80b4);
}

#[test]
fn every_condition_changes_the_night_images_only_and_as_it_says() {
    use duskmatch::data::synth::{Condition, conditions::white_balance_gains};
    let cfg = |condition| SynthConfig {
        places: 6,
        seed: 11,
        condition,
    };
    let base = generate(&cfg(Condition::Night), 48);
    let mean = |img: &image::RgbImage| -> [f64; 3] {
        let mut m = [0.0; 3];
        for p in img.pixels() {
            for (mc, &v) in m.iter_mut().zip(&p.0) {
                *mc += v as f64 / 255.0;
            }
        }
        m.map(|v| v / (img.width() * img.height()) as f64)
    };
    let luma = |m: [f64; 3]| 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2];
    let contrast = |img: &image::RgbImage| -> f64 {
        let g: Vec<f64> = img
            .pixels()
            .map(|p| (p.0[0] as f64 + p.0[1] as f64 + p.0[2] as f64) / 765.0)
            .collect();
        let m = g.iter().sum::<f64>() / g.len() as f64;
        (g.iter().map(|v| (v - m).powi(2)).sum::<f64>() / g.len() as f64).sqrt()
    };
    for c in Condition::UNSEEN {
        let town = generate(&cfg(c), 48);
        for p in 0..6 {
            assert_eq!(town.day[p].image, base.day[p].image, "{c:?}: the day stays");
            assert_ne!(town.night[p].image, base.night[p].image, "{c:?}: night {p}");
        }
        let (m0, m1) = (mean(&base.night[0].image), mean(&town.night[0].image));
        match c {
            Condition::Dark => assert!(luma(m1) < 0.6 * luma(m0), "{m0:?} {m1:?}"),
            Condition::Bright => assert!(luma(m1) > 1.5 * luma(m0), "{m0:?} {m1:?}"),
            Condition::Dusk => assert!(luma(m1) > luma(m0), "dusk is lighter than night"),
            Condition::Warm => assert!(m1[0] / m1[2] > m0[0] / m0[2] * 1.2),
            Condition::Cool => assert!(m1[2] / m1[0] > m0[2] / m0[0] * 1.1),
            Condition::Fog => {
                let (k0, k1) = (
                    contrast(&base.night[0].image),
                    contrast(&town.night[0].image),
                );
                assert!(k1 < 0.8 * k0 && k1 > 0.3 * k0, "{k0} {k1}");
            }
            _ => {}
        }
    }
    // White balance: no change at 0 K, warmer below, equal luminance.
    let g0 = white_balance_gains(0.0);
    assert!(g0.iter().all(|v| (v - 1.0).abs() < 1e-5), "{g0:?}");
    let warm = white_balance_gains(-2000.0);
    assert!(warm[0] > 1.0 && warm[2] < 1.0, "{warm:?}");
    assert!((0.299 * warm[0] + 0.587 * warm[1] + 0.114 * warm[2] - 1.0).abs() < 1e-5);
    // The same condition renders the same town again.
    assert_eq!(
        generate(&cfg(Condition::Rain), 48).night[2].image,
        generate(&cfg(Condition::Rain), 48).night[2].image
    );
}
