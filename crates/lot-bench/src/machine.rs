//! The machine and versions every report records.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::TCH_VERSION;

/// CPU model name from /proc/cpuinfo (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn load_avg() -> Option<Vec<f64>> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect())
}

/// The version of the libtorch this process loaded: `torch/version.py` next to the wheel's
/// `torch/lib/libtorch_cpu.so`, or `build-version` of a standalone libtorch.
pub fn libtorch_version() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let lib = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libtorch_cpu.so"));
    if let Some(dir) = lib.and_then(|p| Path::new(p).parent()).and_then(Path::parent) {
        if let Ok(s) = std::fs::read_to_string(dir.join("version.py")) {
            if let Some(v) = s.lines().find_map(|l| l.strip_prefix("__version__ = ")) {
                return v.trim().trim_matches('\'').trim_matches('"').to_string();
            }
        }
        if let Ok(s) = std::fs::read_to_string(dir.join("build-version")) {
            return s.trim().to_string();
        }
    }
    "unknown".into()
}

/// UTC date and time (RFC 3339, seconds) of a Unix time.
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A report's machine and versions, what every report records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// UTC, RFC 3339, when the report was made.
    pub date: String,
    pub cpu: String,
    pub logical_cpus: usize,
    /// /proc/loadavg (1, 5, 15 min) before the runs and after them; null where there is none.
    pub load_avg_start: Option<Vec<f64>>,
    pub load_avg_end: Option<Vec<f64>>,
    pub lot: String,
    pub tch: String,
    pub libtorch: String,
}

/// This machine now, with the load average `load_start` taken before the runs.
pub fn environment(load_start: Option<Vec<f64>>) -> Environment {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Environment {
        date: utc_timestamp(now),
        cpu: cpu_model(),
        logical_cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        load_avg_start: load_start,
        load_avg_end: load_avg(),
        lot: env!("CARGO_PKG_VERSION").into(),
        tch: TCH_VERSION.into(),
        libtorch: libtorch_version(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
