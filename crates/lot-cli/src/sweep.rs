//! `lot sweep CONFIG --seeds 0,1,2 --modes lot,teacher_only`: a grid of training runs, each a
//! child process of this binary (`lot train CONFIG --set ... --set run.seed=S --set lot.mode=M
//! --out <out>/<mode>-s<seed>`), at most `--jobs` at once, then `lot compare` on the finished ones.
//!
//! Children keep runs isolated: a crash or an error in one run is reported (run folder, the
//! child's last stderr line, its log) and the others go on. A child's stdout and stderr go to
//! `<out>/logs/<mode>-s<seed>.out` / `.err`. A run folder that already holds `summary.json` is
//! reused and one that was stopped with a checkpoint is resumed (`lot train --resume`), so a
//! sweep that was stopped can be started again with the same arguments.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Result};

use lot::config::{Config, Mode};
use lot::error::input_err;
use lot::run;


/// `0,1,2` → seeds (no empties, no duplicates).
pub fn parse_seeds(s: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(input_err(format!("--seeds {s:?}: expected a comma-separated list of seeds, e.g. --seeds 0,1,2")));
        }
        let seed: u64 = part.parse().map_err(|_| input_err(format!("--seeds: '{part}' is not a seed (a non-negative integer)")))?;
        if out.contains(&seed) {
            return Err(input_err(format!("--seeds: seed {seed} is listed twice")));
        }
        out.push(seed);
    }
    Ok(out)
}

/// `lot,teacher_only` → modes (no empties, no duplicates).
pub fn parse_modes(s: &str) -> Result<Vec<Mode>> {
    let names: Vec<&str> = Mode::ALL.iter().map(|m| m.name()).collect();
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(input_err(format!("--modes {s:?}: expected a comma-separated list of modes ({})", names.join(", "))));
        }
        let mode = Mode::ALL
            .iter()
            .copied()
            .find(|m| m.name() == part)
            .ok_or_else(|| input_err(format!("--modes: unknown mode '{part}' (expected {})", names.join(", "))))?;
        if out.contains(&mode) {
            return Err(input_err(format!("--modes: mode '{part}' is listed twice")));
        }
        out.push(mode);
    }
    Ok(out)
}

/// One run of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridRun {
    pub mode: Mode,
    pub seed: u64,
    /// `<mode>-s<seed>`
    pub name: String,
    pub dir: PathBuf,
}

/// Seed-major order (every mode of seed 0 first), so early results already compare modes.
pub fn expand_grid(seeds: &[u64], modes: &[Mode], out: &Path) -> Vec<GridRun> {
    let mut grid = Vec::new();
    for &seed in seeds {
        for &mode in modes {
            let name = format!("{}-s{seed}", mode.name());
            grid.push(GridRun { mode, seed, dir: out.join(&name), name });
        }
    }
    grid
}

/// The child's arguments: `train CONFIG --set <user sets…> --set <extra…> --set run.seed=S
/// --set lot.mode=M --out DIR` (later `--set`s win, so the grid's seed and mode always apply).
pub fn child_args(config: &Path, sets: &[String], extra: &[String], r: &GridRun) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["train".into(), config.into()];
    let grid = [format!("run.seed={}", r.seed), format!("lot.mode={}", r.mode.name())];
    for s in sets.iter().chain(extra).chain(&grid) {
        a.push("--set".into());
        a.push(s.into());
    }
    a.push("--out".into());
    a.push(r.dir.clone().into());
    a
}

/// Everything `lot sweep` was given.
pub struct SweepArgs {
    pub config: PathBuf,
    pub seeds: String,
    pub modes: String,
    pub sets: Vec<String>,
    pub jobs: usize,
    pub out: Option<PathBuf>,
    /// Modes to difference every group against in the final comparison (`lot compare --baseline`).
    pub baselines: Vec<String>,
    /// Write (and with `submit`, submit) a Slurm job array instead of running the grid here.
    pub slurm: Option<SlurmArgs>,
}

/// `--launcher slurm` and its options.
pub struct SlurmArgs {
    pub submit: bool,
    pub sbatch: Vec<String>,
    pub nproc_per_task: usize,
}

enum Outcome {
    Finished,
    Reused,
    Failed(String),
}

enum Msg {
    Started(usize, Plan),
    Done(usize, Outcome, f64),
}

/// Last non-empty line of a file from byte `from` on (what the child wrote to stderr).
fn last_line(path: &Path, from: u64) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let tail = text.get(from as usize..).unwrap_or(&[]);
    String::from_utf8_lossy(tail).lines().rev().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

/// What to do with a grid run's folder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Plan {
    /// `summary.json` is there: finished by an earlier sweep.
    Reuse,
    /// Stopped with a checkpoint: `lot train --resume DIR`.
    Resume,
    /// Stopped without a checkpoint: the folder must be deleted by hand.
    Stuck,
    /// Nothing there yet: train from the config.
    Train,
}

pub fn plan(dir: &Path) -> Plan {
    if dir.join(run::SUMMARY_FILE).is_file() {
        Plan::Reuse
    } else if lot::checkpoint::path(dir).is_file() {
        Plan::Resume
    } else if dir.join(run::METRICS_FILE).exists() {
        Plan::Stuck
    } else {
        Plan::Train
    }
}

fn run_child(exe: &Path, args: &[OsString], r: &GridRun, logs: &Path, plan: &Plan) -> Outcome {
    let args: Vec<OsString> = match plan {
        Plan::Reuse => return Outcome::Reused,
        Plan::Stuck => {
            return Outcome::Failed(format!(
                "{} holds an unfinished run without a checkpoint; delete the folder to run it again",
                r.dir.display()
            ))
        }
        Plan::Resume => vec!["train".into(), "--resume".into(), r.dir.clone().into()],
        Plan::Train => args.to_vec(),
    };
    // Logs are appended to (a resumed run keeps its first part); the last line is read from
    // where this child started writing.
    let (out_log, err_log) = (logs.join(format!("{}.out", r.name)), logs.join(format!("{}.err", r.name)));
    let open = |p: &Path| std::fs::OpenOptions::new().create(true).append(true).open(p);
    let from = std::fs::metadata(&err_log).map(|m| m.len()).unwrap_or(0);
    let (o, e) = match open(&out_log).and_then(|o| Ok((o, open(&err_log)?))) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(format!("cannot create logs in {}: {e}", logs.display())),
    };
    let status = std::process::Command::new(exe).args(&args).stdout(o).stderr(e).env("LOT_NO_PROGRESS", "1").status();
    match status {
        Ok(s) if s.success() && r.dir.join(run::SUMMARY_FILE).is_file() => Outcome::Finished,
        Ok(s) => {
            let how = match s.code() {
                Some(c) => format!("exit code {c}"),
                None => "killed by a signal".into(),
            };
            let last = last_line(&err_log, from).unwrap_or_else(|| "(no output on stderr)".into());
            Outcome::Failed(format!("{how}: {last} [run folder {}, log {}]", r.dir.display(), err_log.display()))
        }
        Err(e) => Outcome::Failed(format!("cannot start {}: {e}", exe.display())),
    }
}

/// How often the sweep looks at its runs' progress, and prints the ETA at most.
const ETA_POLL: std::time::Duration = std::time::Duration::from_secs(2);
const ETA_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// `[sweep] 2/6 done · 41 % · 3m10s elapsed · ETA 4m35s`, once every running run has reported
/// progress and every queued run's mode has a pace.
fn eta_line(
    grid: &[GridRun],
    running: &[(usize, Instant)],
    queued: &[usize],
    durations: &[(usize, f64)],
    jobs: usize,
    done: usize,
    start: Instant,
) -> Option<String> {
    let now: Vec<crate::eta::Running> = running
        .iter()
        .map(|&(i, t)| crate::eta::Running {
            mode: grid[i].mode.name(),
            since_start_s: t.elapsed().as_secs_f64(),
            progress: run::read_progress(&grid[i].dir),
        })
        .collect();
    let queued: Vec<&str> = queued.iter().map(|&i| grid[i].mode.name()).collect();
    let finished: Vec<(&str, f64)> = durations.iter().map(|&(i, s)| (grid[i].mode.name(), s)).collect();
    let left = crate::eta::sweep_eta(&now, &queued, &finished, jobs)?;
    let el = start.elapsed().as_secs_f64();
    let pct = 100.0 * el / (el + left).max(1e-9);
    Some(format!(
        "[sweep] {done}/{} done · {pct:.0} % · {} elapsed · ETA {}",
        grid.len(),
        crate::eta::hms(el),
        crate::eta::hms(left)
    ))
}

/// Returns the final comparison (`None` when no run finished).
pub fn sweep(a: &SweepArgs) -> Result<Option<lot::track::compare::Report>> {
    let seeds = parse_seeds(&a.seeds)?;
    let modes = parse_modes(&a.modes)?;
    if a.jobs == 0 {
        return Err(input_err("--jobs must be at least 1"));
    }
    for b in &a.baselines {
        if !modes.iter().any(|m| m.name() == b) {
            return Err(input_err(format!("--baseline {b}: not one of the swept modes ({})", a.modes)));
        }
    }
    // Check the config with every mode before anything starts (bad keys: one line, exit 2).
    let mut base = None;
    for m in &modes {
        let mut sets = a.sets.clone();
        sets.push(format!("run.seed={}", seeds[0]));
        sets.push(format!("lot.mode={}", m.name()));
        base.get_or_insert(Config::load(&a.config, &sets)?);
    }
    let base = base.expect("at least one mode");
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-sweep", base.run.name)));
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| input_err(format!("output folder {}: cannot create: {e}", out.display())))?;
    if let Some(sl) = &a.slurm {
        return write_slurm(a, sl, &base, &seeds, &modes, &out).map(|_| None);
    }
    let grid = expand_grid(&seeds, &modes, &out);
    let jobs = a.jobs.min(grid.len());
    // Several libtorch processes on the CPU: share the cores instead of each taking them all.
    let mut extra = Vec::new();
    if jobs > 1 && base.run.threads == 0 && base.run.device == "cpu" {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        extra.push(format!("run.threads={}", (cores / jobs).max(1)));
    }
    let exe = std::env::current_exe().map_err(|e| anyhow!("cannot find the lot binary: {e}"))?;
    eprintln!("sweep: {} runs ({} seeds × {} modes), {jobs} at a time, into {}", grid.len(), seeds.len(), modes.len(), out.display());

    let queue = Arc::new(Mutex::new((0..grid.len()).collect::<VecDeque<usize>>()));
    let grid = Arc::new(grid);
    let (tx, rx) = mpsc::channel();
    let mut workers = Vec::new();
    for _ in 0..jobs {
        let (queue, grid, tx, exe, logs) = (queue.clone(), grid.clone(), tx.clone(), exe.clone(), logs.clone());
        let (config, sets, extra) = (a.config.clone(), a.sets.clone(), extra.clone());
        workers.push(std::thread::spawn(move || loop {
            let next = queue.lock().unwrap().pop_front();
            let Some(i) = next else { break };
            let r = &grid[i];
            // Planned once, before the child changes the folder.
            let p = plan(&r.dir);
            let _ = tx.send(Msg::Started(i, p));
            let t = Instant::now();
            let outcome = run_child(&exe, &child_args(&config, &sets, &extra, r), r, &logs, &p);
            let _ = tx.send(Msg::Done(i, outcome, t.elapsed().as_secs_f64()));
        }));
    }
    drop(tx);
    let total = grid.len();
    let (mut done, mut failed) = (0usize, Vec::new());
    let mut finished_dirs = Vec::new();
    // For the whole sweep's ETA: runs in progress (since when), and the finished runs' durations.
    let sweep_start = Instant::now();
    let mut running: Vec<(usize, Instant)> = Vec::new();
    let mut durations: Vec<(usize, f64)> = Vec::new();
    let mut last_eta: Option<Instant> = None;
    loop {
        let msg = match rx.recv_timeout(ETA_POLL) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if last_eta.map_or(true, |t| t.elapsed() >= ETA_EVERY) {
                    let queued: Vec<usize> = queue.lock().unwrap().iter().copied().collect();
                    if let Some(line) = eta_line(&grid, &running, &queued, &durations, jobs, done, sweep_start) {
                        eprintln!("{line}");
                        last_eta = Some(Instant::now());
                    }
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match msg {
            Msg::Started(i, p) => {
                let r = &grid[i];
                let verb = match p {
                    Plan::Train => "start",
                    Plan::Resume => "resume",
                    Plan::Reuse | Plan::Stuck => continue,
                };
                running.push((i, Instant::now()));
                eprintln!("[{done}/{total} done] {verb} {} (seed {}, mode {}) -> {}", r.name, r.seed, r.mode.name(), r.dir.display());
            }
            Msg::Done(i, outcome, secs) => {
                done += 1;
                running.retain(|&(j, _)| j != i);
                let r = &grid[i];
                match outcome {
                    Outcome::Finished => {
                        eprintln!("[{done}/{total} done] finished {} in {secs:.1} s", r.name);
                        finished_dirs.push(i);
                        durations.push((i, secs));
                    }
                    Outcome::Reused => {
                        eprintln!("[{done}/{total} done] {} already finished, reused ({})", r.name, r.dir.display());
                        finished_dirs.push(i);
                    }
                    Outcome::Failed(why) => {
                        eprintln!("[{done}/{total} done] FAILED {}: {why}", r.name);
                        failed.push((i, why));
                    }
                }
            }
        }
    }
    for w in workers {
        let _ = w.join();
    }
    finished_dirs.sort();
    eprintln!("sweep: {} of {total} runs finished, {} failed", finished_dirs.len(), failed.len());
    for (i, why) in &failed {
        eprintln!("  failed {}: {why}", grid[*i].name);
    }
    let mut report = None;
    if !finished_dirs.is_empty() {
        let dirs: Vec<PathBuf> = finished_dirs.iter().map(|&i| grid[i].dir.clone()).collect();
        // A baseline needs ≥ 2 finished seeds on each side; with fewer, compare without it.
        let rep = match lot::track::compare::compare(&dirs, &out, &a.baselines) {
            Err(e) if !a.baselines.is_empty() => {
                eprintln!("sweep: no differences to {}: {e:#}", a.baselines.join(","));
                lot::track::compare::compare(&dirs, &out, &[])?
            }
            r => r?,
        };
        crate::print_compare(&rep);
        report = Some(rep);
    }
    if !failed.is_empty() {
        return Err(anyhow!("sweep: {} of {total} runs failed (see above; logs in {})", failed.len(), logs.display()));
    }
    Ok(report)
}

/// `--launcher slurm`: `<out>/sweep.slurm` with absolute paths (tasks may start anywhere).
fn write_slurm(a: &SweepArgs, sl: &SlurmArgs, base: &Config, seeds: &[u64], modes: &[Mode], out: &Path) -> Result<()> {
    if sl.nproc_per_task == 0 {
        return Err(input_err("--nproc-per-task must be at least 1"));
    }
    let cwd = std::env::current_dir()?;
    let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { cwd.join(p) };
    let out = abs(out);
    let grid = expand_grid(seeds, modes, &out);
    let o = crate::slurm::SlurmOptions {
        exe: std::env::current_exe().map_err(|e| anyhow!("cannot find the lot binary: {e}"))?,
        workdir: cwd.clone(),
        nproc_per_task: sl.nproc_per_task,
        sbatch: sl.sbatch.clone(),
        job_name: format!("{}-sweep", base.run.name),
        baselines: a.baselines.clone(),
    };
    let text = crate::slurm::script(&abs(&a.config), &a.sets, &grid, &out, &o);
    let path = out.join("sweep.slurm");
    let answer = crate::slurm::write_and_submit(&path, &text, sl.submit)?;
    println!("{}", path.display());
    match answer {
        Some(a) => eprintln!("sweep: {} runs as a Slurm job array: {a}", grid.len()),
        None => eprintln!("sweep: {} runs as a Slurm job array; submit with `sbatch {}`", grid.len(), path.display()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_modes_parse_strictly() {
        assert_eq!(parse_seeds("0,1,2").unwrap(), vec![0, 1, 2]);
        assert_eq!(parse_seeds(" 7 , 3").unwrap(), vec![7, 3]);
        for bad in ["", "0,,1", "a", "-1", "1,1"] {
            let e = parse_seeds(bad).unwrap_err();
            assert!(lot::error::is_input_error(&e) && !e.to_string().contains('\n'), "{bad}: {e}");
        }
        assert_eq!(parse_modes("lot,teacher_only").unwrap(), vec![Mode::Lot, Mode::TeacherOnly]);
        assert_eq!(parse_modes("compute_matched,no_student").unwrap(), vec![Mode::ComputeMatched, Mode::NoStudent]);
        let e = parse_modes("lot,best").unwrap_err();
        assert!(e.to_string().contains("'best'") && e.to_string().contains("teacher_only"), "{e}");
        assert!(parse_modes("").is_err() && parse_modes("lot,lot").is_err());
    }

    #[test]
    fn grid_is_seed_major_with_mode_seed_folders() {
        let g = expand_grid(&[0, 1], &[Mode::Lot, Mode::TeacherOnly], Path::new("runs/x"));
        let names: Vec<&str> = g.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["lot-s0", "teacher_only-s0", "lot-s1", "teacher_only-s1"]);
        assert_eq!(g[3].dir, PathBuf::from("runs/x/teacher_only-s1"));
        assert_eq!((g[3].mode, g[3].seed), (Mode::TeacherOnly, 1));
    }

    #[test]
    fn child_args_put_the_grid_last() {
        let g = expand_grid(&[4], &[Mode::NoStudent], Path::new("out"));
        let a = child_args(Path::new("c.toml"), &["train.epochs=1".into(), "run.seed=9".into()], &["run.threads=1".into()], &g[0]);
        let a: Vec<String> = a.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        assert_eq!(
            a,
            [
                "train", "c.toml", "--set", "train.epochs=1", "--set", "run.seed=9", "--set", "run.threads=1", "--set", "run.seed=4", "--set",
                "lot.mode=no_student", "--out", "out/no_student-s4"
            ]
        );
        // Later --set wins: the grid's seed overrides the user's.
        let sets: Vec<String> = a.windows(2).filter(|w| w[0] == "--set").map(|w| w[1].clone()).collect();
        let cfg = Config::from_toml("task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n", &sets, "t.toml").unwrap();
        assert_eq!((cfg.run.seed, cfg.lot.mode, cfg.run.threads), (4, Mode::NoStudent, 1));
    }
}
