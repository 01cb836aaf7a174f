//! `lot bench`: our worker and the reference program alternately, as measured children, and
//! the report that compares their medians.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::child::{run_child, ChildRun};
use crate::machine::{environment, load_avg, Environment};
use crate::report::{fmt, median, ratio};
use crate::{nan_if_null, roofline, BenchSpec, BenchTask};

/// Where the harness finds things and what it runs.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    pub repeats: usize,
    /// This binary (run as `bench-worker`).
    pub lot_exe: PathBuf,
    pub python: PathBuf,
    pub reference_dir: PathBuf,
    /// Skip the reference program (a quick check of our side only).
    pub ours_only: bool,
}

/// A `lot bench` report's environment: the machine, the reference's Python and PyTorch, and each
/// side's threads. The four are always written (null when the reference did not run), and only
/// here: flattened, the JSON keeps the one object the reports have always had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchEnvironment {
    #[serde(flatten)]
    pub machine: Environment,
    pub python: Option<String>,
    pub python_torch: Option<String>,
    pub threads_ours: Option<usize>,
    pub threads_reference: Option<usize>,
}

/// Medians over one side's runs of the fields the report compares; NaN (null in the JSON) where
/// no run has the field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Medians {
    /// Spawn to exit.
    #[serde(deserialize_with = "nan_if_null")]
    pub wall_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub cpu_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_step_s: f64,
    /// From `wait4`, the child or its largest reaped descendant.
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_rss_mb: f64,
    /// What the child printed as its own peak RSS.
    #[serde(deserialize_with = "nan_if_null")]
    pub self_reported_peak_rss_mb: f64,
}

/// Medians over runs of the fields the report compares.
pub fn summarize(runs: &[ChildRun]) -> Medians {
    let col = |f: &dyn Fn(&ChildRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Medians {
        wall_s: col(&|r| r.wall_s),
        cpu_s: col(&|r| r.cpu_s.unwrap_or(f64::NAN)),
        train_s: col(&|r| r.result.train_s),
        per_step_s: col(&|r| r.result.per_step_s),
        peak_rss_mb: col(&|r| r.peak_rss_mb.unwrap_or(f64::NAN)),
        self_reported_peak_rss_mb: col(&|r| r.result.peak_rss_mb.unwrap_or(f64::NAN)),
    }
}

/// The command lines both sides ran, quoted for a shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commands {
    pub ours: String,
    pub reference: String,
}

/// One side of a report: every run and their medians.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Side {
    pub runs: Vec<ChildRun>,
    pub median: Medians,
}

/// ours / reference of the medians (below 1: we are faster or smaller); NaN (null) when a side is
/// missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    #[serde(deserialize_with = "nan_if_null")]
    pub end_to_end_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub cpu_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_teacher_step_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_rss_mb: f64,
}

/// reference / ours of the median times (above 1: we are faster); NaN (null) when a side is missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Speedup {
    #[serde(deserialize_with = "nan_if_null")]
    pub end_to_end: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_teacher_step: f64,
}

/// The `lot bench` report: settings, machine, versions, every run, medians, ratios.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub task: BenchTask,
    pub spec: BenchSpec,
    pub environment: BenchEnvironment,
    pub commands: Commands,
    pub ours: Side,
    pub reference: Side,
    pub ratio_ours_over_reference: Ratios,
    pub speedup: Speedup,
    /// Added by [`add_roofline`] after the runs; reports from before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline: Option<roofline::Roofline>,
}

/// The report from both sides' runs (no roofline: [`add_roofline`] measures the peak after the runs).
pub fn build_report(spec: &BenchSpec, ours: &[ChildRun], reference: &[ChildRun], environment: BenchEnvironment, commands: Commands) -> BenchReport {
    let (mo, mr) = (summarize(ours), summarize(reference));
    let speed = |x: f64| if x.is_finite() && x > 0.0 { 1.0 / x } else { f64::NAN };
    let ratio_ours_over_reference = Ratios {
        end_to_end_s: ratio(mo.wall_s, mr.wall_s),
        cpu_s: ratio(mo.cpu_s, mr.cpu_s),
        per_teacher_step_s: ratio(mo.per_step_s, mr.per_step_s),
        peak_rss_mb: ratio(mo.peak_rss_mb, mr.peak_rss_mb),
    };
    let speedup = Speedup { end_to_end: speed(ratio_ours_over_reference.end_to_end_s), per_teacher_step: speed(ratio_ours_over_reference.per_teacher_step_s) };
    BenchReport {
        task: spec.task,
        spec: spec.clone(),
        environment,
        commands,
        ours: Side { runs: ours.to_vec(), median: mo },
        reference: Side { runs: reference.to_vec(), median: mr },
        ratio_ours_over_reference,
        speedup,
        roofline: None,
    }
}

/// A short human-readable table of a report.
pub fn report_table(rep: &BenchReport) -> String {
    let spec = &rep.spec;
    let task = if rep.task == BenchTask::Ppo { format!("ppo ({})", spec.env) } else { rep.task.name().to_string() };
    let mut s = format!(
        "{} bench: {} teacher steps (+{} warm-up), {} repeats, precision {}, channels_last {}, device {}\n",
        task,
        spec.steps,
        spec.warmup,
        rep.ours.runs.len(),
        spec.precision.name(),
        spec.channels_last,
        spec.device,
    );
    s.push_str("| | end-to-end s | s / teacher step | CPU s | peak RSS MiB |\n|---|---|---|---|---|\n");
    for (label, side) in [("lot (ours)", &rep.ours), ("PyTorch reference", &rep.reference)] {
        let m = &side.median;
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} |\n",
            fmt(m.wall_s, 2),
            fmt(m.per_step_s, 3),
            fmt(m.cpu_s, 1),
            fmt(m.peak_rss_mb, 0)
        ));
    }
    let ro = &rep.ratio_ours_over_reference;
    s.push_str(&format!(
        "| ours / reference | {} | {} | {} | {} |\n",
        fmt(ro.end_to_end_s, 3),
        fmt(ro.per_teacher_step_s, 3),
        fmt(ro.cpu_s, 3),
        fmt(ro.peak_rss_mb, 3)
    ));
    s.push_str(&format!(
        "speed-up (reference / ours): end-to-end {}×, per teacher step {}×\n",
        fmt(rep.speedup.end_to_end, 2),
        fmt(rep.speedup.per_teacher_step, 2)
    ));
    if let Some(r) = &rep.roofline {
        s.push_str(&roofline::roofline_line(r, roofline::ran_in(spec)));
    }
    s
}

/// Run the bench: ours and the reference alternately (the order flips every repeat), `repeats`
/// times each, then the report, without its roofline ([`add_roofline`]).
pub fn run_bench(spec: &BenchSpec, h: &HarnessOptions, mut log: impl FnMut(&str)) -> Result<BenchReport> {
    spec.check_env()?;
    let spec_json = serde_json::to_string(spec)?;
    let program = h.reference_dir.join(spec.task.program());
    if !h.ours_only && !program.exists() {
        lot::bail_input!("{}: reference program not found (give --reference-dir)", program.display());
    }
    let ours_cmd = || {
        let mut c = Command::new(&h.lot_exe);
        c.arg("bench-worker").arg("--spec").arg(&spec_json).env("LOT_NO_PROGRESS", "1");
        c
    };
    let ref_cmd = || {
        let mut c = Command::new(&h.python);
        c.arg("-W").arg("ignore").arg(&program).args(spec.reference_args());
        c
    };
    let load_start = load_avg();
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for r in 0..h.repeats.max(1) {
        let order: &[bool] = if r % 2 == 0 { &[true, false] } else { &[false, true] };
        for &mine in order {
            if mine {
                let run = run_child(&mut ours_cmd())?;
                log(&format!("repeat {}/{}: lot        {}", r + 1, h.repeats, run.line()));
                ours.push(run);
            } else if !h.ours_only {
                let run = run_child(&mut ref_cmd())?;
                log(&format!("repeat {}/{}: reference  {}", r + 1, h.repeats, run.line()));
                reference.push(run);
            }
        }
    }
    let env = BenchEnvironment {
        machine: environment(load_start),
        python: reference.first().and_then(|r| r.result.python.clone()),
        python_torch: reference.first().and_then(|r| r.result.torch.clone()),
        threads_ours: ours.first().and_then(|r| r.result.threads),
        threads_reference: reference.first().and_then(|r| r.result.threads),
    };
    let quote = |c: &Command| {
        std::iter::once(c.get_program()).chain(c.get_args()).map(|a| {
            let s = a.to_string_lossy();
            if s.contains(|ch: char| ch.is_whitespace() || ch == '"' || ch == '{') { format!("'{s}'") } else { s.into_owned() }
        }).collect::<Vec<_>>().join(" ")
    };
    let commands = Commands { ours: quote(&ours_cmd()), reference: quote(&ref_cmd()) };
    Ok(build_report(spec, &ours, &reference, env, commands))
}

/// Add the roofline to a finished bench's report: the machine's matmul peaks measured here, after
/// the runs, with the bench's thread count ([`roofline::measure_roofline`]: bounded probes, a bf16
/// peak only where it is native or the bench ran in bf16). Callers write the report first, so a
/// bench stopped during the probes still leaves one.
pub fn add_roofline(rep: &mut BenchReport, mut log: impl FnMut(&str)) {
    let (ours, reference) = (rep.ours.median.per_step_s, rep.reference.median.per_step_s);
    rep.roofline = Some(roofline::measure_roofline(&rep.spec, ours, reference, &mut log));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkerResult;
    fn run(wall: f64, per_step: f64, rss: f64) -> ChildRun {
        let result = WorkerResult { per_step_s: per_step, train_s: per_step * 10.0, peak_rss_mb: Some(rss), ..Default::default() };
        ChildRun { wall_s: wall, peak_rss_mb: Some(rss), cpu_s: Some(wall * 1.5), result }
    }

    fn bench_env() -> BenchEnvironment {
        BenchEnvironment { machine: environment(None), python: None, python_torch: None, threads_ours: Some(2), threads_reference: None }
    }

    #[test]
    fn report_shape_medians_and_ratios() {
        let spec = BenchSpec::vision();
        let ours = vec![run(10.0, 1.0, 500.0), run(12.0, 1.2, 510.0), run(11.0, 0.9, 505.0)];
        let reference = vec![run(30.0, 2.0, 1000.0), run(20.0, 2.2, 1010.0), run(25.0, 2.4, 990.0)];
        let commands = Commands { ours: "lot".into(), reference: "py".into() };
        let rep = build_report(&spec, &ours, &reference, bench_env(), commands);
        assert_eq!(rep.task, BenchTask::Vision);
        assert_eq!(rep.spec.batch_size, 256);
        assert_eq!(rep.ours.runs.len(), 3);
        assert_eq!(rep.ours.median.wall_s, 11.0);
        assert_eq!(rep.reference.median.per_step_s, 2.2);
        assert_eq!(rep.ours.median.peak_rss_mb, 505.0);
        assert_eq!(rep.ours.median.self_reported_peak_rss_mb, 505.0);
        assert_eq!(rep.ours.median.train_s, 10.0);
        assert_eq!(rep.ours.median.cpu_s, 16.5);
        let r = &rep.ratio_ours_over_reference;
        assert!((r.end_to_end_s - 11.0 / 25.0).abs() < 1e-12);
        assert!((r.per_teacher_step_s - 1.0 / 2.2).abs() < 1e-12);
        assert!((r.peak_rss_mb - 505.0 / 1000.0).abs() < 1e-12);
        assert!((r.cpu_s - 16.5 / 37.5).abs() < 1e-12);
        assert!((rep.speedup.per_teacher_step - 2.2).abs() < 1e-12);
        assert!((rep.speedup.end_to_end - 25.0 / 11.0).abs() < 1e-12);
        assert!(rep.roofline.is_none());
        // The JSON keeps the report's keys and nesting: environment flat, commands, no roofline yet.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["task"], "vision");
        assert_eq!(v["spec"]["batch_size"], 256);
        assert_eq!(v["ours"]["median"]["wall_s"], 11.0);
        assert_eq!(v["ours"]["runs"][0]["result"]["per_step_s"], 1.0);
        assert_eq!(v["ratio_ours_over_reference"]["per_teacher_step_s"].as_f64(), Some(r.per_teacher_step_s));
        assert_eq!(v["commands"]["reference"], "py");
        let e = &v["environment"];
        assert!(e["cpu"].is_string() && e["python"].is_null() && e["threads_ours"] == 2 && e.get("machine").is_none(), "{e}");
        assert!(v.get("roofline").is_none());
        // The report is plain JSON (no NaN sneaks in as invalid output), reads back the same, and
        // the table names both sides.
        let text = serde_json::to_string_pretty(&rep).unwrap();
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.ours.median, rep.ours.median);
        assert_eq!(back.reference.median.peak_rss_mb, 1000.0);
        assert_eq!(back.ratio_ours_over_reference, rep.ratio_ours_over_reference);
        assert_eq!(back.speedup, rep.speedup);
        assert_eq!(back.environment, rep.environment);
        assert_eq!(back.ours.runs[2].result, rep.ours.runs[2].result);
        let t = report_table(&rep);
        assert!(t.contains("lot (ours)") && t.contains("PyTorch reference") && t.contains("2.20×"), "{t}");
        assert!(!t.contains("roofline"), "{t}");
        // With the roofline run_bench adds, the table gains its line.
        let mut with = rep.clone();
        with.roofline = Some(roofline::roofline(&spec, with.ours.median.per_step_s, with.reference.median.per_step_s, 100.0, 200.0));
        assert!(report_table(&with).contains("roofline:"), "{}", report_table(&with));
        assert!(serde_json::to_value(&with).unwrap()["roofline"]["ours_gflops"].is_number());
    }

    #[test]
    fn missing_reference_gives_null_ratios_not_invalid_json() {
        let commands = Commands { ours: "lot".into(), reference: "py".into() };
        let rep = build_report(&BenchSpec::lstm(), &[run(1.0, 0.1, 10.0)], &[], bench_env(), commands);
        let r = &rep.ratio_ours_over_reference;
        for (k, x) in [("end_to_end_s", r.end_to_end_s), ("cpu_s", r.cpu_s), ("per_teacher_step_s", r.per_teacher_step_s), ("peak_rss_mb", r.peak_rss_mb)] {
            assert!(x.is_nan(), "{k}: {x}");
        }
        assert!(rep.reference.median.per_step_s.is_nan() && rep.speedup.per_teacher_step.is_nan(), "{rep:?}");
        assert_eq!(rep.ours.median.per_step_s, 0.1);
        // NaN is written as null, and null reads back as NaN.
        let v = serde_json::to_value(&rep).unwrap();
        for k in ["end_to_end_s", "cpu_s", "per_teacher_step_s", "peak_rss_mb"] {
            assert!(v["ratio_ours_over_reference"][k].is_null(), "{k}: {}", v["ratio_ours_over_reference"][k]);
        }
        assert!(v["reference"]["median"]["per_step_s"].is_null() && v["speedup"]["per_teacher_step"].is_null(), "{v}");
        assert_eq!(v["ours"]["median"]["per_step_s"], 0.1);
        assert_eq!(v["reference"]["runs"].as_array().map(Vec::len), Some(0));
        let text = serde_json::to_string(&rep).unwrap();
        assert!(!text.contains("NaN"), "{text}");
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert!(back.ratio_ours_over_reference.per_teacher_step_s.is_nan() && back.reference.median.wall_s.is_nan());
        assert!(back.speedup.end_to_end.is_nan());
        assert_eq!(back.ours.median.per_step_s, 0.1);
        assert!(back.reference.runs.is_empty());
    }
}
