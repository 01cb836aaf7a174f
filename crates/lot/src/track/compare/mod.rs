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

use crate::error::input_err;
use crate::run;
use crate::track::plot;

mod curves;
mod diff;
#[cfg(test)]
mod fixtures;
mod runs;
mod table;

pub use curves::{
    aggregate_binned, aggregate_exact, curve_panels, final_values, mean_curves, Curve, CurveDef, CurvePoint, FinalValues, CURVES, CURVE_BINS,
};
pub use diff::{differences, find_baseline, format_p, markdown_differences, DiffRow};
pub use runs::{find_run_dirs, flatten_toml, group_runs, is_ignored_key, load_run, Group, RunInfo};
pub use table::{format_stat, markdown_table, mean_std, shown_metrics, table_rows, MetricDef, Row, Stat, METRICS};

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
    use crate::run::{ModelSummary, Summary, SummaryKind};
    use crate::track::{MetricsWriter, Record, RecordKind};

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
