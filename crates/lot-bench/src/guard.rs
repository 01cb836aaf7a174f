//! The precision guard both `lot bench accuracy` and `lot bench perplexity` are: one config
//! trained per seed in fp32 and in the fast path (finished runs reused), one metric of each model
//! compared between the two, and the teacher's difference held to a tolerance.

use std::path::Path;

use anyhow::Result;

use lot::config::Config;
use lot::precision::Precision;
use lot::run::ModelSummary;

/// How a guard measures the fast path against fp32: what its `difference` column is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Difference {
    /// bf16 − fp32, in the metric's own unit (test accuracy: points).
    Absolute,
    /// 100 · (bf16 − fp32) / fp32, % (validation perplexity).
    Relative,
}

impl Difference {
    pub(crate) fn between(self, fp32: f64, bf16: f64) -> f64 {
        match self {
            Difference::Absolute => bf16 - fp32,
            Difference::Relative => 100.0 * (bf16 - fp32) / fp32,
        }
    }
}

/// One model of one guard run, as the comparison reads it (the guards' report rows).
pub(crate) trait GuardRow {
    fn precision(&self) -> Precision;
    fn model(&self) -> &str;
    /// The metric compared; None where the run's summary has none.
    fn metric(&self) -> Option<f64>;
    fn wall_s(&self) -> f64;
}

/// What a precision guard trains, and in which two precisions ([`compare`] judges the runs).
pub(crate) struct PrecisionGuard<'a> {
    pub config_name: &'a str,
    pub config_text: &'a str,
    pub seeds: &'a [u64],
    /// `--set` overrides of every run.
    pub sets: &'a [String],
    /// Folder for the runs (`<precision>-s<seed>/`).
    pub out: &'a Path,
    /// fp32 and the fast path, each with the overrides it adds after `run.seed` and
    /// `train.precision`.
    pub arms: [(Precision, Vec<String>); 2],
}

/// One model's metric over the seeds in each precision (mean, sample std), their difference, and
/// the mean wall time of its runs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ModelComparison {
    pub model: String,
    pub fp32: (f64, f64),
    pub bf16: (f64, f64),
    pub difference: f64,
    pub fp32_wall_s: f64,
    pub bf16_wall_s: f64,
}

/// The guard's verdict: every model (sorted by name), the teacher's difference (NaN without a
/// teacher), and whether it is within the tolerance.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    pub per_model: Vec<ModelComparison>,
    pub teacher_difference: f64,
    pub within_tolerance: bool,
}

impl PrecisionGuard<'_> {
    /// Every seed in both arms, in that order: the config checked by `check`, then the finished
    /// run in `<out>/<precision>-s<seed>` reused, resumed or trained; `row` makes one row per
    /// model of each run from its summary and the run's wall time.
    pub(crate) fn train<R>(
        &self,
        check: impl Fn(&Config) -> Result<()>,
        mut row: impl FnMut(Precision, u64, &str, &ModelSummary, f64) -> R,
        log: &mut impl FnMut(&str),
    ) -> Result<Vec<R>> {
        let mut rows = Vec::new();
        for &seed in self.seeds {
            for (prec, arm_sets) in &self.arms {
                let mut sets = self.sets.to_vec();
                sets.extend([format!("run.seed={seed}"), format!("train.precision={}", prec.name())]);
                sets.extend(arm_sets.iter().cloned());
                let cfg = Config::from_toml(self.config_text, &sets, self.config_name)?;
                check(&cfg)?;
                let dir = self.out.join(format!("{}-s{seed}", prec.name()));
                let summary = train_or_reuse(&cfg, &dir, log)?;
                for (model, ms) in &summary.models {
                    rows.push(row(*prec, seed, model, ms, summary.wall_s));
                }
            }
        }
        Ok(rows)
    }

}

/// Each model's metric (the rows' [`GuardRow::metric`]) in fp32 against bf16, measured by
/// `difference`, and the teacher's difference held to `tolerance` (inclusive).
pub(crate) fn compare<R: GuardRow>(rows: &[R], difference: Difference, tolerance: f64) -> Verdict {
    let column = |prec: Precision, model: &str, key: &dyn Fn(&R) -> Option<f64>| -> Vec<f64> {
        rows.iter().filter(|r| r.precision() == prec && r.model() == model).filter_map(key).collect()
    };
    let mut models: Vec<&str> = rows.iter().map(R::model).collect();
    models.sort();
    models.dedup();
    let metric = |r: &R| r.metric();
    let wall = |r: &R| Some(r.wall_s());
    let per_model: Vec<ModelComparison> = models
        .iter()
        .map(|&m| {
            let fp32 = mean_std(&column(Precision::Fp32, m, &metric));
            let bf16 = mean_std(&column(Precision::Bf16, m, &metric));
            ModelComparison {
                model: m.to_string(),
                fp32,
                bf16,
                difference: difference.between(fp32.0, bf16.0),
                fp32_wall_s: mean_std(&column(Precision::Fp32, m, &wall)).0,
                bf16_wall_s: mean_std(&column(Precision::Bf16, m, &wall)).0,
            }
        })
        .collect();
    let teacher_difference = per_model.iter().find(|p| p.model == "teacher").map_or(f64::NAN, |p| p.difference);
    Verdict { per_model, teacher_difference, within_tolerance: teacher_difference.abs() <= tolerance }
}

/// A guard's run: the finished run in `dir` if there is one, else resumed or trained.
pub(crate) fn train_or_reuse(cfg: &Config, dir: &Path, log: &mut impl FnMut(&str)) -> Result<lot::run::Summary> {
    if dir.join(lot::run::SUMMARY_FILE).exists() {
        log(&format!("{}: finished run found, reusing it", dir.display()));
        lot::run::read_summary(dir)
    } else if lot::checkpoint::path(dir).exists() {
        log(&format!("{}: resuming", dir.display()));
        lot::resume(dir)
    } else {
        log(&format!("{}: training {} seed {}", dir.display(), cfg.lot.mode.name(), cfg.run.seed));
        lot::train(cfg, dir)
    }
}

/// Mean and sample std (NaN when undefined).
pub(crate) fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    let s = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { f64::NAN };
    (m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Row(Precision, &'static str, Option<f64>, f64);

    impl GuardRow for Row {
        fn precision(&self) -> Precision {
            self.0
        }
        fn model(&self) -> &str {
            self.1
        }
        fn metric(&self) -> Option<f64> {
            self.2
        }
        fn wall_s(&self) -> f64 {
            self.3
        }
    }

    /// Perplexities worked out by hand: teacher fp32 10 and 12 (mean 11, sample std √2), bf16 11
    /// and 12.1 (mean 11.55, std 1.1/√2), so bf16 is 5 % above fp32; a student with one fp32 seed
    /// (std undefined) and no bf16 value (mean and difference undefined).
    #[test]
    fn relative_difference_means_stds_and_the_teacher_verdict() {
        use Precision::{Bf16, Fp32};
        let rows = [
            Row(Fp32, "teacher", Some(10.0), 100.0),
            Row(Fp32, "student0", Some(20.0), 100.0),
            Row(Bf16, "teacher", Some(11.0), 50.0),
            Row(Bf16, "student0", None, 50.0),
            Row(Fp32, "teacher", Some(12.0), 300.0),
            Row(Bf16, "teacher", Some(12.1), 70.0),
        ];
        let v = compare(&rows, Difference::Relative, 5.5);
        let names: Vec<&str> = v.per_model.iter().map(|p| p.model.as_str()).collect();
        assert_eq!(names, ["student0", "teacher"]);
        let t = &v.per_model[1];
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(t.fp32.0, 11.0) && close(t.fp32.1, 1.414_213_562_373_095), "{t:?}");
        assert!(close(t.bf16.0, 11.55) && close(t.bf16.1, 0.777_817_459_305_202), "{t:?}");
        assert!(close(t.difference, 5.0), "{t:?}");
        assert!(close(t.fp32_wall_s, 200.0) && close(t.bf16_wall_s, 60.0), "{t:?}");
        assert!(close(v.teacher_difference, 5.0) && v.within_tolerance, "{v:?}");
        let s = &v.per_model[0];
        assert_eq!(s.fp32.0, 20.0);
        assert!(s.fp32.1.is_nan() && s.bf16.0.is_nan() && s.difference.is_nan(), "{s:?}");
        // 5 % is outside a 4.9 % tolerance.
        assert!(!compare(&rows, Difference::Relative, 4.9).within_tolerance);
        // Without a teacher there is nothing to hold to the tolerance.
        let v = compare(&rows[1..2], Difference::Relative, 100.0);
        assert!(v.teacher_difference.is_nan() && !v.within_tolerance, "{v:?}");
    }

    /// Accuracies by hand: teacher fp32 90 and 92 (mean 91), bf16 90.5 twice: bf16 − fp32 = −0.5
    /// points, within a 0.5-point tolerance (the bound is inclusive) and not within 0.4.
    #[test]
    fn absolute_difference_is_bf16_minus_fp32_in_points() {
        use Precision::{Bf16, Fp32};
        let rows = [Row(Fp32, "teacher", Some(90.0), 1.0), Row(Fp32, "teacher", Some(92.0), 1.0), Row(Bf16, "teacher", Some(90.5), 1.0), Row(Bf16, "teacher", Some(90.5), 1.0)];
        let v = compare(&rows, Difference::Absolute, 0.5);
        assert_eq!((v.per_model[0].fp32.0, v.per_model[0].bf16.0, v.per_model[0].bf16.1), (91.0, 90.5, 0.0));
        assert_eq!(v.teacher_difference, -0.5);
        assert!(v.within_tolerance);
        assert!(!compare(&rows, Difference::Absolute, 0.4).within_tolerance);
        assert_eq!(Difference::Relative.between(91.0, 90.5), 100.0 * -0.5 / 91.0);
    }
}
