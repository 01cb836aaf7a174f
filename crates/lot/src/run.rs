//! The run folder: resolved config, metrics, weights, summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::config::Config;
use crate::fsio::write_atomic;

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";
/// A run in progress: steps done of the total and seconds spent, rewritten with every metrics record.
pub const PROGRESS_FILE: &str = "progress.json";

/// The contents of [`PROGRESS_FILE`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub elapsed_s: f64,
}

/// A run's progress, if it has written any.
pub fn read_progress(dir: &Path) -> Option<Progress> {
    serde_json::from_slice(&std::fs::read(dir.join(PROGRESS_FILE)).ok()?).ok()
}

/// Final and best metrics of one model: the fields every trainer writes, plus the domain's own in
/// [`SummaryKind`]. In `summary.json` a model is one flat object (the kind's keys sit beside the
/// common ones); readers use the accessors ([`ModelSummary::final_test_accuracy`], …), which give
/// `None` where the model's domain has no such metric.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ModelSummary {
    /// Epoch of the best per-epoch evaluation (reinforcement learning: the number of updates).
    pub best_epoch: u64,
    pub optimizer_steps: u64,
    #[serde(flatten)]
    pub kind: SummaryKind,
}

/// The domain-specific part of a [`ModelSummary`], told apart by which keys a model has.
///
/// Untagged, so serde tries the variants in order and takes the first that fits: every variant
/// has required keys that no other variant has (`final_test_perplexity`; `final_valid_accuracy`
/// and `best_valid_accuracy`; `best_test_accuracy`; `eval_return` and `eval_return_std`), so the
/// order does not decide anything today. A variant added later whose fields are all optional
/// would fit any model and must go last. Keys a variant does not know are ignored.
///
/// A non-finite number is written as `null` (serde_json's rule); a required number reads a
/// `null` back as NaN (an optional one as absent), so a diverged run's summary
/// still reads.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SummaryKind {
    /// Language models: test loss and perplexity of the tested checkpoint.
    LanguageModel {
        #[serde(deserialize_with = "nan_if_null")]
        final_test_loss: f64,
        #[serde(deserialize_with = "nan_if_null")]
        final_test_perplexity: f64,
        /// Validation perplexity of the checkpoint that was tested; `None` when no checkpoint
        /// was ever taken on a validation loss.
        #[serde(default)]
        best_valid_perplexity: Option<f64>,
    },
    /// Image classification with a validation split (`data.valid_limit`): the last and the best
    /// per-epoch validation accuracy; the test set is read once, at the end (final weights).
    ClassificationWithValid {
        #[serde(deserialize_with = "nan_if_null")]
        final_test_loss: f64,
        #[serde(deserialize_with = "nan_if_null")]
        final_test_accuracy: f64,
        #[serde(deserialize_with = "nan_if_null")]
        final_valid_accuracy: f64,
        #[serde(deserialize_with = "nan_if_null")]
        best_valid_accuracy: f64,
    },
    /// Image classification without a validation split: the test set is evaluated every epoch.
    Classification {
        #[serde(deserialize_with = "nan_if_null")]
        final_test_loss: f64,
        #[serde(deserialize_with = "nan_if_null")]
        final_test_accuracy: f64,
        #[serde(deserialize_with = "nan_if_null")]
        best_test_accuracy: f64,
    },
    /// Reinforcement learning (no test set). The teacher has the training returns and the env
    /// steps; students do not.
    Reinforcement {
        /// The training loss of the last update. Always written by the current trainer.
        #[serde(default)]
        final_train_loss: Option<f64>,
        /// Runs written before `final_train_loss` existed stored the same number (the last
        /// training loss) under `final_test_loss`; kept here so their summaries read and write
        /// back unchanged. Read either through [`ModelSummary::final_train_loss`].
        #[serde(default, rename = "final_test_loss")]
        legacy_final_test_loss: Option<f64>,
        /// Mean raw return of the last 20 training episodes (teacher; `None` if no training
        /// episode finished).
        #[serde(default)]
        final_return: Option<f64>,
        /// Best mean raw return over any 20 consecutive training episodes (teacher).
        #[serde(default)]
        best_return: Option<f64>,
        /// Mean and std of the return over `eval.episodes` episodes played after training.
        #[serde(deserialize_with = "nan_if_null")]
        eval_return: f64,
        #[serde(deserialize_with = "nan_if_null")]
        eval_return_std: f64,
        /// Env steps of the run (teacher).
        #[serde(default)]
        env_steps: Option<u64>,
    },
}

/// serde_json writes a non-finite number as `null`; read it back as NaN (a required number keeps
/// its place instead of failing or changing which variant a line reads as). Shared by the typed
/// summaries, metrics records and `lot bench` reports.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Writes `fields` into map `m` in the order `order` lists their keys. The typed summaries and
/// metrics records use it to keep their files byte for byte what the one flat type each replaced
/// wrote (a derived `Serialize` with `flatten` would put all of a kind's keys in one place).
pub(crate) fn serialize_in_order<M: SerializeMap, V: Serialize>(
    m: &mut M,
    mut fields: Vec<(&'static str, V)>,
    order: &[&str],
) -> std::result::Result<(), M::Error> {
    fields.sort_by_key(|&(k, _)| order.iter().position(|&o| o == k));
    fields.iter().try_for_each(|(k, v)| m.serialize_entry(k, v))
}

/// A number as written: integers stay integers (`21`, not `21.0`).
#[derive(Clone, Copy, Debug)]
enum Num {
    F(f64),
    U(u64),
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match *self {
            Num::F(v) => s.serialize_f64(v),
            Num::U(v) => s.serialize_u64(v),
        }
    }
}

impl SummaryKind {
    /// The kind's keys and values, as written (absent options left out).
    fn fields(&self) -> Vec<(&'static str, Num)> {
        use Num::F;
        match *self {
            Self::LanguageModel { final_test_loss, final_test_perplexity, best_valid_perplexity } => {
                let mut v = vec![("final_test_loss", F(final_test_loss)), ("final_test_perplexity", F(final_test_perplexity))];
                v.extend(best_valid_perplexity.map(|x| ("best_valid_perplexity", F(x))));
                v
            }
            Self::ClassificationWithValid { final_test_loss, final_test_accuracy, final_valid_accuracy, best_valid_accuracy } => vec![
                ("final_test_loss", F(final_test_loss)),
                ("final_test_accuracy", F(final_test_accuracy)),
                ("final_valid_accuracy", F(final_valid_accuracy)),
                ("best_valid_accuracy", F(best_valid_accuracy)),
            ],
            Self::Classification { final_test_loss, final_test_accuracy, best_test_accuracy } => vec![
                ("final_test_loss", F(final_test_loss)),
                ("final_test_accuracy", F(final_test_accuracy)),
                ("best_test_accuracy", F(best_test_accuracy)),
            ],
            Self::Reinforcement { final_train_loss, legacy_final_test_loss, final_return, best_return, eval_return, eval_return_std, env_steps } => {
                let mut v = Vec::new();
                v.extend(legacy_final_test_loss.map(|x| ("final_test_loss", F(x))));
                v.extend(final_train_loss.map(|x| ("final_train_loss", F(x))));
                v.extend(final_return.map(|x| ("final_return", F(x))));
                v.extend(best_return.map(|x| ("best_return", F(x))));
                v.push(("eval_return", F(eval_return)));
                v.push(("eval_return_std", F(eval_return_std)));
                v.extend(env_steps.map(|x| ("env_steps", Num::U(x))));
                v
            }
        }
    }
}

/// Order of the keys in a model's object. Fixed, so that the committed `summary.json` files under
/// results/ read back and write out byte for byte (`committed_summaries_round_trip`).
const KEY_ORDER: [&str; 15] = [
    "final_test_loss",
    "final_train_loss",
    "final_test_accuracy",
    "best_test_accuracy",
    "final_valid_accuracy",
    "best_valid_accuracy",
    "final_test_perplexity",
    "best_valid_perplexity",
    "best_epoch",
    "optimizer_steps",
    "final_return",
    "best_return",
    "eval_return",
    "eval_return_std",
    "env_steps",
];

/// Absent options are left out (never `null`): a model has only the keys its domain measures.
impl Serialize for ModelSummary {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut nums = self.kind.fields();
        nums.push(("best_epoch", Num::U(self.best_epoch)));
        nums.push(("optimizer_steps", Num::U(self.optimizer_steps)));
        let mut m = s.serialize_map(Some(nums.len()))?;
        serialize_in_order(&mut m, nums, &KEY_ORDER)?;
        m.end()
    }
}

impl ModelSummary {
    /// Image classification and language models: the loss on the test set. `None` in
    /// reinforcement learning, even for runs that stored the training loss under this key.
    pub fn final_test_loss(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::LanguageModel { final_test_loss, .. }
            | SummaryKind::ClassificationWithValid { final_test_loss, .. }
            | SummaryKind::Classification { final_test_loss, .. } => Some(final_test_loss),
            SummaryKind::Reinforcement { .. } => None,
        }
    }

    /// Reinforcement learning: the training loss of the last update (from either key).
    pub fn final_train_loss(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Reinforcement { final_train_loss, legacy_final_test_loss, .. } => final_train_loss.or(legacy_final_test_loss),
            _ => None,
        }
    }

    pub fn final_test_accuracy(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::ClassificationWithValid { final_test_accuracy, .. } | SummaryKind::Classification { final_test_accuracy, .. } => {
                Some(final_test_accuracy)
            }
            _ => None,
        }
    }

    /// Classification without a validation split only (with one, picking the best test
    /// accuracy would be selection on the test set).
    pub fn best_test_accuracy(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Classification { best_test_accuracy, .. } => Some(best_test_accuracy),
            _ => None,
        }
    }

    pub fn final_valid_accuracy(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::ClassificationWithValid { final_valid_accuracy, .. } => Some(final_valid_accuracy),
            _ => None,
        }
    }

    pub fn best_valid_accuracy(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::ClassificationWithValid { best_valid_accuracy, .. } => Some(best_valid_accuracy),
            _ => None,
        }
    }

    pub fn final_test_perplexity(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::LanguageModel { final_test_perplexity, .. } => Some(final_test_perplexity),
            _ => None,
        }
    }

    pub fn best_valid_perplexity(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::LanguageModel { best_valid_perplexity, .. } => best_valid_perplexity,
            _ => None,
        }
    }

    pub fn final_return(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Reinforcement { final_return, .. } => final_return,
            _ => None,
        }
    }

    pub fn best_return(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Reinforcement { best_return, .. } => best_return,
            _ => None,
        }
    }

    pub fn eval_return(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Reinforcement { eval_return, .. } => Some(eval_return),
            _ => None,
        }
    }

    pub fn eval_return_std(&self) -> Option<f64> {
        match self.kind {
            SummaryKind::Reinforcement { eval_return_std, .. } => Some(eval_return_std),
            _ => None,
        }
    }

    pub fn env_steps(&self) -> Option<u64> {
        match self.kind {
            SummaryKind::Reinforcement { env_steps, .. } => env_steps,
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub mode: String,
    pub seed: u64,
    pub epochs: u64,
    pub teacher_steps: u64,
    pub wall_s: f64,
    /// The precision the models ran in (`precision = "auto"` resolved on this machine); absent
    /// in summaries written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    pub models: BTreeMap<String, ModelSummary>,
}

impl Summary {
    /// A finished run's summary, its models to be added.
    pub fn new(cfg: &Config, epochs: u64, teacher_steps: u64, wall_s: f64) -> Self {
        Self::of_run(&cfg.run.name, cfg.lot.mode, cfg.run.seed, cfg.precision(), epochs, teacher_steps, wall_s)
    }

    /// [`Self::new`] from plain values (a run defined in code, not by a config).
    pub fn of_run(name: &str, mode: crate::config::Mode, seed: u64, precision: crate::precision::Precision, epochs: u64, teacher_steps: u64, wall_s: f64) -> Self {
        Self {
            name: name.into(),
            mode: mode.name().into(),
            seed,
            epochs,
            teacher_steps,
            wall_s,
            precision: Some(precision.name().into()),
            models: BTreeMap::new(),
        }
    }
}

/// One model's metrics from `lot eval`, as (name, value) pairs in display order.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRow {
    pub model: String,
    pub values: Vec<(String, f64)>,
}

/// `runs/<name>-<mode>-s<seed>`.
pub fn base_run_dir(cfg: &Config) -> PathBuf {
    PathBuf::from("runs").join(format!("{}-{}-s{}", cfg.run.name, cfg.lot.mode.name(), cfg.run.seed))
}

/// Default folder for a run: [`base_run_dir`], with a numeric suffix if taken.
pub fn default_run_dir(cfg: &Config) -> PathBuf {
    let base = base_run_dir(cfg);
    let mut p = base.clone();
    let mut i = 1;
    while p.exists() {
        i += 1;
        p = PathBuf::from(format!("{}-{i}", base.display()));
    }
    p
}

/// Create the run folder with its config.toml (`config_toml`), checking it is writable before any
/// training starts.
pub fn prepare_run_dir(dir: &Path, config_toml: &str) -> Result<()> {
    if dir.join(METRICS_FILE).exists() {
        bail_input!("output folder {} already holds a run (metrics.jsonl); choose another with --out", dir.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| crate::error::input_err(format!("output folder {}: cannot create: {e}", dir.display())))?;
    write_atomic(&dir.join(CONFIG_FILE), config_toml.as_bytes())
        .map_err(|e| crate::error::input_err(format!("output folder {}: not writable: {e:#}", dir.display())))?;
    eprintln!("run folder: {}", dir.display());
    Ok(())
}

/// On resume: drop metric lines written after the checkpoint, so the file continues exactly.
pub fn truncate_metrics(dir: &Path, len: u64) -> Result<()> {
    let p = dir.join(METRICS_FILE);
    let f = std::fs::OpenOptions::new().write(true).open(&p).with_context(|| format!("cannot open {}", p.display()))?;
    if f.metadata()?.len() < len {
        crate::bail_input!("{} is shorter than the checkpoint expects; the run folder was modified", p.display());
    }
    f.set_len(len)?;
    Ok(())
}

pub fn write_summary(dir: &Path, s: &Summary) -> Result<()> {
    write_atomic(&dir.join(SUMMARY_FILE), serde_json::to_string_pretty(s)?.as_bytes())
}

pub fn read_summary(dir: &Path) -> Result<Summary> {
    let p = dir.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&p)
        .map_err(|e| crate::error::input_err(format!("{}: cannot read ({e}); is this a finished run folder?", p.display())))?;
    serde_json::from_str(&text).map_err(|e| crate::error::input_err(format!("{}: {e}", p.display())))
}

/// Model names in a run: teacher, student0, …
pub fn model_name(m: usize) -> String {
    if m == 0 {
        "teacher".into()
    } else {
        format!("student{}", m - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(best_epoch: u64, optimizer_steps: u64, kind: SummaryKind) -> ModelSummary {
        ModelSummary { best_epoch, optimizer_steps, kind }
    }

    /// One model of each kind (and each optional field absent), in the fixed key order
    /// (`KEY_ORDER`) and number formatting.
    #[test]
    fn each_kind_writes_the_flat_object_it_always_did() {
        let rl = |final_train_loss, legacy_final_test_loss, final_return, best_return, env_steps| SummaryKind::Reinforcement {
            final_train_loss,
            legacy_final_test_loss,
            final_return,
            best_return,
            eval_return: 499.0,
            eval_return_std: 2.5,
            env_steps,
        };
        let cases = [
            (
                ms(3, 30, SummaryKind::LanguageModel { final_test_loss: 4.0, final_test_perplexity: 54.5, best_valid_perplexity: Some(56.0) }),
                r#"{"final_test_loss":4.0,"final_test_perplexity":54.5,"best_valid_perplexity":56.0,"best_epoch":3,"optimizer_steps":30}"#,
            ),
            (
                ms(3, 30, SummaryKind::LanguageModel { final_test_loss: 4.0, final_test_perplexity: 54.5, best_valid_perplexity: None }),
                r#"{"final_test_loss":4.0,"final_test_perplexity":54.5,"best_epoch":3,"optimizer_steps":30}"#,
            ),
            (
                ms(21, 480, SummaryKind::ClassificationWithValid { final_test_loss: 0.5, final_test_accuracy: 82.5, final_valid_accuracy: 83.0, best_valid_accuracy: 83.25 }),
                r#"{"final_test_loss":0.5,"final_test_accuracy":82.5,"final_valid_accuracy":83.0,"best_valid_accuracy":83.25,"best_epoch":21,"optimizer_steps":480}"#,
            ),
            (
                ms(21, 480, SummaryKind::Classification { final_test_loss: 0.5, final_test_accuracy: 82.5, best_test_accuracy: 83.25 }),
                r#"{"final_test_loss":0.5,"final_test_accuracy":82.5,"best_test_accuracy":83.25,"best_epoch":21,"optimizer_steps":480}"#,
            ),
            // RL teacher and student as written now.
            (
                ms(4, 64, rl(Some(0.25), None, Some(480.5), Some(500.0), Some(2048))),
                r#"{"final_train_loss":0.25,"best_epoch":4,"optimizer_steps":64,"final_return":480.5,"best_return":500.0,"eval_return":499.0,"eval_return_std":2.5,"env_steps":2048}"#,
            ),
            (
                ms(4, 96, rl(Some(0.125), None, None, None, None)),
                r#"{"final_train_loss":0.125,"best_epoch":4,"optimizer_steps":96,"eval_return":499.0,"eval_return_std":2.5}"#,
            ),
            // A teacher whose training finished no episode.
            (
                ms(4, 64, rl(Some(0.25), None, None, None, Some(2048))),
                r#"{"final_train_loss":0.25,"best_epoch":4,"optimizer_steps":64,"eval_return":499.0,"eval_return_std":2.5,"env_steps":2048}"#,
            ),
            // RL as written before `final_train_loss` existed (the committed results).
            (
                ms(4, 64, rl(None, Some(0.25), Some(480.5), Some(500.0), Some(2048))),
                r#"{"final_test_loss":0.25,"best_epoch":4,"optimizer_steps":64,"final_return":480.5,"best_return":500.0,"eval_return":499.0,"eval_return_std":2.5,"env_steps":2048}"#,
            ),
        ];
        for (m, json) in cases {
            assert_eq!(serde_json::to_string(&m).unwrap(), json);
            assert_eq!(serde_json::from_str::<ModelSummary>(json).unwrap(), m, "{json}");
        }
    }

    #[test]
    fn accessors_follow_the_kind() {
        let lm = ms(3, 30, SummaryKind::LanguageModel { final_test_loss: 4.0, final_test_perplexity: 54.5, best_valid_perplexity: Some(56.0) });
        assert_eq!((lm.final_test_loss(), lm.final_test_perplexity(), lm.best_valid_perplexity()), (Some(4.0), Some(54.5), Some(56.0)));
        assert_eq!((lm.final_test_accuracy(), lm.eval_return(), lm.final_train_loss()), (None, None, None));
        let cv = ms(21, 480, SummaryKind::ClassificationWithValid { final_test_loss: 0.5, final_test_accuracy: 82.5, final_valid_accuracy: 83.0, best_valid_accuracy: 83.25 });
        assert_eq!((cv.final_test_accuracy(), cv.final_valid_accuracy(), cv.best_valid_accuracy(), cv.best_test_accuracy()), (Some(82.5), Some(83.0), Some(83.25), None));
        let c = ms(21, 480, SummaryKind::Classification { final_test_loss: 0.5, final_test_accuracy: 82.5, best_test_accuracy: 83.25 });
        assert_eq!((c.final_test_accuracy(), c.best_test_accuracy(), c.best_valid_accuracy(), c.final_test_perplexity()), (Some(82.5), Some(83.25), None, None));
        let legacy = SummaryKind::Reinforcement {
            final_train_loss: None,
            legacy_final_test_loss: Some(0.25),
            final_return: Some(480.5),
            best_return: Some(500.0),
            eval_return: 499.0,
            eval_return_std: 2.5,
            env_steps: Some(2048),
        };
        let r = ms(4, 64, legacy);
        assert_eq!((r.final_train_loss(), r.final_test_loss()), (Some(0.25), None), "the old key holds a training loss");
        assert_eq!((r.final_return(), r.best_return(), r.eval_return(), r.eval_return_std(), r.env_steps()), (Some(480.5), Some(500.0), Some(499.0), Some(2.5), Some(2048)));
        assert_eq!(r.final_test_accuracy(), None);
    }

    /// A diverged run writes NaN as `null`; its summary still reads, and writes back the same.
    #[test]
    fn null_numbers_read_as_nan() {
        let json = r#"{"final_test_loss":null,"final_test_accuracy":10.0,"final_valid_accuracy":10.0,"best_valid_accuracy":10.0,"best_epoch":1,"optimizer_steps":2}"#;
        let m: ModelSummary = serde_json::from_str(json).unwrap();
        assert!(matches!(m.kind, SummaryKind::ClassificationWithValid { final_test_loss, .. } if final_test_loss.is_nan()), "{m:?}");
        assert_eq!(serde_json::to_string(&m).unwrap(), json);
    }

    /// Every committed `results/**/summary.json` (all three domains) reads, each model into the
    /// kind its keys imply, and is written back unchanged: same keys and values, and the same
    /// bytes as [`write_summary`] writes.
    #[test]
    fn committed_summaries_round_trip() {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.file_name().is_some_and(|n| n == SUMMARY_FILE) {
                    out.push(p);
                }
            }
        }
        // Exhaustive, so a new kind must be added here too.
        fn index(k: &SummaryKind) -> usize {
            match k {
                SummaryKind::LanguageModel { .. } => 0,
                SummaryKind::ClassificationWithValid { .. } => 1,
                SummaryKind::Classification { .. } => 2,
                SummaryKind::Reinforcement { .. } => 3,
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results");
        let mut files = Vec::new();
        walk(&root, &mut files);
        assert!(!files.is_empty(), "no {SUMMARY_FILE} under {}", root.display());
        let mut seen = [0usize; 4];
        for f in &files {
            let at = f.display();
            let text = std::fs::read_to_string(f).unwrap();
            let original: serde_json::Value = serde_json::from_str(&text).unwrap();
            let s: Summary = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(serde_json::to_value(&s).unwrap(), original, "{at}");
            assert_eq!(serde_json::to_string_pretty(&s).unwrap(), text, "{at}");
            assert!(!s.models.is_empty(), "{at}: no models");
            for (name, m) in &s.models {
                let has = |k: &str| original["models"][name].get(k).is_some();
                let want = if has("final_test_perplexity") {
                    0
                } else if has("final_valid_accuracy") {
                    1
                } else if has("best_test_accuracy") {
                    2
                } else if has("eval_return") {
                    3
                } else {
                    panic!("{at}: model {name} has none of the keys that tell the kinds apart")
                };
                assert_eq!(index(&m.kind), want, "{at}: model {name} read as {:?}", m.kind);
                seen[want] += 1;
            }
        }
        // The committed vision runs all have a validation split, so `Classification` (no
        // validation split) is covered by `each_kind_writes_the_flat_object_it_always_did` only;
        // every other kind must have been read here.
        assert!(seen[0] > 0 && seen[1] > 0 && seen[3] > 0, "models per kind (lm, classification+valid, classification, rl): {seen:?}");
    }
}
