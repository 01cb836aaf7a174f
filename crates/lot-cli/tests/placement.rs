//! `run.devices`: the teacher and each student on its own device in one process, exchanging only
//! logits. On a CPU machine every listed device is the CPU, so these tests check the plumbing (the
//! same run, bit for bit, whether the models are "placed" or not; evaluation and resume of a
//! placed run) and the errors; `tests/cuda.rs` runs a teacher on the GPU with a student on the CPU
//! where a GPU is lent (scripts/gpu-check.sh).

mod common;

use std::path::Path;

use common::{lot, stderr, write_config, write_corpus, write_dataset};
use tch::Tensor;

fn weights(dir: &Path, model: &str) -> Vec<(String, Tensor)> {
    let mut w = Tensor::read_safetensors(dir.join(format!("{model}.safetensors"))).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn assert_same_weights(a: &Path, b: &Path, models: &[&str]) {
    for m in models {
        for ((n, x), (_, y)) in weights(a, m).iter().zip(&weights(b, m)) {
            assert!(x.equal(y), "{m} {n} differs");
        }
    }
}

fn train(cfg: &Path, out: &Path, sets: &[&str]) {
    let mut args = vec!["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    let o = lot(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Train `cfg` unplaced into `tmp/<name>-one` and placed on `devices` into `tmp/<name>-placed`
/// (both with `sets`): the same weights bit for bit, and `lot eval` reloads the placed run.
fn check_placement(tmp: &Path, name: &str, cfg: &Path, sets: &[&str], devices: &str, models: &[&str]) {
    let (one, placed) = (tmp.join(format!("{name}-one")), tmp.join(format!("{name}-placed")));
    train(cfg, &one, sets);
    let devices = format!("run.devices={devices}");
    let placed_sets: Vec<&str> = sets.iter().copied().chain([devices.as_str()]).collect();
    train(cfg, &placed, &placed_sets);
    assert_same_weights(&one, &placed, models);
    let e = lot(&["eval", placed.to_str().unwrap()]);
    assert!(e.status.success(), "{}", stderr(&e));
}

#[test]
fn placed_models_train_as_on_one_device() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 256, 64);
    let vision = write_config(tmp.path(), &data);
    // Two students on a list of two devices: round-robin puts student1 with the teacher.
    let models = ["teacher", "student0", "student1"];
    check_placement(tmp.path(), "vision", &vision, &["train.epochs=1", "lot.students=2"], r#"["cpu", "cpu"]"#, &models);

    let corpus = tmp.path().join("ptb");
    write_corpus(&corpus);
    let lm = tmp.path().join("lm.toml");
    std::fs::write(
        &lm,
        format!(
            "task = \"text\"\n[run]\nname = \"tiny-lm\"\nthreads = 1\n[lot]\nstudents = 2\nstudent_steps = 2\n[data]\ncorpus = \"ptb\"\ndir = \"{}\"\n\
             [model]\nemsize = 16\nnhid = 16\nnlayers = 1\n[train]\nepochs = 1\nbatch_size = 4\neval_batch_size = 2\nbptt = 10\nlr = 1.0\neval_interval = 20\n",
            corpus.display()
        ),
    )
    .unwrap();
    check_placement(tmp.path(), "lm", &lm, &[], r#"["cpu", "cpu", "cpu"]"#, &models);
}

#[test]
fn bad_placement_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 64, 16);
    let cfg = write_config(tmp.path(), &data);
    let c = cfg.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&[r#"run.devices=["cpu", "cuda:99"]"#], "cuda:99 is not on this machine"),
        (&[r#"run.devices=["cpu", "tpu"]"#], "unknown device 'tpu'"),
        (&[r#"run.devices=["cpu"]"#, "run.device=cuda:0"], "differs from run.device"),
        (&["run.devices=[]", "run.sync_bn=maybe"], "run.sync_bn"),
        (&[r#"run.devices="cpu""#], "run.devices"),
    ];
    for (sets, want) in cases {
        let never = tmp.path().join("never");
        let mut args = vec!["train", c, "--out", never.to_str().unwrap()];
        for s in sets {
            args.extend(["--set", s]);
        }
        let o = lot(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{sets:?}: {err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "{sets:?}: {err}");
        assert!(err.contains(want), "{sets:?}: {err}");
        assert!(!never.exists(), "{sets:?}: bad input left a run folder");
    }
    // Placement is one process's: a data-parallel rank refuses it.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_lot"))
        .args(["train", c, "--set", r#"run.devices=["cpu"]"#, "--out", tmp.path().join("dp").to_str().unwrap()])
        .envs([("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "1"), ("LOT_NO_PROGRESS", "1")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("run.devices") && stderr(&o).contains("data-parallel"), "{}", stderr(&o));
    // Synchronized BatchNorm and placement name the tasks they are for.
    let corpus = tmp.path().join("ptb");
    write_corpus(&corpus);
    let lm = tmp.path().join("lm.toml");
    std::fs::write(&lm, format!("task = \"text\"\n[data]\ncorpus = \"ptb\"\ndir = \"{}\"\n[run]\nsync_bn = true\n", corpus.display())).unwrap();
    let o = lot(&["train", lm.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("run.sync_bn") && stderr(&o).contains("BatchNorm"), "{}", stderr(&o));
    let rl = tmp.path().join("rl.toml");
    std::fs::write(&rl, "task = \"rl\"\n[run]\ndevices = [\"cpu\", \"cpu\"]\n[env]\nname = \"CartPole-v1\"\n").unwrap();
    let o = lot(&["train", rl.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("run.devices") && stderr(&o).contains("PPO"), "{}", stderr(&o));
}
