//! Floats that survive a trip through JSON (and TOML) exactly, non-finite ones included.
//!
//! JSON has no NaN or infinity: serde_json writes them as `null` and then refuses `null` where
//! a number is expected, so a file holding one could be written but never read back. Every
//! float field of a file this project writes goes through this module
//! (`#[serde(with = "crate::json_float")]`, or `crate::json_float::option` for an
//! `Option`): a finite value is written as a number, a non-finite one as the string `"NaN"`,
//! `"inf"` or `"-inf"` (the spellings Python's `float()` reads). The reader takes numbers,
//! those strings (and `"Infinity"`), and `null`, which files written before this module hold
//! where a value was non-finite: it reads as NaN, "not defined".
//!
//! Exactness of finite values needs serde_json's `float_roundtrip` parser (Cargo.toml).

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;

/// The float types written through this module.
pub trait LosslessFloat: Copy + Sized {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error>;
}

impl LosslessFloat for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self)
    }
}

impl LosslessFloat for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    // A value written from an f32 is exactly representable, so this cast is exact for it.
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn write<S: Serializer>(self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f32(self)
    }
}

/// The string a non-finite value is written as; `None` for a finite one.
pub fn non_finite_name(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

/// Parse one of the non-finite spellings (any case).
fn parse_non_finite(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

pub fn serialize<T: LosslessFloat, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    match non_finite_name(v.to_f64()) {
        Some(name) => s.serialize_str(name),
        None => v.write(s),
    }
}

pub fn deserialize<'de, T: LosslessFloat, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(FloatVisitor).map(T::from_f64)
}

struct FloatVisitor;

impl<'de> Visitor<'de> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, or \"NaN\", \"inf\" or \"-inf\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        parse_non_finite(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    /// `null`: what serde_json wrote for a non-finite value before this module.
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

/// The same for `Option<float>`: `None` is `null`, `Some` is written as above.
pub mod option {
    use super::*;

    pub fn serialize<T: LosslessFloat, S: Serializer>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => super::serialize(x, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: LosslessFloat, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        d.deserialize_option(OptionVisitor)
            .map(|v| v.map(T::from_f64))
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<f64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("null, a number, or \"NaN\", \"inf\" or \"-inf\"")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(FloatVisitor).map(Some)
        }
    }
}
