//! `lot sweep ... --launcher slurm`: the sweep's grid as a Slurm job array, one (seed, mode) per
//! array task, each a `lot train` (or a `lot launch` of several ranks) into the same folders a
//! local sweep uses, so `lot compare` reads the results unchanged. A task whose run finished is
//! skipped and one that was stopped with a checkpoint resumes, so resubmitting the script
//! continues the sweep.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::sweep::{child_args, GridRun};

/// What the Slurm script needs besides the grid.
pub struct SlurmOptions {
    /// Absolute path of the lot binary the tasks run.
    pub exe: PathBuf,
    /// Folder the tasks start in (relative paths in the arguments are relative to it).
    pub workdir: PathBuf,
    /// Ranks per task: 1 runs `lot train`, more run `lot launch --nproc-per-node P`.
    pub nproc_per_task: usize,
    /// Extra `#SBATCH` options, e.g. `--partition=gpu`, `--gres=gpu:1`, `--time=02:00:00`.
    pub sbatch: Vec<String>,
    pub job_name: String,
    /// Modes the final comparison differences against (printed in the script's last comment).
    pub baselines: Vec<String>,
}

/// Quote a word for bash: as is when it is plain, else in single quotes.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn words(args: &[OsString]) -> String {
    args.iter().map(|a| shell_quote(&a.to_string_lossy())).collect::<Vec<_>>().join(" ")
}

/// The job-array script for `grid` (run i is array task i).
pub fn script(config: &Path, sets: &[String], grid: &[GridRun], out: &Path, o: &SlurmOptions) -> String {
    let exe = shell_quote(&o.exe.to_string_lossy());
    let logs = out.join("logs");
    let mut s = String::new();
    s.push_str("#!/bin/bash\n");
    s.push_str(&format!("# Written by `lot sweep --launcher slurm`: {} runs, one per array task.\n", grid.len()));
    s.push_str("# Submit with `sbatch` (or `lot sweep ... --launcher slurm --submit`); resubmitting skips finished\n");
    s.push_str("# runs and resumes stopped ones. When all are done:\n");
    let bl = if o.baselines.is_empty() { String::new() } else { format!(" --baseline {}", o.baselines.join(",")) };
    s.push_str(&format!("#   {exe} compare {}{bl} --out {}\n", shell_quote(&out.to_string_lossy()), shell_quote(&out.to_string_lossy())));
    s.push_str(&format!("#SBATCH --job-name={}\n", o.job_name));
    s.push_str(&format!("#SBATCH --array=0-{}\n", grid.len().saturating_sub(1)));
    s.push_str(&format!("#SBATCH --output={}/slurm-%A_%a.out\n", logs.display()));
    s.push_str(&format!("#SBATCH --error={}/slurm-%A_%a.err\n", logs.display()));
    s.push_str("#SBATCH --ntasks=1\n");
    for opt in &o.sbatch {
        s.push_str(&format!("#SBATCH {opt}\n"));
    }
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!("cd {}\n", shell_quote(&o.workdir.to_string_lossy())));
    s.push_str("export LOT_NO_PROGRESS=1\n");
    s.push_str("case \"${SLURM_ARRAY_TASK_ID:?this script runs as a Slurm array task}\" in\n");
    for (i, r) in grid.iter().enumerate() {
        let args = child_args(config, sets, &[], r);
        s.push_str(&format!("  {i}) DIR={}; ARGS=({}) ;;\n", shell_quote(&r.dir.to_string_lossy()), words(&args)));
    }
    s.push_str("  *) echo \"error: array task $SLURM_ARRAY_TASK_ID is not in this sweep\" >&2; exit 2 ;;\n");
    s.push_str("esac\n");
    s.push_str("if [ -f \"$DIR/summary.json\" ]; then echo \"$DIR: finished earlier\"; exit 0; fi\n");
    s.push_str("if [ -f \"$DIR/checkpoint.bin\" ]; then ARGS=(train --resume \"$DIR\"); fi\n");
    if o.nproc_per_task > 1 {
        s.push_str(&format!("exec {exe} launch --nproc-per-node {} -- \"${{ARGS[@]}}\"\n", o.nproc_per_task));
    } else {
        s.push_str(&format!("exec {exe} \"${{ARGS[@]}}\"\n"));
    }
    s
}

/// Write `<out>/sweep.slurm`; with `submit`, hand it to `sbatch` and return its answer.
pub fn write_and_submit(path: &Path, text: &str, submit: bool) -> Result<Option<String>> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")).join("logs"))
        .map_err(|e| lot::error::input_err(format!("output folder {}: cannot create: {e}", path.display())))?;
    lot::fsio::write_atomic(path, text.as_bytes())?;
    if !submit {
        return Ok(None);
    }
    let o = std::process::Command::new("sbatch")
        .arg(path)
        .output()
        .map_err(|e| lot::error::input_err(format!("--submit: cannot run sbatch ({e}); is this a Slurm login node? The script is {}", path.display())))?;
    if !o.status.success() {
        anyhow::bail!("sbatch {} failed: {}", path.display(), String::from_utf8_lossy(&o.stderr).trim());
    }
    Ok(Some(String::from_utf8_lossy(&o.stdout).trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::expand_grid;
    use lot::config::Mode;

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(shell_quote("runs/x-s0"), "runs/x-s0");
        assert_eq!(shell_quote("lot.alpha=0.5"), "lot.alpha=0.5");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("run.name=\"x\""), "'run.name=\"x\"'");
    }

    #[test]
    fn one_array_task_per_run() {
        let grid = expand_grid(&[0, 1, 2], &[Mode::Lot, Mode::TeacherOnly], Path::new("/scratch/sw"));
        let o = SlurmOptions {
            exe: "/opt/lot/bin/lot".into(),
            workdir: "/home/me/lot".into(),
            nproc_per_task: 2,
            sbatch: vec!["--gres=gpu:2".into()],
            job_name: "fm-sweep".into(),
            baselines: vec!["teacher_only".into()],
        };
        let s = script(Path::new("/home/me/lot/c.toml"), &["train.epochs=2".into()], &grid, Path::new("/scratch/sw"), &o);
        assert!(s.contains("#SBATCH --array=0-5\n"), "{s}");
        assert!(s.contains("#SBATCH --gres=gpu:2\n"));
        assert!(s.contains("  5) DIR=/scratch/sw/teacher_only-s2; ARGS=(train /home/me/lot/c.toml --set train.epochs=2 --set run.seed=2 --set lot.mode=teacher_only --out /scratch/sw/teacher_only-s2) ;;"), "{s}");
        assert!(s.contains("exec /opt/lot/bin/lot launch --nproc-per-node 2 -- \"${ARGS[@]}\""));
        assert!(s.contains("compare /scratch/sw --baseline teacher_only"));
        assert_eq!(s.matches(") DIR=").count(), 6);
    }
}
