//! The fast path end to end (bf16 + channels-last training through the CLI) and the bench
//! plumbing: the worker's and the reference programs' result lines, and bad bench input. Nothing
//! here is timed.

mod common;

use common::{lot, stderr, write_config, write_dataset};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn bf16_channels_last_training_learns_and_keeps_fp32_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("run");
    let o = lot(&[
        "train",
        cfg.to_str().unwrap(),
        "--set",
        "train.precision=bf16",
        "--set",
        "train.channels_last=true",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "train failed: {}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
    assert!(acc > 60.0, "bf16 teacher accuracy {acc}");
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(resolved.contains("precision = \"bf16\"") && resolved.contains("channels_last = true"), "{resolved}");
    // The saved weights are the fp32 master weights (no bf16 copy leaks into the file)...
    for m in ["teacher", "student0"] {
        let saved = tch::Tensor::read_safetensors(out.join(format!("{m}.safetensors"))).unwrap();
        assert!(saved.len() > 10, "{m}: {} tensors", saved.len());
        for (name, t) in &saved {
            let want = if name.ends_with("num_batches_tracked") { tch::Kind::Int64 } else { tch::Kind::Float };
            assert_eq!(t.kind(), want, "{m}: {name} saved as {:?}", t.kind());
        }
    }
    // ...and `lot eval` reloads them on the same path and reproduces the final test accuracy.
    let e = lot(&["eval", out.to_str().unwrap()]);
    assert!(e.status.success(), "eval failed: {}", stderr(&e));
    let table = String::from_utf8_lossy(&e.stdout).into_owned();
    let row = table.lines().find(|l| l.starts_with("| teacher |")).unwrap_or_else(|| panic!("no teacher row: {table}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    let evaluated: f64 = cells.last().unwrap().parse().unwrap();
    assert!((evaluated - acc).abs() < 1e-3, "lot eval gives {evaluated}, the run's summary {acc}");
}

#[test]
fn bad_precision_and_steps_are_input_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 64, 20);
    let cfg = write_config(tmp.path(), &data);
    let o = lot(&["train", cfg.to_str().unwrap(), "--set", "train.precision=fp16", "--out", tmp.path().join("r").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("train.precision"), "{}", stderr(&o));
    let o = lot(&["bench", "vision", "--steps", "0", "--ours-only"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = lot(&["bench", "vision", "--precision", "fp16"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn tiny_vision_spec() -> lot_bench::BenchSpec {
    let mut s = lot_bench::BenchSpec::vision();
    s.steps = 1;
    s.warmup = 1;
    s.samples = 64;
    s.classes = 10;
    s.batch_size = 8;
    s.depth = "8_8".into();
    s.workers = 0;
    s
}

fn tiny_lstm_spec() -> lot_bench::BenchSpec {
    let mut s = lot_bench::BenchSpec::lstm();
    s.steps = 1;
    s.warmup = 1;
    s.vocab = 50;
    s.tokens = 2000;
    s.emsize = 8;
    s.nhid = 8;
    s.bptt = 5;
    s.batch_size = 4;
    s.student_steps = 3;
    s
}

fn tiny_txl_spec() -> lot_bench::BenchSpec {
    let mut s = lot_bench::BenchSpec::txl();
    s.steps = 1;
    s.warmup = 1;
    s.vocab = 50;
    s.tokens = 2000;
    (s.n_layer, s.d_model, s.n_head, s.d_head, s.d_inner, s.mem_len) = (1, 8, 2, 4, 16, 5);
    s.bptt = 5;
    s.batch_size = 4;
    s.student_steps = 3;
    s
}

fn tiny_ppo_spec() -> lot_bench::BenchSpec {
    let mut s = lot_bench::BenchSpec::ppo();
    s.steps = 2;
    s.num_envs = 2;
    s.num_steps = 16;
    s.obs_cache = 2;
    s.student_steps = 2;
    s.batch_size = 32;
    s
}

fn assert_result_line(v: &serde_json::Value) {
    for k in ["steps", "total_s", "train_s", "per_step_s", "peak_rss_mb"] {
        assert!(v[k].is_number(), "{k} missing in {v}");
    }
}

#[test]
fn worker_prints_one_result_line_per_task() {
    for mut spec in [tiny_vision_spec(), tiny_lstm_spec(), tiny_txl_spec(), tiny_ppo_spec()] {
        for (p, cl) in [("fp32", false), ("bf16", true)] {
            // CartPole's MLP has no bf16 path; the language models have bf16 but no channels-last.
            if spec.task == lot_bench::BenchTask::Ppo && p == "bf16" {
                continue;
            }
            spec.precision = lot::precision::Precision::parse(p).unwrap();
            spec.channels_last = cl && spec.task == lot_bench::BenchTask::Vision;
            let json = serde_json::to_string(&spec).unwrap();
            let o = lot(&["bench-worker", "--spec", &json]);
            assert!(o.status.success(), "worker failed: {}", stderr(&o));
            let v = lot_bench::parse_result_line(&String::from_utf8_lossy(&o.stdout)).expect("result line");
            assert_result_line(&v);
            assert_eq!(v["steps"], spec.steps);
            assert_eq!(v["precision"], p);
        }
    }
}

/// The venv python with torch, if this machine has it (scripts/setup.sh makes it).
fn python_with_torch() -> Option<PathBuf> {
    let py = lot_bench::default_python();
    let ok = Command::new(&py).args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(py)
}

#[test]
fn reference_programs_print_the_same_result_line() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("reference_programs_print_the_same_result_line", "no python with torch (run scripts/setup.sh)");
        return;
    };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/reference");
    for spec in [tiny_vision_spec(), tiny_lstm_spec(), tiny_txl_spec(), tiny_ppo_spec()] {
        let o = Command::new(&py).arg("-W").arg("ignore").arg(dir.join(spec.task.program())).args(spec.reference_args()).output().unwrap();
        assert!(o.status.success(), "{}: {}", spec.task.program(), String::from_utf8_lossy(&o.stderr));
        let v = lot_bench::parse_result_line(&String::from_utf8_lossy(&o.stdout)).expect("result line");
        assert_result_line(&v);
        assert!(v["torch"].as_str().unwrap().starts_with("2.11.0"), "{v}");
    }
}
