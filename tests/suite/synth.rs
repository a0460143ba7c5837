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
        },
        48,
    );
    assert_ne!(a.day[0].image.as_raw(), c.day[0].image.as_raw());
}

#[test]
fn a_place_renders_alone_as_in_the_town() {
    let town = generate(&SynthConfig { places: 5, seed: 9 }, 40);
    let (day, night) = render_place(9, 3, 40);
    assert_eq!(town.day[3].image.as_raw(), day.as_raw());
    assert_eq!(town.night[3].image.as_raw(), night.as_raw());
}

#[test]
fn places_carry_ground_truth_and_differ() {
    let town = generate(&SynthConfig { places: 8, seed: 1 }, 32);
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
