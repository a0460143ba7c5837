//! Every file the app writes reads back exactly what was written, non-finite floats included.
//! A header holding NaN (a held-out score undefined on a small split) was once written as
//! `null` and then refused, so the run was lost.
//!
//! The float fields are found by walking each header as JSON, so a field added later is
//! covered without touching this file.

use std::path::Path;

use burn::optim::AdamConfig;
use proptest::prelude::*;
use serde_json::Value;

use duskmatch::json_float::non_finite_name;
use duskmatch::model::DoubleVae;
use duskmatch::retrieval::eval::HeldOutScores;
use duskmatch::supervised::checkpoint::{self as weights_file, HistoryPoint, SupervisedState};
use duskmatch::supervised::{ChannelWeights, FineTuneStamp, SupervisedConfig};
use duskmatch::train::checkpoint::{self, Header, RunState};
use duskmatch::train::metrics_log::{self, MetricsLog, Record};
use duskmatch::train::run_loop::restore_optimizer;
use duskmatch::train::{Preset, TrainingConfig};

use crate::common::*;

const SPECIALS: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// JSON pointers of every float in `v`.
fn float_paths(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(n) if n.is_f64() => out.push(at.to_string()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                float_paths(x, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let k = k.replace('~', "~0").replace('/', "~1");
                float_paths(x, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// A float as the files write it.
fn json(v: f64) -> Value {
    match non_finite_name(v) {
        Some(name) => Value::String(name.into()),
        None => Value::from(v),
    }
}

/// Equal, floats compared by their bits (so -0.0 is not 0.0) and NaN equal to NaN.
fn same(a: &Value, b: &Value, at: &str) -> Result<(), String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x.to_bits() == y.to_bits())
                .then_some(())
                .ok_or(format!("{at}: {x:?} read back as {y:?}"))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Err(format!("{at}: fields {x:?} read back as {y:?}"));
            }
            x.iter().try_for_each(|(k, v)| match y.get(k) {
                Some(w) => same(v, w, &format!("{at}/{k}")),
                None => Err(format!("{at}/{k} is missing")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .try_for_each(|(i, (v, w))| same(v, w, &format!("{at}/{i}"))),
        _ => (a == b)
            .then_some(())
            .ok_or(format!("{at}: {a} read back as {b}")),
    }
}

fn without_created(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("created");
    }
    v
}

/// The header with a creation time, as a file holds it (the writer sets its own).
fn with_created(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut()
        .unwrap()
        .insert("created".into(), "unix:0".into());
    v
}

fn scores() -> HeldOutScores {
    HeldOutScores {
        recall_1: 0.5,
        recall_10: 0.75,
        map: 0.625,
        domain_probe: Some(0.5),
        distance_ratio: Some(0.875),
    }
}

fn weights_state() -> SupervisedState {
    SupervisedState {
        epoch_loss_sum: 1.25,
        history: vec![HistoryPoint {
            step: 3,
            epoch: 1,
            train: Some(0.5),
            val: Some(0.25),
        }],
        best: Some(scores()),
        ..Default::default()
    }
}

type SaveFn = Box<dyn Fn(&Value, &Path) -> Result<(), String>>;
type LoadFn = Box<dyn Fn(&Path) -> Result<Value, String>>;

/// One kind of header: what it is, the header with every optional float present, how a
/// header (as JSON) is saved to a file and how the file reads back (as JSON, without its
/// creation time).
struct Kind {
    name: &'static str,
    header: Value,
    save: SaveFn,
    load: LoadFn,
}

fn config() -> TrainingConfig {
    Preset::Tiny.config()
}

fn stage_one_kind(model: DoubleVae) -> Kind {
    let cfg = config();
    let mut state = RunState::fresh(&cfg);
    state.best = Some(scores());
    state.scheduler.best = Some(0.25);
    let header = without_created(serde_json::to_value(Header::new(&cfg, &state)).unwrap());
    Kind {
        name: "stage-one checkpoint",
        header,
        save: Box::new(move |v, path| {
            let h: Header = serde_json::from_value(with_created(v)).map_err(|e| e.to_string())?;
            Ok(checkpoint::save(
                path, &h.config, &h.state, &model, None, None,
            )?)
        }),
        load: Box::new(|path| {
            let ck = checkpoint::load(path)?;
            Ok(without_created(serde_json::to_value(ck.header).unwrap()))
        }),
    }
}

/// A fine-tuned model: a stage-one header whose state carries the fine-tuning's stamp.
fn fine_tuned_kind(model: DoubleVae) -> Kind {
    let cfg = config();
    let stamp = FineTuneStamp {
        config: SupervisedConfig::fine_tune(),
        stage_one: "stage1.dmck".into(),
        stage_one_step: 7,
        stage_one_fingerprint: Some("00000000".into()),
        state: weights_state(),
    };
    let mut state = RunState::fresh(&cfg);
    state.supervised = Some(serde_json::to_value(&stamp).unwrap());
    let header = without_created(serde_json::to_value(Header::new(&cfg, &state)).unwrap());
    let optimizer = restore_optimizer(&AdamConfig::new(), None, "test").unwrap();
    Kind {
        name: "fine-tuned checkpoint",
        header,
        save: Box::new(move |v, path| {
            let h: Header = serde_json::from_value(with_created(v)).map_err(|e| e.to_string())?;
            let stamp: FineTuneStamp = serde_json::from_value(h.state.supervised.clone().unwrap())
                .map_err(|e| e.to_string())?;
            Ok(duskmatch::supervised::fine_tune::save(
                path, &h, &stamp, &model, &optimizer,
            )?)
        }),
        load: Box::new(|path| {
            let ck = checkpoint::load(path)?;
            // The stamp is read as the fine-tuning reads it, not only as JSON.
            let stamp = FineTuneStamp::of(&ck)?.expect("a stamp");
            let mut h = ck.header;
            h.state.supervised = Some(serde_json::to_value(stamp).unwrap());
            Ok(without_created(serde_json::to_value(h).unwrap()))
        }),
    }
}

fn weights_kind() -> Kind {
    let cfg = config();
    let channels = vec![4 * cfg.model.base_width];
    let header = serde_json::json!({
        "config": SupervisedConfig::default(),
        "model": cfg.model,
        "channels": channels,
        "stage_one": "stage1.dmck",
        "stage_one_step": 7,
        "stage_one_fingerprint": "00000000",
        "state": weights_state(),
    });
    Kind {
        name: "channel-weights file",
        header,
        save: Box::new(|v, path| {
            let h: weights_file::WeightsHeader =
                serde_json::from_value(with_created(v)).map_err(|e| e.to_string())?;
            let w = ChannelWeights::ones(&h.channels, &cpu());
            Ok(weights_file::save(
                path,
                &h.config,
                &h.model,
                (
                    &h.stage_one,
                    h.stage_one_step,
                    h.stage_one_fingerprint.as_deref().unwrap(),
                ),
                &h.state,
                &w,
                None,
            )?)
        }),
        load: Box::new(|path| {
            let h = weights_file::load(path)?.header;
            Ok(without_created(serde_json::to_value(h).unwrap()))
        }),
    }
}

fn kinds() -> Vec<Kind> {
    let model = DoubleVae::new(&config().model, 0, &cpu());
    vec![
        stage_one_kind(model.clone()),
        fine_tuned_kind(model),
        weights_kind(),
    ]
}

/// The last field name of a JSON pointer.
fn field(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

/// Save `header` (as JSON) and read it back. The writer may refuse a config the reader
/// would refuse (naming the field, writing nothing); whatever it writes must read back
/// exactly.
fn round_trip(kind: &Kind, header: &Value, changed: &str, file: &Path) {
    let _ = std::fs::remove_file(file);
    match (kind.save)(header, file) {
        Ok(()) => {
            let back = (kind.load)(file).unwrap_or_else(|e| {
                panic!("{}: {changed} was written but not read: {e}", kind.name)
            });
            if let Err(e) = same(header, &back, "") {
                panic!("{}: {changed}: {e}", kind.name);
            }
        }
        Err(e) => {
            assert!(
                changed.starts_with("/config") && e.contains(field(changed)),
                "{}: saving with {changed} changed was refused: {e}",
                kind.name
            );
            assert!(!file.exists(), "a refused save left {}", file.display());
        }
    }
}

#[test]
fn every_float_of_every_header_round_trips_as_nan_and_both_infinities() {
    let dir = tempdir();
    for kind in kinds() {
        let mut paths = Vec::new();
        float_paths(&kind.header, "", &mut paths);
        // Config, scores, sums, the schedule, the stamp: every kind has dozens.
        assert!(paths.len() >= 10, "{}: {paths:?}", kind.name);
        let file = dir.path().join("f");
        // As written, and then each float in turn set to each non-finite value.
        round_trip(&kind, &kind.header, "nothing", &file);
        for p in &paths {
            for v in SPECIALS {
                let mut h = kind.header.clone();
                *h.pointer_mut(p).unwrap() = json(v);
                round_trip(&kind, &h, p, &file);
            }
        }
    }
}

/// Any f64 at all: normal, subnormal, ±0, ±∞, NaN.
fn any_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(f64::MIN_POSITIVE / 3.0),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every float outside the config (which the writer validates) set at once to any value
    /// reads back bit for bit; f32 fields read back as the f32 the value rounds to.
    #[test]
    fn headers_with_arbitrary_floats_read_back_bit_for_bit(values in prop::collection::vec(any_float(), 64)) {
        let dir = tempdir();
        for kind in kinds() {
            let mut paths = Vec::new();
            float_paths(&kind.header, "", &mut paths);
            let mut h = kind.header.clone();
            for (p, v) in paths.iter().filter(|p| !p.starts_with("/config")).zip(values.iter().cycle()) {
                *h.pointer_mut(p).unwrap() = json(*v);
            }
            let file = dir.path().join("f");
            (kind.save)(&h, &file).unwrap();
            let back = (kind.load)(&file).unwrap();
            // What was written, as its own type sees it (an f32 field holds the rounded value).
            let file2 = dir.path().join("g");
            (kind.save)(&back, &file2).unwrap();
            let again = (kind.load)(&file2).unwrap();
            prop_assert!(same(&back, &again, "").is_ok(), "{}: {:?}", kind.name, same(&back, &again, ""));
            for p in paths.iter().filter(|p| !p.starts_with("/config")) {
                let (w, r) = (h.pointer(p).unwrap(), back.pointer(p).unwrap());
                let wv = w.as_f64().or_else(|| w.as_str().map(|s| if s == "NaN" { f64::NAN } else if s == "inf" { f64::INFINITY } else { f64::NEG_INFINITY })).unwrap();
                let rv = r.as_f64().or_else(|| r.as_str().map(|s| if s == "NaN" { f64::NAN } else if s == "inf" { f64::INFINITY } else { f64::NEG_INFINITY })).unwrap();
                // f64 fields exactly; f32 fields as the f32 nearest what was written.
                prop_assert!(
                    wv.to_bits() == rv.to_bits()
                        || (wv as f32).to_bits() == (rv as f32).to_bits()
                        || (wv.is_nan() && rv.is_nan()),
                    "{}: {p}: wrote {wv:?}, read {rv:?}", kind.name
                );
            }
        }
    }
}

#[test]
fn files_written_with_null_for_an_undefined_score_load_as_not_defined() {
    // A header as written before: `null` where the probe and the ratio were NaN, and where
    // a loss sum was NaN.
    let dir = tempdir();
    let kind = &kinds()[0];
    let mut h = kind.header.clone();
    *h.pointer_mut("/state/best/domain_probe").unwrap() = Value::Null;
    *h.pointer_mut("/state/best/distance_ratio").unwrap() = Value::Null;
    let text = serde_json::to_string(&with_created(&h)).unwrap();
    let old: Header = serde_json::from_str(&text).unwrap();
    let best = old.state.best.unwrap();
    assert_eq!((best.domain_probe, best.distance_ratio), (None, None));
    assert_eq!(best.recall_1, 0.5);
    let mut h = kind.header.clone();
    *h.pointer_mut("/state/epoch_sums/total").unwrap() = Value::Null;
    let old: Header = serde_json::from_value(with_created(&h)).unwrap();
    assert!(old.state.epoch_sums.total.is_nan());
    // And such a file, saved again, reads back.
    let file = dir.path().join("old.dmck");
    let model = DoubleVae::new(&old.config.model, 0, &cpu());
    checkpoint::save(&file, &old.config, &old.state, &model, None, None).unwrap();
    assert!(
        checkpoint::load(&file)
            .unwrap()
            .header
            .state
            .epoch_sums
            .total
            .is_nan()
    );
}

#[test]
fn metrics_lines_and_configs_keep_their_non_finite_values() {
    use duskmatch::train::TrainEvent;
    use duskmatch::train::events::{EpochReport, Progress, StepReport};
    let dir = tempdir();
    let losses = duskmatch::model::LossValues {
        total: f32::NAN,
        gan: f32::INFINITY,
        ..Default::default()
    };
    let mut log = MetricsLog::open(dir.path());
    log.write(&TrainEvent::Step(StepReport {
        progress: Progress {
            step: 1,
            ..Default::default()
        },
        losses,
        lr: f64::NEG_INFINITY,
        steps_per_sec: f64::NAN,
        images_per_sec: 1.0,
        eta_secs: f64::INFINITY,
    }));
    log.write(&TrainEvent::Epoch(EpochReport {
        epoch: 0,
        step: 1,
        train: losses,
        val: Some(losses),
        lr: 1e-4,
        lr_reduced: false,
        retrieval: Some(HeldOutScores {
            domain_probe: None,
            ..scores()
        }),
    }));
    drop(log);
    let records = metrics_log::read(&dir.path().join(metrics_log::FILE), u64::MAX);
    assert_eq!(records.len(), 2, "no line may be lost");
    // The TensorBoard event file beside it holds the same scalars, bit for bit, at the same
    // steps, behind a version record; every record's CRCs are checked as it is read.
    let events: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    let read = duskmatch::train::tensorboard::read_scalars(&events[0]).unwrap();
    let want: Vec<(i64, String, u32)> = records
        .iter()
        .flat_map(|r| {
            let (step, scalars) = r.scalars();
            scalars
                .into_iter()
                .map(move |(t, v)| (step as i64, t, v.to_bits()))
        })
        .collect();
    let got: Vec<(i64, String, u32)> = read
        .iter()
        .map(|s| (s.step, s.tag.clone(), s.value.to_bits()))
        .collect();
    assert_eq!(got, want);
    assert!(
        got.iter()
            .any(|(_, t, v)| t == "loss/total" && f32::from_bits(*v).is_nan())
    );
    assert!(
        got.iter()
            .any(|(_, t, v)| t == "held_out/distance_ratio" && *v == 0.875f32.to_bits())
    );
    // A flipped byte is named, not read as something else.
    let mut bytes = std::fs::read(&events[0]).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0x40;
    let bad = dir.path().join("events.out.tfevents.bad");
    std::fs::write(&bad, bytes).unwrap();
    let e = duskmatch::train::tensorboard::read_scalars(&bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("record 2") && e.contains("CRC"), "{e}");
    match &records[0] {
        Record::Step {
            losses,
            lr,
            steps_per_sec,
            ..
        } => {
            assert!(losses.total.is_nan() && losses.gan == f32::INFINITY);
            assert!(*lr == f64::NEG_INFINITY && steps_per_sec.is_nan());
        }
        r => panic!("{r:?}"),
    }
    match &records[1] {
        Record::Epoch { val, retrieval, .. } => {
            assert!(val.unwrap().total.is_nan());
            let r = retrieval.unwrap();
            assert_eq!((r.domain_probe, r.distance_ratio), (None, Some(0.875)));
        }
        r => panic!("{r:?}"),
    }

    // A config with a non-finite value round-trips through TOML and is then refused by
    // name, not read as something else.
    let mut cfg = config();
    cfg.learning_rate = f64::INFINITY;
    let e = config().merge_toml(&cfg.to_toml()).unwrap_err().to_string();
    assert!(e.contains("learning_rate") && e.contains("inf"), "{e}");
    let cfg = config();
    assert_eq!(config().merge_toml(&cfg.to_toml()).unwrap(), cfg);
}
