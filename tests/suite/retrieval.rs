use burn::prelude::*;
use duskmatch::data::Domain;
use duskmatch::retrieval::distance::{DeviceIndex, POOLED_CHUNK, exact};
use duskmatch::retrieval::embed::{EmbeddingKind, Embeddings, ItemInfo, standardize};
use duskmatch::retrieval::eval::evaluate;
use duskmatch::retrieval::metrics::{
    Ranking, mean_average_precision, recall_at, silhouette, triplet_loss,
};
use duskmatch::retrieval::npy::{npy_bytes, npy_header};

use crate::common::*;

fn items(domains: &[(Domain, u32)]) -> Vec<ItemInfo> {
    domains
        .iter()
        .enumerate()
        .map(|(i, &(domain, p))| ItemInfo {
            domain,
            index: i,
            place: Some(p),
            name: format!("{domain}-{p}"),
            position: None,
            encoder: domain,
        })
        .collect()
}

#[test]
fn average_precision_matches_hand_values() {
    // Relevant at ranks 1 and 3 of 4: (1/1 + 2/3) / 2.
    let r = Ranking::new(vec![0.1, 0.2, 0.3, 0.4], vec![true, false, true, false]);
    assert!((r.average_precision() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
    // One relevant at rank 2: 1/2.
    let r = Ranking::new(vec![0.5, 0.1, 0.9], vec![true, false, false]);
    assert!((r.average_precision() - 0.5).abs() < 1e-12);
    assert_eq!(r.first_relevant_rank(), Some(2));
    // No relevant item: 0.
    assert_eq!(
        Ranking::new(vec![1.0], vec![false]).average_precision(),
        0.0
    );
}

#[test]
fn ties_count_as_every_order_equally_likely() {
    // The relevant item ties with one other at the top: it is first or second with equal
    // chance, so AP = (1 + 1/2) / 2 and Recall@1 = 1/2.
    let r = Ranking::new(vec![0.3, 0.3, 0.9], vec![false, true, false]);
    assert!((r.average_precision() - 0.75).abs() < 1e-12);
    assert!((r.hit_at(1) - 0.5).abs() < 1e-12);
    assert!((r.hit_at(2) - 1.0).abs() < 1e-12);
    // Three tied, one relevant: Recall@1 = 1/3, Recall@2 = 2/3; AP = (1 + 1/2 + 1/3) / 3.
    let r = Ranking::new(vec![0.2, 0.2, 0.2], vec![false, false, true]);
    assert!((r.hit_at(1) - 1.0 / 3.0).abs() < 1e-12);
    assert!((r.hit_at(2) - 2.0 / 3.0).abs() < 1e-12);
    assert!((r.average_precision() - (1.0 + 0.5 + 1.0 / 3.0) / 3.0).abs() < 1e-12);
    // Two relevant in a tie of two after one irrelevant: ranks 2 and 3 surely, AP = (1/2 + 2/3)/2.
    let r = Ranking::new(vec![0.1, 0.4, 0.4], vec![false, true, true]);
    assert!((r.average_precision() - (0.5 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
}

#[test]
fn recall_and_map_average_over_queries() {
    let hit = Ranking::new(vec![0.1, 0.5], vec![true, false]);
    let miss = Ranking::new(vec![0.1, 0.5, 0.7], vec![false, false, true]);
    let rs = [hit, miss];
    assert_eq!(recall_at(&rs, 1), 0.5);
    assert_eq!(recall_at(&rs, 2), 0.5);
    assert_eq!(recall_at(&rs, 3), 1.0);
    assert!((mean_average_precision(&rs) - (1.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
}

#[test]
fn silhouette_and_triplet_loss_match_hand_values() {
    // Two clusters on a line: {0, 1} and {5, 6}; distances |x − y|.
    let xs = [0.0f32, 1.0, 5.0, 6.0];
    let d: Vec<f32> = xs
        .iter()
        .flat_map(|a| xs.iter().map(move |b| (a - b).abs()))
        .collect();
    // Point 0: a = 1, b = (5 + 6)/2 = 5.5, s = 4.5/5.5; point 1: a = 1, b = 4.5, s = 3.5/4.5;
    // by symmetry the other two mirror them.
    let expect = (4.5 / 5.5 + 3.5 / 4.5) / 2.0;
    assert!((silhouette(&d, &[0, 0, 1, 1]) - expect).abs() < 1e-9);
    // Hinge: max(1 − 3 + 1, 0) = 0 and max(2 − 1 + 1, 0) = 2, mean 1.
    assert_eq!(triplet_loss(&[(1.0, 3.0), (2.0, 1.0)], 1.0), 1.0);
}

#[test]
fn standardisation_and_distance_match_hand_values() {
    let dev = cpu();
    // One image, 3 channels, 2 pixels: pixel 0 = (1, 2, 3), pixel 1 = (4, 4, 4).
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![1.0f32, 4.0, 2.0, 4.0, 3.0, 4.0], [1, 3, 1, 2]),
        &dev,
    );
    let z = vec4(standardize(x));
    // Pixel 0: mean 2, sample std 1 -> (-1, 0, 1). Pixel 1: std 0 -> 0 / 1e-8 = 0.
    let expect = [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    assert!(max_abs_diff(&z, &expect) < 1e-6, "{z:?}");

    // d = mean over pixels of the channel norm of w ⊙ (p − q).
    let p = [1.0f32, 0.0, 2.0, 0.0]; // C=2, P=2: c0 = (1, 0), c1 = (2, 0)
    let q = [0.0f32, 0.0, 0.0, 3.0]; // c0 = (0, 0), c1 = (0, 3)
    // pixel 0: sqrt(1² + 2²) = √5; pixel 1: sqrt(0 + 3²) = 3.
    assert!((exact(&p, &q, 2, 2, None) - (5f32.sqrt() + 3.0) / 2.0).abs() < 1e-6);
    // w = (2, 0): pixel 0: 2, pixel 1: 0.
    assert!((exact(&p, &q, 2, 2, Some(&[2.0, 0.0])) - 1.0).abs() < 1e-6);

    // The device path agrees with the exact one.
    let e = |data: Vec<f32>, n| Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: 2,
        pixels: 2,
        data,
        items: items(&vec![(Domain::Day, 0); n]),
    };
    let db = e([p, q].concat(), 2);
    let queries = e(q.to_vec(), 1);
    let idx = DeviceIndex::new(&db, Some(&[2.0, 0.5]), &dev);
    let m = idx.distances(&queries, 0..1);
    assert!((m[0] - exact(&q, &p, 2, 2, Some(&[2.0, 0.5]))).abs() < 1e-5);
    assert!(m[1].abs() < 1e-3);
    let top = idx.search(&queries, 1);
    assert_eq!(top[0][0].0, 1, "the identical row is nearest");
}

#[test]
fn pooled_search_across_chunks_matches_the_exact_distances() {
    // More items than one device chunk, weighted, so chunk offsets and the host-side finish of
    // ‖q‖² + ‖x‖² − 2q·x are both exercised against the plain formula.
    let (c, n, nq) = (6, POOLED_CHUNK * 2 + 37, 5);
    let value = |i: usize| (((i as u32).wrapping_mul(2654435761) >> 7) % 2000) as f32 / 250.0 - 4.0;
    let pooled = |data: Vec<f32>, len| Embeddings {
        kind: EmbeddingKind::Pooled,
        channels: c,
        pixels: 1,
        data,
        items: items(&vec![(Domain::Day, 0); len]),
    };
    let db = pooled((0..n * c).map(value).collect(), n);
    // Query 3 is a copy of database item 1500 (in the second chunk).
    let mut qd: Vec<f32> = (0..nq * c).map(|i| value(i + 7 * n * c)).collect();
    qd[3 * c..4 * c].copy_from_slice(db.row(1500));
    let queries = pooled(qd, nq);
    let w = [1.0, 0.5, 2.0, 0.0, 1.5, 1.0];
    let idx = DeviceIndex::new(&db, Some(&w), &cpu());

    let m = idx.distance_matrix(&queries);
    assert_eq!(m.len(), nq * n);
    for q in 0..nq {
        for j in [0, 1, POOLED_CHUNK - 1, POOLED_CHUNK, 1500, n - 1] {
            let e = exact(queries.row(q), db.row(j), c, 1, Some(&w));
            assert!(
                (m[q * n + j] - e).abs() < 1e-3,
                "q{q} item {j}: {} vs {e}",
                m[q * n + j]
            );
        }
    }
    let top = idx.search(&queries, 4);
    for (q, top) in top.iter().enumerate() {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let d = |j| exact(queries.row(q), db.row(j), c, 1, Some(&w));
            d(a).total_cmp(&d(b))
        });
        let ids: Vec<usize> = top.iter().map(|&(j, _)| j).collect();
        assert_eq!(ids, order[..4], "query {q}");
        assert!(top.windows(2).all(|p| p[0].1 <= p[1].1));
    }
    assert_eq!(top[3][0].0, 1500);
    assert!(top[3][0].1 < 1e-2, "a copy sits at {}", top[3][0].1);
}

#[test]
fn identical_images_rank_first_at_distance_zero() {
    let dev = cpu();
    // Four places; the night "image" of each is its day embedding, except place 2 whose night
    // is noise. Every exact copy must rank first at distance exactly 0.
    let (c, p) = (8, 16);
    let mut data = Vec::new();
    let mut info = Vec::new();
    let row = |seed: u32| -> Vec<f32> {
        (0..c * p)
            .map(|i| {
                (((i as u32 + 1).wrapping_mul(2654435761u32) ^ seed.wrapping_mul(40503)) % 1000)
                    as f32
                    / 100.0
                    - 5.0
            })
            .collect()
    };
    for place in 0..4u32 {
        data.extend(row(place));
        info.push(ItemInfo {
            domain: Domain::Day,
            index: place as usize,
            place: Some(place),
            name: format!("d{place}"),
            position: None,
            encoder: Domain::Day,
        });
    }
    for place in 0..4u32 {
        data.extend(if place == 2 { row(99) } else { row(place) });
        info.push(ItemInfo {
            domain: Domain::Night,
            index: place as usize,
            place: Some(place),
            name: format!("n{place}"),
            position: None,
            encoder: Domain::Night,
        });
    }
    let all = Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: c,
        pixels: p,
        data,
        items: info,
    };
    let ev = evaluate(&all, Domain::Night, None, &dev, 0);
    for q in [0, 1, 3] {
        let ranked = ev.ranked(q);
        assert_eq!(ev.database.items[ranked[0].0].place, Some(q as u32));
        assert_eq!(ranked[0].1, 0.0, "query {q}: distance {}", ranked[0].1);
        assert_eq!(ranked[0].2, Some(true));
        assert_eq!(ev.true_match_rank(q), Some(1));
    }
    assert!(ev.ranked(2)[0].1 > 0.0);
    assert!(ev.metrics.recall_1.unwrap() >= 0.75);
}

#[test]
fn npy_header_is_what_numpy_reads() {
    let b = npy_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "header padded to 64 bytes");
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
    assert!(header.ends_with('\n'));
    assert_eq!(b.len(), 10 + hlen + 24);
    assert_eq!(
        f32::from_le_bytes(b[10 + hlen + 20..].try_into().unwrap()),
        6.0
    );
}

#[test]
fn npy_headers_of_any_size_or_damage_give_a_typed_error_never_a_panic() {
    use duskmatch::retrieval::npy::{NpyFormatError, parse_npy};
    use rand::{Rng, SeedableRng};
    // A shape whose element count overflows: named, not multiplied.
    let mut huge = npy_header(&[4_000_000_000, 4_000_000_000], None);
    huge.extend_from_slice(&[0; 16]);
    assert_eq!(
        parse_npy(&huge).unwrap_err(),
        NpyFormatError::TooLarge {
            shape: vec![4_000_000_000, 4_000_000_000]
        }
    );
    // A claimed header longer than the file, in version 2's four-byte length.
    let mut long = b"\x93NUMPY\x02\x00\xff\xff\xff\xff{".to_vec();
    long.extend_from_slice(b"'descr': '<f4'}");
    assert_eq!(
        parse_npy(&long).unwrap_err(),
        NpyFormatError::TruncatedHeader
    );
    // Fuzz: random shapes, then random bytes overwritten, truncated or appended. Whatever is
    // read back holds exactly the elements its shape claims; everything else is an error.
    let good = npy_bytes(&[1.5, -2.0, f32::NAN, 4.0, 5.0, 6.0], &[2, 3]);
    assert_eq!(parse_npy(&good).unwrap().1, vec![2, 3]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(28);
    let (mut read, mut refused) = (0, 0);
    for case in 0..4000 {
        let mut b = if case % 2 == 0 {
            good.clone()
        } else {
            let dims: Vec<usize> = (0..rng.random_range(0..4))
                .map(|_| match rng.random_range(0..3) {
                    0 => rng.random_range(0..4),
                    1 => rng.random::<u32>() as usize,
                    _ => rng.random::<u64>() as usize,
                })
                .collect();
            let mut b = npy_header(&dims, None);
            b.extend((0..rng.random_range(0..64)).map(|_| rng.random::<u8>()));
            b
        };
        for _ in 0..rng.random_range(0..4) {
            match rng.random_range(0..3) {
                0 if !b.is_empty() => {
                    let i = rng.random_range(0..b.len());
                    b[i] = rng.random();
                }
                1 => b.truncate(rng.random_range(0..=b.len())),
                _ => b.push(rng.random()),
            }
        }
        match parse_npy(&b) {
            Ok((values, shape)) => {
                assert_eq!(values.len(), shape.iter().product::<usize>(), "case {case}");
                read += 1;
            }
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
    }
    assert!(
        read > 100 && refused > 100,
        "read {read}, refused {refused}"
    );
}

#[test]
fn matching_several_depths_averages_their_distances() {
    use duskmatch::retrieval::eval::evaluate_depths;
    let dev = cpu();
    let info = items(&[
        (Domain::Day, 0),
        (Domain::Day, 1),
        (Domain::Night, 0),
        (Domain::Night, 1),
    ]);
    let depth = |v: [f32; 4]| Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: 1,
        pixels: 1,
        data: v.to_vec(),
        items: info.clone(),
    };
    // Shallow depth: each night image is nearer the wrong day image (0.1 against 0.9).
    let a = depth([0.0, 1.0, 0.9, 0.1]);
    // Deep depth, weighted by 2: exact copies (0), others 2 apart.
    let b = depth([0.0, 1.0, 0.0, 1.0]);
    let only_a = evaluate_depths(std::slice::from_ref(&a), &[None], Domain::Night, &dev, 0);
    assert_eq!(only_a.metrics.recall_1, Some(0.0));
    let both = evaluate_depths(&[a, b], &[None, Some(&[2.0])], Domain::Night, &dev, 0);
    // Night 0 → day 0: (0.9 + 0) / 2; → day 1: (0.1 + 2) / 2. Night 1 mirrors it.
    let expect = [0.45, 1.05, 1.05, 0.45];
    assert!(
        max_abs_diff(&both.matrix, &expect) < 1e-6,
        "{:?}",
        both.matrix
    );
    assert_eq!(both.metrics.recall_1, Some(1.0));
    assert_eq!(both.metrics.map, Some(1.0));
    // Silhouette over the averaged distances: every image is 0.45 from its own place. The other
    // place's two images are, for a day image, (1 + 2) / 2 and (0.1 + 2) / 2 away, mean 1.275;
    // for a night image (0.1 + 2) / 2 and (0.8 + 2) / 2, mean 1.225. s(i) = 1 − a / b.
    let s = 1.0 - 0.45 * (1.0 / 1.275 + 1.0 / 1.225) / 2.0;
    assert!((both.metrics.silhouette.unwrap() - s).abs() < 1e-6);
}

#[test]
fn eval_with_multi_depth_weights_adds_both_rows_and_ones_change_nothing() {
    use duskmatch::data::synth::SynthConfig;
    use duskmatch::data::{DataSource, Split};
    use duskmatch::model::{DoubleVae, ModelConfig};
    use duskmatch::retrieval::method_rows::{DepthWeights, compare_methods, evaluation_items};
    use duskmatch::supervised::Depths;
    let dev = cpu();
    let cfg = ModelConfig {
        base_width: 2,
        image_size: 32,
        ..Default::default()
    };
    let (ds, _) = DataSource::Synth(SynthConfig {
        places: 20,
        seed: 4,
        ..Default::default()
    })
    .load(32)
    .unwrap();
    let split = Split::new(&ds, 0.5, 1);
    let (held_out, _) = evaluation_items(&ds, Some(&split));
    let model = DoubleVae::new(&cfg, 3, &dev).valid();
    let depths = Depths::Three;
    let ones = DepthWeights {
        taps: depths.taps().to_vec(),
        vectors: depths.channels(2).iter().map(|&c| vec![1.0; c]).collect(),
        label: depths.name().into(),
    };
    let rows = compare_methods(
        &model,
        &cfg,
        &ds,
        &held_out,
        Domain::Night,
        false,
        Some(&ones),
        &dev,
        0,
    );
    let names: Vec<&str> = rows.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "model",
            "model, domain-centred",
            "model, domain-centred, whitened on its 3 mutual matches",
            "model, global descriptor (9 of 512 dimensions, fitted on the database)",
            "model, 3 depths, w = 1",
            "model + weights, 3 depths",
            "pixels",
            "random-encoder",
            "patch-normalised (SAD)",
            "gradient magnitude"
        ]
    );
    // Weights of one are no weights: the two 3-depth rows agree to the last bit.
    assert_eq!(rows[4].evaluation.matrix, rows[5].evaluation.matrix);
    // And three depths are not the latent alone.
    assert_ne!(rows[0].evaluation.matrix, rows[4].evaluation.matrix);
    assert_eq!(rows[4].evaluation.metrics.queries, 10);
}

#[test]
fn the_precision_recall_curve_matches_hand_values_with_ties() {
    use duskmatch::retrieval::metrics::{Ranking, interpolated_precision_recall};
    // The true match second: precision 0, 1/2, 1/3 and recall 0, 1, 1 after ranks 1..3.
    let a = Ranking::new(vec![0.1, 0.2, 0.3], vec![false, true, false]);
    // The true match tied with another item for first: half a hit expected at rank 1.
    let b = Ranking::new(vec![0.1, 0.1, 0.3], vec![true, false, false]);
    let close = |got: &[(f64, f64)], want: &[(f64, f64)]| {
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-12,
                "{got:?} vs {want:?}"
            );
        }
    };
    close(
        &a.precision_recall(3),
        &[(0.0, 0.0), (0.5, 1.0), (1.0 / 3.0, 1.0)],
    );
    close(
        &b.precision_recall(3),
        &[(0.5, 0.5), (0.5, 1.0), (1.0 / 3.0, 1.0)],
    );
    // The app's curve: at each recall level the best precision at that recall or more, within
    // k_max ranks, averaged over queries. `c` finds its two positives at ranks 1 and 3.
    let c = Ranking::new(vec![0.1, 0.2, 0.3], vec![true, false, true]);
    close(
        &interpolated_precision_recall(&[a.clone(), c.clone()], 3, 3),
        &[(0.75, 0.0), (0.75, 0.5), ((0.5 + 2.0 / 3.0) / 2.0, 1.0)],
    );
    // Cut at one rank, `a` reaches no recall and `c` half of it.
    close(
        &interpolated_precision_recall(&[a.clone(), c], 1, 3),
        &[(0.5, 0.0), (0.5, 0.5), (0.0, 1.0)],
    );
    // Ties share the hit; a query without a positive is left out, not counted as 0.
    let none = Ranking::new(vec![0.1, 0.2], vec![false, false]);
    close(
        &interpolated_precision_recall(&[a, b, none], 3, 2),
        &[(0.5, 0.0), (0.5, 1.0)],
    );
}

/// `n` places by day and night over `pixels` positions: 8 channels of place signal shared by
/// the two views, then 8 channels of nuisance drawn afresh for every image and `loud` times
/// larger (what light and weather change between two views of one place).
fn nuisance_codes(n: usize, pixels: usize, loud: f32, seed: u64) -> Embeddings {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let signal: Vec<Vec<f32>> = (0..n)
        .map(|_| {
            (0..8 * pixels)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let mut data = Vec::new();
    let mut info = Vec::new();
    for d in Domain::BOTH {
        for (i, s) in signal.iter().enumerate() {
            data.extend(s.iter().copied());
            data.extend((0..8 * pixels).map(|_| loud * rng.random_range(-1.0f32..1.0)));
            info.push(ItemInfo {
                domain: d,
                index: i,
                place: Some(i as u32),
                name: format!("{d}-{i}"),
                position: None,
                encoder: d,
            });
        }
    }
    Embeddings {
        kind: EmbeddingKind::Spatial,
        channels: 16,
        pixels,
        data,
        items: info,
    }
}

#[test]
fn whitening_on_mutual_matches_silences_what_the_pairs_disagree_on() {
    use duskmatch::retrieval::whiten::whiten_on_mutual_matches;
    let dev = cpu();
    // Nuisance twice as loud as the signal: the nearest image is mostly chance. The mutual
    // matches, right or wrong, differ most in the nuisance channels, so their covariance
    // learns to silence them; no label is read.
    let e = nuisance_codes(40, 4, 2.0, 7);
    let before = evaluate(&e, Domain::Night, None, &dev, 0)
        .metrics
        .recall_1
        .unwrap();
    let w = whiten_on_mutual_matches(&e, Domain::Night, &dev).expect("mutual matches");
    let after = evaluate(&w.embeddings, Domain::Night, None, &dev, 0)
        .metrics
        .recall_1
        .unwrap();
    assert_eq!((w.pairs, before, after), (19, 0.25, 0.95));
    // Every pixel is standardised again, the layout and items kept.
    assert_eq!((w.embeddings.channels, w.embeddings.pixels), (16, 4));
    assert_eq!(w.embeddings.items, e.items);
    let px: Vec<f32> = (0..16).map(|ch| w.embeddings.row(3)[ch * 4 + 1]).collect();
    let mean = px.iter().sum::<f32>() / 16.0;
    let var = px.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 15.0;
    assert!(
        mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
        "{mean} {var}"
    );
    // One image a side is one match: too few to learn a covariance from.
    let pair = e.subset(&[0, 40]);
    assert!(whiten_on_mutual_matches(&pair, Domain::Night, &dev).is_none());
}
