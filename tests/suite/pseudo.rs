//! Self-training without labels: place labels from the model's own mutual matches. The
//! training images' own labels never reach the stage, the held-out images keep theirs, every
//! pseudo place is one mutual match, and the shipped model's matches on a fresh town pair
//! true places; the command line learns from them and the checkpoint says so.

use duskmatch::data::synth::{SynthConfig, generate};
use duskmatch::data::{Domain, Split};
use duskmatch::retrieval::distance::DeviceIndex;
use duskmatch::retrieval::embed::{ItemInfo, embed};
use duskmatch::supervised::pseudo::pseudo_label;
use duskmatch::train::checkpoint;

use crate::common::*;

#[test]
fn pseudo_places_are_mutual_matches_and_no_training_label_survives() {
    let shipped = checkpoint::load(std::path::Path::new("checkpoints/compact-town.dmck")).unwrap();
    let model = shipped.build_model(&cpu()).unwrap();
    let ds = generate(
        &SynthConfig {
            places: 60,
            seed: 21,
            ..Default::default()
        },
        64,
    );
    let split = Split::new(&ds, 0.25, 3);
    let (out, report) = pseudo_label(&model, &ds, &split, 1.0, &cpu());
    // Held-out images keep their places; training images carry pseudo ids or none.
    for (&i, list) in split.val_day.iter().zip(std::iter::repeat(Domain::Day)) {
        assert_eq!(out.domain(list)[i].place, ds.domain(list)[i].place);
    }
    let first = 60; // the town's ids are 0..60
    let mut pairs = Vec::new();
    for &d in &split.train_day {
        if let Some(p) = out.day[d].place {
            assert!(p >= first, "a real label survived: {p}");
            let nights: Vec<usize> = split
                .train_night
                .iter()
                .copied()
                .filter(|&n| out.night[n].place == Some(p))
                .collect();
            assert_eq!(nights.len(), 1, "one night image per pseudo place");
            pairs.push((d, nights[0]));
        }
    }
    assert!(
        split
            .train_night
            .iter()
            .all(|&n| out.night[n].place.is_none_or(|p| p >= first))
    );
    assert_eq!(pairs.len(), report.kept);
    assert_eq!(
        report.kept, report.mutual,
        "keep 1 keeps every mutual match"
    );
    // Each pair is a mutual nearest neighbour among the training images.
    let items: Vec<ItemInfo> = split
        .train_day
        .iter()
        .map(|&i| ItemInfo::of(&ds, Domain::Day, i))
        .chain(
            split
                .train_night
                .iter()
                .map(|&i| ItemInfo::of(&ds, Domain::Night, i)),
        )
        .collect();
    let e = embed(&model, &ds, items, &cpu(), 32, |_, _| {});
    let (day, night) = (
        e.subset(&e.of_domain(Domain::Day)),
        e.subset(&e.of_domain(Domain::Night)),
    );
    let m = DeviceIndex::new(&day, None, &cpu()).distance_matrix(&night);
    let nd = day.len();
    let row_of = |emb: &duskmatch::retrieval::Embeddings, idx: usize| {
        emb.items.iter().position(|it| it.index == idx).unwrap()
    };
    for &(d, n) in &pairs {
        let (j, q) = (row_of(&day, d), row_of(&night, n));
        let best_day = (0..nd).min_by(|&a, &b| m[q * nd + a].total_cmp(&m[q * nd + b]));
        let best_night = (0..night.len()).min_by(|&a, &b| m[a * nd + j].total_cmp(&m[b * nd + j]));
        assert_eq!((best_day, best_night), (Some(j), Some(q)));
    }
    // The precision is measured, not used: the shipped model's mutual matches on a town it
    // never saw mostly pair true places.
    let correct = pairs
        .iter()
        .filter(|&&(d, n)| ds.day[d].place == ds.night[n].place)
        .count();
    assert_eq!(report.correct, Some(correct));
    assert!(report.kept >= 20, "{report:?}");
    assert!(correct as f64 >= 0.9 * report.kept as f64, "{report:?}");
    // Half keeps the more distinct half.
    let (_, half) = pseudo_label(&model, &ds, &split, 0.5, &cpu());
    assert_eq!(half.kept, (report.mutual as f64 * 0.5).round() as usize);
}

#[test]
fn weights_learns_from_its_own_matches_on_the_command_line() {
    let dir = tempdir();
    let (ck, _) = tiny_checkpoint(dir.path());
    let out = dir.path().join("self");
    let args = [
        "weights",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--method",
        "fine-tune",
        "--pseudo-labels",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--data",
        "synth",
        "--places",
        "40",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ];
    let (code, stdout, stderr) = run_duskmatch(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("pseudo-labels:") && stdout.contains("kept as places"),
        "{stdout}"
    );
    let (code, info, _) = run_duskmatch(&[
        "info",
        "--checkpoint",
        out.join("latest.dmck").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        info.contains("its own mutual matches, no place labels"),
        "{info}"
    );
    // Data known by position alone (the downloaders' layout): the held-out images are paired
    // by position, so the stage still scores itself.
    let bench = dir.path().join("bench");
    write_town(
        &bench,
        duskmatch::cli::synth::SynthLayout::Benchmark,
        40,
        32,
    );
    let mut on_positions = args.to_vec();
    let at = on_positions.iter().position(|a| *a == "synth").unwrap();
    on_positions[at] = bench.to_str().unwrap();
    on_positions.retain(|a| *a != "--places" && *a != "40");
    let out2 = dir.path().join("self-positions");
    let o = on_positions.iter().position(|a| *a == "--out").unwrap();
    on_positions[o + 1] = out2.to_str().unwrap();
    let (code, stdout, stderr) = run_duskmatch(&on_positions);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("kept as places"), "{stdout}");
    let mut bad = args.to_vec();
    bad.extend(["--pseudo-keep", "0"]);
    let (code, _, stderr) = run_duskmatch(&bad);
    assert_ne!(code, 0);
    assert!(stderr.contains("--pseudo-keep 0"), "{stderr}");
}
