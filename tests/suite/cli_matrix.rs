//! Every file-taking argument of every subcommand, given every kind of file the project
//! ships or writes, run as the real binary: each answers with its exit code and a value, and
//! none panics (a panic exits 101). `info` is checked on every preset and both shipped
//! checkpoints, its total against the model's own parameter count.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duskmatch::data::Split;
use duskmatch::device;
use duskmatch::model::DoubleVae;
use duskmatch::model::summary::{layer_table, table_total, trainable_params};
use duskmatch::supervised::{SupervisedConfig, SupervisedTrainer};
use duskmatch::train::{Preset, Trainer, checkpoint};

use crate::common::*;

use crate::common::run_duskmatch as run;

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("checkpoints")
        .join(name)
}

/// The number `info` prints as the trainable total.
fn printed_total(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("trainable parameters: "))
        .unwrap_or_else(|| panic!("no total in:\n{stdout}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn info_prints_the_models_own_total_on_every_preset_and_shipped_file() {
    for preset in [Preset::Paper, Preset::Compact, Preset::Tiny] {
        let cfg = preset.config();
        let model = DoubleVae::new(&cfg.model, 0, &cpu());
        let n = trainable_params(&model);
        // The table is read off the same modules: its rows add up to the model.
        assert_eq!(
            table_total(&layer_table(&model, &cfg.model)),
            n,
            "{preset:?}"
        );
        let (code, out, err) = run(&["info", "--preset", preset.name()]);
        assert_eq!(code, 0, "{preset:?}: {err}");
        assert_eq!(printed_total(&out), n, "{preset:?}");
        assert!(!out.contains("rows above list"), "{out}");
    }
    // The shipped files use a shared encoder: its convolutions once, its norms per domain.
    for name in [
        "compact-town.dmck",
        "compact-town-self-trained.dmck",
        "compact-town-fine-tuned.dmck",
    ] {
        let path = shipped(name);
        let ck = checkpoint::load(&path).unwrap();
        let model = ck.build_model(&cpu()).unwrap();
        let n = trainable_params(&model);
        let (code, out, err) = run(&["info", "--checkpoint", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(printed_total(&out), n, "{name}");
        assert!(out.contains("inst. norms"), "{out}");
        assert!(
            out.contains(&format!("{} steps in all", ck.header.state.at.step)),
            "{out}"
        );
        if name.contains("fine-tuned") {
            assert!(out.contains("fine-tuned on place labels"), "{out}");
        }
        if name.contains("self-trained") {
            assert!(
                out.contains("its own mutual matches, no place labels"),
                "{out}"
            );
        }
    }
}

/// Every kind of file the project writes, made by a short real run of each stage on a
/// 12-place town.
struct Files {
    _dir: tempfile::TempDir,
    /// A stage-one checkpoint file, with its optimiser.
    stage_one: PathBuf,
    /// The run folder that wrote it.
    run: PathBuf,
    /// A fine-tuned model checkpoint.
    fine_tuned: PathBuf,
    /// A channel-weights file learned on `stage_one`.
    weights: PathBuf,
    /// `stage_one` as written before section checksums (format version 1).
    pre_checksum: PathBuf,
    /// A day image of the town.
    image: PathBuf,
}

fn files() -> Files {
    let dir = tempdir();
    let (mut cfg, ds) = crate::train::tiny(12);
    cfg.max_steps = 3;
    cfg.epochs = 100;
    let run = dir.path().join("run");
    let summary = Trainer::new(cfg.clone(), ds.clone(), device::cpu(), &run)
        .unwrap()
        .train()
        .unwrap();
    let stage_one = dir.path().join("stage1.dmck");
    std::fs::copy(run.join(checkpoint::LATEST), &stage_one).unwrap();
    let header = checkpoint::load(&stage_one).unwrap().header;
    let split = Split::new(&ds, cfg.validation_fraction, cfg.seed);
    let stage = |wc: SupervisedConfig, out: &Path| {
        SupervisedTrainer::new(
            SupervisedConfig {
                epochs: 1,
                batch_size: 4,
                ..wc
            },
            &summary.model,
            cfg.model,
            Arc::clone(&ds),
            &split,
            device::cpu(),
            out,
            (stage_one.clone(), header.state.at.step),
        )
        .unwrap()
        .with_stage_one_header(header.clone())
        .train()
        .unwrap()
    };
    stage(SupervisedConfig::default(), &dir.path().join("w"));
    stage(SupervisedConfig::fine_tune(), &dir.path().join("ft"));
    let pre_checksum = dir.path().join("v1.dmck");
    write_version_one(&stage_one, &pre_checksum);
    let image = dir.path().join("day.png");
    duskmatch::data::image_io::save_png(&ds.day[0].image, &image).unwrap();
    Files {
        stage_one,
        run,
        fine_tuned: dir.path().join("ft").join(checkpoint::LATEST),
        weights: dir
            .path()
            .join("w")
            .join(duskmatch::supervised::checkpoint::WEIGHTS_FILE),
        pre_checksum,
        image,
        _dir: dir,
    }
}

/// The same sections as `from`, in the format before checksums.
fn write_version_one(from: &Path, to: &Path) {
    let s = duskmatch::store::read_container(
        from,
        checkpoint::MAGIC,
        "checkpoint",
        &["header", "model", "optimiser"],
        &["a", "b", "c", "d"],
    )
    .unwrap();
    let mut bytes = checkpoint::MAGIC.to_vec();
    bytes.extend(1u32.to_le_bytes());
    for p in &s.parts {
        bytes.extend((p.len() as u64).to_le_bytes());
        bytes.extend(p);
    }
    std::fs::write(to, bytes).unwrap();
}

/// What a command must answer: exit 0 with `text` in its output (stdout or the progress
/// on stderr), or exit 1 with `text` in stderr.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Ok(&'static str),
    Refused(&'static str),
}

#[test]
fn every_file_argument_of_every_subcommand_answers_every_kind_of_file() {
    let f = files();
    let out = f._dir.path().join("out");
    let (shipped_one, shipped_self, shipped_tuned) = (
        shipped("compact-town.dmck"),
        shipped("compact-town-self-trained.dmck"),
        shipped("compact-town-fine-tuned.dmck"),
    );
    let kinds: [(&str, &Path); 8] = [
        ("stage-one file", &f.stage_one),
        ("run folder", &f.run),
        ("fine-tuned file", &f.fine_tuned),
        ("weights file", &f.weights),
        ("pre-checksum file", &f.pre_checksum),
        ("shipped stage-one file", &shipped_one),
        ("shipped self-trained file", &shipped_self),
        ("shipped fine-tuned file", &shipped_tuned),
    ];
    let town = ["--data", "synth", "--places", "12", "--synth-seed", "3"];
    let s = f.stage_one.to_str().unwrap().to_string();
    let o = |name: &str| out.join(name).to_str().unwrap().to_string();
    // (what, the arguments with FILE for the file, what each kind must answer)
    type Row<'a> = (&'a str, Vec<String>, [Expect; 8]);
    use Expect::*;
    let not_ckpt = Refused("channel-weights file");
    let rows: Vec<Row> = vec![
        (
            "info --checkpoint",
            args(&["info", "--checkpoint", "FILE"]),
            [
                Ok("trainable parameters"),
                Ok("trainable parameters"),
                Ok("fine-tuned on place labels"),
                not_ckpt,
                Ok("trainable parameters"),
                Ok("trainable parameters"),
                Ok("its own mutual matches, no place labels"),
                Ok("fine-tuned on place labels"),
            ],
        ),
        (
            "train --resume",
            args(&["train", "--resume", "FILE", "--steps", "5", "--quiet"])
                .into_iter()
                .chain(args(&["--backend", "cpu", "--out"]))
                .chain([o("train")])
                .collect(),
            [
                Ok("finished (MaxSteps) at step 5 (in epoch 3)"),
                Ok("finished (MaxSteps) at step 5 (in epoch 3)"),
                Refused("fine-tuned by the supervised stage"),
                not_ckpt,
                Ok("finished (MaxSteps) at step 5 (in epoch 3)"),
                Refused("--steps 5 trains nothing"),
                Refused("--steps 5 trains nothing"),
                Refused("--steps 5 trains nothing"),
            ],
        ),
        (
            "train --config",
            args(&["train", "--config", "FILE", "--steps", "1", "--quiet"]),
            [
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
            ],
        ),
        (
            "eval --checkpoint",
            args(&["eval", "--checkpoint", "FILE", "--backend", "cpu"]),
            [
                Ok("R@1"),
                Ok("R@1"),
                Ok("R@1"),
                not_ckpt,
                Ok("R@1"),
                Ok("R@1"),
                Ok("R@1"),
                Ok("R@1"),
            ],
        ),
        (
            "eval --also",
            args(&[
                "eval",
                "--checkpoint",
                &s,
                "--also",
                "FILE",
                "--backend",
                "cpu",
            ]),
            [
                Ok("R@1"),
                Ok("R@1"),
                Ok("fine-tuned"),
                not_ckpt,
                Ok("R@1"),
                Refused("--also needs models of one image size"),
                Refused("--also needs models of one image size"),
                Refused("--also needs models of one image size"),
            ],
        ),
        (
            "eval --weights",
            args(&[
                "eval",
                "--checkpoint",
                &s,
                "--weights",
                "FILE",
                "--backend",
                "cpu",
            ]),
            [
                Refused("model checkpoint"),
                Refused("holds no weights.dmwt"),
                Refused("model checkpoint"),
                Ok("model + learned weights"),
                Refused("model checkpoint"),
                Refused("model checkpoint"),
                Refused("model checkpoint"),
                Refused("model checkpoint"),
            ],
        ),
        (
            "embed --checkpoint",
            args(&["embed", "--checkpoint", "FILE", "--backend", "cpu", "--out"])
                .into_iter()
                .chain([o("e")])
                .collect(),
            [
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                not_ckpt,
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
            ],
        ),
        (
            "weights --checkpoint",
            args(&[
                "weights",
                "--checkpoint",
                "FILE",
                "--epochs",
                "1",
                "--batch-size",
                "4",
            ])
            .into_iter()
            .chain(args(&["--backend", "cpu", "--out"]))
            .chain([o("w")])
            .collect(),
            [
                Ok("learned"),
                Ok("learned"),
                Ok("learned"),
                not_ckpt,
                Ok("learned"),
                Ok("learned"),
                Ok("learned"),
                Ok("learned"),
            ],
        ),
        (
            "weights --resume",
            args(&[
                "weights",
                "--checkpoint",
                &s,
                "--resume",
                "FILE",
                "--epochs",
                "2",
            ])
            .into_iter()
            .chain(args(&["--batch-size", "4", "--backend", "cpu", "--out"]))
            .chain([o("wr")])
            .collect(),
            [
                Refused("stage-one checkpoint, not a weights file"),
                Refused("stage-one checkpoint, not a weights file"),
                Refused("the file holds fine-tuning, this run is channel weights"),
                Ok("learned"),
                Refused("stage-one checkpoint, not a weights file"),
                Refused("stage-one checkpoint, not a weights file"),
                Refused("the file holds fine-tuning, this run is channel weights"),
                Refused("the file holds fine-tuning, this run is channel weights"),
            ],
        ),
        (
            "saliency --checkpoint",
            args(&["saliency", "--checkpoint", "FILE", "--image"])
                .into_iter()
                .chain([f.image.to_str().unwrap().to_string()])
                .chain(args(&[
                    "--domain",
                    "day",
                    "--channel",
                    "0",
                    "--samples",
                    "2",
                ]))
                .chain(args(&["--backend", "cpu", "--out"]))
                .chain([o("s.png")])
                .collect(),
            [
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                not_ckpt,
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
            ],
        ),
        (
            "saliency --image",
            args(&["saliency", "--checkpoint", &s, "--image", "FILE"])
                .into_iter()
                .chain(args(&[
                    "--domain",
                    "day",
                    "--channel",
                    "0",
                    "--samples",
                    "2",
                ]))
                .chain(args(&["--backend", "cpu", "--out"]))
                .chain([o("s2.png")])
                .collect(),
            [
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
                Refused("FILE"),
            ],
        ),
        (
            "figure --checkpoint",
            args(&[
                "figure",
                "--checkpoint",
                "FILE",
                "--rows",
                "1",
                "--backend",
                "cpu",
            ])
            .into_iter()
            .chain(["--out".to_string(), o("fig.png")])
            .collect(),
            [
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                not_ckpt,
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
                Ok("wrote"),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (what, template, expect) in &rows {
        for ((kind, path), e) in kinds.iter().zip(expect) {
            let p = path.to_str().unwrap();
            let mut a: Vec<String> = template.iter().map(|t| t.replace("FILE", p)).collect();
            // Every command that reads a dataset reads the 12-place town (the shipped files'
            // own is 500 places), except a resumed run, which reads its checkpoint's.
            let reads_data = ["train --config", "eval", "embed", "weights", "figure"]
                .iter()
                .any(|c| what.starts_with(c));
            if reads_data && *what != "train --resume" {
                a.extend(town.iter().map(|s| s.to_string()));
            }
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let (code, stdout, stderr) = run(&a);
            let ok = match e {
                Ok(text) => {
                    code == 0 && (stdout.clone() + &stderr).contains(&text.replace("FILE", p))
                }
                Refused(text) => code == 1 && stderr.contains(&text.replace("FILE", p)),
            };
            if !ok {
                failures.push(format!(
                    "{what} with a {kind}: expected {e:?}, exit {code}\nstdout: {stdout}\nstderr: {stderr}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn too_few_places_to_evaluate_are_refused_naming_the_minimum_in_every_command() {
    let dir = tempdir();
    let mut cfg = Preset::Tiny.config();
    cfg.data = duskmatch::data::DataSource::Synth(duskmatch::data::synth::SynthConfig {
        places: 12,
        seed: 3,
        ..Default::default()
    });
    let ck = dir.path().join("m.dmck");
    save_untrained(&ck, &cfg, 3, 5);
    let ck = ck.to_str().unwrap();
    let out = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let three = ["--data", "synth", "--places", "3", "--backend", "cpu"];
    // 3 places at validation_fraction 0.2 hold out 1.
    let runs: Vec<Vec<String>> = vec![
        args(&["train", "--preset", "tiny", "--steps", "1", "--out"])
            .into_iter()
            .chain([out("t")])
            .chain(args(&three))
            .collect(),
        args(&["weights", "--checkpoint", ck, "--epochs", "1", "--out"])
            .into_iter()
            .chain([out("w")])
            .chain(args(&three))
            .collect(),
        args(&[
            "weights",
            "--method",
            "fine-tune",
            "--checkpoint",
            ck,
            "--epochs",
            "1",
        ])
        .into_iter()
        .chain(["--out".into(), out("f")])
        .chain(args(&three))
        .collect(),
    ];
    for a in &runs {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = run(&a);
        assert_eq!(code, 1, "{a:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("too few places") && stderr.contains("at least 2"),
            "{a:?}: {stderr}"
        );
    }
    // eval on a folder of one place (paired names give its place).
    let folder = dir.path().join("one");
    let town = duskmatch::data::synth::generate(
        &duskmatch::data::synth::SynthConfig {
            places: 2,
            seed: 5,
            ..Default::default()
        },
        32,
    );
    for (sub, s) in [("day", &town.day[0]), ("night", &town.night[0])] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
        duskmatch::data::image_io::save_png(&s.image, &folder.join(sub).join("p0.png")).unwrap();
    }
    let (code, stdout, stderr) = run(&[
        "eval",
        "--checkpoint",
        ck,
        "--data",
        folder.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("too few places to evaluate") && stderr.contains("at least 2"),
        "{stderr}"
    );
}
