//! Helpers shared by the tests.

use burn::prelude::*;

pub fn cpu() -> Device {
    Device::flex()
}

pub fn vec4(t: Tensor<4>) -> Vec<f32> {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

pub fn scalar(t: Tensor<1>) -> f32 {
    t.inner()
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()[0]
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// An untrained model (weights seeded by `seed`) saved to `path` as a checkpoint of `cfg` at
/// `step`, without optimiser or discriminators; the model is returned.
pub fn save_untrained(
    path: &std::path::Path,
    cfg: &duskmatch::train::TrainingConfig,
    step: u64,
    seed: u64,
) -> duskmatch::model::DoubleVae {
    use duskmatch::train::checkpoint::{self, RunState};
    let state = RunState {
        at: duskmatch::train::run_loop::Counters {
            step,
            ..Default::default()
        },
        scheduler: duskmatch::train::scheduler::ReduceOnPlateau::new(
            cfg.plateau,
            cfg.learning_rate,
        ),
        epoch_sums: Default::default(),
        best: None,
        rng: "test".into(),
        supervised: None,
    };
    let model = duskmatch::model::DoubleVae::new(&cfg.model, seed, &cpu());
    checkpoint::save(path, cfg, &state, &model, None, None).unwrap();
    model
}

/// Run the binary on the CPU backend; `(exit code, stdout, stderr)`.
pub fn run_duskmatch(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_duskmatch"))
        .args(args)
        .env("BURN_DEVICE", "flex")
        .output()
        .expect("run duskmatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The synthetic town written out in `layout` (seed 9, places 50 m apart), a fixture of the
/// loaders' layouts.
pub fn write_town(
    dir: &std::path::Path,
    layout: duskmatch::cli::synth::SynthLayout,
    places: usize,
    size: u32,
) {
    duskmatch::cli::synth::run(duskmatch::cli::synth::SynthArgs {
        out: dir.to_path_buf(),
        places,
        size,
        seed: 9,
        layout,
        spacing: 50.0,
        condition: Default::default(),
    })
    .unwrap();
}

/// An untrained tiny model at 32 px saved as `dir/m.dmck` (step 3, seed 5), what the layout
/// fixtures are evaluated with: its path and its config.
pub fn tiny_checkpoint(
    dir: &std::path::Path,
) -> (std::path::PathBuf, duskmatch::train::TrainingConfig) {
    let mut cfg = duskmatch::train::Preset::Tiny.config();
    cfg.model.image_size = 32;
    let ck = dir.join("m.dmck");
    save_untrained(&ck, &cfg, 3, 5);
    (ck, cfg)
}

/// Train each `(name, config)` run for two epochs of the tiny preset on a 12-place town, into
/// `runs/name` (a config file, if given, on top), through the command line as a user would.
pub fn train_tiny_runs(runs: &std::path::Path, named: &[(&str, Option<&std::path::Path>)]) {
    for (name, config) in named {
        let out = runs.join(name);
        let mut args = vec![
            "train",
            "--preset",
            "tiny",
            "--data",
            "synth",
            "--places",
            "12",
            "--epochs",
            "2",
            "--backend",
            "cpu",
            "--quiet",
            "--out",
        ];
        args.push(out.to_str().unwrap());
        if let Some(c) = config {
            args.extend(["--config", c.to_str().unwrap()]);
        }
        let (code, so, se) = run_duskmatch(&args);
        assert_eq!(code, 0, "{so}{se}");
    }
}
