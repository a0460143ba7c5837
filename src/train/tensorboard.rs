//! The run's scalars as TensorBoard event files, so that `tensorboard --logdir runs` shows every
//! run beside the app. The format is TensorFlow's record file: each record is its length (u64,
//! little-endian), the masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the
//! data; the data is a protobuf `Event` (`wall_time` = 1, `step` = 2, `file_version` = 3,
//! `summary` = 5), whose `Summary` holds repeated `Value`s (`tag` = 1, `simple_value` = 2).
//! Only that subset is written, by hand: a protobuf crate would bring a code generator for
//! five fields. The reader below checks both CRCs of every record and reads back exactly
//! those fields (non-finite values included, as the bits were written).

use std::path::{Path, PathBuf};

/// The first record of every event file, as TensorFlow writes it.
pub const FILE_VERSION: &str = "brain.Event:2";

/// A file name TensorBoard picks up: `events.out.tfevents.<seconds>.<host>`.
pub fn file_name(wall_time: f64) -> String {
    format!(
        "events.out.tfevents.{}.duskmatch",
        wall_time.max(0.0) as u64
    )
}

/// One scalar event as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub wall_time: f64,
    pub step: i64,
    pub tag: String,
    pub value: f32,
}

/// Why an event file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventFileError {
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: record {record} at byte {offset}: {reason}")]
    Record {
        path: PathBuf,
        record: usize,
        offset: usize,
        reason: &'static str,
    },
}

fn masked_crc(bytes: &[u8]) -> u32 {
    let c = crc32c::crc32c(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn length_delimited(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(((field << 3) | 2) as u64, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// One record of the file: framing and both checksums around `data`.
pub fn record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn event_head(wall_time: f64, step: i64) -> Vec<u8> {
    let mut out = vec![0x09];
    out.extend_from_slice(&wall_time.to_le_bytes());
    out.push(0x10);
    varint(step as u64, &mut out);
    out
}

/// The `Event` naming the file's version; it opens every file.
pub fn version_event(wall_time: f64) -> Vec<u8> {
    let mut out = event_head(wall_time, 0);
    length_delimited(3, FILE_VERSION.as_bytes(), &mut out);
    out
}

/// An `Event` holding one summary of scalar values at `step`.
pub fn scalars_event<'a>(
    wall_time: f64,
    step: i64,
    values: impl IntoIterator<Item = (&'a str, f32)>,
) -> Vec<u8> {
    let mut summary = Vec::new();
    for (tag, v) in values {
        let mut value = Vec::new();
        length_delimited(1, tag.as_bytes(), &mut value);
        value.push(0x15);
        value.extend_from_slice(&v.to_le_bytes());
        length_delimited(1, &value, &mut summary);
    }
    let mut out = event_head(wall_time, step);
    length_delimited(5, &summary, &mut out);
    out
}

/// Every scalar of an event file, in order, after checking every record's framing and CRCs.
pub fn read_scalars(path: &Path) -> Result<Vec<Scalar>, EventFileError> {
    let bytes = std::fs::read(path).map_err(|e| EventFileError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    let (mut at, mut record) = (0, 0);
    while at < bytes.len() {
        let fail = |reason| EventFileError::Record {
            path: path.to_path_buf(),
            record,
            offset: at,
            reason,
        };
        let head = bytes
            .get(at..at + 12)
            .ok_or_else(|| fail("a truncated header"))?;
        let len_bytes: [u8; 8] = head[..8].try_into().expect("8 bytes");
        if masked_crc(&len_bytes).to_le_bytes() != head[8..12] {
            return Err(fail("the length's CRC does not match"));
        }
        let len = usize::try_from(u64::from_le_bytes(len_bytes))
            .map_err(|_| fail("a length beyond the address space"))?;
        let end = (at + 12)
            .checked_add(len)
            .and_then(|e| e.checked_add(4))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| fail("a truncated record"))?;
        let data = &bytes[at + 12..end - 4];
        if masked_crc(data).to_le_bytes() != bytes[end - 4..end] {
            return Err(fail("the data's CRC does not match"));
        }
        parse_event(data, &mut out).ok_or_else(|| fail("not an Event this writer writes"))?;
        at = end;
        record += 1;
    }
    Ok(out)
}

/// Protobuf fields of `buf`: (field number, wire type, payload). Only the wire types this
/// writer uses (varint, 64-bit, length-delimited, 32-bit).
fn fields(mut buf: &[u8]) -> Option<Vec<(u32, u8, &[u8])>> {
    fn read_varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = read_varint(&mut buf)?;
        let (field, wire) = (u32::try_from(key >> 3).ok()?, (key & 7) as u8);
        let n = match wire {
            0 => {
                let start = buf;
                read_varint(&mut buf)?;
                let used = start.len() - buf.len();
                out.push((field, wire, &start[..used]));
                continue;
            }
            1 => 8,
            2 => usize::try_from(read_varint(&mut buf)?).ok()?,
            5 => 4,
            _ => return None,
        };
        let payload = buf.get(..n)?;
        out.push((field, wire, payload));
        buf = &buf[n..];
    }
    Some(out)
}

fn parse_event(data: &[u8], out: &mut Vec<Scalar>) -> Option<()> {
    let (mut wall_time, mut step) = (0.0, 0i64);
    let mut summaries = Vec::new();
    for (field, wire, payload) in fields(data)? {
        match (field, wire) {
            (1, 1) => wall_time = f64::from_le_bytes(payload.try_into().ok()?),
            (2, 0) => {
                let mut v = 0u64;
                for (i, b) in payload.iter().enumerate() {
                    v |= ((b & 0x7f) as u64) << (7 * i);
                }
                step = v as i64;
            }
            (5, 2) => summaries.push(payload),
            (3, 2) => {}
            _ => return None,
        }
    }
    for s in summaries {
        for (field, wire, value) in fields(s)? {
            if (field, wire) != (1, 2) {
                return None;
            }
            let (mut tag, mut v) = (None, None);
            for (f, w, p) in fields(value)? {
                match (f, w) {
                    (1, 2) => tag = Some(String::from_utf8(p.to_vec()).ok()?),
                    (2, 5) => v = Some(f32::from_le_bytes(p.try_into().ok()?)),
                    _ => return None,
                }
            }
            out.push(Scalar {
                wall_time,
                step,
                tag: tag?,
                value: v?,
            });
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_framing_is_tensorflows() {
        // The masked CRC32C of TensorFlow's record writer: CRC32C("") = 0, masked 0xa282ead8.
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        // A varint of 300 is 0xac 0x02 (the protobuf documentation's example).
        let mut v = Vec::new();
        varint(300, &mut v);
        assert_eq!(v, [0xac, 0x02]);
        let r = record(b"abc");
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
        assert_eq!(&r[12..15], b"abc");
    }
}
