//! The app driven as a person would, headless with egui_kittest, on the CPU backend and the
//! tiny preset.

use std::time::{Duration, Instant};

use duskmatch::app::inference::{COLUMNS, DisplayItem, decode_grid};
use duskmatch::app::settings::Settings;
use duskmatch::app::{AppOptions, DuskApp, Level};
use duskmatch::data::synth::SynthConfig;
use duskmatch::data::{DataSource, Domain};
use duskmatch::device::BackendChoice;
use duskmatch::model::{DoubleVae, ModelConfig};
use duskmatch::run::Phase as SessionPhase;
use duskmatch::train::Preset;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::common::*;

fn tiny_app(runs: &std::path::Path) -> DuskApp {
    let mut config = Preset::Tiny.config();
    config.data = DataSource::Synth(SynthConfig {
        places: 24,
        seed: 3,
        ..Default::default()
    });
    config.epochs = 1000;
    let settings = Settings {
        config,
        snapshot_every: 2,
        ..Default::default()
    };
    DuskApp::new(AppOptions {
        settings,
        checkpoint: None,
        no_checkpoint: true,
        backend: BackendChoice::Cpu,
        runs_dir: runs.to_path_buf(),
        ..Default::default()
    })
}

fn harness(app: DuskApp) -> Harness<'static, DuskApp> {
    Harness::builder()
        .with_size(egui::vec2(1300.0, 900.0))
        .build_ui_state(|ui, app: &mut DuskApp| app.ui_root(ui), app)
}

/// Step the UI (workers report through channels) until `done` or a generous timeout.
fn step_until(h: &mut Harness<'_, DuskApp>, what: &str, done: impl Fn(&DuskApp) -> bool) {
    let t0 = Instant::now();
    while !done(h.state()) {
        if t0.elapsed() > Duration::from_secs(120) {
            let notices: Vec<String> = h.state().notices.iter().map(|n| n.text.clone()).collect();
            panic!("timed out waiting for: {what}; notices: {notices:?}");
        }
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

/// Press Stop and wait until the run has saved and ended: its last event drawn and its
/// result taken. A clean stop leaves no error notice: the second look at a taken result once
/// read as "ended without a result", and that notice's line moved the buttons under the next
/// click (the Continue race).
fn stop_and_wait(h: &mut Harness<'_, DuskApp>) {
    let errors = |h: &Harness<'_, DuskApp>| -> Vec<String> {
        h.state()
            .notices
            .iter()
            .filter(|n| n.level == Level::Error)
            .map(|n| n.text.clone())
            .collect()
    };
    let before = errors(h);
    h.get_by_label("Stop").click();
    step_until(h, "finished", |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.status.phase == SessionPhase::Finished && s.has_ended())
    });
    h.step();
    let new: Vec<String> = errors(h)
        .into_iter()
        .filter(|e| !before.contains(e))
        .collect();
    assert!(new.is_empty(), "a clean stop left errors: {new:?}");
}

fn ready(h: &mut Harness<'_, DuskApp>) {
    step_until(h, "dataset, device and checkpoint", |a| {
        a.dataset.dataset().is_some() && a.device.is_some() && !a.is_loading_checkpoint()
    });
}

#[test]
fn start_produces_loss_points_and_pause_stops_steps() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    assert!(h.state().history.train.is_empty());
    h.get_by_label("Start").click();
    step_until(&mut h, "three loss points", |a| a.history.train.len() >= 3);
    let p = h.state().history.train[2];
    assert_eq!(p.step, 3);
    assert!(p.losses.total.is_finite() && p.losses.total > 0.0);
    assert!(p.losses.reconstruction > 0.0);

    h.get_by_label("Pause").click();
    step_until(&mut h, "paused", |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.status.phase == SessionPhase::Paused)
    });
    let n = h.state().history.train.len();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(800) {
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        h.state().history.train.len(),
        n,
        "steps arrived while paused"
    );

    // Space resumes (no text field has focus).
    h.key_press(egui::Key::Space);
    step_until(&mut h, "steps after resuming", |a| {
        a.history.train.len() > n
    });
    stop_and_wait(&mut h);
    // Stopping saved a checkpoint into the run folder.
    let saved = h
        .state()
        .settings
        .checkpoint
        .clone()
        .expect("checkpoint path remembered");
    assert!(saved.starts_with(dir.path()) && saved.exists());
}

#[test]
fn grid_shows_four_labelled_columns_and_the_scrubber_moves_through_steps() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "three snapshots with a decoded grid", |a| {
        a.snapshots.len() >= 3 && a.snapshots.selected().is_some_and(|s| s.grid.is_some())
    });
    stop_and_wait(&mut h);
    step_until(&mut h, "newest grid decoded", |a| {
        a.snapshots.selected().is_some_and(|s| s.grid.is_some())
    });
    for title in COLUMNS {
        h.get_by_label(title);
    }
    let grid = h
        .state()
        .snapshots
        .selected()
        .unwrap()
        .grid
        .clone()
        .unwrap();
    assert_eq!(grid.rows.len(), 8, "4 day and 4 night rows");
    assert_eq!(
        grid.rows.iter().filter(|r| r.domain == Domain::Day).count(),
        4
    );
    for row in &grid.rows {
        for img in &row.images {
            assert_eq!(img.dimensions(), (32, 32));
        }
        // Decoded columns are real pictures, not a flat fill.
        let px: Vec<u8> = row.images[1].as_raw().clone();
        assert!(
            px.iter().max().unwrap() - px.iter().min().unwrap() > 10,
            "flat reconstruction"
        );
    }
    let newest = grid.step;
    h.get_by_label_contains(&format!("decoded by the model at step {newest}"));

    // Move the scrubber to the first snapshot: every image panel follows it.
    let first = h.state().snapshots.steps()[0];
    assert!(first < newest);
    // As a screen reader or keyboard user would: set the slider's value.
    h.get_by_label("Snapshot").set_value_accesskit(0.0);
    step_until(&mut h, "first snapshot decoded", |a| {
        a.snapshots
            .selected()
            .is_some_and(|s| s.step == first && s.grid.is_some())
    });
    assert!(
        !h.state().snapshots.live,
        "leaving the newest snapshot turns live off"
    );
    h.get_by_label_contains(&format!("decoded by the model at step {first}"));
}

#[test]
fn a_bad_folder_shows_an_error_and_the_app_stays_usable() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    let missing = dir.path().join("no-such-folder");
    let field = h.get_by_label("Folder:");
    field.focus();
    field.type_text(&missing.display().to_string());
    h.step();
    h.get_by_label("Load").click();
    h.step();
    h.step();
    let app = h.state();
    let err = app
        .notices
        .iter()
        .find(|n| n.level == Level::Error)
        .expect("an error notice");
    assert!(err.text.contains("does not exist"), "{}", err.text);
    h.get_by_label_contains("does not exist");
    // A folder with the wrong layout names what was expected.
    std::fs::create_dir_all(dir.path().join("photos/misc")).unwrap();
    h.state_mut().notices.clear();
    let field = h.get_by_label("Folder:");
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    field.type_text(&dir.path().join("photos").display().to_string());
    h.step();
    h.get_by_label("Load").click();
    h.step();
    h.step();
    assert!(
        h.state()
            .notices
            .iter()
            .any(|n| n.text.contains("expected DIR/day"))
    );
    // Still usable: the town loads and training starts.
    h.get_by_label("Use town").click();
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a loss point", |a| !a.history.train.is_empty());
    stop_and_wait(&mut h);
}

#[test]
fn the_grid_panel_renders_as_expected() {
    let dev = cpu();
    let cfg = ModelConfig {
        base_width: 4,
        image_size: 32,
        ..Default::default()
    };
    let model = DoubleVae::new(&cfg, 11, &dev);
    let town = duskmatch::data::synth::generate(
        &SynthConfig {
            places: 2,
            seed: 5,
            ..Default::default()
        },
        32,
    );
    let items: Vec<DisplayItem> = town
        .day
        .iter()
        .chain(&town.night)
        .map(|s| DisplayItem {
            domain: s.domain,
            name: s.name.clone(),
            image: s.image.clone(),
        })
        .collect();
    let grid = decode_grid(&model, &items, &dev, 42);
    let mut panel = duskmatch::app::grid::GridPanel::default();
    panel.thumb = 64.0;
    let mut h = Harness::builder()
        .with_size(egui::vec2(420.0, 400.0))
        .build_ui(move |ui| panel.ui(ui, Some(&grid)));
    h.run();
    h.snapshot("grid_panel");
}

#[test]
fn swipe_composes_original_left_and_other_right() {
    use duskmatch::app::image_compare::{flicker_shows_original, swipe, swipe_column};
    use egui::{Color32, ColorImage};
    let a = ColorImage::new([4, 2], vec![Color32::RED; 8]);
    let b = ColorImage::new([4, 2], vec![Color32::BLUE; 8]);
    let s = swipe(&a, &b, 0.5);
    let row: Vec<Color32> = s.pixels[..4].to_vec();
    assert_eq!(
        row,
        vec![Color32::RED, Color32::RED, Color32::BLUE, Color32::BLUE]
    );
    assert_eq!(swipe(&a, &b, 0.0).pixels, b.pixels);
    assert_eq!(swipe(&a, &b, 1.0).pixels, a.pixels);
    assert_eq!(swipe_column(64, 0.25), 16);
    // The quads the window draws split where the CPU composition does: a 64-pixel image drawn
    // at 1:1 from x = 10 divides at x = 10 + 16, the original's left quarter on the left.
    let rect = egui::Rect::from_min_size(egui::pos2(10.0, 5.0), egui::vec2(64.0, 64.0));
    let q = duskmatch::app::image_compare::swipe_quads(rect, 0.25);
    assert_eq!(q.split_x, 10.0 + swipe_column(64, 0.25) as f32);
    assert_eq!((q.left.max.x, q.right.min.x), (26.0, 26.0));
    assert_eq!((q.left_uv.max.x, q.right_uv.min.x), (0.25, 0.25));
    assert_eq!((q.left.min, q.right.max), (rect.min, rect.max));
    assert_eq!(
        duskmatch::app::image_compare::swipe_fraction_at(rect, 26.0),
        0.25
    );
    assert_eq!(
        duskmatch::app::image_compare::swipe_fraction_at(rect, -5.0),
        0.0
    );
    assert!(flicker_shows_original(0.1, 0.6));
    assert!(!flicker_shows_original(0.7, 0.6));
    assert!(flicker_shows_original(1.3, 0.6));
}

#[test]
fn ema_smoothing_matches_hand_values() {
    use duskmatch::app::history::ema;
    // Debiased: the first value is kept, later ones pulled towards the past.
    let s = ema(&[1.0, 3.0], 0.5);
    assert!((s[0] - 1.0).abs() < 1e-12);
    // (0.5·0.5·1 + 0.5·3) / (0.5·0.5 + 0.5) = (0.25 + 1.5) / 0.75
    assert!((s[1] - 1.75 / 0.75).abs() < 1e-12);
    assert_eq!(ema(&[2.0, 4.0], 0.0), vec![2.0, 4.0]);
}

#[test]
fn clicking_a_query_shows_ranked_matches_with_marks() {
    use duskmatch::train::Trainer;
    let dir = tempdir();
    // A briefly trained tiny model, loaded the way the app loads the shipped checkpoint.
    let mut config = Preset::Tiny.config();
    config.data = DataSource::Synth(SynthConfig {
        places: 24,
        seed: 3,
        ..Default::default()
    });
    config.max_steps = 5;
    let (ds, _) = config.data.load(32).unwrap();
    let run = dir.path().join("run");
    Trainer::new(
        config.clone(),
        std::sync::Arc::new(ds),
        duskmatch::device::cpu(),
        &run,
    )
    .unwrap()
    .train()
    .unwrap();
    // A later run from the window trains longer and snapshots every 4 steps.
    let mut later = config.clone();
    later.max_steps = 40;
    let app = DuskApp::new(AppOptions {
        settings: Settings {
            config: later,
            snapshot_every: 4,
            ..Default::default()
        },
        checkpoint: Some(run.join("latest.dmck")),
        no_checkpoint: false,
        backend: BackendChoice::Cpu,
        runs_dir: dir.path().to_path_buf(),
        ..Default::default()
    });
    let mut h = harness(app);
    ready(&mut h);
    step_until(&mut h, "checkpoint model", |a| !a.snapshots.is_empty());
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "retrieval index", |a| {
        a.retrieval.result().is_some()
    });
    let result = h.state().retrieval.result().unwrap().clone();
    let ev = &result.evaluation;
    assert_eq!(ev.query_domain, Domain::Night);
    assert_eq!(ev.metrics.queries, 5, "held-out places of 24 at 20 %");
    assert!(ev.metrics.recall_1.is_some());
    h.get_by_label(&format!("query {}", ev.queries.items[1].name))
        .click();
    h.step();
    h.step();
    assert_eq!(h.state().retrieval.selected_query, Some(1));
    for (rank, (_, _, ok)) in ev.ranked(1).iter().enumerate() {
        let verdict = if ok.unwrap() { "correct" } else { "wrong" };
        h.get_by_label(&format!("match rank {} {verdict}", rank + 1));
    }
    let r = ev.true_match_rank(1).unwrap();
    h.get_by_label_contains(&format!("true match ranked {r}"));
    // Clicking a match opens the side-by-side comparison.
    h.get_by_label_contains("match rank 1 ").click();
    h.step();
    h.step();
    h.get_by_label("Query and match");

    // Choosing a day image (as a click on the map does) turns the direction around and makes
    // it the query once the day-to-night index is built.
    let day_image = ev.database.items[2].clone();
    h.state_mut().retrieval.compare_match = None;
    h.state_mut()
        .retrieval
        .select_image(Domain::Day, day_image.index);
    step_until(&mut h, "the day-to-night index", |a| {
        a.retrieval
            .result()
            .is_some_and(|r| r.evaluation.query_domain == Domain::Day)
    });
    let result = h.state().retrieval.result().unwrap().clone();
    let q = h
        .state()
        .retrieval
        .selected_query
        .expect("a query is selected");
    assert_eq!(result.evaluation.queries.items[q], day_image);
    h.get_by_label_contains("true match ranked");

    // Training from the window: the index stays at the checkpoint's step and offers an update
    // instead of re-embedding at every snapshot.
    let first = h.state().retrieval.index_step();
    assert_eq!(first, Some(5));
    h.step();
    h.get_by_label("Training").click();
    h.step();
    h.step();
    h.get_by_label("Start").click();
    step_until(&mut h, "a snapshot of the new run", |a| {
        a.snapshots.selected().is_some_and(|s| s.step % 4 == 0)
    });
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "an update offer", |a| {
        a.retrieval.newer_step().is_some()
    });
    assert_eq!(h.state().retrieval.index_step(), first);
    assert!(!h.state().retrieval.is_computing());
    h.get_by_label_contains("Update to step").click();
    step_until(&mut h, "the updated index", |a| {
        a.retrieval.result().is_some() && a.retrieval.index_step() != first
    });
    assert_eq!(h.state().retrieval.index_step().unwrap() % 4, 0);
}

#[test]
fn a_missing_checkpoint_is_a_notice_not_a_failure() {
    let dir = tempdir();
    let mut app = tiny_app(dir.path());
    app.notices.clear();
    let app = DuskApp::new(AppOptions {
        checkpoint: Some(dir.path().join("gone.dmck")),
        no_checkpoint: false,
        ..AppOptions {
            settings: app.settings.clone(),
            backend: BackendChoice::Cpu,
            runs_dir: dir.path().to_path_buf(),
            ..Default::default()
        }
    });
    let mut h = harness(app);
    ready(&mut h);
    let n = h
        .state()
        .notices
        .iter()
        .find(|n| n.text.contains("No checkpoint found"))
        .expect("a notice about the missing checkpoint");
    assert_eq!(n.level, Level::Warning);
    assert!(h.state().loaded.is_none());
    // The window works: the grid says what to do, and training can start.
    h.get_by_label_contains("No decoded images yet");
    h.get_by_label("Start").click();
    step_until(&mut h, "a loss point", |a| !a.history.train.is_empty());
    stop_and_wait(&mut h);
}

/// A benchmark, not a test of speed: prints the GUI thread's time per frame while training
/// runs. `cargo test --test suite -- --ignored frame_time --nocapture`
#[test]
#[ignore]
fn frame_time_while_training() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "training", |a| a.history.train.len() >= 2);
    let mut times = Vec::new();
    let t_all = Instant::now();
    while t_all.elapsed() < Duration::from_secs(20) {
        let t0 = Instant::now();
        h.step();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(16));
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "{{\"frames\": {}, \"ui_ms_median\": {:.2}, \"ui_ms_p95\": {:.2}, \"ui_ms_max\": {:.2}, \"steps_trained\": {}}}",
        times.len(),
        pct(0.5),
        pct(0.95),
        pct(1.0),
        h.state().history.train.len()
    );
    stop_and_wait(&mut h);
}

#[test]
fn start_stop_continue_resumes_the_run_just_made() {
    let dir = tempdir();
    // No checkpoint loaded: Continue once had nothing to resume (it only knew the startup
    // checkpoint), even after a run of this window had saved one.
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a few loss points", |a| a.history.train.len() >= 3);
    stop_and_wait(&mut h);
    let made = h
        .state()
        .run_checkpoint
        .clone()
        .expect("the run saved a checkpoint");
    let first_run = made.parent().unwrap().to_path_buf();
    let stopped_at = duskmatch::train::checkpoint::load(&made)
        .unwrap()
        .header
        .state
        .at
        .step;
    assert_eq!(h.state().continue_source(), Some(made.as_path()));
    h.get_by_label("Continue").click();
    step_until(&mut h, "the continued run's first step", |a| {
        a.history.train.iter().any(|p| p.step > stopped_at)
    });
    // It went on from the step the first run stopped at, into a new folder, keeping the
    // first run's curve in front of it.
    let steps: Vec<u64> = h.state().history.train.iter().map(|p| p.step).collect();
    assert!(steps.contains(&(stopped_at + 1)), "{steps:?}");
    assert_eq!(steps[0], 1, "the first run's curve is kept");
    stop_and_wait(&mut h);
    let second = h.state().run_checkpoint.clone().unwrap();
    assert_ne!(second.parent().unwrap(), first_run);
    let ck = duskmatch::train::checkpoint::load(&second).unwrap();
    assert!(ck.header.state.at.step > stopped_at);
}

#[test]
fn a_second_runs_retrieval_tab_never_shows_the_first_runs_index() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    let at_step = |h: &mut Harness<'_, DuskApp>, step: u64| {
        step_until(h, "a snapshot at the step", |a| {
            a.snapshots.steps().contains(&step)
        });
        let i = h
            .state()
            .snapshots
            .steps()
            .iter()
            .position(|&s| s == step)
            .unwrap();
        h.state_mut().snapshots.select(i);
        h.state_mut().snapshots.live = false;
    };
    h.get_by_label("Start").click();
    at_step(&mut h, 4);
    stop_and_wait(&mut h);
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "the first run's index", |a| {
        a.retrieval.result().is_some() && a.retrieval.index_step() == Some(4)
    });
    let first = h.state().retrieval.result().unwrap().clone();
    // A second run from scratch (another seed) reaches step 4 too: same step, same images,
    // another model.
    h.get_by_label("Training").click();
    h.step();
    h.state_mut().editor.draft.seed = 11;
    h.state_mut().editor.revalidate();
    h.get_by_label("Start").click();
    step_until(&mut h, "the second run", |a| {
        a.session
            .as_ref()
            .is_some_and(|s| s.status.phase == SessionPhase::Running)
    });
    at_step(&mut h, 4);
    stop_and_wait(&mut h);
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "the second run's index", |a| {
        a.retrieval
            .result()
            .is_some_and(|r| !std::sync::Arc::ptr_eq(r, &first))
    });
    assert_eq!(h.state().retrieval.index_step(), Some(4));
    let second = h.state().retrieval.result().unwrap();
    // Computed from the second model: its distances are its own.
    assert_ne!(
        second.evaluation.queries.items.len(),
        0,
        "the index has queries"
    );
    assert!(
        first.map != second.map,
        "the second run's map equals the first run's: a cached index was served"
    );
}

#[test]
fn the_retrieval_tab_compares_the_model_with_the_baselines_on_the_same_images() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a snapshot", |a| !a.snapshots.is_empty());
    stop_and_wait(&mut h);
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "the index", |a| a.retrieval.result().is_some());
    h.get_by_label("Compare with baselines").click();
    step_until(&mut h, "the baselines", |a| a.baselines.shown.is_some());
    let index = h.state().retrieval.result().unwrap().clone();
    let (_, rows, scope) = h.state().baselines.shown.clone().unwrap();
    assert_eq!(scope, "held-out places");
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "model",
        "model, domain-centred",
        "pixels",
        "random-encoder",
        "patch-normalised (SAD)",
        "gradient magnitude",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    // The model row is the index's own evaluation: the same images, the same numbers.
    let model = &rows.iter().find(|(n, _)| n == "model").unwrap().1;
    assert_eq!(model.recall_1, index.evaluation.metrics.recall_1);
    assert_eq!(model.map, index.evaluation.metrics.map);
    assert_eq!(model.queries, index.evaluation.metrics.queries);
    h.get_by_label("gradient magnitude");
}

#[test]
fn a_corrupt_checkpoint_is_read_off_the_gui_thread_and_refused_with_the_section_named() {
    use duskmatch::train::Trainer;
    let dir = tempdir();
    let mut config = Preset::Tiny.config();
    config.data = DataSource::Synth(SynthConfig {
        places: 24,
        seed: 3,
        ..Default::default()
    });
    config.max_steps = 2;
    let (ds, _) = config.data.load(32).unwrap();
    let run = dir.path().join("run");
    Trainer::new(
        config.clone(),
        std::sync::Arc::new(ds),
        duskmatch::device::cpu(),
        &run,
    )
    .unwrap()
    .train()
    .unwrap();
    // Flip 200 bytes inside the model section (after the magic, the version, the header's
    // length, the header and its checksum, and the model's length).
    let path = run.join("latest.dmck");
    let mut bytes = std::fs::read(&path).unwrap();
    let header = u64::from_le_bytes(bytes[20..28].try_into().unwrap()) as usize;
    let model_start = 28 + header + 4 + 8;
    for b in &mut bytes[model_start + 100..model_start + 300] {
        *b = !*b;
    }
    std::fs::write(&path, &bytes).unwrap();
    let mut later = config.clone();
    later.epochs = 1000;
    later.max_steps = 0;
    let app = DuskApp::new(AppOptions {
        settings: Settings {
            config: later,
            ..Default::default()
        },
        checkpoint: Some(path),
        no_checkpoint: false,
        backend: BackendChoice::Cpu,
        runs_dir: dir.path().to_path_buf(),
        ..Default::default()
    });
    // The window exists before the file is read: that happens on a job.
    assert!(app.is_loading_checkpoint());
    assert!(app.loaded.is_none());
    let mut h = harness(app);
    ready(&mut h);
    assert!(h.state().loaded.is_none());
    let n = h
        .state()
        .notices
        .iter()
        .find(|n| n.text.contains("model section fails its checksum"))
        .expect("the corruption is reported");
    assert!(n.text.contains("latest.dmck"), "{}", n.text);
    // And the app stays usable.
    h.get_by_label("Start").click();
    step_until(&mut h, "a loss point", |a| !a.history.train.is_empty());
    stop_and_wait(&mut h);
}

#[test]
fn editing_the_draft_during_a_run_never_relabels_the_runs_snapshots() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a snapshot", |a| !a.snapshots.is_empty());
    let running = h
        .state()
        .running_config
        .clone()
        .expect("the run's config")
        .model;
    // The user edits the draft for the next run: a wider model.
    h.state_mut().editor.draft.model.base_width = running.base_width * 2;
    h.state_mut().editor.revalidate();
    assert!(h.state().editor.valid().is_some());
    let seen = h.state().snapshots.newest().unwrap().step;
    step_until(&mut h, "a later snapshot", |a| {
        a.snapshots.newest().is_some_and(|s| s.step > seen)
    });
    let newest = h.state().snapshots.newest().unwrap();
    assert_eq!(
        newest.config, running,
        "labelled with the draft, not the run"
    );
    assert_eq!(h.state().running_config.as_ref().unwrap().model, running);
    stop_and_wait(&mut h);
}

/// Six places of another town written as a folder dataset (`DIR/photos/{day,night}/pK.png`),
/// paired by file name.
fn write_folder(dir: &std::path::Path) -> std::path::PathBuf {
    write_places(dir, 6)
}

/// `places` places of the town by day and by night, as a folder of photographs.
fn write_places(dir: &std::path::Path, places: usize) -> std::path::PathBuf {
    let data = dir.join("photos");
    for place in 0..places {
        let (day, night) = duskmatch::data::synth::render_place(11, place, 32);
        for (sub, img) in [("day", day), ("night", night)] {
            std::fs::create_dir_all(data.join(sub)).unwrap();
            img.save(data.join(sub).join(format!("p{place}.png")))
                .unwrap();
        }
    }
    data
}

/// A path dropped onto the window, as the windowing integration hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// Drop `path` onto the window.
fn drop_path(h: &mut Harness<'_, DuskApp>, path: &std::path::Path) {
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
}

#[test]
fn dropping_a_folder_onto_the_window_loads_it_and_a_dropped_file_is_refused() {
    let dir = tempdir();
    let data = write_folder(dir.path());
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    assert_eq!(
        h.state().dataset.dataset().unwrap().len(),
        48,
        "the 24-place town"
    );
    drop_path(&mut h, &data);
    step_until(&mut h, "the dropped folder", |a| {
        a.dataset.dataset().is_some_and(|d| d.len() == 12)
    });
    let ds = h.state().dataset.dataset().unwrap().clone();
    assert_eq!(
        (ds.domain(Domain::Day).len(), ds.domain(Domain::Night).len()),
        (6, 6)
    );
    // Paired names are the ground truth: every night image has its day image's place.
    assert!(ds.domain(Domain::Night).iter().all(|s| s.place.is_some()));
    assert_eq!(
        h.state().dataset_panel.folder_text,
        data.display().to_string()
    );
    // A file is not a dataset: an error notice naming it, and the folder stays loaded.
    drop_path(&mut h, &data.join("day").join("p0.png"));
    h.step();
    let err = h
        .state()
        .notices
        .iter()
        .find(|n| n.level == Level::Error)
        .expect("an error notice");
    assert!(
        err.text.contains("is a file, not a folder") && err.text.contains("p0.png"),
        "{}",
        err.text
    );
    assert_eq!(h.state().dataset.dataset().unwrap().len(), 12);
}

#[test]
fn the_saliency_view_is_recomputed_when_the_dataset_changes() {
    let dir = tempdir();
    let data = write_folder(dir.path());
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    // An untrained model of the tiny preset is what the view explains before any training.
    h.get_by_label("Start").click();
    step_until(&mut h, "a snapshot", |a| !a.snapshots.steps().is_empty());
    stop_and_wait(&mut h);
    h.get_by_label("Saliency").click();
    step_until(&mut h, "a saliency map of the town", |a| {
        a.saliency.shown.is_some() && !a.saliency.is_computing()
    });
    let first = &h.state().saliency.shown.as_ref().unwrap().panels[0];
    let (title, map) = (first.0.clone(), first.2.values.clone());
    assert!(title.starts_with("place-"), "{title}");
    drop_path(&mut h, &data);
    step_until(&mut h, "a saliency map of the dropped folder", |a| {
        a.dataset.dataset().is_some_and(|d| d.len() == 12)
            && !a.saliency.is_computing()
            && a.saliency
                .shown
                .as_ref()
                .is_some_and(|s| s.panels[0].0 != title)
    });
    // The same subject (day image 0) of another dataset: another image, another map; the
    // town's map is never shown for it.
    let second = &h.state().saliency.shown.as_ref().unwrap().panels[0];
    assert!(
        second.0.contains("p0") && second.0.ends_with("(day)"),
        "{}",
        second.0
    );
    assert_ne!(second.2.values, map);
}

#[test]
fn dragging_the_swipe_divider_of_an_enlarged_image_moves_the_split() {
    use duskmatch::app::grid::GridPanel;
    use duskmatch::app::image_compare::{CompareMode, swipe_column};
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a decoded grid", |a| {
        a.snapshots.selected().is_some_and(|s| s.grid.is_some())
    });
    stop_and_wait(&mut h);
    step_until(&mut h, "newest grid decoded", |a| {
        a.snapshots.selected().is_some_and(|s| s.grid.is_some())
    });
    let grid = h
        .state()
        .snapshots
        .selected()
        .unwrap()
        .grid
        .clone()
        .unwrap();
    let name = grid.rows[0].name.clone();
    // Click the first row's reconstruction, as a person would, then choose swipe.
    h.get_by_label(&format!("{name} — reconstruction")).click();
    h.step();
    h.step();
    h.get_by_label_contains("Compare with original");
    h.get_by_label("swipe").click();
    h.step();
    assert_eq!(h.state().grid.compare, CompareMode::Swipe);
    h.get_by_label_contains("left: original · right: reconstruction");
    let rect = h.get_by_label("swipe divider").rect();
    let at = egui::pos2(rect.left() + 0.25 * rect.width(), rect.center().y);
    h.hover_at(at);
    h.step();
    h.drag_at(at);
    h.step();
    h.drop_at(at);
    h.step();
    let f = h.state().grid.swipe_at;
    assert!((f - 0.25).abs() < 0.02, "divider at {f}");
    // What the window shows left of the divider is the original, right of it the
    // reconstruction, split at the column the CPU composition uses.
    let shown = GridPanel::swipe_image(&grid, 0, 1, f).unwrap();
    let orig = duskmatch::app::image_compare::to_color_image(&grid.rows[0].images[0]);
    let rec = duskmatch::app::image_compare::to_color_image(&grid.rows[0].images[1]);
    let split = swipe_column(32, f);
    assert!((7..=9).contains(&split), "{split}");
    for y in 0..32 {
        for x in 0..32 {
            let want = if x < split { &orig } else { &rec };
            assert_eq!(shown.pixels[y * 32 + x], want.pixels[y * 32 + x]);
        }
    }
}

#[test]
fn clicking_a_point_of_the_embedding_map_makes_that_image_the_query() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "a snapshot", |a| !a.snapshots.is_empty());
    stop_and_wait(&mut h);
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "the index and its map", |a| {
        a.retrieval.result().is_some() && a.retrieval.map_on_screen().is_some()
    });
    h.step();
    let nq = h
        .state()
        .retrieval
        .result()
        .unwrap()
        .evaluation
        .queries
        .len();
    let (points, visible) = h.state().retrieval.map_on_screen().unwrap().clone();
    // The query point farthest from every other point (so the click cannot mean another),
    // among those drawn inside the visible part of the map.
    let isolation = |i: usize| {
        (0..points.len())
            .filter(|&j| j != i)
            .map(|j| points[i].distance(points[j]))
            .fold(f32::INFINITY, f32::min)
    };
    let (q, _) = (0..nq)
        .filter(|&i| visible.shrink(4.0).contains(points[i]))
        .map(|i| (i, isolation(i)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a query point in view");
    assert_ne!(h.state().retrieval.selected_query, Some(q));
    let at = points[q] + egui::vec2(1.0, 0.0);
    h.hover_at(at);
    h.step();
    h.drag_at(at);
    h.step();
    h.drop_at(at);
    h.step();
    h.step();
    assert_eq!(h.state().retrieval.selected_query, Some(q));
    let name = h
        .state()
        .retrieval
        .result()
        .unwrap()
        .evaluation
        .queries
        .items[q]
        .name
        .clone();
    h.get_by_label_contains(&format!("query: {name}"));
}

/// Train until a snapshot, stop, and open the tab that holds the supervised stage.
fn a_stopped_run_on_the_supervised_tab(h: &mut Harness<'_, DuskApp>) {
    ready(h);
    h.get_by_label("Start").click();
    step_until(h, "a snapshot", |a| !a.snapshots.is_empty());
    stop_and_wait(h);
    h.get_by_label("Saliency").click();
    h.step();
}

#[test]
fn the_weights_panel_learns_channel_weights_that_retrieval_can_use() {
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    a_stopped_run_on_the_supervised_tab(&mut h);
    let id = h.state().snapshots.selected().unwrap().id;
    assert!(h.state().weights.latent_weights(id).is_none());
    h.get_by_label("Learn weights").click();
    h.step();
    assert!(h.state().weights.is_running());
    step_until(&mut h, "the weights run to finish", |a| {
        !a.weights.is_running() && a.weights.latent_weights(id).is_some()
    });
    let w = h.state().weights.latent_weights(id).unwrap().clone();
    // They fit the snapshot they were learned on, and no other.
    assert!(h.state().weights.latent_weights(id + 1).is_none());
    // One weight per latent channel of the tiny model (4 × base width 4), learned: positive,
    // finite and no longer all equal to the starting 1.
    assert_eq!(w.len(), 16);
    assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{w:?}");
    assert!(w.iter().any(|x| (x - 1.0).abs() > 1e-4), "{w:?}");
    h.get_by_label_contains("Held-out triplet loss per epoch");
}

#[test]
fn fine_tuning_a_runs_snapshot_saves_under_that_run_and_names_its_model() {
    use duskmatch::model::fingerprint::fingerprint;
    use duskmatch::supervised::FineTuneStamp;
    let dir = tempdir();
    let mut h = harness(tiny_app(dir.path()));
    a_stopped_run_on_the_supervised_tab(&mut h);
    h.get_by_label("fine-tune the encoders").click();
    h.state_mut().weights.epochs = 2;
    h.step();
    let (snap_step, snap_fp) = {
        let s = h.state().snapshots.selected().unwrap();
        (s.step, fingerprint(&s.model))
    };
    h.get_by_label("Fine-tune").click();
    h.step();
    assert!(h.state().weights.is_running());
    step_until(&mut h, "fine-tuning to finish", |a| {
        !a.weights.is_running() && a.weights.runs.last().is_some_and(|r| r.saved.is_some())
    });
    let run = h.state().weights.runs.last().unwrap();
    assert!(
        run.comparison.is_some(),
        "stage one against fine-tuned is shown"
    );
    let ck = duskmatch::train::checkpoint::load(run.saved.as_ref().unwrap()).unwrap();
    // Saved under the run's own config and the snapshot's step, loadable as a model.
    let running = h.state().running_config.clone().unwrap();
    assert_eq!(ck.header.config.model, running.model);
    assert_eq!(ck.header.state.at.step, snap_step);
    ck.build_model(&duskmatch::device::cpu().device).unwrap();
    let stamp = FineTuneStamp::of(&ck).unwrap().unwrap();
    assert_eq!(stamp.stage_one_step, snap_step);
    assert_eq!(
        stamp.stage_one_fingerprint.as_deref(),
        Some(snap_fp.as_str())
    );
    assert_eq!(
        Some(&stamp.stage_one),
        h.state().run_checkpoint.as_ref(),
        "named after the run's own checkpoint"
    );
}

#[test]
fn start_on_too_few_places_is_refused_naming_the_minimum_and_the_app_goes_on() {
    let dir = tempdir();
    let mut app = tiny_app(dir.path());
    app.editor.draft.data = DataSource::Synth(SynthConfig {
        places: 3,
        seed: 3,
        ..Default::default()
    });
    app.editor.revalidate();
    let mut h = harness(app);
    ready(&mut h);
    h.get_by_label("Start").click();
    step_until(&mut h, "the refusal", |a| {
        a.notices.iter().any(|n| n.text.contains("too few places"))
    });
    let text = h
        .state()
        .notices
        .iter()
        .find(|n| n.text.contains("too few places"))
        .unwrap()
        .text
        .clone();
    assert!(
        text.contains("holds out 1 of the 3 places") && text.contains("at least 2"),
        "{text}"
    );
    assert!(h.state().session.is_none(), "no run was started");
    // The window goes on: Start is still there for a corrected draft.
    h.get_by_label("Start");
}

/// The app on a 12-place town in the downloaders' layout (written in `dir`, places 50 m
/// apart) with an untrained tiny model, its Retrieval tab open and its index built.
fn retrieval_on_a_benchmark(dir: &std::path::Path) -> Harness<'static, DuskApp> {
    let data = dir.join("bench");
    write_town(&data, duskmatch::cli::synth::SynthLayout::Benchmark, 12, 32);
    let (ck, config) = tiny_checkpoint(dir);
    let app = DuskApp::new(AppOptions {
        settings: Settings {
            config,
            ..Default::default()
        },
        checkpoint: Some(ck),
        no_checkpoint: false,
        backend: BackendChoice::Cpu,
        runs_dir: dir.to_path_buf(),
        data: Some(DataSource::from_dir(&data, Default::default()).unwrap()),
        ..Default::default()
    });
    let mut h = harness(app);
    ready(&mut h);
    step_until(&mut h, "checkpoint model", |a| !a.snapshots.is_empty());
    h.get_by_label("Retrieval").click();
    step_until(&mut h, "retrieval index", |a| {
        a.retrieval.result().is_some()
    });
    h
}

#[test]
fn a_benchmark_folder_opens_with_positions_metres_and_the_map() {
    let dir = tempdir();
    let mut h = retrieval_on_a_benchmark(dir.path());
    let result = h.state().retrieval.result().unwrap().clone();
    let ev = &result.evaluation;
    assert_eq!(ev.metrics.queries, 12);
    assert_eq!(ev.metrics.ground_truth, "positions: within 25 m");
    h.get_by_label("Ground truth: positions: within 25 m");
    h.get_by_label("Where the queries are");
    h.get_by_label(&format!("query {}", ev.queries.items[3].name))
        .click();
    h.step();
    h.step();
    // Every match says how far from the query it was taken: the positive 0 m, the others at
    // least one block (50 m) away.
    // (The first five: the list draws only the rows in view.)
    let ranked = ev.ranked(3);
    for (rank, &(j, _, ok)) in ranked.iter().enumerate().take(5) {
        let q = ev.queries.items[3].position.unwrap();
        let m = ev.database.items[j].position.unwrap();
        let metres = q.distance(&m).unwrap();
        assert_eq!(ok, Some(metres <= 25.0));
        let verdict = if ok.unwrap() { "correct" } else { "wrong" };
        h.get_by_label(&format!("match rank {} {verdict}", rank + 1));
        let text = format!("{verdict}, {metres:.1} m from the query");
        assert!(h.query_all_by_label(&text).next().is_some(), "{text}");
    }
}

#[test]
fn the_radius_set_in_the_retrieval_tab_decides_the_positives() {
    let dir = tempdir();
    let mut h = retrieval_on_a_benchmark(dir.path());
    h.get_by_label("Positives within");
    let positives = |a: &DuskApp| -> usize {
        let ev = &a.retrieval.result().unwrap().evaluation;
        ev.rankings.iter().map(|r| r.num_relevant()).sum()
    };
    assert_eq!(positives(h.state()), 12, "one image 0 m away per query");
    // Places are 50 m apart along the street: at 60 m a query's neighbours count too.
    h.state_mut().retrieval.rule.radius_m = 60.0;
    step_until(&mut h, "re-evaluated at 60 m", |a| {
        a.retrieval
            .result()
            .is_some_and(|r| r.evaluation.metrics.ground_truth == "positions: within 60 m")
    });
    let wider = positives(h.state());
    assert!(wider > 12 && wider <= 36, "{wider}");
    h.get_by_label("Ground truth: positions: within 60 m");
    // Strict: only the nearest database image is a hit again, the neighbours left out.
    h.get_by_label("strict").click();
    step_until(&mut h, "re-evaluated under the strict rule", |a| {
        a.retrieval
            .result()
            .is_some_and(|r| r.evaluation.metrics.ground_truth.contains("strict"))
    });
    assert_eq!(positives(h.state()), 12);
}

#[test]
fn a_folder_opens_on_the_pretrained_preset_and_trains() {
    let dir = tempdir();
    // Ten places: two held out at the preset's validation fraction, the fewest it scores.
    let data = write_places(dir.path(), 10);
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("pretrained").click();
    h.step();
    let draft = &h.state().editor.draft;
    assert_eq!(draft.model.image_size, 224);
    assert!(draft.model.backbone.is_some());
    h.get_by_label_contains("Encoders start with efficientnet-lite0");
    // Two places a step keep the test short; the preset's batch is 8.
    h.state_mut().editor.draft.batch_size = 2;
    drop_path(&mut h, &data);
    step_until(&mut h, "the folder at 224 px", |a| {
        a.dataset
            .dataset()
            .is_some_and(|d| d.len() == 20 && d.image_size == 224)
    });
    h.get_by_label("Start").click();
    step_until(&mut h, "two loss points", |a| a.history.train.len() >= 2);
    let p = h.state().history.train[1];
    assert_eq!(p.step, 2);
    assert!(p.losses.total.is_finite() && p.losses.reconstruction > 0.0);
    let run = h.state().running_config.clone().unwrap();
    assert_eq!(run.model.latent_size(), 7);
    assert!(run.model.backbone.is_some());
    assert!(matches!(&run.data, DataSource::Folder { path, .. } if *path == data));
    stop_and_wait(&mut h);
}

#[test]
fn the_retrieval_tab_browses_the_centred_whitened_and_global_rows_that_eval_prints() {
    use duskmatch::retrieval::whiten::Adaptation;
    let dir = tempdir();
    let mut h = retrieval_on_a_benchmark(dir.path());
    h.get_by_label("Compare with baselines").click();
    step_until(&mut h, "the baselines", |a| a.baselines.shown.is_some());
    let (_, rows, _) = h.state().baselines.shown.clone().unwrap();
    for (label, adaptation, row) in [
        ("centred", Adaptation::Centred, "model, domain-centred"),
        (
            "whitened",
            Adaptation::Whitened,
            "model, domain-centred, whitened on its",
        ),
    ] {
        h.get_by_label(label).click();
        step_until(&mut h, label, |a| {
            a.retrieval
                .current_key()
                .is_some_and(|k| k.adaptation == adaptation)
                && a.retrieval.result().is_some()
                && !a.retrieval.is_computing()
        });
        // The index ranks as the table's row of the same name: the same images, the same
        // numbers.
        let ev = &h.state().retrieval.result().unwrap().evaluation;
        let want = &rows
            .iter()
            .find(|(n, _)| n == row || (row.ends_with("its") && n.starts_with(row)))
            .unwrap_or_else(|| panic!("{row} in {rows:?}"))
            .1;
        assert!(ev.metrics.recall_1.is_some() && ev.metrics.queries == 12);
        assert_eq!(ev.metrics.recall_1, want.recall_1, "{label}");
        assert_eq!(ev.metrics.map, want.map, "{label}");
    }
    // The global descriptor, as trained: the table's global row.
    use duskmatch::retrieval::global::Descriptor;
    h.get_by_label("as trained").click();
    h.get_by_label("global").click();
    step_until(&mut h, "the global descriptor's index", |a| {
        a.retrieval
            .current_key()
            .is_some_and(|k| k.descriptor == Descriptor::Global && k.adaptation == Adaptation::None)
            && a.retrieval.result().is_some()
            && !a.retrieval.is_computing()
    });
    let ev = &h.state().retrieval.result().unwrap().evaluation;
    assert_eq!(ev.kind, duskmatch::retrieval::EmbeddingKind::Global);
    let want = &rows
        .iter()
        .find(|(n, _)| n.starts_with("model, global descriptor ("))
        .unwrap_or_else(|| panic!("a global row in {rows:?}"))
        .1;
    assert_eq!(ev.metrics.recall_1, want.recall_1);
    assert_eq!(ev.metrics.map, want.map);
    h.get_by_label_contains("In use: global descriptor");
}

#[test]
fn the_runs_tab_compares_two_runs_and_opens_one() {
    let dir = tempdir();
    let runs = dir.path().join("runs");
    let cfg = dir.path().join("lr.toml");
    std::fs::write(&cfg, "learning_rate = 3e-4\n").unwrap();
    train_tiny_runs(&runs, &[("run-a", None), ("run-b", Some(&cfg))]);
    let mut h = harness(tiny_app(dir.path()));
    ready(&mut h);
    h.get_by_label("Runs").click();
    h.state_mut().runs.add(vec![runs.clone()], || {});
    step_until(&mut h, "two runs read", |a| a.runs.runs.len() == 2);
    // Each run's curves as its log holds them, and the table's columns from the same summary.
    for run in &h.state().runs.runs {
        let want = duskmatch::train::runs::summarise(&run.summary.dir).unwrap();
        assert_eq!(run.summary.steps, want.steps);
        assert!(run.history.train.iter().all(|p| p.step <= want.steps));
        assert_eq!(
            run.history.retrieval.len(),
            2,
            "one held-out point an epoch"
        );
    }
    h.get_by_label("learning_rate = 0.0003");
    h.get_by_label("(the first run)");
    // Hiding a run unticks it; the other stays. (The plots' legends name the runs too: the
    // table's tick comes first.)
    h.query_all_by_label("run-a").next().unwrap().click();
    h.step();
    let shown: Vec<bool> = h.state().runs.runs.iter().map(|r| r.visible).collect();
    assert_eq!(shown, [false, true]);
    // Opening a run loads its checkpoint, as the startup one is loaded.
    h.get_by_label("Open run-b").click();
    step_until(&mut h, "run-b's checkpoint", |a| {
        a.loaded
            .as_ref()
            .is_some_and(|l| l.path == runs.join("run-b").join("latest.dmck"))
            && !a.is_loading_checkpoint()
    });
}
