//! `lot sweep` and `lot compare` through the binary: a tiny 2 seeds × 2 modes grid on generated
//! IDX files, rerun (reuses the finished runs), failing children, and bad flags; `lot plot-evidence`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{lot, stderr, write_dataset_seeded};

fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let cfg = format!(
        "task = \"vision\"\n[run]\nname = \"tiny\"\nthreads = 1\n[data]\ndataset = \"fashion-mnist\"\ndir = \"{}\"\naugment = false\n\
         [model]\ndepth = \"8_8\"\n[train]\nepochs = 2\nbatch_size = 32\neval_batch_size = 100\nlr = 0.05\nepoch_style = \"full_pass\"\n",
        data.display()
    );
    let p = dir.join("tiny.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

#[test]
fn sweep_trains_the_grid_compares_and_reuses_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset_seeded(&data, 96, 50, 777);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("sweep");
    let args = ["sweep", cfg.to_str().unwrap(), "--seeds", "0,1", "--modes", "lot,teacher_only", "--jobs", "2", "--out", out.to_str().unwrap()];
    let o = lot(&args);
    let err = stderr(&o);
    assert!(o.status.success(), "sweep failed: {err}");
    assert!(err.contains("[4/4 done]") && err.contains("start lot-s1"), "{err}");
    for run in ["lot-s0", "lot-s1", "teacher_only-s0", "teacher_only-s1"] {
        let d = out.join(run);
        assert!(d.join("summary.json").is_file(), "{run} not finished: {err}");
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["seed"].as_u64().unwrap(), run.ends_with("s1") as u64);
        assert_eq!(s["mode"].as_str().unwrap(), run.rsplit_once('-').unwrap().0);
        assert!(std::fs::read_dir(&d).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("events.out.tfevents.")));
    }
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    for row in ["| tiny/lot | teacher | 2 |", "| tiny/lot | student0 | 2 |", "| tiny/teacher_only | teacher | 2 |"] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }
    for f in ["compare.md", "compare.json", "compare.png"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }

    // Again: nothing is retrained.
    let o = lot(&args);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("already finished, reused").count(), 4, "{err}");

    // `lot compare` on the sweep folder finds the four runs.
    let cmp = tmp.path().join("cmp");
    let o = lot(&["compare", out.to_str().unwrap(), "--out", cmp.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| tiny/teacher_only | student0 | 2 |"));
    assert!(cmp.join("compare.png").is_file());
}

#[test]
fn failing_runs_are_reported_with_their_folder_and_last_stderr_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), &tmp.path().join("no-such-data"));
    let out = tmp.path().join("sweep");
    let o = lot(&["sweep", cfg.to_str().unwrap(), "--seeds", "3", "--modes", "no_student", "--out", out.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.contains("FAILED no_student-s3")).unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("exit code 2") && line.contains("no-such-data") && line.contains("no_student-s3"), "{line}");
    assert!(out.join("logs/no_student-s3.err").is_file());
    assert!(err.lines().last().unwrap().starts_with("error: sweep: 1 of 1 runs failed"), "{err}");
}

/// `lot plot-evidence` draws a rows file as results_md.py writes it, beside it by default.
#[test]
fn plot_evidence_draws_the_rows_file() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = tmp.path().join("summary_rows.json");
    let row = |baseline: &str, mean: f64| {
        format!(
            r#"{{"setting": "fm5k", "title": "Fashion-MNIST, 5k", "metric": "final_test_accuracy", "header": "test acc %", "higher_is_better": true, "baseline": "{baseline}", "group": "fm5k/lot", "baseline_group": "fm5k/{baseline}", "test": "paired", "mean": {mean}, "ci95": [0.1, 1.0], "p": 0.01, "baseline_mean": 86.1, "n": 5, "n_baseline": 5, "verdict": "better"}}"#
        )
    };
    std::fs::write(&rows, format!("[\n{},\n{}\n]\n", row("teacher_only", 0.76), row("compute_matched", 0.49))).unwrap();
    let o = lot(&["plot-evidence", rows.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = tmp.path().join("summary.png");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("plot: {} (1 setting)", png.display()));
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    let other = tmp.path().join("other.png");
    assert!(lot(&["plot-evidence", rows.to_str().unwrap(), "--out", other.to_str().unwrap()]).status.success());
    assert!(other.is_file());
}

#[test]
fn bad_sweep_and_compare_flags_give_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), tmp.path());
    let c = cfg.to_str().unwrap();
    let out = tmp.path().join("o");
    let o_s = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["sweep", c, "--seeds", "", "--modes", "lot", "--out", o_s], "--seeds"),
        (&["sweep", c, "--seeds", "0,x", "--modes", "lot", "--out", o_s], "'x'"),
        (&["sweep", c, "--seeds", "0", "--modes", "lot,best", "--out", o_s], "'best'"),
        (&["sweep", c, "--seeds", "0", "--modes", "lot", "--jobs", "0", "--out", o_s], "--jobs"),
        (&["sweep", c, "--seeds", "0", "--modes", "lot", "--set", "lot.alpha=-1", "--out", o_s], "lot.alpha"),
        (&["sweep", "/nonexistent/c.toml", "--seeds", "0", "--modes", "lot", "--out", o_s], "/nonexistent/c.toml"),
        (&["compare", "/nonexistent/run"], "/nonexistent/run"),
        (&["compare", tmp.path().to_str().unwrap(), "--out", o_s], "no finished runs"),
        (&["plot-evidence", "/nonexistent/rows.json"], "/nonexistent/rows.json"),
        (&["plot-evidence", c], "not an evidence rows file"),
    ];
    for (args, needle) in cases {
        let o = lot(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("warning:")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{args:?}: {err}");
    }
    assert!(!out.join("logs").exists(), "a rejected sweep must not create its folder");
}

/// `--launcher slurm` writes a job array of 3 seeds × 2 modes; one array task run by hand (as
/// Slurm would, with SLURM_ARRAY_TASK_ID) trains its run into the sweep folder, a second time it
/// is skipped; `--submit` hands the script to sbatch (a stand-in here) and prints its answer.
#[test]
fn slurm_launcher_writes_a_job_array_whose_tasks_train_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset_seeded(&data, 96, 50, 777);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("sw");
    let args = ["sweep", cfg.to_str().unwrap(), "--seeds", "0,1,2", "--modes", "lot,teacher_only", "--set", "train.epochs=1", "--out", out.to_str().unwrap(), "--launcher", "slurm", "--sbatch=--time=00:10:00"];
    let o = lot(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = out.join("sweep.slurm");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), script.to_str().unwrap());
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-5\n") && text.contains("#SBATCH --time=00:10:00\n"), "{text}");
    assert!(!out.join("lot-s0").exists(), "writing the script trains nothing");
    let syntax = Command::new("bash").args(["-n", script.to_str().unwrap()]).output().unwrap();
    assert!(syntax.status.success(), "{}", stderr(&syntax));
    // Task 3 = seed 1, teacher_only.
    let task = |id: &str| Command::new("bash").arg(&script).env("SLURM_ARRAY_TASK_ID", id).output().unwrap();
    let o = task("3");
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("teacher_only-s1/summary.json")).unwrap()).unwrap();
    assert_eq!((s["seed"].as_u64(), s["mode"].as_str()), (Some(1), Some("teacher_only")));
    let o = task("3");
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("finished earlier"), "{}", stderr(&o));
    assert_eq!(task("6").status.code(), Some(2));
    // --submit with an sbatch on PATH.
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("sbatch"), "#!/bin/sh\necho \"Submitted batch job 4242 ($1)\"\n").unwrap();
    std::process::Command::new("chmod").args(["+x", bin.join("sbatch").to_str().unwrap()]).status().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut submit: Vec<&str> = args.to_vec();
    submit.push("--submit");
    let o = Command::new(env!("CARGO_BIN_EXE_lot")).args(&submit).env("PATH", &path).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Submitted batch job 4242") && stderr(&o).contains("sweep.slurm"), "{}", stderr(&o));
    // Slurm options without the Slurm launcher are a mistake, said once.
    let o = lot(&["sweep", cfg.to_str().unwrap(), "--seeds", "0", "--modes", "lot", "--submit"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: ") && stderr(&o).contains("--launcher slurm"), "{}", stderr(&o));
}
