//! Retrieval at scale: the streamed index holds global descriptors in memory and spatial rows
//! on disk, and with every database image as a candidate its two-stage search ranks exactly as
//! the in-memory evaluation does. Pixels left on disk are decoded a batch at a time, and the
//! table at scale (one walk over the images, database rows in files, each query ranked to its
//! nearest K) equals the in-memory table where K covers the database.

use duskmatch::cli::synth::SynthLayout;
use duskmatch::data::robotcar::RobotCarSelection;
use duskmatch::data::synth::{SynthConfig, generate};
use duskmatch::data::{DataSource, Domain, Pixels, Positives};
use duskmatch::model::DoubleVae;
use duskmatch::retrieval::baselines::sad_embeddings;
use duskmatch::retrieval::embed::{ItemInfo, all_items, embed};
use duskmatch::retrieval::eval::evaluate;
use duskmatch::retrieval::method_rows::{compare_methods_at_scale, compare_methods_with};
use duskmatch::retrieval::streamed::StreamedBuilder;
use duskmatch::train::Preset;

use crate::common::*;

#[test]
fn two_stage_search_with_every_candidate_ranks_as_the_full_matrix() {
    let dir = tempdir();
    let mut cfg = Preset::Tiny.config().model;
    cfg.image_size = 32;
    let model = DoubleVae::new(&cfg, 7, &cpu());
    let ds = generate(
        &SynthConfig {
            places: 30,
            seed: 4,
            ..Default::default()
        },
        32,
    );
    let full = evaluate(
        &embed(&model, &ds, all_items(&ds), &cpu(), 8, |_, _| {}),
        Domain::Night,
        None,
        &cpu(),
        0,
    );
    let builder = StreamedBuilder::create(&dir.path().join("spatial.f32")).unwrap();
    let index = stream_day_images(builder, &model, &ds);
    assert_eq!(index.len(), 30);
    assert_eq!(
        std::fs::metadata(dir.path().join("spatial.f32"))
            .unwrap()
            .len() as usize,
        30 * index.channels * index.pixels * 4,
        "every spatial row on disk"
    );
    assert!(index.ann.is_none(), "30 rows: a flat first stage");
    let check = |found: Vec<Vec<(usize, f32)>>, what: &str| {
        for (q, got) in found.iter().enumerate() {
            let want: Vec<usize> = full.ranked(q).iter().take(10).map(|r| r.0).collect();
            let got_rows: Vec<usize> = got.iter().map(|r| r.0).collect();
            assert_eq!(got_rows, want, "{what}: query {q}");
            for (&(j, d), r) in got.iter().zip(full.ranked(q)) {
                assert_eq!(j, r.0);
                assert!((d - r.1).abs() < 1e-4, "{d} vs {}", r.1);
            }
        }
    };
    check(index.search(&full.queries, 30, 10, &cpu()).unwrap(), "flat");
    // The same database with its first stage in an HNSW graph: every row a candidate (a beam
    // at least as wide as the database), so it ranks exactly too.
    let builder = StreamedBuilder::create(&dir.path().join("graph.f32"))
        .unwrap()
        .ann_above(0);
    let graph = stream_day_images(builder, &model, &ds);
    assert_eq!(graph.ann.as_ref().map(|a| a.len()), Some(30));
    check(graph.search(&full.queries, 30, 10, &cpu()).unwrap(), "HNSW");
}

/// The day images of `ds` streamed into `builder` in batches of 7 (uneven on purpose).
fn stream_day_images(
    mut builder: StreamedBuilder,
    model: &DoubleVae,
    ds: &duskmatch::data::Dataset,
) -> duskmatch::retrieval::streamed::StreamedIndex {
    for chunk in (0..ds.day.len()).collect::<Vec<_>>().chunks(7) {
        let batch = chunk
            .iter()
            .map(|&i| (ItemInfo::of(ds, Domain::Day, i), ds.day[i].image.clone()))
            .collect();
        builder
            .add_batch(model, batch, Domain::Day, &cpu())
            .unwrap();
    }
    builder.finish().unwrap()
}

fn tiny_model() -> (DoubleVae, duskmatch::model::ModelConfig) {
    let mut cfg = Preset::Tiny.config().model;
    cfg.image_size = 32;
    (DoubleVae::new(&cfg, 7, &cpu()), cfg)
}

#[test]
fn pixels_left_on_disk_are_decoded_a_batch_at_a_time_and_embed_as_in_memory() {
    let dir = tempdir();
    let d = dir.path().join("folder");
    write_town(&d, SynthLayout::Folder, 20, 32);
    let source = DataSource::from_dir(&d, RobotCarSelection::default()).unwrap();
    let (held, _) = source.load(32).unwrap();
    let (listed, report) = source.load_pixels(32, Pixels::OnDisk).unwrap();
    assert!(listed.is_on_disk() && !held.is_on_disk());
    assert_eq!(report.loaded, 40, "every file listed");
    assert!(
        listed.day.iter().all(|s| s.image.width() == 0),
        "nothing decoded by the listing"
    );
    let (model, _) = tiny_model();
    let a = embed(&model, &held, all_items(&held), &cpu(), 4, |_, _| {});
    let b = embed(&model, &listed, all_items(&listed), &cpu(), 4, |_, _| {});
    assert_eq!(a.items, b.items);
    assert_eq!(a.data, b.data, "the same rows, bit for bit");
    let disk = listed.on_disk.as_ref().unwrap();
    assert_eq!(
        disk.peak_decoded(),
        4,
        "never more decoded images than a batch"
    );
    let sad = |ds| sad_embeddings(ds, all_items(ds), 16).data;
    assert_eq!(sad(&held), sad(&listed));
    assert!(disk.skipped().is_empty());

    // A file that turns out unreadable when its batch is read is left out and named.
    let bad = d
        .join("night")
        .join(listed.night[3].name.rsplit('/').next().unwrap());
    std::fs::write(&bad, b"not an image").unwrap();
    let c = embed(&model, &listed, all_items(&listed), &cpu(), 4, |_, _| {});
    assert_eq!(c.len(), 39);
    assert!(
        !c.items
            .iter()
            .any(|it| it.domain == Domain::Night && it.index == 3)
    );
    let skipped = disk.skipped();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].path, bad);
}

#[test]
fn the_table_at_scale_equals_the_in_memory_table_when_k_covers_the_database() {
    let dir = tempdir();
    let (model, cfg) = tiny_model();
    // Place ids (a folder) and positions (the downloaders' layout).
    for layout in [SynthLayout::Folder, SynthLayout::Benchmark] {
        let d = dir.path().join(format!("{layout:?}"));
        write_town(&d, layout, 12, 32);
        let source = DataSource::from_dir(&d, RobotCarSelection::default()).unwrap();
        let (held, _) = source.load(32).unwrap();
        let (listed, _) = source.load_pixels(32, Pixels::OnDisk).unwrap();
        let rule = Positives {
            top: 40,
            ..Positives::default()
        };
        let full = compare_methods_with(
            &model,
            &cfg,
            &held,
            &all_items(&held),
            Domain::Night,
            false,
            None,
            &cpu(),
            0,
            &rule,
        );
        // Exactly, or in two stages with `candidates`.
        let at_scale = |candidates| {
            compare_methods_at_scale(
                &model,
                &cfg,
                &listed,
                &all_items(&listed),
                Domain::Night,
                false,
                None,
                &[],
                candidates,
                &cpu(),
                &rule,
                dir.path(),
                |_, _| {},
                |_| {},
            )
            .unwrap()
        };
        let scaled = at_scale(None);
        // The domain-centred rows (plain, and whitened where mutual matches exist) need every
        // image's embedding at once, so the streamed table leaves them out.
        let centred = full
            .iter()
            .filter(|r| r.name.contains("domain-centred"))
            .count();
        assert!((1..=2).contains(&centred), "{centred}");
        assert_eq!(
            scaled.len(),
            full.len() - centred,
            "all but the domain-centred rows"
        );
        for row in &scaled {
            let want = full.iter().find(|r| r.name == row.name).unwrap();
            let (a, b) = (&row.evaluation.metrics, &want.evaluation.metrics);
            for (x, y) in [
                (a.recall_1, b.recall_1),
                (a.recall_5, b.recall_5),
                (a.recall_10, b.recall_10),
                (a.recall_20, b.recall_20),
                (a.map, b.map),
            ] {
                let (x, y) = (x.unwrap(), y.unwrap());
                assert!((x - y).abs() < 1e-9, "{layout:?} {}: {x} vs {y}", row.name);
            }
            assert_eq!(a.triplet_loss, None, "needs every distance");
            for q in 0..12 {
                let got: Vec<usize> = row.evaluation.ranked(q).iter().map(|r| r.0).collect();
                let want: Vec<usize> = want.evaluation.ranked(q).iter().map(|r| r.0).collect();
                assert_eq!(got, want, "{layout:?} {} query {q}", row.name);
            }
        }
        // In two stages with every database image a candidate, the model ranks as exactly.
        let two_stage = at_scale(Some(12));
        let exact = &scaled[0].evaluation;
        for q in 0..12 {
            let got: Vec<usize> = two_stage[0]
                .evaluation
                .ranked(q)
                .iter()
                .map(|r| r.0)
                .collect();
            let want: Vec<usize> = exact.ranked(q).iter().map(|r| r.0).collect();
            assert_eq!(got, want, "{layout:?} two stages, query {q}");
        }
        assert_eq!(
            two_stage[0].evaluation.metrics.recall_1,
            exact.metrics.recall_1
        );
        // The database rows were kept in files of `dir` while searched, then removed.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("duskmatch-eval")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn eval_streamed_writes_the_rankings_and_pairs_it_writes_in_memory() {
    let dir = tempdir();
    let d = dir.path().join("bench");
    write_town(&d, SynthLayout::Benchmark, 10, 32);
    let (ck, _) = tiny_checkpoint(dir.path());
    let mut outputs = Vec::new();
    for stream in [false, true] {
        let r = dir.path().join(format!("r{stream}.csv"));
        let p = dir.path().join(format!("p{stream}.txt"));
        let mut args = vec![
            "eval",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--data",
            d.to_str().unwrap(),
            "--backend",
            "cpu",
            "--rankings",
            r.to_str().unwrap(),
            "--pairs",
            p.to_str().unwrap(),
            "--top",
            "5",
        ];
        if stream {
            args.extend(["--stream", "--scratch", dir.path().to_str().unwrap()]);
        }
        let (code, stdout, stderr) = run_duskmatch(&args);
        assert_eq!(code, 0, "{stdout}{stderr}");
        if stream {
            assert!(
                stderr.contains("read from disk a batch at a time"),
                "{stderr}"
            );
            assert!(stdout.contains("ranked to the nearest 20"), "{stdout}");
        }
        outputs.push((
            std::fs::read_to_string(r).unwrap(),
            std::fs::read_to_string(p).unwrap(),
        ));
    }
    assert_eq!(outputs[0].1.lines().count(), 50);
    assert_eq!(outputs[0], outputs[1]);
}

/// The global descriptor (the spatial rows on the database's leading directions, fitted with
/// no labels) finds the place on a town that the shipped model never saw, nearly as often as
/// the exact spatial distance; in two stages, its 10 nearest re-ranked exactly lose nothing.
#[test]
fn the_global_descriptor_finds_what_the_exact_distance_finds_on_a_fresh_town() {
    use duskmatch::retrieval::global::global_descriptors;
    use duskmatch::train::checkpoint;
    let ck = checkpoint::load(std::path::Path::new(
        "checkpoints/compact-town-self-trained.dmck",
    ))
    .unwrap();
    let model = ck.build_model(&cpu()).unwrap();
    let ds = generate(
        &SynthConfig {
            places: 80,
            seed: 12,
            ..Default::default()
        },
        64,
    );
    let e = embed(&model, &ds, all_items(&ds), &cpu(), 32, |_, _| {});
    let r1 = |ev: &duskmatch::retrieval::Evaluation| ev.metrics.recall_1.unwrap();
    let exact = r1(&evaluate(&e, Domain::Night, None, &cpu(), 0));
    let (g, head) = global_descriptors(&e, Domain::Night).unwrap();
    assert_eq!(
        (head.input, head.width()),
        (32 * 16 * 16, 79),
        "80 rows span 79 directions"
    );
    assert_eq!((g.channels, g.pixels), (79, 1));
    let global = r1(&evaluate(&g, Domain::Night, None, &cpu(), 0));
    assert!(
        exact >= 0.85,
        "the shipped model on a fresh town: R@1 {exact}"
    );
    assert!(
        global >= 0.9 * exact,
        "global R@1 {global} against exact {exact}"
    );

    // Two stages through the streamed index: the database's rows on disk, 10 candidates.
    let dir = tempdir();
    let db = e.subset(&e.of_domain(Domain::Day));
    let queries = e.subset(&e.of_domain(Domain::Night));
    let mut builder = StreamedBuilder::create(&dir.path().join("spatial.f32")).unwrap();
    builder
        .add_rows(db.items.clone(), db.data.clone(), db.channels, db.pixels)
        .unwrap();
    let index = builder.finish().unwrap();
    assert_eq!(index.global.channels, 79);
    let found = index.search(&queries, 10, 20, &cpu()).unwrap();
    let hits = found
        .iter()
        .zip(&queries.items)
        .filter(|(near, q)| index.items()[near[0].0].place == q.place)
        .count();
    let two_stage = hits as f64 / queries.len() as f64;
    assert!(
        (two_stage - exact).abs() <= 0.02,
        "two stages {two_stage} against exact {exact}"
    );
}
