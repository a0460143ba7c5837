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
    let town = duskmatch::data::synth::generate(&SynthConfig { places: 2, seed: 1 }, 16);
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
