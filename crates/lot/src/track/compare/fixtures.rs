//! Runs made in code for the tests of `lot compare`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::run::{ModelSummary, Summary, SummaryKind};

use super::runs::RunInfo;

/// A vision model without a validation split.
pub(super) fn classification(final_test_accuracy: f64, best_test_accuracy: f64) -> ModelSummary {
    ModelSummary { best_epoch: 0, optimizer_steps: 0, kind: SummaryKind::Classification { final_test_loss: 0.5, final_test_accuracy, best_test_accuracy } }
}

pub(super) fn run_info(dir: &str, name: &str, mode: &str, seed: u64, extra: &[(&str, &str)], acc: f64) -> RunInfo {
    let mut config: BTreeMap<String, String> = [("task", "vision"), ("run.name", name), ("run.seed", "0"), ("lot.mode", mode), ("lot.alpha", "0.5"), ("data.dir", dir)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    config.insert("run.seed".into(), seed.to_string());
    for (k, v) in extra {
        config.insert(k.to_string(), v.to_string());
    }
    let mut models = BTreeMap::new();
    models.insert("teacher".to_string(), classification(acc, acc + 1.0));
    RunInfo { dir: PathBuf::from(dir), summary: Summary { name: name.into(), mode: mode.into(), seed, ..Default::default() }, config }
        .with_models(models)
}

impl RunInfo {
    pub(super) fn with_models(mut self, m: BTreeMap<String, ModelSummary>) -> Self {
        self.summary.models = m;
        self
    }
}
