//! Kill-and-resume: a run killed with SIGKILL at an arbitrary step and resumed must write the same
//! metrics (timing fields aside), the same summary and the same final weights as an uninterrupted
//! run. Plus checkpoint corruption and NaN handling.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{lot, python_with_torch, stderr, write_config, write_corpus, write_dataset, write_script_config};

/// metrics.jsonl without the wall-clock fields, which differ between any two runs.
fn metrics_without_timing(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("wall_s");
            o.remove("samples_per_s");
            o.remove("env_steps_per_s");
            v
        })
        .collect()
}

fn summary_without_timing(dir: &Path) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("wall_s");
    v
}

/// Start a training run, SIGKILL it once `kill_after` checkpoints have been written (plus a
/// little jitter so the kill lands mid-step), resume it, and compare with `reference`.
fn kill_and_resume(args: &[&str], out: &Path, reference: &Path, kill_after: usize) {
    kill_edit_and_resume(args, out, reference, kill_after, |_| ());
}

/// [`kill_and_resume`], with `edit` applied to the run folder before resuming.
fn kill_edit_and_resume(args: &[&str], out: &Path, reference: &Path, kill_after: usize, edit: impl Fn(&Path)) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lot"))
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .env("LOT_NO_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = out.join("checkpoint.bin");
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen = 0;
    let mut last_mtime = None;
    while seen < kill_after {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        if let Ok(m) = std::fs::metadata(&ckpt).and_then(|m| m.modified()) {
            if last_mtime != Some(m) {
                last_mtime = Some(m);
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(37));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.join("summary.json").exists(), "the run finished before it was killed; the test proves nothing");
    edit(out);
    let o = lot(&["train", "--resume", out.to_str().unwrap()]);
    assert!(o.status.success(), "resume failed: {}", stderr(&o));
    assert!(stderr(&o).contains("resuming"), "{}", stderr(&o));
    let (a, b) = (metrics_without_timing(reference), metrics_without_timing(out));
    assert_eq!(a.len(), b.len(), "metric line counts differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "metrics differ after resume");
    }
    assert_eq!(summary_without_timing(reference), summary_without_timing(out));
    for f in ["teacher.safetensors", "student0.safetensors"] {
        assert!(std::fs::read(reference.join(f)).unwrap() == std::fs::read(out.join(f)).unwrap(), "{f} differs after resume");
    }
}

fn vision_setup(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    write_dataset(&data, 640, 100);
    let cfg = write_config(tmp, &data);
    // Checkpoint every 3 steps; 4 epochs of 20 steps. threads = 1 keeps CPU kernels deterministic.
    let text = std::fs::read_to_string(&cfg).unwrap().replace("epochs = 3", "epochs = 4").replace("threads = 1", "threads = 1\ncheckpoint_every = 3");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn vision_run_killed_and_resumed_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = vision_setup(tmp.path());
    let c = cfg.to_str().unwrap();
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Kill mid-epoch (after 5 checkpoints = around step 15) …
    kill_and_resume(&["train", c], &tmp.path().join("killed-a"), &reference, 5);
    // … and in a later epoch.
    kill_and_resume(&["train", c], &tmp.path().join("killed-b"), &reference, 12);
}

/// The same with TorchScript models (docs/torchscript.md): their parameters and BatchNorm buffers
/// come back from the checkpoint, and the final `.pt` modules match too.
#[test]
fn torchscript_run_killed_and_resumed_matches_an_uninterrupted_run() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("torchscript_run_killed_and_resumed_matches_an_uninterrupted_run", "no python with torch (run scripts/setup.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 100);
    let cfg = write_script_config(&py, tmp.path(), &data);
    let text = std::fs::read_to_string(&cfg).unwrap().replace("threads = 1", "threads = 1\ncheckpoint_every = 3");
    std::fs::write(&cfg, text).unwrap();
    let c = cfg.to_str().unwrap();
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let killed = tmp.path().join("killed");
    kill_and_resume(&["train", c], &killed, &reference, 8);
    // The saved modules' tensors (the .pt archives also hold code and debug info, compared by weights).
    for f in ["teacher.pt", "student0.pt"] {
        let load = |d: &Path| lot::vision::Classifiers::load_scripted(&[(f.into(), d.join(f))], &[tch::Device::Cpu], [1, 12, 12], 10).unwrap();
        let (a, b) = (load(&reference), load(&killed));
        let (va, vb) = (a.stores[0].variables(), b.stores[0].variables());
        assert_eq!(va.len(), vb.len());
        for (n, t) in &va {
            assert!(t.equal(&vb[n]), "{f}: {n} differs after resume");
        }
    }
}

#[test]
fn lstm_run_killed_and_resumed_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ptb");
    write_corpus(&data);
    let cfg = tmp.path().join("lm.toml");
    // Dropout on, so the resumed run must also reproduce torch's random masks; eval every 10 steps
    // exercises the best-validation snapshots and the plateau rule across the restart.
    std::fs::write(
        &cfg,
        format!(
            r#"task = "text"
[run]
name = "tiny-lm"
threads = 1
checkpoint_every = 4
[lot]
alpha = 1.0
student_steps = 3
[data]
corpus = "ptb"
dir = "{}"
[model]
emsize = 16
nhid = 16
nlayers = 2
dropout = 0.3
[train]
epochs = 4
batch_size = 4
eval_batch_size = 2
bptt = 10
lr = 5.0
clip = 0.5
schedule = "cosine_epoch"
student_schedule = "plateau"
eval_interval = 10
"#,
            data.display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    kill_and_resume(&["train", c], &tmp.path().join("killed"), &reference, 9);
}

/// PPO + LoT on CartPole: 8 envs × 32 steps × 40 updates, a 4-entry student cache (full by the
/// time of each kill; with `distinct`, rotating), a checkpoint every 3 updates.
fn write_rl_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("cartpole.toml");
    std::fs::write(
        &cfg,
        r#"task = "rl"
[run]
name = "tiny-cartpole"
seed = 5
threads = 1
checkpoint_every = 3
[lot]
mode = "lot"
loss = "kl"
alpha = 0.5
temperature = 1.0
student_steps = 3
students = 1
[env]
name = "CartPole-v1"
num_envs = 8
[ppo]
total_timesteps = 10240
num_steps = 32
lr = 1e-3
anneal = "cosine"
lr_min = 1e-5
num_minibatches = 4
update_epochs = 4
clip_coef = 0.2
ent_coef = 0.01
obs_cache = 4
[eval]
episodes = 4
"#,
    )
    .unwrap();
    cfg
}

/// The RL run carries more than weights across a restart: every env's state and reset RNG, the
/// episode accumulators, the rollout's next_done, the student cache, the shuffle streams, α's
/// warm-up and the return window; torch's generator (action sampling) is reseeded per update.
#[test]
fn rl_run_killed_and_resumed_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_rl_config(tmp.path());
    let c = cfg.to_str().unwrap();
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rollouts = metrics_without_timing(&reference).iter().filter(|r| r["split"] == "rollout").count();
    assert!(rollouts > 20, "too few episodes ({rollouts}) for the test to mean much");
    // Killed early (around update 12) and late (around update 33).
    kill_and_resume(&["train", c], &tmp.path().join("killed-a"), &reference, 4);
    kill_and_resume(&["train", c], &tmp.path().join("killed-b"), &reference, 11);

    // Ctrl-C with no interval checkpoints: the checkpoint written on the signal carries the run.
    let out = tmp.path().join("int");
    let child = Command::new(env!("CARGO_BIN_EXE_lot"))
        .args(["train", c, "--out", out.to_str().unwrap(), "--set", "run.checkpoint_every=0"])
        .env("LOT_NO_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::metadata(out.join("metrics.jsonl")).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted after update") && err.contains("--resume"), "{err}");
    assert!(out.join("checkpoint.bin").is_file() && !out.join("summary.json").exists());
    let o = lot(&["train", "--resume", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(metrics_without_timing(&reference), metrics_without_timing(&out));
    assert_eq!(summary_without_timing(&reference), summary_without_timing(&out));
    for f in ["teacher.safetensors", "student0.safetensors"] {
        assert!(std::fs::read(reference.join(f)).unwrap() == std::fs::read(out.join(f)).unwrap(), "{f} differs after resume");
    }
}

/// `ppo.student_cache = "distinct"` (the last rollouts' observations, saved in the checkpoint)
/// resumes exactly too; a run folder written before the key existed (its config.toml without it)
/// resumes with the distinct cache it was trained with, though a new config without the key means
/// `reference`.
#[test]
fn rl_distinct_cache_resumes_also_from_a_run_folder_without_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_rl_config(tmp.path());
    let c = cfg.to_str().unwrap();
    let distinct = "ppo.student_cache=\"distinct\"";
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--set", distinct, "--out", reference.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    kill_and_resume(&["train", c, "--set", distinct], &tmp.path().join("killed"), &reference, 5);
    let old_folder = |dir: &Path| {
        let p = dir.join("config.toml");
        let text = std::fs::read_to_string(&p).unwrap();
        let old = text.replace("student_cache = \"distinct\"\n", "");
        assert_ne!(old, text);
        std::fs::write(&p, old).unwrap();
    };
    kill_edit_and_resume(&["train", c, "--set", distinct], &tmp.path().join("old"), &reference, 5, old_folder);
}

#[test]
fn corrupt_checkpoint_is_refused_and_nan_stops_with_the_term_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = vision_setup(tmp.path());
    let c = cfg.to_str().unwrap();
    // A learning rate that blows up: the run must stop naming model, step and loss term, and the
    // checkpoint written before the blow-up must stay valid.
    let out = tmp.path().join("nan");
    let o = lot(&["train", c, "--out", out.to_str().unwrap(), "--set", "train.lr=1e12", "--set", "train.momentum=0.0"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains("non-finite loss") && line.contains("teacher step"), "{line}");
    assert!(line.contains("task loss") || line.contains("regulariser") || line.contains("imitation"), "{line}");
    assert!(!err.contains("panicked"), "{err}");
    if out.join("checkpoint.bin").exists() {
        // The last good checkpoint loads and the run continues from it (and fails the same way).
        let (meta, _) = lot::checkpoint::load(&out.join("checkpoint.bin"), tch::Device::Cpu).unwrap();
        assert!(meta["step"].as_u64().unwrap() >= 3);
    }

    // A checkpoint with one flipped byte is refused with a clear error and exit code 2.
    let good = tmp.path().join("good");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lot"))
        .args(["train", c, "--out", good.to_str().unwrap()])
        .env("LOT_NO_PROGRESS", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while !good.join("checkpoint.bin").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let p = good.join("checkpoint.bin");
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&p, &bytes).unwrap();
    let o = lot(&["train", "--resume", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("checksum"), "{}", stderr(&o));
    let o = lot(&["train", "--resume", tmp.path().join("nothing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn ctrl_c_writes_a_checkpoint_and_exits_130_then_resume_finishes_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = vision_setup(tmp.path());
    let c = cfg.to_str().unwrap();
    let reference = tmp.path().join("ref");
    let o = lot(&["train", c, "--out", reference.to_str().unwrap(), "--set", "run.checkpoint_every=0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = tmp.path().join("int");
    let child = Command::new(env!("CARGO_BIN_EXE_lot"))
        .args(["train", c, "--out", out.to_str().unwrap(), "--set", "run.checkpoint_every=0"])
        .env("LOT_NO_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training is under way (the first metric lines exist), then send SIGINT.
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::metadata(out.join("metrics.jsonl")).map(|m| m.len()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted at teacher step") && err.contains("--resume"), "{err}");
    assert!(out.join("checkpoint.bin").is_file());
    assert!(!out.join("summary.json").exists());
    let o = lot(&["train", "--resume", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(metrics_without_timing(&reference), metrics_without_timing(&out));
    assert!(std::fs::read(reference.join("teacher.safetensors")).unwrap() == std::fs::read(out.join("teacher.safetensors")).unwrap());
}
