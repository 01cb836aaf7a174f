//! `metrics.jsonl`: one JSON object a line, appended and flushed as training goes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub epoch: u64,
    /// Teacher optimizer steps so far.
    pub step: u64,
    /// `teacher`, `student0`, `student1`, …
    pub model: String,
    /// `train`, `test` (or `valid`).
    pub split: String,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Seconds since the run started.
    pub wall_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_per_s: Option<f64>,
    // Reinforcement learning (`step` counts env steps there).
    /// Raw (unclipped) return of a finished episode (split `rollout`) or the mean over evaluation episodes (split `eval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episodic_return: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode_length: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_steps_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approx_kl: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_frac: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_loss: Option<f64>,
}

/// Record fields that are coordinates or labels, not scalars to plot.
const NOT_SCALARS: [&str; 5] = ["epoch", "step", "model", "split", "wall_s"];

/// The scalars of a record as `(<model>/<split>/<field>, value)`, in a fixed (alphabetical)
/// order: `loss` always, every other numeric field that is present (so fields added to
/// [`Record`] later are written too). `epoch`, `step` and `wall_s` are not scalars: `step` is
/// the event's step and the event carries its own wall time.
pub fn record_scalars(r: &Record) -> Vec<(String, f64)> {
    let prefix = format!("{}/{}", r.model, r.split);
    let mut out = vec![(format!("{prefix}/loss"), r.loss)];
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(r) {
        let mut fields: Vec<(&String, f64)> = map
            .iter()
            .filter(|(k, _)| k.as_str() != "loss" && !NOT_SCALARS.contains(&k.as_str()))
            .filter_map(|(k, v)| v.as_f64().map(|x| (k, x)))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(b.0));
        out.extend(fields.into_iter().map(|(k, x)| (format!("{prefix}/{k}"), x)));
    }
    out
}

/// Appends records to `metrics.jsonl` and, as scalars, to a TensorBoard event file in the same
/// folder (see [`super::tensorboard`]); both are flushed after every record.
pub struct MetricsWriter {
    file: File,
    events: super::tensorboard::EventWriter,
}

impl MetricsWriter {
    pub fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let events = super::tensorboard::EventWriter::create(dir)?;
        Ok(Self { file, events })
    }

    pub fn write(&mut self, r: &Record) -> Result<()> {
        let mut line = serde_json::to_string(r)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        let scalars: Vec<(String, f32)> = record_scalars(r).into_iter().map(|(t, v)| (t, v as f32)).collect();
        self.events.add_scalars(i64::try_from(r.step).unwrap_or(i64::MAX), &scalars)?;
        Ok(())
    }
}

pub fn read_metrics(path: &Path) -> Result<Vec<Record>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line)
                .map_err(|e| crate::error::input_err(format!("{}: line {}: {e}", path.display(), i + 1)))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_one_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let mut w = MetricsWriter::create(&p).unwrap();
        let a = Record { epoch: 1, step: 10, model: "teacher".into(), split: "test".into(), loss: 0.5, accuracy: Some(81.5), wall_s: 2.0, ..Default::default() };
        let b = Record { model: "student0".into(), lr: Some(0.1), samples_per_s: Some(1000.0), ..a.clone() };
        w.write(&a).unwrap();
        w.write(&b).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().next().unwrap().contains("\"accuracy\":81.5"));
        assert!(!text.lines().next().unwrap().contains("perplexity"));
        assert_eq!(read_metrics(&p).unwrap(), vec![a, b]);
    }
}
