//! The benchmarks run at a tiny size and report sane numbers (not a speed test).

use duskmatch::device;
use duskmatch::retrieval::distance::smallest_k;
use duskmatch::retrieval::search_bench::run_search_bench;
use duskmatch::train::step_bench::{TrainBench, run_train_bench};

#[test]
fn training_benchmark_runs_at_a_tiny_size() {
    let b = TrainBench {
        width: 2,
        size: 16,
        batch: 2,
        steps: 2,
        repeats: 1,
        warmup: 1,
        infer_batches: vec![4],
        infer_iters: 1,
        lr: 1e-4,
        objective: duskmatch::model::Objective::Aligned,
        encoder: duskmatch::model::config::EncoderSharing::Shared,
    };
    let j = run_train_bench(&b, &device::cpu(), 2);
    assert_eq!(j["impl"], "duskmatch-burn");
    assert_eq!(j["objective"], "aligned");
    let model = duskmatch::model::DoubleVae::new(
        &duskmatch::model::ModelConfig {
            base_width: 2,
            image_size: 16,
            encoder: duskmatch::model::config::EncoderSharing::Shared,
            backbone: None,
            whole_frame: false,
        },
        0,
        &burn::prelude::Device::flex(),
    );
    assert_eq!(
        j["params"],
        duskmatch::model::summary::trainable_params(&model) as u64
    );
    assert_eq!(j["latent_shape"], serde_json::json!([8, 4, 4]));
    assert!(j["train_steps_per_s"].as_f64().unwrap() > 0.0);
    // Two images (day and night) per pair, batch 2; both figures are rounded
    // on their own (steps to 3 digits, images to 2), so allow that much.
    let (sps, ips) = (
        j["train_steps_per_s"].as_f64().unwrap(),
        j["train_images_per_s"].as_f64().unwrap(),
    );
    assert!(
        (ips - sps * 4.0).abs() <= 0.01,
        "{ips} images/s vs {sps} steps/s"
    );
    assert!(j["infer_encoder_images_per_s"]["4"].as_f64().unwrap() > 0.0);
    assert!(j["final_loss"].as_f64().unwrap().is_finite());
}

#[test]
fn search_benchmark_finds_what_brute_force_finds() {
    let dir = tempfile::tempdir().unwrap();
    let lines = run_search_bench(
        &[50, 200],
        8,
        20,
        5,
        &device::cpu().device,
        Some(dir.path()),
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["database"], 200);
    assert!(lines[1]["queries_per_s"].as_f64().unwrap() > 0.0);
    // The exported vectors and ids agree with a brute-force nearest neighbour.
    let read = |name: &str| -> Vec<f32> {
        let b = std::fs::read(dir.path().join(name)).unwrap();
        let h = u16::from_le_bytes([b[8], b[9]]) as usize;
        b[10 + h..]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let (q, db, ids) = (read("queries.npy"), read("db-200.npy"), read("ids-200.npy"));
    for qi in 0..20 {
        let d: Vec<f32> = (0..200)
            .map(|j| {
                (0..8)
                    .map(|c| (q[qi * 8 + c] - db[j * 8 + c]).powi(2))
                    .sum()
            })
            .collect();
        let best = (0..200).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap();
        assert_eq!(ids[qi * 5] as usize, best, "query {qi}");
    }
}

#[test]
fn smallest_k_is_a_sorted_partial_selection() {
    let row = [5.0, 1.0, 4.0, 1.0, 9.0, 0.5, 7.0];
    assert_eq!(smallest_k(&row, 3), vec![(5, 0.5), (1, 1.0), (3, 1.0)]);
    assert_eq!(smallest_k(&row, 0), vec![]);
    assert_eq!(smallest_k(&row, 10).len(), 7);
    assert_eq!(smallest_k(&row, 10).last(), Some(&(4, 9.0)));
}

/// The bench's arguments as the command line gives them.
fn bench_args(args: &[&str]) -> duskmatch::cli::bench::BenchArgs {
    use clap::Parser;
    let cli =
        duskmatch::cli::Cli::try_parse_from(["duskmatch", "bench"].iter().chain(args).copied())
            .unwrap();
    match cli.command {
        Some(duskmatch::cli::Cmd::Bench(b)) => b,
        other => panic!("not a bench command: {other:?}"),
    }
}

#[test]
fn bad_bench_arguments_are_named_with_their_range_not_a_panic() {
    let err = |a: &[&str]| bench_args(a).validate().unwrap_err().to_string();
    // Both once panicked inside the model.
    let e = err(&["--size", "30"]);
    assert!(
        e.contains("--size = 30") && e.contains("multiple of 4"),
        "{e}"
    );
    let e = err(&["--width", "0", "--batch", "0"]);
    assert!(e.contains("--batch = 0") && e.contains("≥ 1"), "{e}");
    let e = err(&["--width", "0"]);
    assert!(e.contains("--width = 0") && e.contains("1 to 512"), "{e}");
    let e = err(&["--infer-batch", "8,0"]);
    assert!(e.contains("--infer-batch = 0"), "{e}");
    let e = err(&["--retrieval", "5", "--k", "10"]);
    assert!(e.contains("--retrieval = 5"), "{e}");
    assert!(
        bench_args(&["--size", "64", "--width", "8"])
            .validate()
            .is_ok()
    );
    // The command itself returns the error instead of panicking.
    let e = duskmatch::cli::bench::run(bench_args(&["--size", "30"])).unwrap_err();
    assert!(e.contains("--size"), "{e}");
}
