//! What every report shares: JSON writing, medians, ratios, numbers in tables.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// Write a report as pretty JSON, creating the parent folder. It goes through a
/// [`serde_json::Value`] first, whose map is sorted, so keys come out alphabetically as in the
/// reports committed before the reports were typed: a re-run diffs against them by value, not by
/// key order.
pub fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let v = serde_json::to_value(v)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Median of a non-empty slice (mean of the two middle values for an even count); NaN if empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// ours / reference (a time ratio below 1 means we are faster); NaN when either is missing or 0.
pub fn ratio(ours: f64, reference: f64) -> f64 {
    if ours.is_finite() && reference.is_finite() && reference > 0.0 {
        ours / reference
    } else {
        f64::NAN
    }
}

pub(crate) fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_nan() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[f64::NAN, 1.0, 3.0]), 2.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ratio_is_ours_over_reference() {
        assert_eq!(ratio(1.0, 2.0), 0.5);
        assert!(ratio(1.0, 0.0).is_nan());
        assert!(ratio(f64::NAN, 2.0).is_nan());
    }
}
