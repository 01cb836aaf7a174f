//! `lot bench overhead`: LoT's measured cost over no_student against what the extra passes
//! predict.

use std::process::Command;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bench::HarnessOptions;
use crate::child::{run_child, ChildRun};
use crate::machine::{environment, load_avg, Environment};
use crate::report::{fmt, median, ratio};
use crate::{nan_if_null, BenchSpec, BenchTask, WorkerResult};

/// The overhead report's environment: the machine and the LoT worker's threads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverheadEnvironment {
    #[serde(flatten)]
    pub machine: Environment,
    pub threads: Option<usize>,
}

/// What a LoT teacher step should cost, from the no_student step it extends: the joint step is
/// the teacher's training step plus K students' (same depth: same cost), and each of the N−1 extra
/// student steps is K student training steps plus one teacher forward without autograd (shared by
/// the K students). Data batches are prepared on worker threads either way.
pub fn predicted_lot_step(no_student_step: f64, teacher_forward: f64, students: usize, student_steps: usize) -> f64 {
    let (k, n) = (students as f64, student_steps.max(1) as f64);
    (1.0 + k * n) * no_student_step + (n - 1.0) * teacher_forward
}

/// The no_student side of the overhead report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoStudentSide {
    pub runs: Vec<ChildRun>,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_per_step_s: f64,
    /// The teacher's no-grad forward per step (what each extra student step adds).
    #[serde(deserialize_with = "nan_if_null")]
    pub median_teacher_forward_s: f64,
}

/// The LoT side of the overhead report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LotSide {
    pub runs: Vec<ChildRun>,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_per_step_s: f64,
}

/// The overhead report (`lot bench overhead`): LoT's measured cost over no_student against
/// [`predicted_lot_step`]. Numbers are NaN (null in the JSON) when a side has no runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverheadReport {
    /// Always "overhead": what tells this report from a [`crate::BenchReport`] in a results folder.
    pub task: String,
    pub spec: BenchSpec,
    pub environment: OverheadEnvironment,
    pub no_student: NoStudentSide,
    pub lot: LotSide,
    #[serde(deserialize_with = "nan_if_null")]
    pub measured_lot_over_no_student: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_lot_over_no_student: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_lot_step_s: f64,
    /// measured / predicted − 1.
    #[serde(deserialize_with = "nan_if_null")]
    pub deviation_from_prediction: f64,
    pub within_5_percent: bool,
}

/// The overhead report from the no_student runs (which carry `teacher_forward_s`) and the LoT runs.
pub fn build_overhead_report(spec: &BenchSpec, no_student: &[ChildRun], lot: &[ChildRun], environment: OverheadEnvironment) -> OverheadReport {
    let med = |runs: &[ChildRun], f: fn(&WorkerResult) -> f64| median(&runs.iter().map(|r| f(&r.result)).collect::<Vec<_>>());
    let t_ns = med(no_student, |r| r.per_step_s);
    let t_f = med(no_student, |r| r.teacher_forward_s.unwrap_or(f64::NAN));
    let t_lot = med(lot, |r| r.per_step_s);
    let predicted = predicted_lot_step(t_ns, t_f, spec.students, spec.student_steps);
    let deviation = t_lot / predicted - 1.0;
    // Non-finite numbers are written as null (serde_json does so for any f64); keep them NaN here.
    let finite = |x: f64| if x.is_finite() { x } else { f64::NAN };
    OverheadReport {
        task: "overhead".into(),
        spec: spec.clone(),
        environment,
        no_student: NoStudentSide { runs: no_student.to_vec(), median_per_step_s: finite(t_ns), median_teacher_forward_s: finite(t_f) },
        lot: LotSide { runs: lot.to_vec(), median_per_step_s: finite(t_lot) },
        measured_lot_over_no_student: finite(ratio(t_lot, t_ns)),
        predicted_lot_over_no_student: finite(ratio(predicted, t_ns)),
        predicted_lot_step_s: finite(predicted),
        deviation_from_prediction: finite(deviation),
        within_5_percent: deviation.is_finite() && deviation.abs() <= 0.05,
    }
}

pub fn overhead_table(rep: &OverheadReport) -> String {
    let spec = &rep.spec;
    let mut s = format!(
        "LoT cost over no_student: ResNet-{} teacher and K = {} student(s), N = {}, batch {}, precision {}, channels_last {}, device {}, {} repeats\n",
        spec.depth,
        spec.students,
        spec.student_steps,
        spec.batch_size,
        spec.precision.name(),
        spec.channels_last,
        spec.device,
        rep.lot.runs.len(),
    );
    s.push_str("| | s / teacher step |\n|---|---|\n");
    s.push_str(&format!("| no_student (teacher training step) | {} |\n", fmt(rep.no_student.median_per_step_s, 3)));
    s.push_str(&format!("| teacher forward, no autograd | {} |\n", fmt(rep.no_student.median_teacher_forward_s, 3)));
    s.push_str(&format!("| LoT predicted: (1+K·N)·no_student + (N−1)·forward | {} |\n", fmt(rep.predicted_lot_step_s, 3)));
    s.push_str(&format!("| LoT measured | {} |\n", fmt(rep.lot.median_per_step_s, 3)));
    s.push_str(&format!(
        "LoT / no_student: measured {}×, predicted {}×; measured vs predicted {}% ({})\n",
        fmt(rep.measured_lot_over_no_student, 3),
        fmt(rep.predicted_lot_over_no_student, 3),
        fmt(100.0 * rep.deviation_from_prediction, 1),
        if rep.within_5_percent { "within 5 %" } else { "NOT within 5 %" },
    ));
    s
}

/// Our vision worker with K = 0 (no_student) and with K students, alternating, `repeats` times each.
pub fn run_overhead(spec: &BenchSpec, h: &HarnessOptions, mut log: impl FnMut(&str)) -> Result<OverheadReport> {
    if spec.task != BenchTask::Vision {
        lot::bail_input!("the overhead bench runs the vision loop");
    }
    let (td, sd) = spec.depths()?;
    if td != sd || spec.students == 0 {
        lot::bail_input!("--depth: the overhead prediction needs equal teacher and student depths and K >= 1 (got {}, K = {})", spec.depth, spec.students);
    }
    let mut base = spec.clone();
    base.students = 0;
    let cmd = |s: &BenchSpec| -> Result<Command> {
        let mut c = Command::new(&h.lot_exe);
        c.arg("bench-worker").arg("--spec").arg(serde_json::to_string(s)?).env("LOT_NO_PROGRESS", "1");
        Ok(c)
    };
    let load_start = load_avg();
    let (mut ns, mut lot) = (Vec::new(), Vec::new());
    for r in 0..h.repeats.max(1) {
        let order: &[bool] = if r % 2 == 0 { &[false, true] } else { &[true, false] };
        for &is_lot in order {
            let run = run_child(&mut cmd(if is_lot { spec } else { &base })?)?;
            log(&format!("repeat {}/{}: {} {}", r + 1, h.repeats, if is_lot { "lot       " } else { "no_student" }, run.line()));
            if is_lot { lot.push(run) } else { ns.push(run) }
        }
    }
    let env = OverheadEnvironment { machine: environment(load_start), threads: lot.first().and_then(|r| r.result.threads) };
    Ok(build_overhead_report(spec, &ns, &lot, env))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_prediction_counts_the_extra_passes() {
        // K = 1, N = 2: teacher step + 2 student steps + 1 teacher forward.
        assert_eq!(predicted_lot_step(1.0, 0.25, 1, 2), 3.25);
        // K = 2, N = 3: 1 + 6 training steps, 2 teacher forwards (one per extra student step).
        assert_eq!(predicted_lot_step(0.5, 0.1, 2, 3), 3.5 + 0.2);
        // N = 1: the joint step only.
        assert_eq!(predicted_lot_step(2.0, 9.0, 1, 1), 4.0);
        let mk = |per: f64, fwd: Option<f64>| ChildRun {
            wall_s: 1.0,
            peak_rss_mb: None,
            cpu_s: None,
            result: WorkerResult { per_step_s: per, teacher_forward_s: fwd, ..Default::default() },
        };
        let mut spec = BenchSpec::vision();
        spec.student_steps = 2;
        let ns = [mk(1.0, Some(0.3)), mk(1.2, Some(0.2)), mk(0.8, Some(0.4))];
        let lot = [mk(3.5, None), mk(3.3, None), mk(3.4, None)];
        let rep = build_overhead_report(&spec, &ns, &lot, overhead_env());
        // Medians 1.0 and 0.3 → predicted 3.3; measured 3.4 → +3.03 %.
        assert!((rep.predicted_lot_step_s - 3.3).abs() < 1e-12);
        assert!((rep.deviation_from_prediction - (3.4 / 3.3 - 1.0)).abs() < 1e-12);
        assert!(rep.within_5_percent);
        assert!((rep.measured_lot_over_no_student - 3.4).abs() < 1e-12);
        assert_eq!((rep.no_student.median_per_step_s, rep.no_student.median_teacher_forward_s, rep.lot.median_per_step_s), (1.0, 0.3, 3.4));
        let slow = [mk(3.6, None)];
        assert!(!build_overhead_report(&spec, &ns, &slow, overhead_env()).within_5_percent);
        assert!(overhead_table(&rep).contains("within 5 %"));
        // The JSON keeps the report's shape and reads back.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["task"], "overhead");
        assert_eq!(v["no_student"]["median_teacher_forward_s"], 0.3);
        assert_eq!(v["lot"]["runs"].as_array().unwrap().len(), 3);
        assert!(v["environment"]["threads"].is_null() && v["environment"]["cpu"].is_string(), "{}", v["environment"]);
        let back: OverheadReport = serde_json::from_value(v).unwrap();
        assert_eq!(back.predicted_lot_step_s, rep.predicted_lot_step_s);
        assert_eq!(back.no_student.runs[0].result.teacher_forward_s, Some(0.3));
        // Missing runs give nulls, not NaN in the JSON, and NaN again when read back.
        let empty = build_overhead_report(&spec, &[], &[], overhead_env());
        assert!(empty.deviation_from_prediction.is_nan() && !empty.within_5_percent);
        let v = serde_json::to_value(&empty).unwrap();
        assert!(v["deviation_from_prediction"].is_null() && v["within_5_percent"] == false);
        assert!(v["predicted_lot_step_s"].is_null() && v["measured_lot_over_no_student"].is_null(), "{v}");
        let back: OverheadReport = serde_json::from_value(v).unwrap();
        assert!(back.predicted_lot_step_s.is_nan() && back.measured_lot_over_no_student.is_nan());
    }

    fn overhead_env() -> OverheadEnvironment {
        OverheadEnvironment { machine: environment(None), threads: None }
    }
}
