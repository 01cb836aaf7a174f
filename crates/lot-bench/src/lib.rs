//! `lot bench`: our trainers' inner loops against PyTorch re-implementations of the reference's
//! (`benches/reference/*.py`), on the same synthetic input, as child processes measured the same way
//! (wall time from spawn to exit, peak RSS from `wait4`), alternating, with medians and ratios; and
//! `lot bench accuracy`, the fp32-vs-bf16 accuracy guard.
//!
//! The worker side ([`run_worker`], the hidden `lot bench-worker`) drives the trainers' own step
//! (`VisionLearner`, `LmLearner`: the [`lot::lifecycle::Learner`]s `lot train` runs; PPO runs
//! `lot train` itself); only the data is synthetic (CIFAR-shaped uint8 images, a PTB-sized token
//! stream) and nothing is evaluated, logged or checkpointed.

mod accuracy;
mod bench;
mod child;
mod guard;
mod lm;
mod machine;
mod malloc;
mod overhead;
mod perplexity;
mod ppo;
mod reference;
mod report;
pub mod roofline;
mod spec;
mod synthetic;
mod vision;
mod worker;

pub use accuracy::{accuracy_guard, accuracy_table, AccuracyModel, AccuracyOptions, AccuracyReport, AccuracyRun};
pub use bench::{add_roofline, build_report, report_table, run_bench, summarize, BenchEnvironment, BenchReport, Commands, HarnessOptions, Medians, Ratios, Side, Speedup};
pub use child::{parse_result_line, run_child, ChildRun};
pub use machine::{cpu_model, environment, libtorch_version, utc_timestamp, Environment};
pub use malloc::tune_malloc;
pub use overhead::{build_overhead_report, overhead_table, predicted_lot_step, run_overhead, LotSide, NoStudentSide, OverheadEnvironment, OverheadReport};
pub use perplexity::{perplexity_guard, perplexity_table, PerplexityModel, PerplexityOptions, PerplexityReport, PerplexityRun};
pub use reference::{default_python, default_reference_dir};
pub use report::{median, ratio, write_json};
pub use spec::{parse_spec, BenchSpec, BenchTask};
pub use synthetic::synthetic_images;
pub use worker::{result_line, run_worker, self_peak_rss_mb, WorkerResult};

/// tch as pinned in Cargo.toml / Cargo.lock (checked by a unit test).
pub const TCH_VERSION: &str = "0.24.0";

/// null → NaN on reading (serde_json writes a non-finite f64 as null), so a report with a missing
/// side (NaN medians and ratios) reads back as it was computed.
pub(crate) use lot::run::nan_if_null;

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::*;

    #[test]
    fn tch_version_constant_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
        let pos = lock.find("name = \"tch\"\nversion = \"").expect("tch in Cargo.lock");
        let rest = &lock[pos + "name = \"tch\"\nversion = \"".len()..];
        assert_eq!(&rest[..rest.find('"').unwrap()], TCH_VERSION);
    }

    /// Every report committed under benches/results reads into its type: a field renamed or
    /// retyped without the files following fails here.
    #[test]
    fn committed_reports_deserialize() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/results");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        files.sort();
        assert!(!files.is_empty(), "no reports in {}", dir.display());
        let (mut benches, mut overheads, mut guards) = (0, 0, 0);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            let what = |e: serde_json::Error| format!("{name}: {e}");
            match v["task"].as_str() {
                Some("vision" | "lstm" | "txl" | "ppo") => {
                    let rep: BenchReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert_eq!(Some(rep.task.name()), v["task"].as_str(), "{name}");
                    assert!(rep.ours.median.per_step_s.is_finite() && rep.ours.median.per_step_s > 0.0, "{name}");
                    assert_eq!(rep.ours.median.per_step_s, v["ours"]["median"]["per_step_s"].as_f64().unwrap(), "{name}");
                    assert!(rep.reference.median.per_step_s.is_finite() && rep.ratio_ours_over_reference.per_teacher_step_s.is_finite(), "{name}");
                    assert!(!rep.ours.runs.is_empty() && rep.ours.runs.iter().all(|r| r.result.per_step_s.is_finite() && r.result.threads.is_some()), "{name}");
                    assert!(rep.reference.runs.iter().all(|r| r.result.python.is_some() && r.result.torch.is_some()), "{name}");
                    assert_eq!(rep.roofline.is_some(), v.get("roofline").is_some(), "{name}");
                    if let Some(r) = &rep.roofline {
                        let a = r.achieved.as_ref().unwrap_or_else(|| panic!("{name}: roofline without achieved GFLOP/s"));
                        assert!(r.flops_per_teacher_step.is_some_and(f64::is_finite) && a.ours_gflops.is_finite(), "{name}");
                    }
                    benches += 1;
                }
                Some("overhead") => {
                    let rep: OverheadReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.lot.median_per_step_s.is_finite() && rep.no_student.median_teacher_forward_s.is_finite(), "{name}");
                    assert!(rep.no_student.runs.iter().all(|r| r.result.teacher_forward_s.is_some()), "{name}");
                    assert!(rep.predicted_lot_step_s.is_finite(), "{name}");
                    overheads += 1;
                }
                Some(other) => panic!("{name}: unknown task {other}"),
                // The guards carry no task: told apart by what they compare.
                None if v.get("teacher_difference_pct").is_some() => {
                    let rep: PerplexityReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.teacher_difference_pct.is_finite() && rep.per_model.iter().all(|p| p.fp32_mean.is_finite()), "{name}");
                    assert!(!rep.runs.is_empty(), "{name}");
                    guards += 1;
                }
                None if v.get("teacher_difference_points").is_some() => {
                    let rep: AccuracyReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.teacher_difference_points.is_finite() && !rep.runs.is_empty(), "{name}");
                    guards += 1;
                }
                None => panic!("{name}: neither a bench, an overhead nor a guard report"),
            }
        }
        assert_eq!(benches + overheads + guards, files.len());
        assert!(benches > 0 && overheads > 0, "{benches} bench and {overheads} overhead reports");
    }
}
