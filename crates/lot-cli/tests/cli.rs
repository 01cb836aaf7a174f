//! End-to-end tests of the `lot` binary: a tiny real training run on generated IDX files, the
//! baseline modes, and every kind of bad input (one `error:` line, exit code 2, no panic).

mod common;

use common::{eval_teacher_accuracy, lot, stderr, write_config, write_dataset};
use std::path::Path;

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn tiny_lot_run_learns_and_writes_a_complete_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("run");
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));

    for f in ["config.toml", "metrics.jsonl", "summary.json", "teacher.safetensors", "student0.safetensors", "curves.png"] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let s = summary(&out);
    let teacher_acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
    let student_acc = s["models"]["student0"]["final_test_accuracy"].as_f64().unwrap();
    assert!(teacher_acc > 60.0, "teacher accuracy {teacher_acc} not far above chance (10%)");
    assert!(student_acc > 60.0, "student accuracy {student_acc}");
    // 640/32 = 20 teacher steps per epoch, 3 epochs; N = 2 student updates per teacher update.
    assert_eq!(s["teacher_steps"].as_u64(), Some(60));
    assert_eq!(s["models"]["teacher"]["optimizer_steps"].as_u64(), Some(60));
    assert_eq!(s["models"]["student0"]["optimizer_steps"].as_u64(), Some(120));

    // metrics.jsonl: train + test line per model per epoch, with the documented fields.
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3 * 2 * 2);
    let first = &lines[0];
    for key in ["epoch", "step", "model", "split", "loss", "accuracy", "lr", "wall_s", "samples_per_s"] {
        assert!(first.get(key).is_some(), "metrics line lacks {key}: {first}");
    }
    let last_test = lines.iter().rev().find(|l| l["model"] == "teacher" && l["split"] == "test").unwrap();
    assert_eq!(last_test["accuracy"].as_f64().unwrap(), teacher_acc);
    // The cosine schedule decays per epoch: lr(1) > lr(2) > lr(3).
    let lrs: Vec<f64> = lines.iter().filter(|l| l["model"] == "teacher" && l["split"] == "train").map(|l| l["lr"].as_f64().unwrap()).collect();
    assert!(lrs[0] > lrs[1] && lrs[1] > lrs[2], "{lrs:?}");

    // `lot eval` reloads the weights and reproduces the final test accuracy.
    let acc = eval_teacher_accuracy(&out);
    assert!((acc - teacher_acc).abs() < 1e-6, "eval {acc} vs summary {teacher_acc}");

    // The same folder is not overwritten.
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already holds a run"));
}

#[test]
fn baseline_modes_train_the_right_models_for_the_right_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 96, 50);
    let cfg = write_config(tmp.path(), &data);
    let run = |mode: &str, extra: &[&str]| {
        let out = tmp.path().join(mode);
        let mut args = vec!["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--set"];
        let set = format!("lot.mode={mode}");
        args.push(&set);
        args.extend(["--set", "train.epochs=1"]);
        args.extend(extra);
        let o = lot(&args);
        assert!(o.status.success(), "{mode}: {}", stderr(&o));
        summary(&out)
    };
    // 96/32 = 3 teacher steps per epoch.
    let s = run("no_student", &[]);
    assert_eq!(s["models"].as_object().unwrap().len(), 1);
    assert_eq!(s["teacher_steps"].as_u64(), Some(3));
    // K = 2, N = 3: LoT takes 3 teacher + 2·9 student steps = 7× the teacher's.
    let s = run("compute_matched", &["--set", "lot.students=2", "--set", "lot.student_steps=3"]);
    assert_eq!(s["models"].as_object().unwrap().len(), 1);
    assert_eq!(s["teacher_steps"].as_u64(), Some(3 * 7));
    let s = run("teacher_only", &[]);
    assert_eq!(s["models"]["student0"]["optimizer_steps"].as_u64(), Some(6));
    let s = run("lot", &["--set", "lot.students=2", "--set", "lot.student_steps=3", "--set", "model.depth=8_8_14"]);
    assert_eq!(s["models"]["student1"]["optimizer_steps"].as_u64(), Some(9));
    assert_eq!(s["models"]["teacher"]["optimizer_steps"].as_u64(), Some(3));
}

#[test]
fn validation_split_is_evaluated_per_epoch_and_the_test_set_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("run");
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap(), "--set", "data.valid_limit=128", "--set", "lot.mode=no_student"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = summary(&out);
    // The last 128 of 640 images are held out: 512/32 = 16 teacher steps per epoch.
    assert_eq!(s["teacher_steps"].as_u64(), Some(48));
    let t = &s["models"]["teacher"];
    for key in ["final_test_accuracy", "final_valid_accuracy", "best_valid_accuracy"] {
        assert!(t[key].as_f64().is_some(), "summary lacks {key}: {t}");
    }
    assert!(t.get("best_test_accuracy").is_none(), "a best test accuracy would be selection on the test set: {t}");
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let split = |sp: &str| lines.iter().filter(|l| l["split"] == sp).collect::<Vec<_>>();
    assert_eq!(split("valid").len(), 3, "one validation per epoch");
    let tests = split("test");
    assert_eq!(tests.len(), 1, "the test set is read once");
    assert_eq!(tests[0]["epoch"].as_u64(), Some(3));
    assert_eq!(tests[0]["accuracy"].as_f64(), t["final_test_accuracy"].as_f64());
    let valid_accs: Vec<f64> = split("valid").iter().map(|l| l["accuracy"].as_f64().unwrap()).collect();
    assert_eq!(t["final_valid_accuracy"].as_f64(), Some(valid_accs[2]));
    assert_eq!(t["best_valid_accuracy"].as_f64(), Some(valid_accs.iter().cloned().fold(f64::MIN, f64::max)));
    // `lot eval` reads the test set and reproduces the final accuracy.
    let acc = eval_teacher_accuracy(&out);
    assert!((acc - t["final_test_accuracy"].as_f64().unwrap()).abs() < 1e-6);
    // A validation set as large as the training set is refused before anything runs.
    let line = bad(&["train", cfg.to_str().unwrap(), "--out", tmp.path().join("v").to_str().unwrap(), "--set", "data.valid_limit=640"]);
    assert!(line.contains("data.valid_limit"), "{line}");
    assert!(!tmp.path().join("v").exists());
}

#[test]
fn demo_prints_seeds_per_mode_and_the_paired_difference() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 256, 100);
    let out = tmp.path().join("demo");
    let dir = format!("data.dir={}", data.display());
    let small = ["train.epochs=2", "data.train_limit=128", "data.valid_limit=64", "train.batch_size=32", "run.threads=1"];
    let mut args = vec!["demo", "--out", out.to_str().unwrap(), "--seeds", "0,1", "--set", &dir];
    for s in &small {
        args.extend(["--set", s]);
    }
    let o = lot(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let line = |p: &str| text.lines().find(|l| l.trim_start().starts_with(p)).unwrap_or_else(|| panic!("no '{p}' line in: {text}")).to_string();
    assert!(line("LoT ").contains("(n=2)") && line("teacher-only").contains("(n=2)"), "{text}");
    let diff = line("LoT − teacher-only, paired by seed");
    assert!(diff.contains("95 % CI") && diff.contains("p = "), "{diff}");
    // The printed mean difference is the mean of the per-seed differences in the summaries.
    let acc = |mode: &str, seed: u64| summary(&out.join(format!("{mode}-s{seed}")))["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
    let want = ((acc("lot", 0) - acc("teacher_only", 0)) + (acc("lot", 1) - acc("teacher_only", 1))) / 2.0;
    let shown: f64 = diff.split(':').nth(1).unwrap().trim().split_whitespace().next().unwrap().parse().unwrap();
    assert!((shown - want).abs() < 0.006, "shown {shown}, summaries give {want}");
    let verdict = text.lines().find(|l| l.contains("interval")).unwrap();
    assert!(verdict.contains("better") || verdict.contains("WORSE") || verdict.contains("Not significant"), "{verdict}");
    assert!(out.join("compare.md").is_file() && out.join("compare.png").is_file());
    // The precision it chose, once, and the committed evidence beside the live result.
    assert_eq!(stderr(&o).matches("precision auto → ").count(), 1, "{}", stderr(&o));
    assert!(text.contains("The committed evidence (RESULTS.md") && text.contains("vs compute-matched"), "{text}");
    // One seed is refused.
    let mut args = vec!["demo", "--out", out.to_str().unwrap(), "--seeds", "0", "--set", &dir];
    args.extend(["--set", "train.epochs=1"]);
    assert!(bad(&args).contains("at least 2 seeds"));
}

/// `precision = "auto"` resolves per CPU when the config is loaded: one line says why, and the
/// run folder's config.toml and summary.json record what ran. An explicit bf16 on a CPU without
/// native bf16 runs, with a warning. (LOT_CPU_BF16 stands in for the CPU's flags.)
#[test]
fn precision_auto_resolves_per_cpu_and_the_run_records_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 128, 50);
    let cfg = write_config(tmp.path(), &data);
    let run = |name: &str, cpu: &str, precision: &str| {
        let out = tmp.path().join(name);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_lot"))
            .args(["train", cfg.to_str().unwrap(), "--set", "train.epochs=1", "--set", "train.channels_last=true"])
            .args(["--set", &format!("train.precision={precision}"), "--out", out.to_str().unwrap()])
            .env("LOT_NO_PROGRESS", "1")
            .env("LOT_CPU_BF16", cpu)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let toml = std::fs::read_to_string(out.join("config.toml")).unwrap();
        let line = toml.lines().find(|l| l.starts_with("precision")).unwrap().to_string();
        (stderr(&o), line, summary(&out)["precision"].as_str().unwrap().to_string())
    };
    let (err, toml, ran) = run("avx2", "none", "auto");
    assert!(err.contains("precision auto → fp32: bf16 detection overridden by LOT_CPU_BF16=none"), "{err}");
    assert_eq!((toml.as_str(), ran.as_str()), ("precision = \"fp32\"", "fp32"));
    let (err, toml, ran) = run("native", "native", "auto");
    assert!(err.contains("precision auto → bf16"), "{err}");
    assert_eq!((toml.as_str(), ran.as_str()), ("precision = \"bf16\"", "bf16"));
    let (err, toml, ran) = run("forced", "none", "bf16");
    assert_eq!(err.matches("warning: precision bf16 on a device without native bf16").count(), 1, "{err}");
    assert_eq!((toml.as_str(), ran.as_str()), ("precision = \"bf16\"", "bf16"));
    let (err, _, ran) = run("exact", "none", "fp32");
    assert!(!err.contains("precision"), "an explicit fp32 needs no note: {err}");
    assert_eq!(ran, "fp32");
}

/// Runs `lot` and checks the bad-input contract; returns the error line.
fn bad(args: &[&str]) -> String {
    let o = lot(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "args {args:?}: expected exit 2, got {:?}; stderr: {err}", o.status.code());
    assert!(!err.contains("panicked"), "panic for {args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line for {args:?}, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

#[test]
fn bad_config_values_give_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 40, 20);
    let cfg = write_config(tmp.path(), &data);
    let c = cfg.to_str().unwrap();
    let out = tmp.path().join("o");
    let o = out.to_str().unwrap();
    let cases: &[(&str, &str)] = &[
        ("lot.alpha=-0.5", "lot.alpha"),
        ("lot.temperature=0", "lot.temperature"),
        ("lot.student_steps=0", "lot.student_steps"),
        ("model.depth=21_20", "6n+2"),
        ("model.depth=50_20", "9n+2"),
        ("train.epochs=\"ten\"", "train.epochs"),
        ("train.bogus=1", "bogus"),
        ("lot.mode=best", "lot.mode"),
        ("data.dataset=svhn", "data.dataset"),
    ];
    for (set, needle) in cases {
        let line = bad(&["train", c, "--out", o, "--set", set]);
        assert!(line.contains(needle), "{set}: {line}");
    }
    assert!(bad(&["train", c, "--set", "noequals"]).contains("key=value"));
    assert!(bad(&["train", "/nonexistent/cfg.toml"]).contains("/nonexistent/cfg.toml"));
    assert!(!out.join("metrics.jsonl").exists(), "a rejected config must not start a run");
    // An unknown flag is a usage error (clap: exit 2).
    let o2 = lot(&["train", c, "--bogus-flag"]);
    assert_eq!(o2.status.code(), Some(2));
}

#[test]
fn bad_data_files_give_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 40, 20);
    let cfg = write_config(tmp.path(), &data);
    let c = cfg.to_str().unwrap();
    let out = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();

    // Missing folder.
    let line = bad(&["train", c, "--out", &out("a"), "--set", "data.dir=/nonexistent/fm"]);
    assert!(line.contains("/nonexistent/fm"), "{line}");
    // Wrong IDX magic.
    let img = data.join("train-images-idx3-ubyte");
    let good = std::fs::read(&img).unwrap();
    let mut wrong = good.clone();
    wrong[3] = 0x01;
    std::fs::write(&img, &wrong).unwrap();
    assert!(bad(&["train", c, "--out", &out("b")]).contains("magic"));
    // Truncated file.
    std::fs::write(&img, &good[..good.len() - 7]).unwrap();
    assert!(bad(&["train", c, "--out", &out("c")]).contains("truncated"));
    std::fs::write(&img, &good).unwrap();
    // A CIFAR-10 file of the wrong size.
    let cifar = tmp.path().join("cifar");
    std::fs::create_dir_all(&cifar).unwrap();
    for f in ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"] {
        std::fs::write(cifar.join(f), vec![1u8; 3073 * 2]).unwrap();
    }
    std::fs::write(cifar.join("data_batch_3.bin"), vec![1u8; 3073 * 2 + 5]).unwrap();
    let dir_set = format!("data.dir={}", cifar.display());
    let line = bad(&["train", c, "--out", &out("d"), "--set", "data.dataset=cifar10", "--set", &dir_set]);
    assert!(line.contains("data_batch_3.bin"), "{line}");
}

#[test]
fn data_list_names_every_image_set() {
    let tmp = tempfile::tempdir().unwrap();
    let o = lot(&["data", "list", "--root", tmp.path().to_str().unwrap()]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for name in ["mnist", "fashion-mnist", "cifar10", "cifar100"] {
        assert!(text.lines().any(|l| l.starts_with(name) && l.contains("missing")), "{name} not listed: {text}");
    }
    assert!(text.contains("cifar-10-binary.tar.gz"));
    let line = bad(&["data", "fetch", "imagenet", "--root", tmp.path().to_str().unwrap()]);
    assert!(line.contains("imagenet"), "{line}");
}

/// `lot config [TASK]` prints the reference tables (shared keys, then the task's) from the code;
/// `--update-readme` rewrites a file's marked tables and leaves the prose.
#[test]
fn config_prints_the_reference_and_updates_marked_tables() {
    let o = lot(&["config", "rl"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("| `lot.alpha` | `0.5` | "), "{text}");
    assert!(text.contains("| `env.name` | required | "), "{text}");
    assert!(text.contains("| `ppo.lr` | `0.00025` | Adam learning rate. |"), "{text}");
    assert!(!text.contains("`model.depth`"), "vision keys in the rl reference: {text}");
    let all = String::from_utf8_lossy(&lot(&["config"]).stdout).into_owned();
    for key in ["`model.depth`", "`model.mem_len`", "`eval.greedy`"] {
        assert!(all.contains(key), "{key} missing: {all}");
    }
    assert_eq!(lot(&["config", "audio"]).status.code(), Some(2));

    let tmp = tempfile::tempdir().unwrap();
    let md = tmp.path().join("README.md");
    std::fs::write(&md, "intro\n<!-- config-keys:text -->\nstale\n<!-- /config-keys -->\noutro\n").unwrap();
    let o = lot(&["config", "--update-readme", md.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let new = std::fs::read_to_string(&md).unwrap();
    assert!(new.starts_with("intro\n<!-- config-keys:text -->\n| key | default | meaning |"), "{new}");
    assert!(new.ends_with("|\n<!-- /config-keys -->\noutro\n") && !new.contains("stale") && new.contains("`model.arch`"), "{new}");
    std::fs::write(&md, "<!-- config-keys:audio -->\n<!-- /config-keys -->\n").unwrap();
    let o = lot(&["config", "--update-readme", md.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("config-keys:audio"), "{}", stderr(&o));
}
