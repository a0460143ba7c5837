//! Value parsers for command-line numbers whose range clap's integer ranges cannot state
//! (floats), so a bad value is refused at parse time with the flag and the allowed range.

/// A finite number in `[0, 1]`.
pub fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not allowed: expected a number from 0 to 1"))
    }
}

/// A finite number in `(0, 1]`.
pub fn positive_unit(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not allowed: expected a number in (0, 1]"))
    }
}
