//! `lot bench perplexity`: the language models' bf16 fast path against fp32, by validation
//! perplexity.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use lot::precision::Precision;

use crate::guard::{Difference, GuardRow, PrecisionGuard};
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
        difference: Difference::Relative,
        tolerance: o.tolerance_pct,
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
    let verdict = guard.compare(&runs);
    let mut per_model: Vec<PerplexityModel> = verdict
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
    Ok(PerplexityReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        steps: o.steps,
        sets: o.sets.clone(),
        runs,
        per_model,
        teacher_difference_pct: verdict.teacher_difference,
        tolerance_pct: o.tolerance_pct,
        within_tolerance: verdict.within_tolerance,
    })
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

    /// The LM guard on a tiny synthetic corpus: both precisions per seed, the report's means and
    /// relative difference recomputed from its own rows, and finished runs reused.
    #[test]
    fn perplexity_guard_trains_both_precisions_and_reports_the_difference() {
        let d = tempfile::tempdir().unwrap();
        let words: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
        let (mut text, mut w) = (String::new(), 0usize);
        for line in 0..300 {
            for _ in 0..(5 + line % 4) {
                text.push_str(&words[w]);
                text.push(' ');
                w = (w * 5 + 1) % 12;
            }
            text.push('\n');
        }
        for split in ["train", "valid", "test"] {
            std::fs::write(d.path().join(format!("ptb.{split}.txt")), &text).unwrap();
        }
        let config_text = format!(
            "task = \"text\"\n[run]\nname = \"g\"\nthreads = 1\n[lot]\nalpha = 1.0\nstudent_steps = 2\n[data]\ncorpus = \"ptb\"\ndir = \"{}\"\n\
             [model]\nemsize = 16\nnhid = 16\nnlayers = 1\ndropout = 0.0\n[train]\nepochs = 1\nbatch_size = 4\neval_batch_size = 2\nbptt = 8\n\
             lr = 5.0\nclip = 1.0\nschedule = \"constant\"\nstudent_schedule = \"same\"\n",
            d.path().display()
        );
        let o = PerplexityOptions {
            config_name: "tiny".into(),
            config_text,
            seeds: vec![0, 1],
            steps: 6,
            sets: vec![],
            out: d.path().join("guard"),
            tolerance_pct: 1.0,
        };
        let rep = perplexity_guard(&o, |_| {}).unwrap();
        let rows = &rep.runs;
        assert_eq!(rows.len(), 2 * 2 * 2, "2 seeds x 2 precisions x teacher + student");
        let mean = |prec: Precision| {
            let v: Vec<f64> = rows.iter().filter(|r| r.precision == prec && r.model == "teacher").map(|r| r.valid_perplexity.unwrap()).collect();
            assert_eq!(v.len(), 2);
            (v[0] + v[1]) / 2.0
        };
        let (f, b) = (mean(Precision::Fp32), mean(Precision::Bf16));
        let t = &rep.per_model[0];
        assert_eq!(t.model, "teacher");
        assert!((t.fp32_mean - f).abs() < 1e-9 && (t.bf16_mean - b).abs() < 1e-9);
        let diff = 100.0 * (b - f) / f;
        assert!((rep.teacher_difference_pct - diff).abs() < 1e-9);
        assert_eq!(rep.within_tolerance, diff.abs() <= 1.0);
        assert!(f > 1.0 && b > 1.0 && f < 20.0, "perplexities {f} {b}");
        // The JSON names the precision as a string, and the report reads back unchanged.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["runs"][0]["precision"], "fp32");
        assert_eq!(v["per_model"][0]["model"], "teacher");
        assert_eq!(serde_json::from_value::<PerplexityReport>(v).unwrap(), rep);
        let again = perplexity_guard(&o, |_| {}).unwrap();
        assert_eq!(again.runs, rep.runs, "finished runs are reused");
        assert!(perplexity_table(&rep).contains("| teacher |"));
    }
}
