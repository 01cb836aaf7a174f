//! `lot bench accuracy`: the vision models' bf16 + channels-last fast path against fp32, by
//! final test accuracy.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use lot::precision::Precision;

use crate::guard::{compare, Difference, GuardRow, PrecisionGuard};
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
/// `out` are reused), and compare the final test accuracies: bf16 − fp32, in points.
pub fn accuracy_guard(o: &AccuracyOptions, mut log: impl FnMut(&str)) -> Result<AccuracyReport> {
    let sizes = [format!("train.epochs={}", o.epochs), format!("data.train_limit={}", o.train_limit), format!("data.test_limit={}", o.test_limit)];
    let arm = |channels_last: bool| [vec![format!("train.channels_last={channels_last}")], sizes.to_vec()].concat();
    let guard = PrecisionGuard {
        config_name: &o.config_name,
        config_text: &o.config_text,
        seeds: &o.seeds,
        sets: &o.sets,
        out: &o.out,
        arms: [(Precision::Fp32, arm(false)), (Precision::Bf16, arm(true))],
    };
    let runs = guard.train(
        |_| Ok(()),
        |precision, seed, model, ms, wall_s| AccuracyRun {
            precision,
            seed,
            model: model.to_string(),
            final_test_accuracy: ms.final_test_accuracy(),
            best_test_accuracy: ms.best_test_accuracy(),
            wall_s,
        },
        &mut log,
    )?;
    let (per_model, teacher_difference, within_tolerance) = compare_runs(&runs, o.tolerance);
    Ok(AccuracyReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        epochs: o.epochs,
        train_limit: o.train_limit,
        test_limit: o.test_limit,
        runs,
        per_model,
        teacher_difference_points: teacher_difference,
        tolerance_points: o.tolerance,
        within_tolerance,
    })
}

/// Each model's mean final test accuracy in fp32 and bf16 and their difference in points (models
/// by name), the teacher's difference, and whether it is within `tolerance` points.
fn compare_runs(runs: &[AccuracyRun], tolerance: f64) -> (Vec<AccuracyModel>, f64, bool) {
    let v = compare(runs, Difference::Absolute, tolerance);
    let per_model = v.per_model.into_iter().map(|p| AccuracyModel { model: p.model, fp32_mean: p.fp32.0, bf16_mean: p.bf16.0, difference: p.difference }).collect();
    (per_model, v.teacher_difference, v.within_tolerance)
}

impl GuardRow for AccuracyRun {
    fn precision(&self) -> Precision {
        self.precision
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn metric(&self) -> Option<f64> {
        self.final_test_accuracy
    }
    fn wall_s(&self) -> f64 {
        self.wall_s
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(precision: Precision, seed: u64, model: &str, acc: f64) -> AccuracyRun {
        AccuracyRun { precision, seed, model: model.into(), final_test_accuracy: Some(acc), best_test_accuracy: Some(acc + 1.0), wall_s: 10.0 }
    }

    /// By hand: teacher fp32 90 and 92 (mean 91), bf16 90 and 91 (mean 90.5): −0.5 points; the
    /// student 80 in fp32 and 82 in bf16: +2 points. The verdict is the teacher's alone, and the
    /// mean is of the final accuracies, not the best.
    #[test]
    fn accuracy_difference_is_bf16_minus_fp32_in_points_for_the_teacher() {
        use Precision::{Bf16, Fp32};
        let runs = [run(Fp32, 0, "student0", 80.0), run(Fp32, 0, "teacher", 90.0), run(Bf16, 0, "student0", 82.0), run(Bf16, 0, "teacher", 90.0), run(Fp32, 1, "teacher", 92.0), run(Bf16, 1, "teacher", 91.0)];
        let (per_model, teacher, within) = compare_runs(&runs, 0.5);
        let student = AccuracyModel { model: "student0".into(), fp32_mean: 80.0, bf16_mean: 82.0, difference: 2.0 };
        let t = AccuracyModel { model: "teacher".into(), fp32_mean: 91.0, bf16_mean: 90.5, difference: -0.5 };
        assert_eq!(per_model, [student, t]);
        assert_eq!((teacher, within), (-0.5, true));
        assert!(!compare_runs(&runs, 0.49).2);
    }
}
