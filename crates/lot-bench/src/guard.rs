//! What the precision guards share: a run trained, resumed or reused, and a mean ± std.

use std::path::Path;

use anyhow::Result;

use lot::config::Config;

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
