//! Real benchmarks in, standard results out: ground truth by position in every layout the
//! loader reads (equal to the place-based metrics on the same images), the radius and the
//! great-circle distance, queries without a positive, the rankings and pairs files line by
//! line, and descriptors read back through `--descriptors` giving the model's row exactly.

use std::path::Path;

use duskmatch::cli::synth::SynthLayout;
use duskmatch::data::places::PlaceTable;
use duskmatch::data::position::haversine_m;
use duskmatch::data::robotcar::RobotCarSelection;
use duskmatch::data::{DataSource, Domain, LayoutOptions, Position, Positives};
use duskmatch::model::DoubleVae;
use duskmatch::retrieval::embed::{EmbeddingKind, Embeddings, ItemInfo, all_items, embed};
use duskmatch::retrieval::eval::{Metrics, evaluate, evaluate_with};
use duskmatch::retrieval::export::{pairs_txt, rankings_csv};
use duskmatch::train::Preset;

use crate::common::*;

fn scores(m: &Metrics) -> [Option<f64>; 5] {
    [m.recall_1, m.recall_5, m.recall_10, m.recall_20, m.map]
}

#[test]
fn position_metrics_equal_place_metrics_in_every_layout() {
    let dir = tempdir();
    let mut cfg = Preset::Tiny.config().model;
    cfg.image_size = 32;
    let model = DoubleVae::new(&cfg, 7, &cpu());
    let exact_frames = Positives {
        frame_tolerance: 0,
        ..Positives::default()
    };
    let mut reference = None;
    for layout in [
        SynthLayout::Folder,
        SynthLayout::Positions,
        SynthLayout::Latlon,
        SynthLayout::Benchmark,
        SynthLayout::Sequences,
    ] {
        let d = dir.path().join(format!("{layout:?}"));
        write_town(&d, layout, 12, 32);
        let source = DataSource::from_dir(&d, RobotCarSelection::default()).unwrap();
        let (ds, report) = source.load(32).unwrap();
        assert_eq!(report.loaded, 24, "{layout:?}: {:?}", report.skipped);
        let expected_truth = match layout {
            SynthLayout::Folder => "place ids",
            SynthLayout::Sequences => "positions: within 0 frames",
            _ => "positions: within 25 m",
        };
        let e = embed(&model, &ds, all_items(&ds), &cpu(), 8, |_, _| {});
        let ev = evaluate_with(&e, Domain::Night, None, &cpu(), 0, &exact_frames);
        assert_eq!(ev.metrics.ground_truth, expected_truth, "{layout:?}");
        assert_eq!(ev.metrics.queries_without_positive, 0);
        let s = scores(&ev.metrics);
        assert!(s.iter().all(Option::is_some), "{layout:?}: {s:?}");
        match &reference {
            None => reference = Some(s),
            Some(r) => assert_eq!(&s, r, "{layout:?} against places"),
        }
    }
}

#[test]
fn the_radius_includes_its_bound_and_great_circles_match_hand_values() {
    let rule = Positives::default();
    let at = |e: f64| Position::Metres {
        easting: 585_000.0 + e,
        northing: 4_477_000.0,
    };
    assert!(rule.within(&at(0.0), &at(24.9)));
    assert!(rule.within(&at(0.0), &at(25.0)));
    assert!(!rule.within(&at(0.0), &at(25.1)));
    // On the IUGG mean sphere: one degree along the equator, a quarter meridian.
    assert!((haversine_m(0.0, 0.0, 0.0, 1.0) - 111_195.080_233_5).abs() < 1e-3);
    assert!((haversine_m(0.0, 0.0, 90.0, 0.0) - 10_007_557.221_018).abs() < 1e-2);
    // 24.9 m and 25.1 m north in degrees.
    let deg = |m: f64| m / 111_195.080_233_5;
    let q = Position::Degrees {
        lat: 40.0,
        lon: -80.0,
    };
    let near = Position::Degrees {
        lat: 40.0 + deg(24.9),
        lon: -80.0,
    };
    let far = Position::Degrees {
        lat: 40.0 + deg(25.1),
        lon: -80.0,
    };
    assert!(rule.within(&q, &near) && !rule.within(&q, &far));
    // Frames compare with frames only.
    let f = |i| Position::Frame { index: i };
    assert!(rule.within(&f(100), &f(110)) && !rule.within(&f(100), &f(111)));
    assert_eq!(f(3).distance(&at(0.0)), None);
}

/// `n` one-pixel, one-channel embeddings of `domain`, at easting `xs[i]` with value `vs[i]`.
fn line(domain: Domain, xs: &[f64], vs: &[f32], names: &str) -> (Vec<ItemInfo>, Vec<f32>) {
    let items = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| ItemInfo {
            domain,
            index: i,
            place: None,
            name: format!("{names}{i}.png"),
            position: Some(Position::Metres {
                easting: x,
                northing: 0.0,
            }),
            encoder: domain,
        })
        .collect();
    (items, vs.to_vec())
}

fn embeddings(parts: &[(Vec<ItemInfo>, Vec<f32>)]) -> Embeddings {
    Embeddings {
        kind: EmbeddingKind::Pooled,
        channels: 1,
        pixels: 1,
        data: parts.iter().flat_map(|p| p.1.clone()).collect(),
        items: parts.iter().flat_map(|p| p.0.clone()).collect(),
    }
}

#[test]
fn a_query_without_a_positive_is_left_out_and_counted() {
    // Database at 0, 100, 200 m; queries at 0 (value near db 0), 210 (near db 200), 5000 m.
    let db = line(Domain::Day, &[0.0, 100.0, 200.0], &[0.0, 1.0, 2.0], "db/");
    let q = line(Domain::Night, &[0.0, 210.0, 5000.0], &[0.1, 1.2, 2.0], "q/");
    let ev = evaluate(&embeddings(&[db, q]), Domain::Night, None, &cpu(), 0);
    let m = &ev.metrics;
    assert_eq!(m.queries_without_positive, 1);
    assert_eq!(m.queries, 3);
    // Query 0 finds db 0 first; query 1 (210 m) has db 200 as positive but db 100 is nearer.
    assert_eq!(m.recall_1, Some(0.5));
    assert_eq!(m.recall_5, Some(1.0));
    assert_eq!(m.recall_all[0], Some(0.5 * 2.0 / 3.0));
    assert_eq!(m.recall_all[1], Some(2.0 / 3.0));
    // mAP@20: query 0 has AP 1, query 1 AP 1/2.
    assert_eq!(m.map, Some(0.75));
}

#[test]
fn rankings_and_pairs_files_line_by_line() {
    let db = line(
        Domain::Day,
        &[0.0, 100.0, 200.0],
        &[0.0, 1.0, 3.0],
        "database/d",
    );
    let q = line(
        Domain::Night,
        &[0.0, 110.0, 190.0],
        &[0.5, 0.75, 2.5],
        "queries/q",
    );
    let ev = evaluate(&embeddings(&[db, q]), Domain::Night, None, &cpu(), 0);
    let csv = String::from_utf8(rankings_csv(&ev, 2).unwrap()).unwrap();
    assert_eq!(
        csv,
        "query,rank,match,distance,positive\n\
         queries/q0.png,1,database/d0.png,0.5,true\n\
         queries/q0.png,2,database/d1.png,0.5,false\n\
         queries/q1.png,1,database/d1.png,0.25,true\n\
         queries/q1.png,2,database/d0.png,0.75,false\n\
         queries/q2.png,1,database/d2.png,0.5,true\n\
         queries/q2.png,2,database/d1.png,1.5,false\n"
    );
    assert_eq!(
        pairs_txt(&ev, 1),
        "queries/q0.png database/d0.png\nqueries/q1.png database/d1.png\nqueries/q2.png database/d2.png\n"
    );
}

#[test]
fn ground_truth_files_read_every_column_layout_and_name_a_bad_line() {
    let p = Path::new("places.csv");
    let t = PlaceTable::parse("file,easting,northing\nday/a.png,10,20\n", p).unwrap();
    assert_eq!(
        t.lookup("day/a.png").unwrap().position,
        Some(Position::Metres {
            easting: 10.0,
            northing: 20.0
        })
    );
    // Found by file name and by stem too; no header: `file,easting,northing` when numeric.
    let t = PlaceTable::parse("123.jpg,5.5,6.5\n", p).unwrap();
    assert!(t.lookup("images/night/left/123.jpg").is_some());
    let t = PlaceTable::parse("a,p7\nb,p7\n", p).unwrap();
    assert_eq!(t.lookup("day/a.png").unwrap().place.as_deref(), Some("p7"));
    let t = PlaceTable::parse("file,place,lat,lon,domain\nx.png,1,40.5,-80,sunset\n", p).unwrap();
    let r = t.lookup("x.png").unwrap();
    assert_eq!(r.domain, Some(Domain::Night));
    assert!(matches!(r.position, Some(Position::Degrees { .. })));
    let e = PlaceTable::parse("file,easting,northing\na.png,10,twenty\n", p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("places.csv line 2") && e.contains("easting and northing"),
        "{e}"
    );
    let e = PlaceTable::parse("file,lat,lon\na.png,95,0\n", p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("latitude"), "{e}");
}

#[test]
fn a_positions_file_and_the_chosen_encoders_apply_to_any_layout() {
    let dir = tempdir();
    let d = dir.path().join("f");
    write_town(&d, SynthLayout::Folder, 3, 32);
    let positions = dir.path().join("pos.csv");
    std::fs::write(
        &positions,
        "day/place-00000.png,0,0\nday/place-00001.png,50,0\nday/place-00002.png,100,0\n\
         night/place-00000.png,0,0\nnight/place-00001.png,50,0\n",
    )
    .unwrap();
    let options = LayoutOptions {
        positions: Some(positions.clone()),
        query_domain: Some(Domain::Day),
        ..Default::default()
    };
    let source =
        DataSource::from_dir_with(&d, RobotCarSelection::default(), options.clone()).unwrap();
    let e = source.load(32).unwrap_err().to_string();
    assert!(
        e.contains("1 of the 6 images") && e.contains("night/place-00002.png"),
        "{e}"
    );
    std::fs::write(
        &positions,
        std::fs::read_to_string(&positions).unwrap() + "night/place-00002.png,100,0\n",
    )
    .unwrap();
    let (ds, _) = source.load(32).unwrap();
    assert!(ds.night.iter().all(|s| s.encoder == Domain::Day));
    assert!(ds.day.iter().all(|s| s.encoder == Domain::Day));
    assert_eq!(
        ds.night[1].position,
        Some(Position::Metres {
            easting: 50.0,
            northing: 0.0
        })
    );
    // The benchmark layout's root with a split, and a sub-folder naming the encoder.
    let b = dir.path().join("b");
    write_town(&b, SynthLayout::Benchmark, 3, 32);
    let q = b.join("images/test/queries");
    std::fs::create_dir_all(q.join("day")).unwrap();
    let first = std::fs::read_dir(&q)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_file())
        .unwrap()
        .path();
    std::fs::rename(&first, q.join("day").join(first.file_name().unwrap())).unwrap();
    let source = DataSource::from_dir(&b, RobotCarSelection::default()).unwrap();
    assert!(matches!(source, DataSource::Benchmark { .. }));
    let (ds, _) = source.load(32).unwrap();
    assert_eq!(
        ds.night.iter().filter(|s| s.encoder == Domain::Day).count(),
        1
    );
    assert!(
        ds.night
            .iter()
            .all(|s| s.name.starts_with("images/test/queries/"))
    );
    let e = DataSource::from_dir_with(
        &b,
        RobotCarSelection::default(),
        LayoutOptions {
            split: Some("val".into()),
            ..Default::default()
        },
    )
    .unwrap()
    .load(32)
    .unwrap_err()
    .to_string();
    assert!(e.contains("images/val/database"), "{e}");
}

/// Run the binary and require success.
fn run_ok(args: &[&str]) {
    let (code, stdout, stderr) = run_duskmatch(args);
    assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
}

/// `eval` of checkpoint `ck` on `data` on the CPU with one `--descriptors` spec.
fn eval_with_descriptors<'a>(ck: &'a str, data: &'a str, spec: &'a str) -> Vec<&'a str> {
    vec![
        "eval",
        "--checkpoint",
        ck,
        "--data",
        data,
        "--backend",
        "cpu",
        "--descriptors",
        spec,
    ]
}

#[test]
fn embeddings_read_back_as_descriptors_give_the_model_row_exactly() {
    let dir = tempdir();
    let d = dir.path().join("bench");
    write_town(&d, SynthLayout::Benchmark, 10, 32);
    let (ck, _) = tiny_checkpoint(dir.path());
    let (ck, d) = (ck.to_str().unwrap(), d.to_str().unwrap());
    for (kind, flag) in [
        ("spatial", None),
        ("pooled", Some("--pooled")),
        ("global", Some("--global")),
    ] {
        let stem = dir.path().join(kind);
        let mut embed_args = vec!["embed", "--checkpoint", ck, "--data", d, "--backend", "cpu"];
        let out = stem.to_str().unwrap().to_string();
        embed_args.extend(["--out", &out]);
        embed_args.extend(flag);
        run_ok(&embed_args);
        let json = dir.path().join("e.json");
        let spec = format!("ours={out}.npy");
        let mut args = eval_with_descriptors(ck, d, &spec);
        args.extend(["--json", json.to_str().unwrap()]);
        if kind == "pooled" {
            args.push("--pooled");
        }
        run_ok(&args);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        // The global descriptor's row sits beside the spatial one in eval's own table.
        let row = if kind == "global" {
            v.as_object()
                .unwrap()
                .keys()
                .find(|k| k.starts_with("model, global descriptor ("))
                .unwrap_or_else(|| panic!("no global row in {v}"))
                .clone()
        } else {
            "model".to_string()
        };
        assert!(v[&row]["recall@1"].is_number(), "{v}");
        assert_eq!(v[&row], v["ours [imported]"], "{kind}");
        assert_eq!(v["ground_truth"], "positions: within 25 m");
        assert_eq!(v["per_query"].as_array().unwrap().len(), 10);
    }
    // Two different descriptors at once are refused, naming both.
    let (code, _, se) = run_duskmatch(&[
        "embed",
        "--checkpoint",
        ck,
        "--data",
        d,
        "--backend",
        "cpu",
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--pooled",
        "--global",
    ]);
    assert_ne!(code, 0);
    assert!(se.contains("--pooled and --global"), "{se}");
    // A file whose header claims more elements than an address holds: a clear error naming
    // the file and the shape, no panic.
    let huge = dir.path().join("huge.npy");
    let mut bytes = duskmatch::retrieval::npy::npy_header(&[4_000_000_000, 4_000_000_000], None);
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&huge, bytes).unwrap();
    std::fs::copy(
        dir.path().join("spatial.json"),
        dir.path().join("huge.json"),
    )
    .unwrap();
    let spec = format!("x={}", huge.display());
    let (code, so, se) = run_duskmatch(&eval_with_descriptors(ck, d, &spec));
    assert_ne!(code, 0, "{so}");
    assert!(!se.contains("panicked"), "{se}");
    assert!(
        se.contains("huge.npy") && se.contains("[4000000000, 4000000000] is too large"),
        "{se}"
    );
}

#[test]
fn position_only_data_pairs_its_places_for_the_split_and_the_supervised_stage() {
    let dir = tempdir();
    let d = dir.path().join("bench");
    write_town(&d, SynthLayout::Benchmark, 12, 32);
    let (ds, _) = DataSource::from_dir(&d, RobotCarSelection::default())
        .unwrap()
        .load(32)
        .unwrap();
    let all = |n: usize| (0..n).collect::<Vec<_>>();
    let pairs =
        duskmatch::data::split::paired_places(&ds, &all(ds.day.len()), &all(ds.night.len()));
    assert_eq!(pairs.len(), 12);
    for (_, day, night) in &pairs {
        assert_eq!(ds.day[*day].position, ds.night[*night].position);
    }
    // The supervised stage trains on those positives.
    let (ck, _) = tiny_checkpoint(dir.path());
    let (code, so, se) = run_duskmatch(&[
        "weights",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        d.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert_eq!(code, 0, "{so}{se}");
    assert!(se.contains("training places"), "{se}");
    assert!(so.contains("held-out night->day R@1"), "{so}");
}

/// Five frames by day and five by night, one value each; frame `i` of either walk at frame
/// index `i`. Each night query's value is chosen so that its nearest day frames are known.
fn five_frames(night_values: &[f32]) -> Embeddings {
    let frames = |domain: Domain, vs: &[f32], names: &str| -> (Vec<ItemInfo>, Vec<f32>) {
        let items = (0..5)
            .map(|i| ItemInfo {
                domain,
                index: i,
                place: None,
                name: format!("{names}{i:03}.png"),
                position: Some(Position::Frame { index: i as i64 }),
                encoder: domain,
            })
            .collect();
        (items, vs.to_vec())
    };
    embeddings(&[
        frames(Domain::Day, &[0.0, 10.0, 20.0, 30.0, 40.0], "day/"),
        frames(Domain::Night, night_values, "night/"),
    ])
}

#[test]
fn the_strict_rule_counts_the_own_frame_and_leaves_the_others_within_the_window_out() {
    // Query 0 is nearest day 1 (a neighbour), then day 0 (its own). Query 2 is nearest day 2.
    // Query 4 is nearest day 0 (a miss, four frames away), then days 1, 2, 3 and 4.
    let e = five_frames(&[9.0, 11.0, 21.0, 31.0, 1.0]);
    let dilated = Positives {
        frame_tolerance: 1,
        ..Positives::default()
    };
    let strict = Positives {
        strict: true,
        ..dilated
    };
    let d = evaluate_with(&e, Domain::Night, None, &cpu(), 0, &dilated);
    let s = evaluate_with(&e, Domain::Night, None, &cpu(), 0, &strict);
    // Query 0: dilated, day 1 is within one frame: a hit at rank 1. Strict, day 1 is left
    // out (ranked last, not a hit), so its own frame, day 0, is first and a hit.
    let first = |ev: &duskmatch::retrieval::eval::Evaluation, q: usize| {
        let r = &ev.rankings[q];
        (r.order[0], r.relevant[r.order[0]])
    };
    assert_eq!(first(&d, 0), (1, true));
    assert_eq!(first(&s, 0), (0, true));
    let r0 = &s.rankings[0];
    assert_eq!(r0.order[4], 1, "the left-out neighbour ranks last");
    assert!(!r0.relevant[1] && r0.distances[1].is_infinite());
    assert_eq!(r0.num_relevant(), 1);
    // Query 1 (11.0): nearest day 1, its own frame, a hit under both.
    assert_eq!(first(&d, 1), (1, true));
    assert_eq!(first(&s, 1), (1, true));
    // Query 4 (1.0): nearest day 0, four frames away: a miss under both rules. Strict leaves
    // day 3 out, so its own frame moves up to rank 4 and day 3 goes last.
    assert_eq!(first(&d, 4), (0, false));
    assert_eq!(first(&s, 4), (0, false));
    assert_eq!(d.rankings[4].order, [0, 1, 2, 3, 4]);
    assert_eq!(s.rankings[4].order, [0, 1, 2, 4, 3]);
    assert_eq!(d.rankings[4].relevant, [false, false, false, true, true]);
    assert_eq!(s.rankings[4].relevant, [false, false, false, false, true]);
    // Query 1 dilated: days 0, 1, 2 are hits; strict: only day 1; days 0 and 2 left out.
    assert_eq!(d.rankings[1].num_relevant(), 3);
    assert_eq!(s.rankings[1].num_relevant(), 1);
    // R@1: dilated 4 of 5 (query 4 misses); strict, query 0 now finds its own frame too.
    assert_eq!(d.metrics.recall_1, Some(0.8));
    assert_eq!(s.metrics.recall_1, Some(0.8));
    assert_eq!(d.metrics.recall_5, Some(1.0));
    assert!(s.metrics.ground_truth.contains("strict"));
    // The left-out images' infinite distances stay out of the same/other distance ratio.
    assert!(s.metrics.distance_ratio.is_some_and(f64::is_finite));
    assert!(!d.metrics.ground_truth.contains("strict"));
}
