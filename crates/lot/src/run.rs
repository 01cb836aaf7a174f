//! The run folder: resolved config, metrics, weights, summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::config::Config;
use crate::fsio::write_atomic;

pub const CONFIG_FILE: &str = "config.toml";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const SUMMARY_FILE: &str = "summary.json";

/// Final and best metrics of one model; each domain fills its own fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Image classification and language models: the loss on the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test_loss: Option<f64>,
    /// Reinforcement learning (no test set): the training loss of the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_test_accuracy: Option<f64>,
    /// Image classification with a validation split (`data.valid_limit`): the last and the best
    /// per-epoch validation accuracy (the test accuracy is then read once, at the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_valid_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_valid_accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_test_perplexity: Option<f64>,
    /// Language models: validation perplexity of the checkpoint that was tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_valid_perplexity: Option<f64>,
    pub best_epoch: u64,
    pub optimizer_steps: u64,
    // Reinforcement learning.
    /// Mean raw return of the last 20 training episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_return: Option<f64>,
    /// Best mean raw return over any 20 consecutive training episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_return: Option<f64>,
    /// Mean and std of the return over `eval.episodes` episodes played after training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_return: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_return_std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_steps: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub name: String,
    pub mode: String,
    pub seed: u64,
    pub epochs: u64,
    pub teacher_steps: u64,
    pub wall_s: f64,
    pub models: BTreeMap<String, ModelSummary>,
}

impl Summary {
    /// A finished run's summary, its models to be added.
    pub fn new(cfg: &Config, epochs: u64, teacher_steps: u64, wall_s: f64) -> Self {
        Self { name: cfg.run.name.clone(), mode: cfg.lot.mode.name().into(), seed: cfg.run.seed, epochs, teacher_steps, wall_s, models: BTreeMap::new() }
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

/// Create the run folder and check it is writable before any training starts.
pub fn prepare_run_dir(dir: &Path, cfg: &Config) -> Result<()> {
    if dir.join(METRICS_FILE).exists() {
        bail_input!("output folder {} already holds a run (metrics.jsonl); choose another with --out", dir.display());
    }
    std::fs::create_dir_all(dir).map_err(|e| crate::error::input_err(format!("output folder {}: cannot create: {e}", dir.display())))?;
    write_atomic(&dir.join(CONFIG_FILE), cfg.to_toml().as_bytes())
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
