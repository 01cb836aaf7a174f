//! Mean curves over seeds from each run's `metrics.jsonl`, and the panels of `compare.png`.

use serde::Serialize;

use crate::run::{self, ModelSummary, Summary};
use crate::track::metrics::{read_metrics, Record};
use crate::track::plot::{Chart, Panel, Series, Strip, StripPanel};
use crate::track::stats::mean_ci95;

use super::runs::Group;
use super::table::{mean_std, model_order};

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::track::compare::{compare, find_run_dirs, group_runs, load_run};
    use crate::track::{MetricsWriter, RecordKind};

    use super::super::fixtures::classification;

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
}
