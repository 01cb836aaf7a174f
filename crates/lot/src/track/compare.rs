//! `lot compare RUN_DIR...`: runs grouped over seeds, a mean ± std table and mean curves.
//!
//! Runs are grouped by their mode and their resolved `config.toml` with the keys that do not
//! change the experiment removed ([`is_ignored_key`]: the `[run]` section — seed, name, device,
//! threads, … —, `lot.mode` — the mode is a group key of its own — and paths such as `data.dir`).
//! So runs that differ only in seed (and where their files are) share a group, named
//! `<config name>/<mode>`; when two groups would get the same name, the name also lists the keys
//! that tell them apart.
//!
//! Per group and model, the final and best test metrics of `summary.json` are summarised over
//! seeds as mean ± sample std (n − 1; n = 1 shows `± —`): accuracy for image classification,
//! perplexity for language models, episodic return for RL. Results go to `<out>/compare.md`,
//! `<out>/compare.json` and `<out>/compare.png` (one panel per metric with data: validation
//! accuracy by epoch, validation perplexity by step, rollout return by env step — the mean curve of
//! each group and model with a shaded ±std band, against the fraction of the run so that groups
//! with different budgets, such as `compute_matched`, line up —; and a metric each run measures
//! once, such as the test set read after the last epoch, as each seed's value with the mean and
//! its 95 % t-interval per group and model).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use crate::config::Mode;
use crate::error::input_err;
use crate::run::{self, ModelSummary, Summary};
use crate::track::metrics::{read_metrics, Record};
use crate::track::plot::{self, Chart, Panel, Series, Strip, StripPanel};
use crate::track::stats::{mean_ci95, paired, welch, Difference, Test};

// ---- statistics ----

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

// ---- runs and groups ----

/// One finished run folder.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub summary: Summary,
    /// `config.toml` flattened to `section.key → value` (TOML text); empty without the file.
    pub config: BTreeMap<String, String>,
}

/// Read a finished run folder: `summary.json` (required) and `config.toml` (optional).
pub fn load_run(dir: &Path) -> Result<RunInfo> {
    let summary = run::read_summary(dir)?;
    let cfg_path = dir.join(run::CONFIG_FILE);
    let config = match std::fs::read_to_string(&cfg_path) {
        Ok(text) => {
            let doc: toml::Table = toml::from_str(&text).map_err(|e| {
                input_err(format!("{}: not valid TOML: {}", cfg_path.display(), e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")))
            })?;
            flatten_toml(&doc)
        }
        Err(_) => BTreeMap::new(),
    };
    Ok(RunInfo { dir: dir.to_path_buf(), summary, config })
}

/// `section.key → value text` for every leaf of a TOML document (arrays are leaves).
pub fn flatten_toml(doc: &toml::Table) -> BTreeMap<String, String> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                toml::Value::Table(sub) => walk(&key, sub, out),
                toml::Value::String(s) => {
                    out.insert(key, s.clone());
                }
                other => {
                    out.insert(key, other.to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", doc, &mut out);
    out
}

/// Keys that do not define the experiment: the whole `[run]` section (seed, name, device,
/// threads, checkpointing), the mode (a group key of its own), and where files are.
pub fn is_ignored_key(key: &str) -> bool {
    // run.* says how and where a run ran, except synchronized BatchNorm, which changes the training.
    if (key.starts_with("run.") && key != "run.sync_bn") || key == "lot.mode" {
        return true;
    }
    let last = key.rsplit('.').next().unwrap_or(key);
    matches!(last, "dir" | "path" | "out" | "out_dir") || last.ends_with("_dir") || last.ends_with("_path")
}

/// The run folders to compare: each argument that holds `summary.json`, or else its immediate
/// subfolders that do (so `lot compare runs/sweep` works). Returns the folders and a warning per
/// argument that gave none. A path that does not exist is an input error.
pub fn find_run_dirs(args: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<String>)> {
    let mut dirs = Vec::new();
    let mut warnings = Vec::new();
    for a in args {
        if !a.is_dir() {
            return Err(input_err(format!("{}: not a run folder (no such directory)", a.display())));
        }
        if a.join(run::SUMMARY_FILE).is_file() {
            dirs.push(a.clone());
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(a)
            .map_err(|e| input_err(format!("{}: cannot list: {e}", a.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join(run::SUMMARY_FILE).is_file())
            .collect();
        subs.sort();
        if subs.is_empty() {
            warnings.push(format!("{}: skipped: no {} (not a finished run) in it or its subfolders", a.display(), run::SUMMARY_FILE));
        }
        dirs.extend(subs);
    }
    Ok((dirs, warnings))
}

/// Runs of one mode and one experiment config, over seeds.
#[derive(Clone, Debug)]
pub struct Group {
    /// `<config name>/<mode>`, plus the distinguishing keys when that is ambiguous.
    pub name: String,
    pub config_name: String,
    pub mode: String,
    /// The config keys that define the group (ignored keys removed).
    pub key: BTreeMap<String, String>,
    pub runs: Vec<RunInfo>,
}

impl Group {
    pub fn seeds(&self) -> Vec<u64> {
        self.runs.iter().map(|r| r.summary.seed).collect()
    }
}

/// Group runs by (mode, config without ignored keys), in order of first appearance.
pub fn group_runs(runs: Vec<RunInfo>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for r in runs {
        let mode = r.config.get("lot.mode").cloned().unwrap_or_else(|| r.summary.mode.clone());
        let config_name = r.config.get("run.name").cloned().unwrap_or_else(|| r.summary.name.clone());
        let key: BTreeMap<String, String> = r.config.iter().filter(|(k, _)| !is_ignored_key(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        match groups.iter_mut().find(|g| g.mode == mode && g.key == key) {
            Some(g) => g.runs.push(r),
            None => groups.push(Group { name: format!("{config_name}/{mode}"), config_name, mode, key, runs: vec![r] }),
        }
    }
    // Same name, different experiments: name the keys that differ.
    let names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    for i in 0..groups.len() {
        let same: Vec<usize> = (0..groups.len()).filter(|&j| names[j] == names[i]).collect();
        if same.len() < 2 {
            continue;
        }
        let mut keys: Vec<&String> = same.iter().flat_map(|&j| groups[j].key.keys()).collect();
        keys.sort();
        keys.dedup();
        let differing: Vec<String> = keys
            .into_iter()
            .filter(|k| same.iter().any(|&j| groups[j].key.get(*k) != groups[same[0]].key.get(*k)))
            .map(|k| format!("{k}={}", groups[i].key.get(k).map(String::as_str).unwrap_or("unset")))
            .collect();
        groups[i].name = format!("{} [{}]", names[i], differing.join(", "));
    }
    groups
}

// ---- the table ----

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
    /// infinite, stored as `null`) reads back as NaN and counts as absent, as it always has.
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
fn model_order(name: &str) -> (u8, u64, String) {
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

// ---- differences to a baseline ----

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

// ---- curves ----

/// A curve from `metrics.jsonl`, drawn as one panel.
pub struct CurveDef {
    pub title: &'static str,
    /// The unit of x in `compare.json` (the plot shows x as a fraction of the run, [`CurveDef::fraction_label`]).
    pub x_label: &'static str,
    /// The plot's x axis: x over the run's whole length.
    pub fraction_label: &'static str,
    /// A run's whole length in units of x, from its summary (epochs, teacher steps, env steps);
    /// `None` where the summary lacks it (then the run's largest x).
    pub length: fn(&Summary) -> Option<f64>,
    pub y_label: &'static str,
    pub split: &'static str,
    pub x: fn(&Record) -> f64,
    pub y: fn(&Record) -> Option<f64>,
    /// Average each run's points into bins before combining runs (x differs between runs, e.g.
    /// episodes ending at different env steps).
    pub binned: bool,
}

const BY_EPOCH: &str = "fraction of the run (epoch / epochs)";
const BY_STEP: &str = "fraction of the run (teacher step / teacher steps)";
const BY_ENV_STEP: &str = "fraction of the run (env step / env steps)";

fn epochs(s: &Summary) -> Option<f64> {
    (s.epochs > 0).then_some(s.epochs as f64)
}

fn teacher_steps(s: &Summary) -> Option<f64> {
    (s.teacher_steps > 0).then_some(s.teacher_steps as f64)
}

fn env_steps(s: &Summary) -> Option<f64> {
    s.models.get("teacher").and_then(ModelSummary::env_steps).filter(|&n| n > 0).map(|n| n as f64)
}

/// Panels in this order (`compare.json` keeps it; in `compare.png` curves come before values read once).
pub const CURVES: [CurveDef; 6] = [
    CurveDef { title: "test accuracy", x_label: "epoch", fraction_label: BY_EPOCH, length: epochs, y_label: "accuracy %", split: "test", x: |r| r.epoch as f64, y: |r| r.accuracy(), binned: false },
    CurveDef { title: "validation accuracy", x_label: "epoch", fraction_label: BY_EPOCH, length: epochs, y_label: "accuracy %", split: "valid", x: |r| r.epoch as f64, y: |r| r.accuracy(), binned: false },
    CurveDef { title: "validation perplexity", x_label: "step", fraction_label: BY_STEP, length: teacher_steps, y_label: "perplexity", split: "valid", x: |r| r.step as f64, y: |r| r.perplexity(), binned: false },
    CurveDef { title: "rollout return", x_label: "env step", fraction_label: BY_ENV_STEP, length: env_steps, y_label: "episodic return", split: "rollout", x: |r| r.step as f64, y: |r| r.episodic_return(), binned: true },
    CurveDef { title: "test perplexity", x_label: "step", fraction_label: BY_STEP, length: teacher_steps, y_label: "perplexity", split: "test", x: |r| r.step as f64, y: |r| r.perplexity(), binned: false },
    CurveDef { title: "eval return", x_label: "env step", fraction_label: BY_ENV_STEP, length: env_steps, y_label: "episodic return", split: "eval", x: |r| r.step as f64, y: |r| r.episodic_return(), binned: false },
];

/// Bins of a binned curve.
pub const CURVE_BINS: usize = 50;

/// One point of a mean curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    pub x: f64,
    pub mean: f64,
    /// Sample std over runs (0 for one run).
    pub std: f64,
    pub n: usize,
}

fn point(x: f64, ys: &[f64]) -> Option<CurvePoint> {
    let (mean, std) = mean_std(ys)?;
    Some(CurvePoint { x, mean, std: std.unwrap_or(0.0), n: ys.len() })
}

/// Mean ± std over runs at each x any run has (a run's last value at an x counts).
pub fn aggregate_exact(curves: &[Vec<(f64, f64)>]) -> Vec<CurvePoint> {
    let mut xs: Vec<f64> = curves.iter().flatten().map(|p| p.0).filter(|x| x.is_finite()).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs.into_iter()
        .filter_map(|x| {
            let ys: Vec<f64> = curves.iter().filter_map(|c| c.iter().rev().find(|p| p.0 == x).map(|p| p.1)).filter(|y| y.is_finite()).collect();
            point(x, &ys)
        })
        .collect()
}

/// Each run averaged into `bins` equal bins over [smallest x, largest x that every run reaches],
/// then mean ± std over runs per bin (x = bin centre).
pub fn aggregate_binned(curves: &[Vec<(f64, f64)>], bins: usize) -> Vec<CurvePoint> {
    let finite = |c: &Vec<(f64, f64)>| -> Vec<(f64, f64)> { c.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect() };
    let curves: Vec<Vec<(f64, f64)>> = curves.iter().map(finite).filter(|c| !c.is_empty()).collect();
    if curves.is_empty() || bins == 0 {
        return Vec::new();
    }
    let lo = curves.iter().flatten().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let hi = curves.iter().map(|c| c.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max)).fold(f64::INFINITY, f64::min);
    if !(hi > lo) {
        let ys: Vec<f64> = curves.iter().map(|c| c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64).collect();
        return point(lo, &ys).into_iter().collect();
    }
    let width = (hi - lo) / bins as f64;
    let per_run: Vec<Vec<Option<f64>>> = curves
        .iter()
        .map(|c| {
            let mut sum = vec![0.0; bins];
            let mut cnt = vec![0usize; bins];
            for &(x, y) in c {
                if x > hi {
                    continue;
                }
                let b = (((x - lo) / width) as usize).min(bins - 1);
                sum[b] += y;
                cnt[b] += 1;
            }
            sum.iter().zip(&cnt).map(|(s, &n)| (n > 0).then(|| s / n as f64)).collect()
        })
        .collect();
    (0..bins)
        .filter_map(|b| {
            let ys: Vec<f64> = per_run.iter().filter_map(|r| r[b]).collect();
            point(lo + (b as f64 + 0.5) * width, &ys)
        })
        .collect()
}

/// A metric each run measured once (e.g. the test set after the last epoch): every run's value
/// and the mean with its 95 % t-interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FinalValues {
    /// The runs' seeds, in the order of `values`.
    pub seeds: Vec<u64>,
    pub values: Vec<f64>,
    pub mean: f64,
    /// mean ± t_{0.975, n−1} · s/√n; `None` for a single run.
    pub ci95: Option<(f64, f64)>,
}

/// A group's mean curve for one model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    pub group: String,
    pub model: String,
    pub points: Vec<CurvePoint>,
    /// The group's run length in units of x (mean over its runs: epochs, teacher steps or env
    /// steps); the plot's x is `x / run_length`, the fraction of the run.
    pub run_length: f64,
    /// Set when every run has exactly one point (a metric read once per run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_values: Option<FinalValues>,
}

/// For each curve kind with data: its definition index and the mean curves per (group, model).
/// Runs without a readable `metrics.jsonl` are left out (with a warning).
pub fn mean_curves(groups: &[Group], warnings: &mut Vec<String>) -> Vec<(usize, Vec<Curve>)> {
    // Read every run's metrics once.
    let metrics: Vec<Vec<Option<Vec<Record>>>> = groups
        .iter()
        .map(|g| {
            g.runs
                .iter()
                .map(|r| match read_metrics(&r.dir.join(run::METRICS_FILE)) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        warnings.push(format!("{}: no curves: {e:#}", r.dir.display()));
                        None
                    }
                })
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for (ci, def) in CURVES.iter().enumerate() {
        let mut curves = Vec::new();
        for (g, recs) in groups.iter().zip(&metrics) {
            let mut models: Vec<&String> = recs
                .iter()
                .flatten()
                .flatten()
                .filter(|r| r.split == def.split && (def.y)(r).is_some())
                .map(|r| &r.model)
                .collect();
            models.sort_by_key(|m| model_order(m));
            models.dedup();
            for m in models {
                // (seed, run length, the run's points), for runs with points.
                let runs: Vec<(u64, f64, Vec<(f64, f64)>)> = g
                    .runs
                    .iter()
                    .zip(recs)
                    .filter_map(|(run, rs)| {
                        let rs = rs.as_ref()?;
                        let c: Vec<(f64, f64)> = rs.iter().filter(|r| &r.model == m && r.split == def.split).filter_map(|r| (def.y)(r).map(|y| ((def.x)(r), y))).collect();
                        if c.is_empty() {
                            return None;
                        }
                        let longest = rs.iter().map(|r| (def.x)(r)).filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
                        Some((run.summary.seed, (def.length)(&run.summary).unwrap_or(longest), c))
                    })
                    .collect();
                let per_run: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| r.2.clone()).collect();
                let points = if def.binned { aggregate_binned(&per_run, CURVE_BINS) } else { aggregate_exact(&per_run) };
                if points.is_empty() {
                    continue;
                }
                let run_length = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
                let final_values = runs.iter().all(|r| r.2.len() == 1).then(|| final_values(&runs.iter().map(|r| (r.0, r.2[0].1)).collect::<Vec<_>>())).flatten();
                curves.push(Curve { group: g.name.clone(), model: m.clone(), points, run_length, final_values });
            }
        }
        if !curves.is_empty() {
            out.push((ci, curves));
        }
    }
    out
}

/// Each run's value by seed (finite values only), their mean and its 95 % t-interval; `None` without a finite value.
pub fn final_values(by_seed: &[(u64, f64)]) -> Option<FinalValues> {
    let kept: Vec<(u64, f64)> = by_seed.iter().copied().filter(|p| p.1.is_finite()).collect();
    let values: Vec<f64> = kept.iter().map(|p| p.1).collect();
    let (mean, ci95) = mean_ci95(&values)?;
    Some(FinalValues { seeds: kept.iter().map(|p| p.0).collect(), values, mean, ci95 })
}

/// What the group names share up to their last common `/` (the config name when there is one
/// config), left out of the legend.
fn common_prefix(names: &[&str]) -> usize {
    let Some(first) = names.first() else { return 0 };
    let mut len = first.len();
    for n in &names[1..] {
        len = len.min(first.bytes().zip(n.bytes()).take_while(|(a, b)| a == b).count());
    }
    first.as_bytes()[..len].iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1)
}

/// One chart per curve kind: where every curve is a value read once per run (`final_values`),
/// a strip per (group, model) — each seed's value, the mean and its 95 % interval —; otherwise the
/// mean line of each (group, model) with a ±std band against the fraction of the run. Curves come
/// first, then the strips.
pub fn curve_panels(curves: &[(usize, Vec<Curve>)]) -> Vec<Chart> {
    let names: Vec<&str> = curves.iter().flat_map(|(_, cs)| cs.iter().map(|c| c.group.as_str())).collect();
    let cut = common_prefix(&names);
    let label = |c: &Curve| format!("{} {}", &c.group[cut..], c.model);
    let (mut lines, mut strips) = (Vec::new(), Vec::new());
    for (ci, cs) in curves {
        let def = &CURVES[*ci];
        if cs.iter().all(|c| c.final_values.is_some()) {
            strips.push(Chart::Strips(StripPanel {
                title: format!("{} (each seed; mean, 95 % CI)", def.title),
                x_label: "hollow: one run each; filled: mean ± 95 % t-interval".into(),
                y_label: def.y_label.into(),
                strips: cs
                    .iter()
                    .filter_map(|c| {
                        let f = c.final_values.as_ref()?;
                        Some(Strip { label: label(c), values: f.values.clone(), mean: f.mean, interval: f.ci95, color: 0 })
                    })
                    .collect(),
            }));
            continue;
        }
        lines.push(Chart::Lines(Panel {
            title: format!("{} (mean ± std over seeds)", def.title),
            x_label: def.fraction_label.into(),
            y_label: def.y_label.into(),
            series: cs
                .iter()
                .map(|c| {
                    let f = |x: f64| if c.run_length > 0.0 { x / c.run_length } else { x };
                    Series {
                        label: label(c),
                        points: c.points.iter().map(|p| (f(p.x), p.mean)).collect(),
                        band: c.points.iter().any(|p| p.n > 1).then(|| c.points.iter().map(|p| (p.mean - p.std, p.mean + p.std)).collect()),
                    }
                })
                .collect(),
        }));
    }
    // A strip takes the colour its label has in the first line panel that shows it; others the
    // next colours after all of those.
    let mut colors: Vec<(String, usize)> = Vec::new();
    for ch in &lines {
        if let Chart::Lines(p) = ch {
            for (i, s) in p.series.iter().enumerate() {
                if !colors.iter().any(|(l, _)| l == &s.label) {
                    colors.push((s.label.clone(), i));
                }
            }
        }
    }
    let mut next = colors.iter().map(|c| c.1 + 1).max().unwrap_or(0);
    for ch in &mut strips {
        if let Chart::Strips(p) = ch {
            for s in &mut p.strips {
                s.color = match colors.iter().find(|(l, _)| l == &s.label) {
                    Some(&(_, c)) => c,
                    None => {
                        colors.push((s.label.clone(), next));
                        next += 1;
                        next - 1
                    }
                };
            }
        }
    }
    lines.extend(strips);
    lines
}

// ---- the report ----

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    config_name: &'a str,
    mode: &'a str,
    seeds: Vec<u64>,
    runs: Vec<String>,
    config: &'a BTreeMap<String, String>,
    models: BTreeMap<String, JsonModel>,
}

#[derive(Serialize)]
struct JsonModel {
    n: usize,
    #[serde(flatten)]
    metrics: BTreeMap<String, Stat>,
}

#[derive(Serialize)]
struct JsonCurves<'a> {
    title: &'a str,
    x: &'a str,
    y: &'a str,
    split: &'a str,
    curves: &'a [Curve],
}

#[derive(Serialize)]
struct JsonReport<'a> {
    groups: Vec<JsonGroup<'a>>,
    #[serde(skip_serializing_if = "<[DiffRow]>::is_empty")]
    differences: &'a [DiffRow],
    curves: Vec<JsonCurves<'a>>,
}

/// What `compare` produced.
#[derive(Debug)]
pub struct Report {
    pub groups: Vec<Group>,
    /// The Markdown table alone.
    pub table: String,
    /// Differences to the baselines (empty without `--baseline`) and their Markdown table.
    pub differences: Vec<DiffRow>,
    pub differences_table: String,
    pub markdown_path: PathBuf,
    pub json_path: PathBuf,
    /// `None` when no run had curves to draw.
    pub plot_path: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Compare run folders (see [`find_run_dirs`]) into `out`: `compare.md`, `compare.json`, `compare.png`.
/// With `baselines` (modes), also each group's differences to the baseline groups ([`differences`]).
pub fn compare(args: &[PathBuf], out: &Path, baselines: &[String]) -> Result<Report> {
    let (dirs, mut warnings) = find_run_dirs(args)?;
    if dirs.is_empty() {
        return Err(input_err(format!(
            "no finished runs to compare among {} (a run folder holds {})",
            args.iter().map(|a| a.display().to_string()).collect::<Vec<_>>().join(", "),
            run::SUMMARY_FILE
        )));
    }
    let runs = dirs.iter().map(|d| load_run(d)).collect::<Result<Vec<_>>>()?;
    let groups = group_runs(runs);
    let table = markdown_table(&groups);
    let diffs = differences(&groups, baselines, &mut warnings)?;
    let differences_table = if diffs.is_empty() { String::new() } else { markdown_differences(&diffs) };
    let curves = mean_curves(&groups, &mut warnings);

    std::fs::create_dir_all(out).map_err(|e| input_err(format!("output folder {}: cannot create: {e}", out.display())))?;
    let mut md = String::from("# lot compare\n\nMean ± sample std over seeds (n − 1; `± —` for a single run).\n\n");
    md.push_str(&table);
    if !diffs.is_empty() {
        md.push_str(&format!(
            "\n## Differences to {}\n\nGroup − baseline per seed (paired t-test; Welch's unpaired test where the seeds differ), \
             mean ± sample std of the differences, 95 % t-interval, two-sided p. `tie`: the interval contains 0.\n\n",
            baselines.join(", ")
        ));
        md.push_str(&differences_table);
    }
    md.push_str("\n| group | seeds | runs |\n|---|---|---|\n");
    for g in &groups {
        let seeds: Vec<String> = g.seeds().iter().map(u64::to_string).collect();
        let dirs: Vec<String> = g.runs.iter().map(|r| format!("`{}`", r.dir.display())).collect();
        md.push_str(&format!("| {} | {} | {} |\n", g.name, seeds.join(", "), dirs.join(", ")));
    }
    let markdown_path = out.join("compare.md");
    crate::fsio::write_atomic(&markdown_path, md.as_bytes())?;

    let rows = table_rows(&groups);
    let json = JsonReport {
        groups: groups
            .iter()
            .map(|g| JsonGroup {
                name: &g.name,
                config_name: &g.config_name,
                mode: &g.mode,
                seeds: g.seeds(),
                runs: g.runs.iter().map(|r| r.dir.display().to_string()).collect(),
                config: &g.key,
                models: rows
                    .iter()
                    .filter(|r| r.group == g.name)
                    .map(|r| {
                        let metrics = r.metrics.iter().filter_map(|(k, s)| s.clone().map(|s| (k.clone(), s))).collect();
                        (r.model.clone(), JsonModel { n: r.n, metrics })
                    })
                    .collect(),
            })
            .collect(),
        differences: &diffs,
        curves: curves
            .iter()
            .map(|(ci, cs)| JsonCurves { title: CURVES[*ci].title, x: CURVES[*ci].x_label, y: CURVES[*ci].y_label, split: CURVES[*ci].split, curves: cs })
            .collect(),
    };
    let json_path = out.join("compare.json");
    crate::fsio::write_atomic(&json_path, serde_json::to_string_pretty(&json)?.as_bytes())?;

    let plot_path = if curves.is_empty() {
        warnings.push("no curves in the runs' metrics.jsonl: compare.png not drawn".into());
        None
    } else {
        let p = out.join("compare.png");
        plot::plot_charts(&p, &curve_panels(&curves))?;
        Some(p)
    };
    Ok(Report { groups, table, differences: diffs, differences_table, markdown_path, json_path, plot_path, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::SummaryKind;
    use crate::track::{MetricsWriter, RecordKind};

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
    fn ignored_keys() {
        for k in ["run.seed", "run.name", "run.device", "run.devices", "run.threads", "run.checkpoint_every", "run.dist_timeout_s", "lot.mode", "data.dir", "env.rom_dir", "model.init_path"] {
            assert!(is_ignored_key(k), "{k}");
        }
        for k in ["lot.alpha", "train.epochs", "data.dataset", "model.depth", "lot.students", "run.sync_bn"] {
            assert!(!is_ignored_key(k), "{k}");
        }
    }

    /// A vision model without a validation split.
    fn classification(final_test_accuracy: f64, best_test_accuracy: f64) -> ModelSummary {
        ModelSummary { best_epoch: 0, optimizer_steps: 0, kind: SummaryKind::Classification { final_test_loss: 0.5, final_test_accuracy, best_test_accuracy } }
    }

    fn run_info(dir: &str, name: &str, mode: &str, seed: u64, extra: &[(&str, &str)], acc: f64) -> RunInfo {
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
        fn with_models(mut self, m: BTreeMap<String, ModelSummary>) -> Self {
            self.summary.models = m;
            self
        }
    }

    #[test]
    fn grouping_ignores_seed_name_and_paths_but_not_mode_or_hyperparameters() {
        let runs = vec![
            run_info("a/lot-s0", "fm", "lot", 0, &[], 80.0),
            run_info("a/teacher_only-s0", "fm", "teacher_only", 0, &[], 78.0),
            run_info("b/lot-s1", "fm", "lot", 1, &[("run.device", "cuda")], 82.0),
            run_info("a/lot-a02-s0", "fm", "lot", 0, &[("lot.alpha", "0.2")], 81.0),
            run_info("c/other", "other-name", "lot", 2, &[], 84.0),
        ];
        let g = group_runs(runs);
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        // The run with another run.name is the same experiment: it joins fm/lot (named by the first run).
        assert_eq!(names, vec!["fm/lot [lot.alpha=0.5]", "fm/teacher_only", "fm/lot [lot.alpha=0.2]"]);
        assert_eq!(g[0].seeds(), vec![0, 1, 2]);
        assert_eq!(g[1].seeds(), vec![0]);
        assert_eq!(g[2].seeds(), vec![0]);
        assert!(!g[0].key.contains_key("data.dir") && g[0].key.contains_key("lot.alpha"));
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

    #[test]
    fn exact_and_binned_curves() {
        let a = vec![(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)];
        let b = vec![(1.0, 12.0), (2.0, 22.0)];
        let p = aggregate_exact(&[a, b]);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].x, p[0].mean, p[0].n), (1.0, 11.0, 2));
        assert!((p[0].std - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!((p[2].mean, p[2].std, p[2].n), (30.0, 0.0, 1));
        // Binned: two runs whose episodes end at different steps; range up to the shorter run.
        let a: Vec<(f64, f64)> = (0..100).map(|i| (i as f64 * 10.0, 1.0)).collect();
        let b: Vec<(f64, f64)> = (0..50).map(|i| (5.0 + i as f64 * 20.0, 3.0)).collect();
        let p = aggregate_binned(&[a, b], 10);
        assert_eq!(p.len(), 10);
        assert!(p.iter().all(|q| q.n == 2 && q.mean == 2.0 && (q.std - 2f64.sqrt()).abs() < 1e-12), "{p:?}");
        assert_eq!(p[0].x, 0.0 + 0.5 * 98.5);
        assert!(aggregate_binned(&[], 10).is_empty());
    }

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

    /// A run folder as a trainer leaves it: config.toml, metrics.jsonl, summary.json.
    fn write_run(dir: &Path, mode: &str, seed: u64, accs: &[f64], student: bool) {
        std::fs::create_dir_all(dir).unwrap();
        let cfg = format!(
            "task = \"vision\"\n[run]\nname = \"tiny\"\nseed = {seed}\ndevice = \"cpu\"\nthreads = 0\n[lot]\nmode = \"{mode}\"\nalpha = 0.5\n[data]\ndataset = \"fashion-mnist\"\ndir = \"{}\"\n[train]\nepochs = {}\n",
            dir.join("data").display(),
            accs.len()
        );
        std::fs::write(dir.join(run::CONFIG_FILE), cfg).unwrap();
        let mut w = MetricsWriter::create(&dir.join(run::METRICS_FILE)).unwrap();
        let models: &[&str] = if student { &["teacher", "student0"] } else { &["teacher"] };
        for (e, &a) in accs.iter().enumerate() {
            for (mi, m) in models.iter().enumerate() {
                let acc = a - 5.0 * mi as f64;
                w.write(&Record { epoch: e as u64 + 1, step: 10 * (e as u64 + 1), model: m.to_string(), split: "train".into(), loss: 1.0, lr: Some(0.1), kind: RecordKind::Classification { accuracy: acc - 2.0 }, ..Default::default() }).unwrap();
                w.write(&Record { epoch: e as u64 + 1, step: 10 * (e as u64 + 1), model: m.to_string(), split: "test".into(), loss: 0.5, kind: RecordKind::Classification { accuracy: acc }, ..Default::default() }).unwrap();
            }
        }
        let mut s = Summary { name: "tiny".into(), mode: mode.into(), seed, epochs: accs.len() as u64, teacher_steps: 10 * accs.len() as u64, wall_s: 1.0, precision: None, models: BTreeMap::new() };
        for (mi, m) in models.iter().enumerate() {
            let accs: Vec<f64> = accs.iter().map(|a| a - 5.0 * mi as f64).collect();
            s.models.insert(
                m.to_string(),
                ModelSummary {
                    best_epoch: 1,
                    optimizer_steps: 10,
                    kind: SummaryKind::Classification {
                        final_test_loss: 0.5,
                        final_test_accuracy: *accs.last().unwrap(),
                        best_test_accuracy: accs.iter().copied().fold(f64::MIN, f64::max),
                    },
                },
            );
        }
        run::write_summary(dir, &s).unwrap();
    }

    /// A run with a validation split: valid accuracy every epoch, the test set read once at the end.
    fn write_valid_run(dir: &Path, mode: &str, seed: u64, epochs: u64, test_acc: f64) {
        std::fs::create_dir_all(dir).unwrap();
        let cfg = format!("task = \"vision\"\n[run]\nname = \"tiny\"\nseed = {seed}\n[lot]\nmode = \"{mode}\"\n[train]\nepochs = 4\n");
        std::fs::write(dir.join(run::CONFIG_FILE), cfg).unwrap();
        let mut w = MetricsWriter::create(&dir.join(run::METRICS_FILE)).unwrap();
        for e in 1..=epochs {
            let acc = 50.0 + 40.0 * e as f64 / epochs as f64 + seed as f64;
            w.write(&Record { epoch: e, step: 10 * e, model: "teacher".into(), split: "valid".into(), loss: 0.5, kind: RecordKind::Classification { accuracy: acc }, ..Default::default() }).unwrap();
        }
        w.write(&Record { epoch: epochs, step: 10 * epochs, model: "teacher".into(), split: "test".into(), loss: 0.5, kind: RecordKind::Classification { accuracy: test_acc }, ..Default::default() }).unwrap();
        let mut s = Summary { name: "tiny".into(), mode: mode.into(), seed, epochs, teacher_steps: 10 * epochs, wall_s: 1.0, precision: None, models: BTreeMap::new() };
        s.models.insert("teacher".into(), classification(test_acc, test_acc));
        run::write_summary(dir, &s).unwrap();
    }

    #[test]
    fn test_read_once_is_drawn_per_seed_and_budgets_share_the_fraction_axis() {
        let tmp = tempfile::tempdir().unwrap();
        // LoT for 4 epochs; compute-matched (the teacher alone, 3× the steps) for 12.
        for (seed, acc) in [(0, 85.0), (1, 86.0), (2, 87.0)] {
            write_valid_run(&tmp.path().join(format!("lot-s{seed}")), "lot", seed, 4, acc);
        }
        for (seed, acc) in [(0, 84.0), (1, 84.5)] {
            write_valid_run(&tmp.path().join(format!("compute_matched-s{seed}")), "compute_matched", seed, 12, acc);
        }
        let groups = group_runs(find_run_dirs(&[tmp.path().to_path_buf()]).unwrap().0.iter().map(|d| load_run(d).unwrap()).collect());
        let curves = mean_curves(&groups, &mut Vec::new());
        let kinds: Vec<&str> = curves.iter().map(|(ci, _)| CURVES[*ci].title).collect();
        assert_eq!(kinds, ["test accuracy", "validation accuracy"]);
        // The test set: each seed's value, the mean and its t-interval (2 ± 4.302653/√3 on n = 3).
        let (cm, lot) = (&curves[0].1[0], &curves[0].1[1]);
        assert_eq!((cm.group.as_str(), lot.group.as_str()), ("tiny/compute_matched", "tiny/lot"));
        let f = lot.final_values.as_ref().unwrap();
        assert_eq!((f.seeds.clone(), f.values.clone(), f.mean), (vec![0, 1, 2], vec![85.0, 86.0, 87.0], 86.0));
        let (lo, hi) = f.ci95.unwrap();
        assert!((lo - (86.0 - 2.484_137_71)).abs() < 1e-6 && (hi - (86.0 + 2.484_137_71)).abs() < 1e-6, "{lo} {hi}");
        // Two runs: 84.25 ± 12.706205 · 0.25.
        let f = cm.final_values.as_ref().unwrap();
        assert!((f.mean - 84.25).abs() < 1e-12 && (f.ci95.unwrap().1 - (84.25 + 12.706_204_736 * 0.25)).abs() < 1e-6, "{f:?}");
        // Run lengths: epochs from the summaries; validation curves are not read once.
        assert_eq!((lot.run_length, cm.run_length), (4.0, 12.0));
        assert!(curves[1].1.iter().all(|c| c.final_values.is_none()));

        // The plot: the curves against the fraction of the run, then the strips in the same colours.
        let charts = curve_panels(&curves);
        assert_eq!(charts.len(), 2);
        let Chart::Lines(p) = &charts[0] else { panic!("lines first") };
        assert_eq!((p.title.as_str(), p.x_label.as_str()), ("validation accuracy (mean ± std over seeds)", BY_EPOCH));
        let labels: Vec<&str> = p.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["compute_matched teacher", "lot teacher"]);
        // Both end at 1; half-way is epoch 6 of 12 and epoch 2 of 4.
        assert_eq!((p.series[0].points[5].0, p.series[0].points.last().unwrap().0), (0.5, 1.0));
        assert_eq!((p.series[1].points[1].0, p.series[1].points.last().unwrap().0), (0.5, 1.0));
        let Chart::Strips(sp) = &charts[1] else { panic!("strips second") };
        assert_eq!(sp.title, "test accuracy (each seed; mean, 95 % CI)");
        let strips: Vec<(&str, usize, f64, usize)> = sp.strips.iter().map(|s| (s.label.as_str(), s.values.len(), s.mean, s.color)).collect();
        assert_eq!(strips, [("compute_matched teacher", 2, 84.25, 0), ("lot teacher", 3, 86.0, 1)]);
        // compare.json keeps every field and adds run_length and final_values; the PNG is drawn.
        let out = tmp.path().join("cmp");
        let rep = compare(&[tmp.path().to_path_buf()], &out, &[]).unwrap();
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep.json_path).unwrap()).unwrap();
        let c = &json["curves"][0]["curves"][1];
        assert_eq!((c["group"].as_str(), c["points"][0]["x"].as_f64(), c["run_length"].as_f64()), (Some("tiny/lot"), Some(4.0), Some(4.0)));
        assert_eq!(c["final_values"]["values"], serde_json::json!([85.0, 86.0, 87.0]));
        assert!(json["curves"][1]["curves"][0].get("final_values").is_none());
        assert_eq!(&std::fs::read(rep.plot_path.unwrap()).unwrap()[1..4], b"PNG");
    }

    #[test]
    fn legend_labels_drop_the_shared_config_name() {
        assert_eq!(common_prefix(&["fm/lot", "fm/teacher_only"]), 3);
        assert_eq!(common_prefix(&["fm/lot [lot.alpha=0.1]", "fm/lot [lot.alpha=1]"]), 3);
        assert_eq!(common_prefix(&["fm/lot", "ptb/lot"]), 0);
        assert_eq!(common_prefix(&["a/b/lot"]), 4);
        assert_eq!(common_prefix(&[]), 0);
    }

    #[test]
    fn compare_run_folders_end_to_end() {
        let tmp = tempfile::tempdir().unwrap();
        let sweep = tmp.path().join("sweep");
        write_run(&sweep.join("lot-s0"), "lot", 0, &[70.0, 80.0, 84.0], true);
        write_run(&sweep.join("lot-s1"), "lot", 1, &[72.0, 82.0, 86.0], true);
        write_run(&sweep.join("lot-s2"), "lot", 2, &[71.0, 81.0, 85.0], true);
        write_run(&sweep.join("teacher_only-s0"), "teacher_only", 0, &[69.0, 78.0, 82.0], true);
        write_run(&sweep.join("teacher_only-s1"), "teacher_only", 1, &[70.0, 79.0, 81.0], true);
        // An unfinished run (no summary.json) is not picked up from the parent folder.
        std::fs::create_dir_all(sweep.join("lot-s3")).unwrap();
        std::fs::write(sweep.join("lot-s3").join(run::METRICS_FILE), "").unwrap();
        let extra = tmp.path().join("single");
        write_run(&extra, "no_student", 5, &[60.0, 65.0], false);

        let out = tmp.path().join("cmp");
        let rep = compare(&[sweep.clone(), extra.clone()], &out, &[]).unwrap();
        println!("{}", rep.table);
        let expected = "\
| group | model | n | final test acc % | best test acc % |
|---|---|---:|---:|---:|
| tiny/lot | teacher | 3 | 85.00 ± 1.00 | 85.00 ± 1.00 |
| tiny/lot | student0 | 3 | 80.00 ± 1.00 | 80.00 ± 1.00 |
| tiny/teacher_only | teacher | 2 | 81.50 ± 0.71 | 81.50 ± 0.71 |
| tiny/teacher_only | student0 | 2 | 76.50 ± 0.71 | 76.50 ± 0.71 |
| tiny/no_student | teacher | 1 | 65.00 ± — | 65.00 ± — |
";
        assert_eq!(rep.table, expected);
        let md = std::fs::read_to_string(&rep.markdown_path).unwrap();
        assert!(md.contains(expected) && md.contains("| tiny/lot | 0, 1, 2 |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep.json_path).unwrap()).unwrap();
        let g0 = &json["groups"][0];
        assert_eq!(g0["name"], "tiny/lot");
        assert_eq!(g0["seeds"], serde_json::json!([0, 1, 2]));
        assert_eq!(g0["models"]["teacher"]["n"], 3);
        assert_eq!(g0["models"]["teacher"]["final_test_accuracy"]["mean"], 85.0);
        assert_eq!(g0["models"]["teacher"]["final_test_accuracy"]["std"], 1.0);
        assert_eq!(json["groups"][2]["models"]["teacher"]["final_test_accuracy"]["std"], serde_json::Value::Null);
        // Curves: test accuracy by epoch, mean of the three LoT teachers at epoch 2 = 81 ± 1.
        let c = &json["curves"][0];
        assert_eq!(c["split"], "test");
        let lot_teacher = &c["curves"][0];
        assert_eq!((lot_teacher["group"].as_str(), lot_teacher["model"].as_str()), (Some("tiny/lot"), Some("teacher")));
        assert_eq!(lot_teacher["points"][1]["x"], 2.0);
        assert_eq!(lot_teacher["points"][1]["mean"], 81.0);
        assert_eq!(lot_teacher["points"][1]["std"], 1.0);
        assert_eq!(c["curves"].as_array().unwrap().len(), 5);
        let png = rep.plot_path.unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
        // Event files were written next to each metrics.jsonl and are not mistaken for anything.
        assert!(std::fs::read_dir(sweep.join("lot-s0")).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("events.out.tfevents.")));

        // Errors: a path that does not exist; nothing finished.
        let e = compare(&[tmp.path().join("nope")], &out, &[]).unwrap_err();
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("nope"), "{e}");
        let e = compare(&[sweep.join("lot-s3")], &out, &[]).unwrap_err();
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("no finished runs"), "{e}");
    }
}
