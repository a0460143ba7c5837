//! Where runs are written: `runs/<UTC timestamp>/`.

use std::path::{Path, PathBuf};

/// `runs/<YYYYmmdd-HHMMSS>` for a run starting now.
pub fn default_run_dir() -> PathBuf {
    run_dir_in(Path::new("runs"), "")
}

/// `ROOT/<YYYYmmdd-HHMMSS><suffix>` for a run starting now; a folder that already exists (a
/// run started in the same second) gets `-2`, `-3`, … so two runs never share one.
pub fn run_dir_in(root: &Path, suffix: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stamp = format_timestamp(secs);
    let first = root.join(format!("{stamp}{suffix}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|k| root.join(format!("{stamp}{suffix}-{k}")))
        .find(|p| !p.exists())
        .expect("some suffix is free")
}

/// `YYYYmmdd-HHMMSS` in UTC, without a date library.
pub fn format_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
