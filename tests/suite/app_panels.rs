//! The app's panels behind one trait: a panel with nothing pending reports nothing, a folder
//! chosen (by the dialog or by dropping) that is not a dataset is reported by name, and the
//! notices keep the newest few without repeating themselves.

use duskmatch::app::dataset_panel::DatasetPanel;
use duskmatch::app::notices::{Level, Notices};
use duskmatch::app::panel::Panel;
use duskmatch::app::retrieval_panel::RetrievalPanel;
use duskmatch::app::saliency_panel::SaliencyPanel;
use duskmatch::app::weights_panel::WeightsPanel;
use duskmatch::data::DataSource;
use duskmatch::data::synth::SynthConfig;

use crate::common::*;

#[test]
fn idle_panels_report_nothing() {
    let mut notices = Notices::default();
    let mut dataset = DatasetPanel::new(&DataSource::Synth(SynthConfig::default()));
    let mut retrieval = RetrievalPanel::default();
    let mut weights = WeightsPanel::default();
    let mut saliency = SaliencyPanel::default();
    let panels: [&mut dyn Panel; 4] = [&mut dataset, &mut retrieval, &mut weights, &mut saliency];
    for p in panels {
        p.poll(&mut notices);
    }
    assert!(notices.is_empty());
    assert!(dataset.take_chosen().is_none());
}

#[test]
fn a_chosen_folder_is_read_as_a_source_or_reported() {
    let dir = tempdir();
    let mut notices = Notices::default();
    let mut panel = DatasetPanel::new(&DataSource::Synth(SynthConfig::default()));
    panel.choose_folder(dir.path().to_path_buf(), &mut notices);
    assert!(panel.take_chosen().is_none());
    let n = notices.iter().next().expect("reported");
    assert_eq!(n.level, Level::Error);
    assert!(
        n.text.contains(&dir.path().display().to_string()),
        "{}",
        n.text
    );
    for sub in ["day", "night"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let town = duskmatch::data::synth::generate(
        &SynthConfig {
            places: 2,
            seed: 1,
            ..Default::default()
        },
        16,
    );
    duskmatch::data::image_io::save_png(&town.day[0].image, &dir.path().join("day/a.png")).unwrap();
    duskmatch::data::image_io::save_png(&town.night[0].image, &dir.path().join("night/a.png"))
        .unwrap();
    panel.choose_folder(dir.path().to_path_buf(), &mut notices);
    assert!(matches!(
        panel.take_chosen(),
        Some(DataSource::Folder { .. })
    ));
    assert_eq!(panel.folder_text, dir.path().display().to_string());
    assert!(panel.take_chosen().is_none(), "taken once");
}

#[test]
fn notices_keep_the_newest_six_and_skip_a_repeat() {
    let mut n = Notices::default();
    n.push(Level::Info, "a");
    n.push(Level::Info, "a");
    assert_eq!(n.len(), 1);
    for i in 0..10 {
        n.push(Level::Warning, format!("w{i}"));
    }
    let texts: Vec<&str> = n.iter().map(|x| x.text.as_str()).collect();
    assert_eq!(texts, ["w4", "w5", "w6", "w7", "w8", "w9"]);
}

#[test]
fn layout_options_chosen_in_the_dataset_panel_go_with_the_folder() {
    use duskmatch::data::Domain;
    let dir = tempdir();
    let data = dir.path().join("bench");
    write_town(&data, duskmatch::cli::synth::SynthLayout::Benchmark, 4, 16);
    let mut notices = Notices::default();
    let mut panel = DatasetPanel::new(&DataSource::Synth(SynthConfig::default()));
    panel.layout.query_domain = Some(Domain::Day);
    panel.layout.positions = "  ".into();
    panel.choose_folder(data.clone(), &mut notices);
    assert!(notices.is_empty());
    let source = panel.take_chosen().unwrap();
    let options = source.options().unwrap();
    assert_eq!(options.query_domain, Some(Domain::Day));
    assert_eq!(options.positions, None, "a blank field is no file");
    let (ds, _) = source.load(16).unwrap();
    assert!(ds.night.iter().all(|s| s.encoder == Domain::Day));
    // The options come back when the app reopens on that source.
    let again = DatasetPanel::new(&source);
    let expected = duskmatch::app::layout_form::LayoutForm {
        positions: String::new(),
        ..panel.layout.clone()
    };
    assert_eq!(again.layout, expected);
    // A positions file that lacks the images is refused by name when loaded.
    let csv = dir.path().join("poses.csv");
    std::fs::write(&csv, "image,easting,northing\nnone.png,1,2\n").unwrap();
    panel.layout.positions = csv.display().to_string();
    panel.choose_folder(data, &mut notices);
    let e = panel
        .take_chosen()
        .unwrap()
        .load(16)
        .unwrap_err()
        .to_string();
    assert!(e.contains("poses.csv"), "{e}");
}
