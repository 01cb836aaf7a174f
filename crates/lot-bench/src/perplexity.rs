//! `lot bench perplexity`: the language models' bf16 fast path against fp32, by validation
//! perplexity.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use lot::precision::Precision;

use crate::guard::{compare, Difference, GuardRow, PrecisionGuard};
use crate::nan_if_null;
use crate::report::fmt;

#[derive(Clone, Debug)]
pub struct PerplexityOptions {
    /// A language-model config (`task = "text"`): its name and TOML text.
    pub config_name: String,
    pub config_text: String,
    pub seeds: Vec<u64>,
    /// The fixed budget: teacher steps of every run (`train.max_steps`), validated at the end.
    pub steps: usize,
    pub sets: Vec<String>,
    pub out: PathBuf,
    /// Bound on |mean bf16 − mean fp32| / mean fp32 of the teacher's validation perplexity, %.
    pub tolerance_pct: f64,
}

/// One model of one perplexity-guard run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityRun {
    pub precision: Precision,
    pub seed: u64,
    pub model: String,
    /// Validation perplexity at the end of the budget; null where the summary has none.
    pub valid_perplexity: Option<f64>,
    pub test_perplexity: Option<f64>,
    pub wall_s: f64,
}

/// A model's validation perplexity over the seeds in each precision (mean, sample std: NaN/null
/// with one seed), their relative difference, and the mean wall time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityModel {
    pub model: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_std: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_std: f64,
    /// 100 · (bf16 − fp32) / fp32.
    #[serde(deserialize_with = "nan_if_null")]
    pub difference_pct: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_wall_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_wall_s: f64,
}

/// The perplexity guard's report (`lot bench perplexity`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityReport {
    pub config: String,
    pub seeds: Vec<u64>,
    pub steps: usize,
    pub sets: Vec<String>,
    pub runs: Vec<PerplexityRun>,
    /// The teacher first.
    pub per_model: Vec<PerplexityModel>,
    #[serde(deserialize_with = "nan_if_null")]
    pub teacher_difference_pct: f64,
    pub tolerance_pct: f64,
    pub within_tolerance: bool,
}

/// Train the config in fp32 and bf16 with the same seeds for `steps` teacher steps (finished runs
/// in `out` are reused) and compare each model's validation perplexity at the end:
/// 100 · (bf16 − fp32) / fp32, %.
pub fn perplexity_guard(o: &PerplexityOptions, mut log: impl FnMut(&str)) -> Result<PerplexityReport> {
    let budget = vec![format!("train.max_steps={}", o.steps), format!("train.eval_interval={}", o.steps)];
    let guard = PrecisionGuard {
        config_name: &o.config_name,
        config_text: &o.config_text,
        seeds: &o.seeds,
        sets: &o.sets,
        out: &o.out,
        arms: [(Precision::Fp32, budget.clone()), (Precision::Bf16, budget)],
    };
    let runs = guard.train(
        |cfg| cfg.text().map(|_| ()),
        |precision, seed, model, ms, wall_s| PerplexityRun {
            precision,
            seed,
            model: model.to_string(),
            valid_perplexity: ms.best_valid_perplexity(),
            test_perplexity: ms.final_test_perplexity(),
            wall_s,
        },
        &mut log,
    )?;
    let (per_model, teacher_difference, within_tolerance) = compare_runs(&runs, o.tolerance_pct);
    Ok(PerplexityReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        steps: o.steps,
        sets: o.sets.clone(),
        runs,
        per_model,
        teacher_difference_pct: teacher_difference,
        tolerance_pct: o.tolerance_pct,
        within_tolerance,
    })
}

/// Each model's validation perplexity in fp32 and bf16 (mean, sample std, mean wall time) and
/// their relative difference in % (the teacher first, then the others by name), the teacher's
/// difference, and whether it is within `tolerance_pct`.
fn compare_runs(runs: &[PerplexityRun], tolerance_pct: f64) -> (Vec<PerplexityModel>, f64, bool) {
    let v = compare(runs, Difference::Relative, tolerance_pct);
    let mut per_model: Vec<PerplexityModel> = v
        .per_model
        .into_iter()
        .map(|p| PerplexityModel {
            model: p.model,
            fp32_mean: p.fp32.0,
            fp32_std: p.fp32.1,
            bf16_mean: p.bf16.0,
            bf16_std: p.bf16.1,
            difference_pct: p.difference,
            fp32_wall_s: p.fp32_wall_s,
            bf16_wall_s: p.bf16_wall_s,
        })
        .collect();
    per_model.sort_by_key(|p| p.model != "teacher");
    (per_model, v.teacher_difference, v.within_tolerance)
}

impl GuardRow for PerplexityRun {
    fn precision(&self) -> Precision {
        self.precision
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn metric(&self) -> Option<f64> {
        self.valid_perplexity
    }
    fn wall_s(&self) -> f64 {
        self.wall_s
    }
}

/// Markdown table of a perplexity-guard report.
pub fn perplexity_table(rep: &PerplexityReport) -> String {
    let mut s = String::from("| model | fp32 valid ppl (mean ± std) | bf16 valid ppl (mean ± std) | bf16 − fp32 | wall s fp32 / bf16 |\n|---|---|---|---|---|\n");
    for p in &rep.per_model {
        s.push_str(&format!(
            "| {} | {} ± {} | {} ± {} | {} % | {} / {} |\n",
            p.model,
            fmt(p.fp32_mean, 2),
            fmt(p.fp32_std, 2),
            fmt(p.bf16_mean, 2),
            fmt(p.bf16_std, 2),
            fmt(p.difference_pct, 2),
            fmt(p.fp32_wall_s, 0),
            fmt(p.bf16_wall_s, 0),
        ));
    }
    s.push_str(&format!(
        "teacher: |difference| {} %, tolerance {} % → {}\n",
        fmt(rep.teacher_difference_pct.abs(), 2),
        fmt(rep.tolerance_pct, 2),
        if rep.within_tolerance { "within" } else { "NOT within" }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LM guard on a tiny corpus, end to end: each seed trained in fp32 then bf16 into its own
    /// folder, one row per model and run, the report's numbers taken from those rows (the
    /// comparison itself is checked on hand-computed rows in `guard`), the teacher listed first,
    /// the report's JSON shape, and finished runs reused rather than retrained.
    #[test]
    fn perplexity_guard_trains_both_precisions_and_reports_the_difference() {
        let d = tempfile::tempdir().unwrap();
        lot::testing::write_tiny_corpus(d.path());
        let o = PerplexityOptions {
            config_name: "tiny".into(),
            config_text: lot::testing::tiny_lm_config(d.path(), ""),
            seeds: vec![0, 1],
            steps: 6,
            sets: vec!["train.lr=5.0".into()],
            out: d.path().join("guard"),
            tolerance_pct: 1.0,
        };
        let rep = perplexity_guard(&o, |_| {}).unwrap();
        // Seed by seed, fp32 before bf16, the models of each run by name.
        let order: Vec<(u64, &str, &str)> = rep.runs.iter().map(|r| (r.seed, r.precision.name(), r.model.as_str())).collect();
        assert_eq!(
            order,
            [(0, "fp32", "student0"), (0, "fp32", "teacher"), (0, "bf16", "student0"), (0, "bf16", "teacher"), (1, "fp32", "student0"), (1, "fp32", "teacher"), (1, "bf16", "student0"), (1, "bf16", "teacher")]
        );
        for run in ["fp32-s0", "bf16-s0", "fp32-s1", "bf16-s1"] {
            assert!(o.out.join(run).join(lot::run::SUMMARY_FILE).is_file(), "{run}: no finished run");
        }
        let ppl: Vec<f64> = rep.runs.iter().map(|r| r.valid_perplexity.unwrap()).collect();
        // Learned something of a 12-word language with one successor per word (uniform: ~13).
        assert!(ppl.iter().all(|&p| p > 1.0 && p < 20.0), "perplexities {ppl:?}");
        // The teacher first; its fp32 mean lies between its two fp32 runs, its bf16 mean between
        // its two bf16 runs (the rows at 1, 5 and 3, 7), and the verdict is the teacher's.
        let names: Vec<&str> = rep.per_model.iter().map(|p| p.model.as_str()).collect();
        assert_eq!(names, ["teacher", "student0"]);
        let t = &rep.per_model[0];
        let between = |x: f64, a: f64, b: f64| a.min(b) - 1e-9 <= x && x <= a.max(b) + 1e-9;
        assert!(between(t.fp32_mean, ppl[1], ppl[5]) && between(t.bf16_mean, ppl[3], ppl[7]), "{t:?} from {ppl:?}");
        assert!(t.fp32_std.is_finite() && t.bf16_std.is_finite() && t.fp32_wall_s > 0.0 && t.bf16_wall_s > 0.0, "{t:?}");
        assert_eq!(rep.teacher_difference_pct, t.difference_pct);
        assert_eq!(rep.within_tolerance, t.difference_pct.abs() <= 1.0);
        assert_eq!((rep.steps, rep.tolerance_pct, rep.sets.clone()), (6, 1.0, vec!["train.lr=5.0".to_string()]));
        // The JSON names the precision as a string, and the report reads back unchanged.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["runs"][0]["precision"], "fp32");
        assert_eq!(v["per_model"][0]["model"], "teacher");
        assert_eq!(serde_json::from_value::<PerplexityReport>(v).unwrap(), rep);
        let mut logged = Vec::new();
        let again = perplexity_guard(&o, |l| logged.push(l.to_string())).unwrap();
        assert_eq!(again.runs, rep.runs, "finished runs are reused");
        assert!(logged.len() == 4 && logged.iter().all(|l| l.ends_with("finished run found, reusing it")), "{logged:?}");
        assert!(perplexity_table(&rep).contains("| teacher |"));
    }

    fn run(precision: Precision, seed: u64, model: &str, valid: f64, wall_s: f64) -> PerplexityRun {
        PerplexityRun { precision, seed, model: model.into(), valid_perplexity: Some(valid), test_perplexity: Some(2.0 * valid), wall_s }
    }

    /// By hand: the teacher's validation perplexity 10 and 12 in fp32 (mean 11, sample std √2 =
    /// 1.41421), 11 and 12.1 in bf16 (mean 11.55, std 1.1/√2 = 0.77782): bf16 is 5 % above fp32;
    /// wall times 100 and 300 s (mean 200), 50 and 70 s (mean 60). A student "a_student" that sorts
    /// before "teacher" by name still comes after it.
    #[test]
    fn perplexity_difference_is_relative_to_fp32_in_percent_with_the_teacher_first() {
        use Precision::{Bf16, Fp32};
        let runs = [
            run(Fp32, 0, "a_student", 20.0, 100.0),
            run(Fp32, 0, "teacher", 10.0, 100.0),
            run(Bf16, 0, "a_student", 30.0, 50.0),
            run(Bf16, 0, "teacher", 11.0, 50.0),
            run(Fp32, 1, "teacher", 12.0, 300.0),
            run(Bf16, 1, "teacher", 12.1, 70.0),
        ];
        let (per_model, teacher, within) = compare_runs(&runs, 5.5);
        assert_eq!(per_model.iter().map(|p| p.model.as_str()).collect::<Vec<_>>(), ["teacher", "a_student"]);
        let t = &per_model[0];
        let close = |a: f64, b: f64| (a - b).abs() < 1e-4;
        assert!(close(t.fp32_mean, 11.0) && close(t.fp32_std, 1.41421) && close(t.bf16_mean, 11.55) && close(t.bf16_std, 0.77782), "{t:?}");
        assert!(close(t.difference_pct, 5.0) && close(t.fp32_wall_s, 200.0) && close(t.bf16_wall_s, 60.0), "{t:?}");
        assert!(close(teacher, 5.0) && within);
        // One seed each: no std; 30 against 20 is +50 %.
        let s = &per_model[1];
        assert!(s.fp32_std.is_nan() && s.bf16_std.is_nan() && close(s.difference_pct, 50.0), "{s:?}");
        assert!(!compare_runs(&runs, 4.9).2);
    }
}
