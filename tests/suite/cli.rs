//! Subcommands a test did not reach before: `embed` writes exactly the embeddings retrieval
//! uses, and `figure` draws the four columns of the research's figure.

use clap::Parser;
use duskmatch::cli::{Cli, Cmd};
use duskmatch::data::synth::SynthConfig;
use duskmatch::data::{DataSource, Domain};
use duskmatch::model::DoubleVae;
use duskmatch::retrieval::embed::{all_items, embed};
use duskmatch::train::Preset;
use duskmatch::train::checkpoint;

use crate::common::*;

fn parse(args: &[&str]) -> Cmd {
    Cli::try_parse_from(std::iter::once("duskmatch").chain(args.iter().copied()))
        .unwrap()
        .command
        .unwrap()
}

/// A tiny untrained model saved as a checkpoint for a 12-place town.
fn tiny_checkpoint(path: &std::path::Path) -> DoubleVae {
    let mut cfg = Preset::Tiny.config();
    cfg.data = DataSource::Synth(SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    });
    save_untrained(path, &cfg, 3, 5)
}

#[test]
fn embed_writes_the_embeddings_retrieval_uses() {
    let dir = tempdir();
    let ck = dir.path().join("m.dmck");
    let model = tiny_checkpoint(&ck);
    let out = dir.path().join("e");
    let Cmd::Embed(args) = parse(&[
        "embed",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]) else {
        panic!("not embed")
    };
    duskmatch::cli::eval::run_embed(args).unwrap();
    // The .npy: a version-1 header with the shape, then little-endian f32 rows.
    let bytes = std::fs::read(dir.path().join("e.npy")).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    // 12 places by day and by night; tiny: 16 latent channels at 8 x 8.
    assert!(header.contains("'shape': (24, 16, 64)"), "{header}");
    assert!(header.contains("'descr': '<f4'"), "{header}");
    let data: Vec<f32> = bytes[10 + header_len..]
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (ds, _) = DataSource::Synth(SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    })
    .load(32)
    .unwrap();
    let expect = embed(&model, &ds, all_items(&ds), &cpu(), 32, |_, _| {});
    assert_eq!(data, expect.data);
    // The .json names every row in the same order.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("e.json")).unwrap()).unwrap();
    let items = meta["items"].as_array().unwrap();
    assert_eq!(items.len(), 24);
    assert_eq!(items[0]["domain"], "day");
    assert_eq!(items[12]["domain"], "night");
    assert_eq!(items[12]["place"], items[0]["place"]);
    assert_eq!(expect.items[12].domain, Domain::Night);
}

#[test]
fn figure_draws_original_reconstruction_cycle_and_translation_per_row() {
    let dir = tempdir();
    let ck = dir.path().join("m.dmck");
    tiny_checkpoint(&ck);
    let out = dir.path().join("fig.png");
    let Cmd::Figure(args) = parse(&[
        "figure",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--rows",
        "2",
        "--scale",
        "1",
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]) else {
        panic!("not figure")
    };
    duskmatch::cli::figure::run(args).unwrap();
    let pic = image::open(&out).unwrap().to_rgb8();
    // 4 columns and 2 + 2 rows of 32 px tiles with 2 px gaps.
    assert_eq!(pic.dimensions(), (4 * 32 + 5 * 2, 4 * 32 + 5 * 2));
    // The first tile is the first held-out day image itself.
    let (ds, _) = DataSource::Synth(SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    })
    .load(32)
    .unwrap();
    let cfg = Preset::Tiny.config();
    let split = duskmatch::data::Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let first = &ds.day[split.val_day[0]].image;
    for (x, y) in [(0u32, 0u32), (5, 9), (31, 31)] {
        assert_eq!(pic.get_pixel(2 + x, 2 + y), first.get_pixel(x, y));
    }
    // The other columns are decoded pictures, not copies of the original.
    let tile = |c: u32| {
        (0..32)
            .flat_map(|y| (0..32).map(move |x| (x, y)))
            .map(|(x, y)| *pic.get_pixel(2 + c * 34 + x, 2 + y))
            .collect::<Vec<_>>()
    };
    assert_ne!(tile(0), tile(1));
}

#[test]
fn more_epochs_on_resume_counts_from_the_checkpoint_like_the_apps_continue() {
    let dir = tempdir();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let train = |args: &[&str]| {
        let Cmd::Train(t) = parse(args) else {
            panic!("not train")
        };
        duskmatch::cli::train::run(t).unwrap();
    };
    let common = [
        "--data",
        "synth",
        "--places",
        "12",
        "--synth-seed",
        "3",
        "--quiet",
        "--backend",
        "cpu",
    ];
    let mut first = vec![
        "train",
        "--preset",
        "tiny",
        "--epochs",
        "2",
        "--out",
        a.to_str().unwrap(),
    ];
    first.extend(common);
    train(&first);
    assert_eq!(checkpoint::load(&a).unwrap().header.state.at.epoch, 2);
    let mut more = vec![
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--more-epochs",
        "1",
        "--out",
        b.to_str().unwrap(),
    ];
    more.extend(common);
    train(&more);
    // Two done, one more: three in all (as Continue with 1 in the epochs field).
    assert_eq!(checkpoint::load(&b).unwrap().header.state.at.epoch, 3);
    // It needs a run to count from, and at least one epoch.
    assert!(
        Cli::try_parse_from(["duskmatch", "train", "--more-epochs", "2"]).is_err(),
        "--more-epochs without --resume"
    );
    let Cmd::Train(t) = parse(&[
        "train",
        "--resume",
        a.to_str().unwrap(),
        "--more-epochs",
        "0",
        "--out",
        dir.path().join("c").to_str().unwrap(),
        "--quiet",
        "--backend",
        "cpu",
    ]) else {
        panic!("not train")
    };
    let e = duskmatch::cli::train::run(t).unwrap_err();
    assert!(e.contains("--more-epochs = 0"), "{e}");
}

/// The error clap or the command gives for `args`, as text.
fn parse_error(args: &[&str]) -> String {
    match Cli::try_parse_from(std::iter::once("duskmatch").chain(args.iter().copied())) {
        Ok(_) => panic!("{args:?} parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn out_of_range_arguments_are_refused_naming_the_flag_and_the_range() {
    let sal = |extra: &[&str]| {
        let mut a = vec![
            "saliency",
            "--checkpoint",
            "c.dmck",
            "--image",
            "i.png",
            "--domain",
            "night",
            "--channel",
            "1",
            "--out",
            "o.png",
        ];
        a.extend_from_slice(extra);
        parse_error(&a)
    };
    let e = sal(&["--samples", "0"]);
    assert!(e.contains("--samples") && e.contains("1..=4096"), "{e}");
    let e = sal(&["--sigma=-1"]);
    assert!(e.contains("--sigma") && e.contains("(0, 1]"), "{e}");
    let e = sal(&["--opacity", "7"]);
    assert!(e.contains("--opacity") && e.contains("from 0 to 1"), "{e}");
    let e = sal(&["--opacity", "NaN"]);
    assert!(e.contains("--opacity"), "{e}");
    let fig = |extra: &[&str]| {
        let mut a = vec!["figure", "--checkpoint", "c.dmck", "--out", "f.png"];
        a.extend_from_slice(extra);
        parse_error(&a)
    };
    let e = fig(&["--rows", "0"]);
    assert!(e.contains("--rows") && e.contains("1..=256"), "{e}");
    let e = fig(&["--scale", "0"]);
    assert!(e.contains("--scale") && e.contains("1..=16"), "{e}");
    // 0 steps once meant "no limit" here; now a run has at least one.
    let e = parse_error(&["train", "--preset", "tiny", "--steps", "0"]);
    assert!(
        e.contains("--steps") && e.contains("0 is not in 1.."),
        "{e}"
    );
}

#[test]
fn a_synthetic_town_given_on_the_command_line_is_checked_before_anything_runs() {
    use duskmatch::data::robotcar::RobotCarSelection;
    // eval and embed once ran on 0 places (an empty table) and on 1 (a trivial R@1 of 1).
    for places in [0, 1] {
        let e = DataSource::parse(
            "synth",
            SynthConfig {
                places,
                seed: 8,
                ..Default::default()
            },
            RobotCarSelection::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("synth.places") && e.contains("from 2 to"),
            "{places}: {e}"
        );
    }
    assert!(
        DataSource::parse(
            "synth",
            SynthConfig {
                places: 2,
                seed: 8,
                ..Default::default()
            },
            RobotCarSelection::default()
        )
        .is_ok()
    );
}

#[test]
fn eval_refuses_channel_weights_learned_on_another_model() {
    let dir = tempdir();
    let a = dir.path().join("a.dmck");
    let b = dir.path().join("b.dmck");
    tiny_checkpoint(&a);
    // The same architecture and step label, other values.
    let mut cfg = Preset::Tiny.config();
    cfg.data = DataSource::Synth(SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    });
    save_untrained(&b, &cfg, 3, 6);
    let w = dir.path().join("w");
    let Cmd::Weights(args) = parse(&[
        "weights",
        "--checkpoint",
        a.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--out",
        w.to_str().unwrap(),
        "--backend",
        "cpu",
    ]) else {
        panic!("not weights")
    };
    duskmatch::cli::weights::run(args).unwrap();
    let weights = w.join(duskmatch::supervised::checkpoint::WEIGHTS_FILE);
    let eval = |ck: &std::path::Path| {
        let Cmd::Eval(args) = parse(&[
            "eval",
            "--checkpoint",
            ck.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--backend",
            "cpu",
        ]) else {
            panic!("not eval")
        };
        duskmatch::cli::eval::run_eval(args)
    };
    eval(&a).unwrap();
    let e = eval(&b).err().unwrap();
    assert!(e.contains("was learned on another model"), "{e}");
    assert!(
        e.contains(a.to_str().unwrap()),
        "names the model it was learned on: {e}"
    );
}

#[test]
fn runs_lists_each_run_with_its_last_scores_and_the_settings_that_differ() {
    use duskmatch::train::metrics_log::{self, Record};
    let dir = tempdir();
    let runs = dir.path().join("runs");
    let cfg = dir.path().join("lr.toml");
    std::fs::write(&cfg, "learning_rate = 3e-4\nseed = 5\n").unwrap();
    train_tiny_runs(&runs, &[("a", None), ("b", Some(&cfg))]);
    let (code, so, se) = run_duskmatch(&["runs", runs.to_str().unwrap()]);
    assert_eq!(code, 0, "{se}");
    // Each run's line holds its log's last step and last held-out scores.
    for name in ["a", "b"] {
        let records = metrics_log::read(&runs.join(name).join(metrics_log::FILE), u64::MAX);
        let steps = records
            .iter()
            .map(|r| match r {
                Record::Step { step, .. } | Record::Epoch { step, .. } => *step,
            })
            .max()
            .unwrap();
        let last = records
            .iter()
            .rev()
            .find_map(|r| match r {
                Record::Epoch {
                    retrieval: Some(s), ..
                } => Some(*s),
                _ => None,
            })
            .expect("held-out scores");
        let prefix = runs.join(name).display().to_string();
        let line = so.lines().find(|l| l.starts_with(&prefix)).expect(&so);
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[1], steps.to_string(), "{line}");
        assert_eq!(cols[2], format!("{:.3}", last.recall_1), "{line}");
        assert_eq!(cols[3], format!("{:.3}", last.recall_10), "{line}");
        assert_eq!(cols[4], format!("{:.3}", last.map), "{line}");
    }
    // Only the second run differs, in the two settings its config changed.
    let differing: Vec<&str> = so.lines().filter(|l| l.starts_with("    ")).collect();
    assert_eq!(
        differing,
        ["    learning_rate = 0.0003", "    seed = 5"],
        "{so}"
    );
    // A folder with no run in it is named, and nothing panics.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, se) = run_duskmatch(&["runs", empty.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(se.contains("empty") && se.contains("no run in it"), "{se}");
}
