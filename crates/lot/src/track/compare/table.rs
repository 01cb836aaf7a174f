//! The summary table: mean ± sample std per group, model and metric, and its Markdown.

use serde::Serialize;

use crate::run::ModelSummary;

use super::runs::Group;

/// Mean and sample standard deviation (n − 1) of a set of values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// `None` when n = 1 (undefined).
    pub std: Option<f64>,
    pub n: usize,
    pub values: Vec<f64>,
}

impl Stat {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Stat> {
        let (mean, std) = mean_std(values)?;
        Some(Stat { mean, std, n: values.len(), values: values.to_vec() })
    }
}

/// Mean and sample std (n − 1 in the denominator; `None` for a single value). `None` when empty.
pub fn mean_std(xs: &[f64]) -> Option<(f64, Option<f64>)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() > 1).then(|| (xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((mean, std))
}

/// A summary metric shown as a table column.
pub struct MetricDef {
    pub key: &'static str,
    pub header: &'static str,
    pub get: fn(&ModelSummary) -> Option<f64>,
    /// Accuracy and return: higher is better; perplexity: lower.
    pub higher_is_better: bool,
}

impl MetricDef {
    /// The metric of one model; `None` where it has none. A number a run could not write (NaN or
    /// infinite, stored as `null`) reads back as NaN and counts as absent: a statistic over it would be NaN.
    pub fn value(&self, m: &ModelSummary) -> Option<f64> {
        (self.get)(m).filter(|v| !v.is_nan())
    }
}

/// Table columns, in order; a column is shown when any model of any run has the field.
pub const METRICS: [MetricDef; 9] = [
    MetricDef { key: "final_test_accuracy", header: "final test acc %", get: |m| m.final_test_accuracy(), higher_is_better: true },
    MetricDef { key: "best_test_accuracy", header: "best test acc %", get: |m| m.best_test_accuracy(), higher_is_better: true },
    MetricDef { key: "final_valid_accuracy", header: "final valid acc %", get: |m| m.final_valid_accuracy(), higher_is_better: true },
    MetricDef { key: "best_valid_accuracy", header: "best valid acc %", get: |m| m.best_valid_accuracy(), higher_is_better: true },
    MetricDef { key: "final_test_perplexity", header: "test ppl", get: |m| m.final_test_perplexity(), higher_is_better: false },
    MetricDef { key: "best_valid_perplexity", header: "best valid ppl", get: |m| m.best_valid_perplexity(), higher_is_better: false },
    MetricDef { key: "final_return", header: "final return", get: |m| m.final_return(), higher_is_better: true },
    MetricDef { key: "best_return", header: "best return", get: |m| m.best_return(), higher_is_better: true },
    MetricDef { key: "eval_return", header: "eval return", get: |m| m.eval_return(), higher_is_better: true },
];

/// One table row: a model of a group, each shown metric over the group's seeds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub group: String,
    pub model: String,
    /// Runs of the group that have this model.
    pub n: usize,
    /// `(metric key, stat)`, one per shown column; `None` where no run has the field.
    pub metrics: Vec<(String, Option<Stat>)>,
}

/// Teacher first, then students by number, then anything else by name.
pub(super) fn model_order(name: &str) -> (u8, u64, String) {
    if name == "teacher" {
        (0, 0, String::new())
    } else if let Some(i) = name.strip_prefix("student").and_then(|s| s.parse::<u64>().ok()) {
        (1, i, String::new())
    } else {
        (2, 0, name.to_string())
    }
}

/// The metric columns that have data in these groups.
pub fn shown_metrics(groups: &[Group]) -> Vec<&'static MetricDef> {
    METRICS
        .iter()
        .filter(|d| groups.iter().flat_map(|g| &g.runs).flat_map(|r| r.summary.models.values()).any(|m| d.value(m).is_some()))
        .collect()
}

pub fn table_rows(groups: &[Group]) -> Vec<Row> {
    let shown = shown_metrics(groups);
    let mut rows = Vec::new();
    for g in groups {
        let mut models: Vec<&String> = g.runs.iter().flat_map(|r| r.summary.models.keys()).collect();
        models.sort_by_key(|m| model_order(m));
        models.dedup();
        for m in models {
            let per_run: Vec<&ModelSummary> = g.runs.iter().filter_map(|r| r.summary.models.get(m)).collect();
            let metrics = shown
                .iter()
                .map(|d| {
                    let vals: Vec<f64> = per_run.iter().filter_map(|ms| d.value(ms)).collect();
                    (d.key.to_string(), Stat::of(&vals))
                })
                .collect();
            rows.push(Row { group: g.name.clone(), model: m.clone(), n: per_run.len(), metrics });
        }
    }
    rows
}

/// `mean ± std` with 2 decimals; `± —` for n = 1; `(n=k)` when fewer runs than the row's n have it.
pub fn format_stat(s: Option<&Stat>, row_n: usize) -> String {
    let Some(s) = s else { return "—".into() };
    let std = s.std.map_or("—".to_string(), |v| format!("{v:.2}"));
    let mut cell = format!("{:.2} ± {std}", s.mean);
    if s.n < row_n {
        cell.push_str(&format!(" (n={})", s.n));
    }
    cell
}

/// The Markdown table: group, model, n, then one `mean ± std` column per shown metric.
pub fn markdown_table(groups: &[Group]) -> String {
    let shown = shown_metrics(groups);
    let rows = table_rows(groups);
    let mut out = String::from("| group | model | n |");
    for d in &shown {
        out.push_str(&format!(" {} |", d.header));
    }
    out.push_str("\n|---|---|---:|");
    out.push_str(&"---:|".repeat(shown.len()));
    out.push('\n');
    for r in &rows {
        out.push_str(&format!("| {} | {} | {} |", r.group, r.model, r.n));
        for (_, s) in &r.metrics {
            out.push_str(&format!(" {} |", format_stat(s.as_ref(), r.n)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::SummaryKind;

    use super::super::fixtures::{classification, run_info};
    use super::super::runs::group_runs;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        assert!((s.unwrap() - 1.290_994_448_735_805_6).abs() < 1e-12, "{s:?}");
        assert_eq!(mean_std(&[7.0]), Some((7.0, None)));
        assert_eq!(mean_std(&[]), None);
        let (m, s) = mean_std(&[2.0, 2.0, 2.0]).unwrap();
        assert_eq!((m, s), (2.0, Some(0.0)));
    }

    #[test]
    fn stat_cells() {
        assert_eq!(format_stat(Stat::of(&[1.0, 2.0, 3.0, 4.0]).as_ref(), 4), "2.50 ± 1.29");
        assert_eq!(format_stat(Stat::of(&[85.125]).as_ref(), 1), "85.12 ± —");
        assert_eq!(format_stat(Stat::of(&[1.0, 3.0]).as_ref(), 3), "2.00 ± 1.41 (n=2)");
        assert_eq!(format_stat(None, 3), "—");
    }

    #[test]
    fn table_formatting() {
        let mut runs = vec![
            run_info("x/lot-s0", "fm", "lot", 0, &[], 1.0),
            run_info("x/lot-s1", "fm", "lot", 1, &[], 2.0),
            run_info("x/lot-s2", "fm", "lot", 2, &[], 3.0),
            run_info("x/lot-s3", "fm", "lot", 3, &[], 4.0),
            run_info("x/base-s0", "fm", "teacher_only", 0, &[], 70.0),
        ];
        // A student in two of the four LoT runs, its best accuracy unwritable (NaN, `null` in the file).
        for r in runs.iter_mut().take(2) {
            r.summary.models.insert("student0".into(), classification(50.0, f64::NAN));
        }
        let t = markdown_table(&group_runs(runs));
        let expected = "\
| group | model | n | final test acc % | best test acc % |
|---|---|---:|---:|---:|
| fm/lot | teacher | 4 | 2.50 ± 1.29 | 3.50 ± 1.29 |
| fm/lot | student0 | 2 | 50.00 ± 0.00 | — |
| fm/teacher_only | teacher | 1 | 70.00 ± — | 71.00 ± — |
";
        assert_eq!(t, expected);
    }

    #[test]
    fn rl_and_lm_columns_appear_when_present() {
        let mut r = run_info("rl", "cartpole", "lot", 0, &[("task", "rl")], 0.0);
        r.summary.models.insert("teacher".into(), ModelSummary {
            best_epoch: 1,
            optimizer_steps: 16,
            kind: SummaryKind::Reinforcement {
                final_train_loss: Some(0.1),
                legacy_final_test_loss: None,
                final_return: Some(480.0),
                best_return: Some(500.0),
                eval_return: 490.0,
                eval_return_std: 5.0,
                env_steps: Some(2048),
            },
        });
        let mut l = run_info("lm", "ptb", "lot", 0, &[("task", "text")], 0.0);
        l.summary.models.insert("teacher".into(), ModelSummary {
            best_epoch: 1,
            optimizer_steps: 16,
            kind: SummaryKind::LanguageModel { final_test_loss: 60f64.ln(), final_test_perplexity: 60.0, best_valid_perplexity: Some(62.0) },
        });
        let t = markdown_table(&group_runs(vec![r, l]));
        let header = t.lines().next().unwrap();
        assert_eq!(header, "| group | model | n | test ppl | best valid ppl | final return | best return | eval return |");
        assert!(t.contains("| cartpole/lot | teacher | 1 | — | — | 480.00 ± — | 500.00 ± — | 490.00 ± — |"), "{t}");
        assert!(t.contains("| ptb/lot | teacher | 1 | 60.00 ± — | 62.00 ± — | — | — | — |"), "{t}");
    }
}
