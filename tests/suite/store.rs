//! The file container: every corruption of a checkpoint is refused with the section named,
//! a file of another kind is named, and a file from before the checksums still loads, with a
//! notice.

use duskmatch::store;
use duskmatch::train::Preset;
use duskmatch::train::checkpoint;

use crate::common::*;

/// `(name, start, len)` of each section's payload in a version-2 container.
fn layout(bytes: &[u8], names: &[&'static str]) -> Vec<(&'static str, usize, usize)> {
    let mut at = 20;
    names
        .iter()
        .map(|&n| {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let out = (n, at + 8, len);
            at += 8 + len + 4;
            out
        })
        .collect()
}

const NAMES: [&str; 5] = [
    "header",
    "model",
    "optimiser",
    "discriminators",
    "discriminator optimiser",
];

fn tiny_checkpoint(path: &std::path::Path) {
    save_untrained(path, &Preset::Tiny.config(), 7, 3);
}

#[test]
fn every_corruption_of_a_checkpoint_is_refused_with_the_section_named() {
    let dir = tempdir();
    let good = dir.path().join("good.dmck");
    tiny_checkpoint(&good);
    let ck = checkpoint::load(&good).unwrap();
    assert!(ck.notice.is_none(), "a checksummed file needs no notice");
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.dmck");
    let load = |b: &[u8]| {
        std::fs::write(&bad, b).unwrap();
        checkpoint::load(&bad).err().expect("refused").to_string()
    };

    // Truncated at every eighth of the file.
    for k in 1..8 {
        let e = load(&bytes[..bytes.len() * k / 8]);
        assert!(
            e.contains("bad.dmck") && e.contains("truncated") && e.contains("section"),
            "cut at {k}/8: {e}"
        );
    }
    // A byte flipped in the middle of every section that has bytes.
    for (name, start, len) in layout(&bytes, &NAMES) {
        if len == 0 {
            continue;
        }
        let mut b = bytes.clone();
        b[start + len / 2] ^= 0x5a;
        let e = load(&b);
        assert!(
            e.contains(&format!("the {name} section fails its checksum")),
            "{name}: {e}"
        );
    }
    // 200 bytes flipped in the model payload (the case that once loaded silently).
    let (_, start, _) = layout(&bytes, &NAMES)[1];
    let mut b = bytes.clone();
    for x in &mut b[start + 100..start + 300] {
        *x = !*x;
    }
    assert!(load(&b).contains("model section fails its checksum"));
    // The magic and the version.
    let mut b = bytes.clone();
    b[3] ^= 1;
    assert!(load(&b).contains("wrong file type"));
    let mut b = bytes.clone();
    b[16] = 9;
    assert!(load(&b).contains("format version 9"));
    // A length prefix pointing past the end.
    let mut b = bytes.clone();
    b[20 + 7] = 0x40;
    assert!(load(&b).contains("header section (it claims"));
    // Bytes after the last section.
    let mut b = bytes.clone();
    b.extend_from_slice(b"tail");
    assert!(load(&b).contains("4 bytes follow the last section"));
}

#[test]
fn an_invalid_config_is_refused_before_the_model_is_decoded() {
    let dir = tempdir();
    let good = dir.path().join("good.dmck");
    tiny_checkpoint(&good);
    let bytes = std::fs::read(&good).unwrap();
    let parts: Vec<Vec<u8>> = layout(&bytes, &NAMES)
        .into_iter()
        .map(|(_, s, l)| bytes[s..s + l].to_vec())
        .collect();
    let mut header: serde_json::Value = serde_json::from_slice(&parts[0]).unwrap();
    header["config"]["batch_size"] = 0.into();
    let header = serde_json::to_vec(&header).unwrap();
    // The model payload is garbage too: the config must be refused first.
    let bad = dir.path().join("bad.dmck");
    store::write_container(
        &bad,
        checkpoint::MAGIC,
        &[&header, b"not a record", &[], &[], &[]],
    )
    .unwrap();
    let e = checkpoint::load(&bad).err().unwrap().to_string();
    assert!(
        e.contains("the header's config is invalid") && e.contains("batch_size"),
        "{e}"
    );
}

#[test]
fn a_file_of_another_kind_is_named_and_an_unchecked_one_loads_with_a_notice() {
    let dir = tempdir();
    let weights = dir.path().join("w.dmwt");
    store::write_container(
        &weights,
        duskmatch::supervised::checkpoint::MAGIC,
        &[b"{}", &[], &[]],
    )
    .unwrap();
    let e = checkpoint::load(&weights).err().unwrap().to_string();
    assert!(e.contains("it is a duskmatch channel-weights file"), "{e}");
    let e = duskmatch::supervised::checkpoint::load(&dir.path().join("good.dmck"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");

    // The same checkpoint written as version 1 (no checksums) loads, with a notice.
    let good = dir.path().join("good.dmck");
    tiny_checkpoint(&good);
    let bytes = std::fs::read(&good).unwrap();
    let mut v1 = bytes[..16].to_vec();
    v1.extend_from_slice(&store::UNCHECKED_VERSION.to_le_bytes());
    for (_, s, l) in layout(&bytes, &NAMES) {
        v1.extend_from_slice(&(l as u64).to_le_bytes());
        v1.extend_from_slice(&bytes[s..s + l]);
    }
    let old = dir.path().join("old.dmck");
    std::fs::write(&old, &v1).unwrap();
    let ck = checkpoint::load(&old).unwrap();
    assert!(
        ck.notice
            .as_deref()
            .unwrap()
            .contains("predates section checksums"),
        "{:?}",
        ck.notice
    );
    assert_eq!(ck.header.state.at.step, 7);
    let a = ck.build_model(&cpu()).unwrap();
    let b = checkpoint::load(&good)
        .unwrap()
        .build_model(&cpu())
        .unwrap();
    assert_eq!(
        vec4(a.enc_day.conv1.weight.val()),
        vec4(b.enc_day.conv1.weight.val())
    );
}

#[test]
fn the_run_counters_stay_top_level_fields_of_the_header_as_in_files_already_written() {
    let dir = tempdir();
    let path = dir.path().join("c.dmck");
    save_untrained(&path, &Preset::Tiny.config(), 7, 3);
    let bytes = std::fs::read(&path).unwrap();
    let (_, start, len) = layout(&bytes, &NAMES)[0];
    let header: serde_json::Value = serde_json::from_slice(&bytes[start..start + len]).unwrap();
    let state = &header["state"];
    assert_eq!(state["step"], 7, "{state}");
    assert_eq!(state["epoch"], 0);
    assert_eq!(state["step_in_epoch"], 0);
    assert!(
        state.get("at").is_none(),
        "no nested counters object: {state}"
    );

    // The shipped checkpoint, written before the counters were one type, reads the same.
    let shipped = checkpoint::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/checkpoints/compact-town.dmck"
    )))
    .unwrap();
    assert_eq!(shipped.header.state.at.epoch, 45);
    assert_eq!(shipped.header.state.at.step_in_epoch, 0);
    assert_eq!(shipped.header.state.at.step, 2250);
}
