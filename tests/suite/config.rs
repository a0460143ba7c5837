use duskmatch::data::DataSource;
use duskmatch::train::config::PlateauConfig;
use duskmatch::train::scheduler::ReduceOnPlateau;
use duskmatch::train::{Preset, TrainingConfig};

#[test]
fn presets_are_valid_and_paper_is_the_research() {
    for p in [Preset::Paper, Preset::Compact, Preset::Tiny] {
        p.config().validate().unwrap();
    }
    let c = Preset::Paper.config();
    assert_eq!(
        (c.model.base_width, c.model.image_size, c.batch_size),
        (64, 256, 32)
    );
    assert_eq!((c.learning_rate, c.beta1, c.beta2), (1e-4, 0.9, 0.999));
    assert_eq!(c.plateau.patience, 15);
    assert_eq!(c.validation_fraction, 0.2);
    assert_eq!(c.epochs, 100);
    let w = c.loss_weights;
    assert_eq!(
        (w.reconstruction, w.kl, w.cycle, w.cycle_kl),
        (10.0, 0.01, 10.0, 0.01)
    );
    assert_eq!(TrainingConfig::default(), c);
}

#[test]
fn bad_values_name_field_value_and_what_is_allowed() {
    let base = Preset::Compact.config();
    let e = base.merge_toml("batch_size = 0").unwrap_err().to_string();
    assert_eq!(
        e,
        "batch_size = 0 is not allowed: expected an integer from 1 to 4096"
    );
    let e = base
        .merge_toml("learning_rate = -0.5")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("learning_rate = -0.5") && e.contains("(0, 1]"),
        "{e}"
    );
    let e = base
        .merge_toml("[model]\nimage_size = 30")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.image_size = 30") && e.contains("multiple of 4"),
        "{e}"
    );
    let e = base
        .merge_toml("[loss_weights]\nkl = -1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loss_weights.kl = -1"), "{e}");
    let e = base
        .merge_toml("validation_fraction = 0.95")
        .unwrap_err()
        .to_string();
    assert!(e.contains("validation_fraction = 0.95"), "{e}");
    let e = base
        .merge_toml("[data]\nkind = \"synth\"\nplaces = 1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("synth.places = 1"), "{e}");
}

#[test]
fn unknown_fields_and_wrong_types_are_named() {
    let base = Preset::Compact.config();
    let e = base.merge_toml("batch_sise = 8").unwrap_err().to_string();
    assert!(e.contains("batch_sise"), "{e}");
    let e = base.merge_toml("epochs = \"ten\"").unwrap_err().to_string();
    assert!(e.contains("epochs") || e.contains("ten"), "{e}");
    let e = base.merge_toml("epochs = ").unwrap_err().to_string();
    assert!(!e.is_empty());
}

#[test]
fn toml_overlays_only_what_it_names() {
    let base = Preset::Compact.config();
    let c = base
        .merge_toml("epochs = 3\n[model]\nbase_width = 8\n[data]\nplaces = 50")
        .unwrap();
    assert_eq!(c.epochs, 3);
    assert_eq!(c.model.base_width, 8);
    assert_eq!(c.model.image_size, base.model.image_size);
    assert_eq!(c.batch_size, base.batch_size);
    match c.data {
        DataSource::Synth(s) => assert_eq!(s.places, 50),
        other => panic!("{other:?}"),
    }
    // A config round-trips through TOML.
    assert_eq!(
        TrainingConfig::default().merge_toml(&c.to_toml()).unwrap(),
        c
    );
}

#[test]
fn reduce_on_plateau_follows_pytorch() {
    let cfg = PlateauConfig {
        patience: 2,
        factor: 0.5,
        threshold: 0.01,
        min_lr: 0.0,
    };
    let mut s = ReduceOnPlateau::new(cfg, 1.0);
    // 1.0 best; 0.995 is not 1% better; two bad epochs are tolerated, the third cuts.
    assert!(!s.step(1.0));
    assert!(!s.step(0.995));
    assert!(!s.step(0.999));
    assert!(s.step(0.998));
    assert_eq!(s.lr, 0.5);
    assert_eq!(s.bad_epochs, 0);
    // A real improvement resets the count.
    assert!(!s.step(0.5));
    assert!(!s.step(0.6));
    assert!(!s.step(0.4));
    assert_eq!(s.best, Some(0.4));
    assert_eq!(s.lr, 0.5);
}
