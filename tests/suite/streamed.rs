//! Retrieval at scale: the streamed index holds pooled descriptors in memory and spatial rows
//! on disk, and with every database image as a candidate its two-stage search ranks exactly as
//! the in-memory evaluation does.

use duskmatch::data::Domain;
use duskmatch::data::synth::{SynthConfig, generate};
use duskmatch::model::DoubleVae;
use duskmatch::retrieval::embed::{ItemInfo, all_items, embed};
use duskmatch::retrieval::eval::evaluate;
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
    let mut builder = StreamedBuilder::create(&dir.path().join("spatial.f32")).unwrap();
    // Batches of 7: uneven on purpose.
    for chunk in (0..ds.day.len()).collect::<Vec<_>>().chunks(7) {
        let batch = chunk
            .iter()
            .map(|&i| (ItemInfo::of(&ds, Domain::Day, i), ds.day[i].image.clone()))
            .collect();
        builder
            .add_batch(&model, batch, Domain::Day, &cpu())
            .unwrap();
    }
    let index = builder.finish().unwrap();
    assert_eq!(index.len(), 30);
    assert_eq!(
        std::fs::metadata(dir.path().join("spatial.f32"))
            .unwrap()
            .len() as usize,
        30 * index.channels * index.pixels * 4,
        "every spatial row on disk"
    );
    let found = index.search(&full.queries, 30, 10, &cpu()).unwrap();
    for (q, got) in found.iter().enumerate() {
        let want: Vec<usize> = full.ranked(q).iter().take(10).map(|r| r.0).collect();
        let got_rows: Vec<usize> = got.iter().map(|r| r.0).collect();
        assert_eq!(got_rows, want, "query {q}");
        for (&(j, d), r) in got.iter().zip(full.ranked(q)) {
            assert_eq!(j, r.0);
            assert!((d - r.1).abs() < 1e-4, "{d} vs {}", r.1);
        }
    }
}
