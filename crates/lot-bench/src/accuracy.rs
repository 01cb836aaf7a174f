//! `lot bench accuracy`: the vision models' bf16 + channels-last fast path against fp32, by
//! final test accuracy.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use lot::config::Config;
use lot::precision::Precision;

use crate::guard::train_or_reuse;
use crate::nan_if_null;
use crate::report::fmt;

#[derive(Clone, Debug)]
pub struct AccuracyOptions {
    /// The config trained (Fashion-MNIST ResNet-20 LoT by default): its name and TOML text.
    pub config_name: String,
    pub config_text: String,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub train_limit: usize,
    pub test_limit: usize,
    /// Further `--set` overrides for every run.
    pub sets: Vec<String>,
    /// Folder for the runs (`<precision>-s<seed>/`) and the report.
    pub out: PathBuf,
    /// The bound on |mean bf16 − mean fp32| teacher test accuracy, points.
    pub tolerance: f64,
}

/// One model of one accuracy-guard run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRun {
    pub precision: Precision,
    pub seed: u64,
    pub model: String,
    /// Test accuracy, %; null where the run's summary has none.
    pub final_test_accuracy: Option<f64>,
    pub best_test_accuracy: Option<f64>,
    pub wall_s: f64,
}

/// A model's mean final test accuracy over the seeds in each precision, %.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyModel {
    pub model: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_mean: f64,
    /// bf16 − fp32, points.
    #[serde(deserialize_with = "nan_if_null")]
    pub difference: f64,
}

/// The accuracy guard's report (`lot bench accuracy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    pub config: String,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub train_limit: usize,
    pub test_limit: usize,
    pub runs: Vec<AccuracyRun>,
    pub per_model: Vec<AccuracyModel>,
    #[serde(deserialize_with = "nan_if_null")]
    pub teacher_difference_points: f64,
    pub tolerance_points: f64,
    pub within_tolerance: bool,
}

/// Train the config in fp32 and in bf16 + channels-last with the same seeds (finished runs in
/// `out` are reused), and compare the final test accuracies.
pub fn accuracy_guard(o: &AccuracyOptions, mut log: impl FnMut(&str)) -> Result<AccuracyReport> {
    let text = &o.config_text;
    let mut rows = Vec::new();
    for &seed in &o.seeds {
        for (prec, cl) in [(Precision::Fp32, false), (Precision::Bf16, true)] {
            let mut sets = o.sets.clone();
            sets.extend([
                format!("run.seed={seed}"),
                format!("train.precision={}", prec.name()),
                format!("train.channels_last={cl}"),
                format!("train.epochs={}", o.epochs),
                format!("data.train_limit={}", o.train_limit),
                format!("data.test_limit={}", o.test_limit),
            ]);
            let cfg = Config::from_toml(text, &sets, &o.config_name)?;
            let dir = o.out.join(format!("{}-s{seed}", prec.name()));
            let summary = train_or_reuse(&cfg, &dir, &mut log)?;
            for (model, ms) in &summary.models {
                rows.push(AccuracyRun {
                    precision: prec,
                    seed,
                    model: model.clone(),
                    final_test_accuracy: ms.final_test_accuracy(),
                    best_test_accuracy: ms.best_test_accuracy(),
                    wall_s: summary.wall_s,
                });
            }
        }
    }
    let mean = |prec: Precision, model: &str| {
        let v: Vec<f64> = rows.iter().filter(|r| r.precision == prec && r.model == model).filter_map(|r| r.final_test_accuracy).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut models: Vec<String> = rows.iter().map(|r| r.model.clone()).collect();
    models.sort();
    models.dedup();
    let per_model: Vec<AccuracyModel> = models
        .iter()
        .map(|m| {
            let (a, b) = (mean(Precision::Fp32, m), mean(Precision::Bf16, m));
            AccuracyModel { model: m.clone(), fp32_mean: a, bf16_mean: b, difference: b - a }
        })
        .collect();
    let teacher_diff = per_model.iter().find(|p| p.model == "teacher").map_or(f64::NAN, |p| p.difference);
    Ok(AccuracyReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        epochs: o.epochs,
        train_limit: o.train_limit,
        test_limit: o.test_limit,
        runs: rows,
        per_model,
        teacher_difference_points: teacher_diff,
        tolerance_points: o.tolerance,
        within_tolerance: teacher_diff.abs() <= o.tolerance,
    })
}

/// Markdown table of an accuracy-guard report.
pub fn accuracy_table(rep: &AccuracyReport) -> String {
    let mut s = String::from("| model | fp32 mean test acc % | bf16 mean test acc % | bf16 − fp32 (points) |\n|---|---|---|---|\n");
    for p in &rep.per_model {
        s.push_str(&format!("| {} | {} | {} | {} |\n", p.model, fmt(p.fp32_mean, 2), fmt(p.bf16_mean, 2), fmt(p.difference, 2)));
    }
    s.push_str(&format!(
        "teacher: |difference| {} points, tolerance {} → {}\n",
        fmt(rep.teacher_difference_points.abs(), 2),
        fmt(rep.tolerance_points, 2),
        if rep.within_tolerance { "within" } else { "NOT within" }
    ));
    s
}
