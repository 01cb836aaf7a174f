//! `metrics.jsonl`: one JSON object a line, appended and flushed as training goes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::{Context, Result};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::run::{nan_if_null, serialize_in_order};

/// One line of `metrics.jsonl`: the fields every trainer writes, plus the domain's own in
/// [`RecordKind`]. The line is a flat JSON object (the kind's keys sit beside the common ones).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Record {
    pub epoch: u64,
    /// Teacher optimizer steps so far (env steps in reinforcement learning).
    pub step: u64,
    /// `teacher`, `student0`, `student1`, …
    pub model: String,
    /// `train`, `test` (or `valid`); `rollout` and `eval` in reinforcement learning.
    pub split: String,
    pub loss: f64,
    #[serde(default)]
    pub lr: Option<f64>,
    /// Seconds since the run started.
    pub wall_s: f64,
    /// Training throughput of the supervised trainers (images or tokens a second).
    #[serde(default)]
    pub samples_per_s: Option<f64>,
    #[serde(flatten)]
    pub kind: RecordKind,
}

/// The domain-specific part of a [`Record`], told apart by which keys a line has.
///
/// Untagged, so serde tries the variants in order and takes the first that fits: every variant
/// but `Plain` has required keys that no other variant has, and `Plain` (no keys, so it fits
/// anything) must stay last. Keys a variant does not know are ignored, so a reader of one domain's
/// lines skips the others' keys.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RecordKind {
    /// Vision: accuracy in percent.
    Classification {
        #[serde(deserialize_with = "nan_if_null")]
        accuracy: f64,
    },
    /// Language models: `exp(loss)` (infinite, written as `null`, when the loss is above ~709).
    LanguageModel {
        #[serde(deserialize_with = "nan_if_null")]
        perplexity: f64,
    },
    /// The PPO teacher's update (split `train`): its throughput and diagnostics.
    PpoUpdate {
        #[serde(deserialize_with = "nan_if_null")]
        env_steps_per_s: f64,
        #[serde(deserialize_with = "nan_if_null")]
        approx_kl: f64,
        #[serde(deserialize_with = "nan_if_null")]
        clip_frac: f64,
        #[serde(deserialize_with = "nan_if_null")]
        entropy: f64,
        #[serde(deserialize_with = "nan_if_null")]
        policy_loss: f64,
        #[serde(deserialize_with = "nan_if_null")]
        value_loss: f64,
    },
    /// Raw (unclipped) return and length of a finished episode (split `rollout`), or their means
    /// over the evaluation episodes (split `eval`).
    Episode {
        #[serde(deserialize_with = "nan_if_null")]
        episodic_return: f64,
        #[serde(deserialize_with = "nan_if_null")]
        episode_length: f64,
    },
    /// Nothing beyond the common fields (e.g. an RL student's update).
    Plain {},
}

impl Default for RecordKind {
    fn default() -> Self {
        Self::Plain {}
    }
}

impl RecordKind {
    /// The kind's keys and values, as written.
    fn fields(&self) -> Vec<(&'static str, f64)> {
        match *self {
            Self::Classification { accuracy } => vec![("accuracy", accuracy)],
            Self::LanguageModel { perplexity } => vec![("perplexity", perplexity)],
            Self::PpoUpdate { env_steps_per_s, approx_kl, clip_frac, entropy, policy_loss, value_loss } => vec![
                ("env_steps_per_s", env_steps_per_s),
                ("approx_kl", approx_kl),
                ("clip_frac", clip_frac),
                ("entropy", entropy),
                ("policy_loss", policy_loss),
                ("value_loss", value_loss),
            ],
            Self::Episode { episodic_return, episode_length } => {
                vec![("episodic_return", episodic_return), ("episode_length", episode_length)]
            }
            Self::Plain {} => Vec::new(),
        }
    }
}

impl Record {
    pub fn accuracy(&self) -> Option<f64> {
        match self.kind {
            RecordKind::Classification { accuracy } => Some(accuracy),
            _ => None,
        }
    }

    pub fn perplexity(&self) -> Option<f64> {
        match self.kind {
            RecordKind::LanguageModel { perplexity } => Some(perplexity),
            _ => None,
        }
    }

    pub fn episodic_return(&self) -> Option<f64> {
        match self.kind {
            RecordKind::Episode { episodic_return, .. } => Some(episodic_return),
            _ => None,
        }
    }

    pub fn episode_length(&self) -> Option<f64> {
        match self.kind {
            RecordKind::Episode { episode_length, .. } => Some(episode_length),
            _ => None,
        }
    }
}

/// Order of the numeric keys in a line. Fixed, so that the committed `metrics.jsonl` files under
/// results/ read back and write out byte for byte (the round-trip test over every committed file).
const KEY_ORDER: [&str; 14] = [
    "loss",
    "accuracy",
    "perplexity",
    "lr",
    "wall_s",
    "samples_per_s",
    "episodic_return",
    "episode_length",
    "env_steps_per_s",
    "approx_kl",
    "clip_frac",
    "entropy",
    "policy_loss",
    "value_loss",
];

/// Absent options are left out (never `null`): a line has only the keys its domain measures.
impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut nums = vec![("loss", self.loss), ("wall_s", self.wall_s)];
        nums.extend(self.lr.map(|v| ("lr", v)));
        nums.extend(self.samples_per_s.map(|v| ("samples_per_s", v)));
        nums.extend(self.kind.fields());
        let mut m = s.serialize_map(Some(4 + nums.len()))?;
        m.serialize_entry("epoch", &self.epoch)?;
        m.serialize_entry("step", &self.step)?;
        m.serialize_entry("model", &self.model)?;
        m.serialize_entry("split", &self.split)?;
        serialize_in_order(&mut m, nums, &KEY_ORDER)?;
        m.end()
    }
}

/// Record fields that are coordinates or labels, not scalars to plot.
const NOT_SCALARS: [&str; 5] = ["epoch", "step", "model", "split", "wall_s"];

/// The scalars of a record as `(<model>/<split>/<field>, value)`, in a fixed (alphabetical)
/// order: `loss` always, every other numeric key the record writes (so keys added to
/// [`RecordKind`] later are written too). `epoch`, `step` and `wall_s` are not scalars: `step` is
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
        let a = Record { epoch: 1, step: 10, model: "teacher".into(), split: "test".into(), loss: 0.5, wall_s: 2.0, kind: RecordKind::Classification { accuracy: 81.5 }, ..Default::default() };
        let b = Record { model: "student0".into(), lr: Some(0.1), samples_per_s: Some(1000.0), ..a.clone() };
        w.write(&a).unwrap();
        w.write(&b).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().next().unwrap().contains("\"accuracy\":81.5"));
        assert!(!text.lines().next().unwrap().contains("perplexity"));
        assert_eq!(read_metrics(&p).unwrap(), vec![a, b]);
    }

    /// One line of each kind, in the fixed key order (`KEY_ORDER`).
    #[test]
    fn each_kind_writes_one_flat_line_in_key_order() {
        let r = |split: &str, kind| Record { epoch: 1, step: 8, model: "teacher".into(), split: split.into(), loss: 0.5, wall_s: 2.0, kind, ..Default::default() };
        let ppo = RecordKind::PpoUpdate { env_steps_per_s: 9.0, approx_kl: 0.25, clip_frac: 0.125, entropy: 1.5, policy_loss: -0.5, value_loss: 3.0 };
        let cases = [
            (
                Record { lr: Some(0.1), samples_per_s: Some(100.0), ..r("train", RecordKind::Classification { accuracy: 47.5 }) },
                r#"{"epoch":1,"step":8,"model":"teacher","split":"train","loss":0.5,"accuracy":47.5,"lr":0.1,"wall_s":2.0,"samples_per_s":100.0}"#,
            ),
            (r("valid", RecordKind::LanguageModel { perplexity: 90.0 }), r#"{"epoch":1,"step":8,"model":"teacher","split":"valid","loss":0.5,"perplexity":90.0,"wall_s":2.0}"#),
            (
                Record { lr: Some(0.001), ..r("train", ppo) },
                r#"{"epoch":1,"step":8,"model":"teacher","split":"train","loss":0.5,"lr":0.001,"wall_s":2.0,"env_steps_per_s":9.0,"approx_kl":0.25,"clip_frac":0.125,"entropy":1.5,"policy_loss":-0.5,"value_loss":3.0}"#,
            ),
            (
                r("rollout", RecordKind::Episode { episodic_return: -21.0, episode_length: 812.0 }),
                r#"{"epoch":1,"step":8,"model":"teacher","split":"rollout","loss":0.5,"wall_s":2.0,"episodic_return":-21.0,"episode_length":812.0}"#,
            ),
            (Record { lr: Some(0.001), ..r("train", RecordKind::default()) }, r#"{"epoch":1,"step":8,"model":"teacher","split":"train","loss":0.5,"lr":0.001,"wall_s":2.0}"#),
        ];
        for (rec, line) in cases {
            assert_eq!(serde_json::to_string(&rec).unwrap(), line);
            assert_eq!(serde_json::from_str::<Record>(line).unwrap(), rec);
        }
        // A non-finite number is written as null and read back as NaN, in its kind, the other
        // numbers kept (an overflowing perplexity; a diverged PPO diagnostic).
        let inf = r("valid", RecordKind::LanguageModel { perplexity: f64::INFINITY });
        let back: Record = serde_json::from_str(&serde_json::to_string(&inf).unwrap()).unwrap();
        assert!(back.perplexity().is_some_and(f64::is_nan), "{back:?}");
        let line = r#"{"epoch":1,"step":8,"model":"teacher","split":"train","loss":0.5,"wall_s":2.0,"env_steps_per_s":9.0,"approx_kl":null,"clip_frac":0.125,"entropy":1.5,"policy_loss":-0.5,"value_loss":3.0}"#;
        match serde_json::from_str::<Record>(line).unwrap().kind {
            RecordKind::PpoUpdate { approx_kl, clip_frac, .. } => assert!(approx_kl.is_nan() && clip_frac == 0.125),
            k => panic!("read as {k:?}"),
        }
    }

    /// Every committed `results/**/metrics.jsonl` line (all three domains) reads into the kind its
    /// keys imply and is written back unchanged: same keys and values, and the same bytes.
    #[test]
    fn committed_metrics_files_round_trip() {
        fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.file_name().is_some_and(|n| n == "metrics.jsonl") {
                    out.push(p);
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
        let mut files = Vec::new();
        walk(&root, &mut files);
        assert!(!files.is_empty(), "no metrics.jsonl under {}", root.display());
        let mut seen = [0usize; 5];
        for f in &files {
            for (i, line) in std::fs::read_to_string(f).unwrap().lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("{}:{}", f.display(), i + 1);
                let original: serde_json::Value = serde_json::from_str(line).unwrap();
                let rec: Record = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(serde_json::to_value(&rec).unwrap(), original, "{at}");
                assert_eq!(serde_json::to_string(&rec).unwrap(), line, "{at}");
                let has = |k: &str| original.get(k).is_some();
                let (want, idx) = if has("accuracy") {
                    (matches!(rec.kind, RecordKind::Classification { .. }), 0)
                } else if has("perplexity") {
                    (matches!(rec.kind, RecordKind::LanguageModel { .. }), 1)
                } else if has("approx_kl") {
                    (matches!(rec.kind, RecordKind::PpoUpdate { .. }), 2)
                } else if has("episodic_return") {
                    (matches!(rec.kind, RecordKind::Episode { .. }), 3)
                } else {
                    (matches!(rec.kind, RecordKind::Plain {}), 4)
                };
                assert!(want, "{at}: read as {:?}", rec.kind);
                seen[idx] += 1;
            }
        }
        // The committed runs hold every kind, so each variant was exercised.
        assert!(seen.iter().all(|&n| n > 0), "records per kind: {seen:?}");
    }
}
