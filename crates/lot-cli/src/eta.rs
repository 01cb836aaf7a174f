//! The whole sweep's ETA, from the first epoch on: each running run's pace (its `progress.json`),
//! each mode's duration (finished runs, else the running runs' projections), and a simulation of
//! the queue on `jobs` workers.

use std::collections::BTreeMap;
use std::time::Duration;

/// A run in progress: its mode, seconds since the sweep started it, and its progress file if any.
pub struct Running<'a> {
    pub mode: &'a str,
    pub since_start_s: f64,
    pub progress: Option<lot::run::Progress>,
}

/// Seconds this run still needs at its pace so far, and its projected whole duration; `None`
/// before its first progress report.
fn project(r: &Running) -> Option<(f64, f64)> {
    let p = r.progress?;
    if p.done == 0 || p.total == 0 {
        return None;
    }
    let f = p.done as f64 / p.total as f64;
    let left = p.elapsed_s * (1.0 - f) / f;
    Some((left, r.since_start_s + left))
}

/// Seconds until the sweep is done: running runs finish at their projection, queued runs (in
/// queue order) start on the first free worker and take their mode's mean duration, or, for a
/// mode none of whose runs has started, the longest mode's. `None` before any pace is known.
pub fn sweep_eta(running: &[Running], queued: &[&str], finished: &[(&str, f64)], jobs: usize) -> Option<f64> {
    let mut per_mode: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (m, s) in finished {
        per_mode.entry(m).or_default().push(*s);
    }
    let mut workers = Vec::new();
    let mut projected: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in running {
        let (left, whole) = project(r)?;
        workers.push(left);
        projected.entry(r.mode).or_default().push(whole);
    }
    let mean = |v: &Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
    let duration = |m: &str| per_mode.get(m).or_else(|| projected.get(m)).map(mean);
    let longest = per_mode.values().chain(projected.values()).map(mean).fold(None, |a: Option<f64>, d| Some(a.map_or(d, |a| a.max(d))));
    workers.resize(jobs.max(running.len()).max(1), 0.0);
    for m in queued {
        let d = duration(m).or(longest)?;
        let first_free = workers.iter_mut().min_by(|a, b| a.total_cmp(b)).expect("at least one worker");
        *first_free += d;
    }
    Some(workers.into_iter().fold(0.0, f64::max))
}

/// `1h02m`, `4m05s`, `35s`.
pub fn hms(s: f64) -> String {
    let s = Duration::from_secs_f64(s.max(0.0)).as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m{sec:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lot::run::Progress;

    fn running(mode: &str, since: f64, done: u64, total: u64, elapsed: f64) -> Running<'_> {
        Running { mode, since_start_s: since, progress: Some(Progress { done, total, elapsed_s: elapsed }) }
    }

    #[test]
    fn eta_projects_running_runs_and_schedules_the_queue_on_free_workers() {
        // lot: 1/4 done in 30 s → 90 s left, 120 s in all; teacher_only: 1/2 done in 20 s → 20 s
        // left, 40 s in all (the sweep started both 30 s ago and 20 s ago).
        let run = [running("lot", 30.0, 10, 40, 30.0), running("teacher_only", 20.0, 20, 40, 20.0)];
        // Queue: teacher_only (40 s) on the worker free at 20 s → 60 s; lot (120 s) on the
        // worker free at 60 s (the other is busy until 90 s) → 180 s.
        assert_eq!(sweep_eta(&run, &["teacher_only", "lot"], &[], 2), Some(180.0));
        // A finished run's real duration wins over the projection.
        assert_eq!(sweep_eta(&run, &["teacher_only"], &[("teacher_only", 100.0)], 2), Some(120.0));
        // Nothing queued: the slowest running run.
        assert_eq!(sweep_eta(&run, &[], &[], 2), Some(90.0));
        // One worker: everything in a row after the running run.
        assert_eq!(sweep_eta(&run[..1], &["lot"], &[], 1), Some(210.0));
    }

    #[test]
    fn eta_is_unknown_until_a_pace_is_known_and_unstarted_modes_take_the_longest() {
        let run = [running("lot", 5.0, 0, 40, 0.0)];
        assert_eq!(sweep_eta(&run, &[], &[], 2), None, "no step done yet");
        assert_eq!(sweep_eta(&[], &["lot"], &[], 2), None, "nothing started");
        // compute_matched has not started: it is counted as the longest known mode (lot, 120 s).
        let run = [running("lot", 30.0, 10, 40, 30.0), running("teacher_only", 20.0, 20, 40, 20.0)];
        assert_eq!(sweep_eta(&run, &["compute_matched"], &[], 2), Some(140.0));
        let none = [Running { mode: "lot", since_start_s: 1.0, progress: None }];
        assert_eq!(sweep_eta(&none, &[], &[], 1), None);
    }

    #[test]
    fn durations_print_compactly() {
        assert_eq!(hms(35.4), "35s");
        assert_eq!(hms(245.0), "4m05s");
        assert_eq!(hms(3720.0), "1h02m");
    }
}
