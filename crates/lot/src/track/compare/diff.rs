//! Each group against a baseline mode's group: paired by seed or Welch, with the verdict.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::config::Mode;
use crate::error::input_err;
use crate::track::stats::{paired, welch, Difference, Test};

use super::runs::Group;
use super::table::{model_order, shown_metrics};

/// Whether config key `key` changes what a run of `mode` trains. `lot.*` keys a mode ignores
/// (α for a teacher trained without feedback, K and N for a teacher without students) do not
/// stop its runs from serving as the baseline of a LoT group with other values.
fn matters_for(mode: &str, key: &str) -> bool {
    match mode {
        "teacher_only" | "no_student" => !key.starts_with("lot."),
        "compute_matched" => !key.starts_with("lot.") || key == "lot.students" || key == "lot.student_steps",
        _ => true,
    }
}

/// The baseline group for `g`: a group of mode `baseline` whose config agrees with `g`'s on
/// every key that matters for the baseline's mode.
pub fn find_baseline<'a>(groups: &'a [Group], g: &Group, baseline: &str) -> Option<&'a Group> {
    let keys = |grp: &Group| -> BTreeMap<String, String> {
        grp.key.iter().filter(|(k, _)| matters_for(baseline, k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let want = keys(g);
    groups.iter().find(|b| b.mode == baseline && keys(b) == want)
}

/// One row of the differences table: a metric of one model, group − baseline group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffRow {
    pub group: String,
    pub baseline: String,
    pub model: String,
    pub metric: String,
    pub header: String,
    pub higher_is_better: bool,
    /// The seeds that were paired (empty for Welch).
    pub seeds: Vec<u64>,
    #[serde(flatten)]
    pub diff: Difference,
    /// `better`, `worse` or `tie` (the 95 % interval contains 0), from the group's point of view.
    pub verdict: String,
}

/// Every (group, model, metric) against each baseline mode: paired by seed when both groups ran
/// the same seeds, else Welch's unpaired test. Comparisons without two values on each side are
/// skipped with a warning.
pub fn differences(groups: &[Group], baselines: &[String], warnings: &mut Vec<String>) -> Result<Vec<DiffRow>> {
    for b in baselines {
        let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
        if !names.contains(&b.as_str()) {
            return Err(input_err(format!("--baseline {b}: unknown mode (expected one of {})", names.join(", "))));
        }
        if !groups.iter().any(|g| &g.mode == b) {
            return Err(input_err(format!("--baseline {b}: no {b} runs among the compared runs")));
        }
    }
    let shown = shown_metrics(groups);
    let mut rows = Vec::new();
    for b in baselines {
        for g in groups.iter().filter(|g| &g.mode != b) {
            let Some(base) = find_baseline(groups, g, b) else {
                warnings.push(format!("{}: no {b} group with the same config; no difference computed", g.name));
                continue;
            };
            let mut models: Vec<&String> = g.runs.iter().flat_map(|r| r.summary.models.keys()).collect();
            models.sort_by_key(|m| model_order(m));
            models.dedup();
            for m in models {
                for d in &shown {
                    let values = |grp: &Group| -> Vec<(u64, f64)> {
                        grp.runs.iter().filter_map(|r| r.summary.models.get(m).and_then(|ms| d.value(ms)).map(|v| (r.summary.seed, v))).collect()
                    };
                    let (a, z) = (values(g), values(base));
                    if a.is_empty() || z.is_empty() {
                        continue;
                    }
                    let mut sa: Vec<u64> = a.iter().map(|p| p.0).collect();
                    let mut sz: Vec<u64> = z.iter().map(|p| p.0).collect();
                    sa.sort();
                    sz.sort();
                    let same_seeds = sa == sz && sa.windows(2).all(|w| w[0] != w[1]);
                    let (diff, seeds) = if same_seeds {
                        let get = |v: &[(u64, f64)], s: u64| v.iter().find(|p| p.0 == s).map(|p| p.1).unwrap();
                        let x: Vec<f64> = sa.iter().map(|&s| get(&a, s)).collect();
                        let y: Vec<f64> = sa.iter().map(|&s| get(&z, s)).collect();
                        (paired(&x, &y), sa.clone())
                    } else {
                        let x: Vec<f64> = a.iter().map(|p| p.1).collect();
                        let y: Vec<f64> = z.iter().map(|p| p.1).collect();
                        (welch(&x, &y), Vec::new())
                    };
                    let Some(diff) = diff else {
                        warnings.push(format!(
                            "{} − {}, {m} {}: needs at least 2 runs on each side (have {} and {})",
                            g.name, base.name, d.key, a.len(), z.len()
                        ));
                        continue;
                    };
                    let verdict = if !diff.significant() {
                        "tie"
                    } else if (diff.mean > 0.0) == d.higher_is_better {
                        "better"
                    } else {
                        "worse"
                    };
                    rows.push(DiffRow {
                        group: g.name.clone(),
                        baseline: base.name.clone(),
                        model: m.clone(),
                        metric: d.key.into(),
                        header: d.header.into(),
                        higher_is_better: d.higher_is_better,
                        seeds,
                        diff,
                        verdict: verdict.into(),
                    });
                }
            }
        }
    }
    if !baselines.is_empty() && rows.is_empty() {
        return Err(input_err(format!(
            "--baseline {}: nothing to compare: a difference needs at least 2 runs (seeds) in a group and in its baseline",
            baselines.join(",")
        )));
    }
    Ok(rows)
}

/// A p-value for a table: 3 significant digits, `<0.001` below that.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// The Markdown table of differences.
pub fn markdown_differences(rows: &[DiffRow]) -> String {
    let mut out = String::from("| comparison | model | metric | test | n | difference (mean ± std) | 95 % CI | p | verdict |\n");
    out.push_str("|---|---|---|---|---:|---:|---:|---:|---|\n");
    for r in rows {
        let d = &r.diff;
        let (test, n) = match d.test {
            Test::Paired => ("paired", d.n.to_string()),
            Test::Welch => ("Welch", format!("{} vs {}", d.n, d.n_baseline)),
        };
        let std = d.std.map_or("—".to_string(), |s| format!("{s:.2}"));
        out.push_str(&format!(
            "| {} − {} | {} | {} | {test} | {n} | {:+.2} ± {std} | [{:+.2}, {:+.2}] | {} | {} |\n",
            r.group,
            r.baseline,
            r.model,
            r.header,
            d.mean,
            d.ci95.0,
            d.ci95.1,
            format_p(d.p),
            r.verdict
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::fixtures::run_info;
    use super::super::runs::group_runs;

    #[test]
    fn differences_paired_welch_and_baseline_matching() {
        let runs = vec![
            run_info("l0", "fm", "lot", 0, &[], 81.0),
            run_info("l1", "fm", "lot", 1, &[], 82.0),
            run_info("l2", "fm", "lot", 2, &[], 83.0),
            run_info("b0", "fm", "teacher_only", 0, &[], 80.0),
            run_info("b1", "fm", "teacher_only", 1, &[], 80.0),
            run_info("b2", "fm", "teacher_only", 2, &[], 80.0),
            run_info("c0", "fm", "compute_matched", 0, &[], 70.0),
            run_info("c1", "fm", "compute_matched", 1, &[], 72.0),
            // An α ablation: its teacher-only baseline is the same (α does not change that teacher).
            run_info("a0", "fm", "lot", 0, &[("lot.alpha", "0.1")], 80.5),
            run_info("a1", "fm", "lot", 1, &[("lot.alpha", "0.1")], 80.5),
            run_info("a2", "fm", "lot", 2, &[("lot.alpha", "0.1")], 80.5),
            // Another data set: no baseline for it.
            run_info("o0", "fm", "lot", 0, &[("data.dataset", "mnist")], 99.0),
        ];
        let groups = group_runs(runs);
        let mut warnings = Vec::new();
        let rows = differences(&groups, &["teacher_only".to_string()], &mut warnings).unwrap();
        let find = |group: &str, metric: &str| rows.iter().find(|r| r.group == group && r.model == "teacher" && r.metric == metric).unwrap();
        // LoT − teacher-only, paired: differences 1, 2, 3 → mean 2, sd 1, t = 2√3 on 2 df.
        let r = find("fm/lot [data.dataset=unset, lot.alpha=0.5]", "final_test_accuracy");
        assert_eq!((r.diff.test, r.diff.n, r.seeds.clone()), (Test::Paired, 3, vec![0, 1, 2]));
        assert!((r.diff.mean - 2.0).abs() < 1e-12 && (r.diff.std.unwrap() - 1.0).abs() < 1e-12);
        let half = 4.302_652_729_749_464 / 3f64.sqrt();
        assert!((r.diff.ci95.0 - (2.0 - half)).abs() < 1e-9 && (r.diff.ci95.1 - (2.0 + half)).abs() < 1e-9);
        let t = 2.0 * 3f64.sqrt();
        assert!((r.diff.p - (1.0 - t / (2.0 + t * t).sqrt())).abs() < 1e-12);
        assert_eq!(r.verdict, "tie");
        assert_eq!(r.baseline, "fm/teacher_only");
        // Compute-matched (seeds 0, 1) vs teacher-only (0, 1, 2): Welch. Baseline variance 0, so
        // se = sd(70, 72)/√2 = 1 and df = 1: mean −9, interval −9 ± t_{0.975,1} = −9 ± 12.706.
        let r = find("fm/compute_matched", "final_test_accuracy");
        assert_eq!((r.diff.test, r.diff.n, r.diff.n_baseline), (Test::Welch, 2, 3));
        assert!((r.diff.mean + 9.0).abs() < 1e-12 && (r.diff.se - 1.0).abs() < 1e-12 && (r.diff.df - 1.0).abs() < 1e-12);
        assert!((r.diff.ci95.1 - (-9.0 + 12.706_204_736)).abs() < 1e-6, "{:?}", r.diff.ci95);
        assert!((r.diff.p - (1.0 - 2.0 * 9f64.atan() / std::f64::consts::PI)).abs() < 1e-12);
        assert_eq!(r.verdict, "tie");
        // The α = 0.1 group is differenced against the same teacher-only runs: +0.5 each seed.
        let r = find("fm/lot [data.dataset=unset, lot.alpha=0.1]", "final_test_accuracy");
        assert_eq!((r.baseline.as_str(), r.diff.mean, r.diff.std, r.diff.p), ("fm/teacher_only", 0.5, Some(0.0), 0.0));
        assert_eq!(r.verdict, "better");
        // The MNIST group has no baseline: a warning, no row.
        assert!(!rows.iter().any(|r| r.group.contains("mnist")));
        assert!(warnings.iter().any(|w| w.contains("data.dataset=mnist") && w.contains("no teacher_only group")), "{warnings:?}");
        // Markdown row.
        let md = markdown_differences(&rows);
        assert!(md.contains("| fm/compute_matched − fm/teacher_only | teacher | final test acc % | Welch | 2 vs 3 | -9.00 ± — | [-21.71, +3.71] | 0.070 | tie |"), "{md}");

        // Against compute_matched: K and N matter, so a LoT group with another N finds none.
        let mut w = Vec::new();
        let rows = differences(&groups, &["compute_matched".to_string()], &mut w).unwrap();
        let r = rows.iter().find(|r| r.group == "fm/lot [data.dataset=unset, lot.alpha=0.5]" && r.metric == "final_test_accuracy").unwrap();
        assert_eq!((r.diff.test, r.diff.mean, r.baseline.as_str()), (Test::Welch, 11.0, "fm/compute_matched"));
        let runs = vec![
            run_info("l0", "fm", "lot", 0, &[("lot.student_steps", "5")], 81.0),
            run_info("l1", "fm", "lot", 1, &[("lot.student_steps", "5")], 82.0),
            run_info("c0", "fm", "compute_matched", 0, &[], 70.0),
            run_info("c1", "fm", "compute_matched", 1, &[], 72.0),
        ];
        let e = differences(&group_runs(runs), &["compute_matched".to_string()], &mut w).unwrap_err();
        assert!(e.to_string().contains("nothing to compare"), "{e}");

        // Bad input: an unknown mode; a mode with no runs; a single run per side.
        let groups = group_runs(vec![run_info("l0", "fm", "lot", 0, &[], 81.0), run_info("b0", "fm", "teacher_only", 0, &[], 80.0)]);
        for (b, want) in [("teacher", "unknown mode"), ("no_student", "no no_student runs"), ("teacher_only", "at least 2 runs")] {
            let e = differences(&groups, &[b.to_string()], &mut Vec::new()).unwrap_err();
            assert!(crate::error::is_input_error(&e) && e.to_string().contains(want), "{b}: {e}");
        }
    }
}
