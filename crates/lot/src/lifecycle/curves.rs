//! The top of every `curves.png`: a finished run's records as one curve per model.

use std::path::Path;

use anyhow::Result;

use crate::run::{self};
use crate::track::{plot, Record};

/// A finished run's metric records, and its model names with the teacher first.
pub fn read_records(dir: &Path) -> Result<(Vec<Record>, Vec<String>)> {
    let recs = crate::track::read_metrics(&dir.join(run::METRICS_FILE))?;
    let mut names: Vec<String> = recs.iter().map(|r| r.model.clone()).collect();
    names.sort();
    names.dedup();
    names.sort_by_key(|n| n != "teacher");
    Ok((recs, names))
}

/// One curve per model of `split`: `y` against `x` over the records that have a `y`.
pub fn curves(
    recs: &[Record],
    names: &[String],
    split: &str,
    x: impl Fn(&Record) -> f64,
    y: impl Fn(&Record) -> Option<f64>,
) -> Vec<plot::Series> {
    names
        .iter()
        .map(|n| plot::Series {
            label: format!("{n} {split}"),
            points: recs.iter().filter(|r| &r.model == n && r.split == split).filter_map(|r| y(r).map(|v| (x(r), v))).collect(),
            band: None,
        })
        .collect()
}
