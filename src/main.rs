use clap::Parser;

use duskmatch::cli::{Cli, Cmd};

fn main() {
    let launched = std::time::Instant::now();
    duskmatch::sysinfo::keep_freed_tensor_memory();
    duskmatch::sysinfo::quiet_on_closed_pipe();
    duskmatch::device::pin_default_device_to_cpu();
    duskmatch::device::private_runtime_dir();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::Train(a)) => duskmatch::cli::train::run(a),
        Some(Cmd::Synth(a)) => duskmatch::cli::synth::run(a),
        Some(Cmd::Info(a)) => duskmatch::cli::info::run(a),
        Some(Cmd::Eval(a)) => duskmatch::cli::eval::run_eval(a),
        Some(Cmd::Embed(a)) => duskmatch::cli::eval::run_embed(a),
        Some(Cmd::Weights(a)) => duskmatch::cli::weights::run(a),
        Some(Cmd::Saliency(a)) => duskmatch::cli::saliency::run(a),
        Some(Cmd::Figure(a)) => duskmatch::cli::figure::run(a),
        Some(Cmd::Bench(a)) => duskmatch::cli::bench::run(a),
        Some(Cmd::Runs(a)) => duskmatch::cli::runs::run(a),
        None => app_data(cli.app_data.as_deref()).and_then(|data| {
            duskmatch::app::window::run(duskmatch::app::AppOptions {
                checkpoint: cli.checkpoint,
                backend: cli.backend,
                data,
                launched,
                runs: cli.app_runs,
                ..Default::default()
            })
        }),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The app's `--data`: checked before the window opens, so a wrong folder is an error here.
fn app_data(spec: Option<&str>) -> Result<Option<duskmatch::data::DataSource>, String> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    Ok(Some(duskmatch::data::DataSource::parse(
        spec,
        Default::default(),
        Default::default(),
    )?))
}
