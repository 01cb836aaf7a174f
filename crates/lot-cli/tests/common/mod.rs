//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lot::engine::{Engine, LossMode, LotLoss};
use lot::lifecycle;
use lot::optim::{named_trainable, Optimizer, Sgd, SgdConfig};
use lot::vision::{resnet, Classifiers};
use tch::{Device, Kind, Tensor};

/// Run the `lot` binary, progress bars off: `$LOT_BIN` where it is set (a bundle copied to a GPU
/// machine, where the build path does not exist: scripts/gpu-bundle.sh), else the one cargo built.
pub fn lot(args: &[&str]) -> Output {
    let bin = std::env::var("LOT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_lot").to_string());
    Command::new(bin).args(args).env("LOT_NO_PROGRESS", "1").output().expect("run lot")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The teacher's test accuracy in `lot eval RUN`'s table (which must succeed).
pub fn eval_teacher_accuracy(run: &Path) -> f64 {
    let o = lot(&["eval", run.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let row = table.lines().find(|l| l.starts_with("| teacher")).unwrap_or_else(|| panic!("no teacher row in:\n{table}"));
    row.split('|').nth(3).unwrap().trim().parse().unwrap()
}

/// Write a Fashion-MNIST-layout folder of 12×12 images: class c has a bright 3×3 patch at a
/// class-specific place on a noisy background, so a small ResNet can learn it in a few dozen steps.
pub fn write_dataset(dir: &Path, n_train: usize, n_test: usize) {
    write_dataset_seeded(dir, n_train, n_test, 12345);
}

/// [`write_dataset`] with another noise and label stream.
pub fn write_dataset_seeded(dir: &Path, n_train: usize, n_test: usize, mut seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let (h, w) = (12usize, 12usize);
        let mut img = Vec::new();
        img.extend_from_slice(&0x0803u32.to_be_bytes());
        img.extend_from_slice(&(n as u32).to_be_bytes());
        img.extend_from_slice(&(h as u32).to_be_bytes());
        img.extend_from_slice(&(w as u32).to_be_bytes());
        let mut lab = Vec::new();
        lab.extend_from_slice(&0x0801u32.to_be_bytes());
        lab.extend_from_slice(&(n as u32).to_be_bytes());
        for _ in 0..n {
            let c = (rnd() % 10) as usize;
            let (py, px) = (1 + (c / 5) * 5, 1 + (c % 5) * 2);
            for y in 0..h {
                for x in 0..w {
                    let on = y >= py && y < py + 3 && x >= px && x < px + 3;
                    let noise = (rnd() % 60) as u8;
                    img.push(if on { 195 + noise } else { noise });
                }
            }
            lab.push(c as u8);
        }
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab).unwrap();
    }
}

pub fn write_config(dir: &Path, data: &Path) -> PathBuf {
    let cfg = format!(
        r#"task = "vision"
[run]
name = "tiny"
seed = 3
threads = 1
[lot]
alpha = 0.5
temperature = 1.5
student_steps = 2
[data]
dataset = "fashion-mnist"
dir = "{}"
augment = false
[model]
depth = "8_8"
[train]
epochs = 3
batch_size = 32
eval_batch_size = 100
lr = 0.05
epoch_style = "full_pass"
"#,
        data.display()
    );
    let p = dir.join("tiny.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

/// A PTB-layout corpus folder (ptb.{train,valid,test}.txt) of 17 words in a fixed pattern.
pub fn write_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    let mut w = 0usize;
    for line in 0..400 {
        for _ in 0..(4 + line % 5) {
            text.push_str(&format!("w{w} "));
            w = (w * 7 + 3) % 17;
        }
        text.push('\n');
    }
    for s in ["train", "valid", "test"] {
        let t = if s == "train" { text.clone() } else { text[..text.len() / 6].to_string() };
        std::fs::write(dir.join(format!("ptb.{s}.txt")), t).unwrap();
    }
}

/// The venv's python if it imports torch (None otherwise: the caller skips, saying why).
pub fn python_with_torch() -> Option<PathBuf> {
    let py = lot_bench::default_python();
    let ok = Command::new(&py).args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(py)
}

/// `scripts/script_resnet.py ARGS`: a scripted PreAct ResNet saved as a TorchScript file. The
/// script is found in the source tree, or under the working directory (a test executable carried to
/// a GPU machine runs from the repository root, scripts/gpu-check.sh).
pub fn script_resnet(py: &Path, args: &[&str]) {
    let mut script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/script_resnet.py");
    if !script.is_file() {
        script = PathBuf::from("scripts/script_resnet.py");
    }
    let o = Command::new(py).arg(script).args(args).output().unwrap();
    assert!(o.status.success(), "script_resnet.py failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// The tiny vision config of [`write_config`] with TorchScript ResNet-8s (one channel, 12×12,
/// 10 classes: the data of [`write_dataset`]) instead of `depth = "8_8"`: `teacher.pt` and
/// `student.pt` next to the config, seeded 1 and 2, named relative to it.
pub fn write_script_config(py: &Path, dir: &Path, data: &Path) -> PathBuf {
    let cfg = write_config(dir, data);
    for (name, seed) in [("teacher.pt", "1"), ("student.pt", "2")] {
        let out = dir.join(name);
        script_resnet(py, &["--depth", "8", "--classes", "10", "--in-channels", "1", "--input-size", "12", "--seed", seed, "--out", out.to_str().unwrap()]);
    }
    let text = std::fs::read_to_string(&cfg).unwrap().replace("depth = \"8_8\"", "teacher = \"teacher.pt\"\nstudents = [\"student.pt\"]");
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn engine(models: &Classifiers) -> Engine {
    let sgd = SgdConfig { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1e-4 };
    let optims: Vec<Box<dyn Optimizer>> = models.stores.iter().map(|vs| Box::new(Sgd::new(named_trainable(vs), sgd)) as Box<dyn Optimizer>).collect();
    Engine::new(LotLoss { mode: LossMode::KlCe, alpha: 0.5, temperature: 1.5, detach: true }, 2, optims, None)
}

/// Every variable of model m (parameters and BatchNorm statistics) by PyTorch's name, without
/// BatchNorm's batch counters (lot's ResNet does not count).
fn by_reference_name(models: &Classifiers, m: usize, rename: lifecycle::Rename) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = rename(models.stores[m].variables().into_iter().collect());
    v.retain(|(n, _)| !n.ends_with("num_batches_tracked"));
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn max_abs_diff(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> f64 {
    assert_eq!(a.iter().map(|(n, _)| n).collect::<Vec<_>>(), b.iter().map(|(n, _)| n).collect::<Vec<_>>());
    a.iter().zip(b).map(|((n, x), (_, y))| {
        assert_eq!(x.size(), y.size(), "{n}");
        (x - y).abs().max().double_value(&[])
    }).fold(0.0, f64::max)
}

/// Script a ResNet-8 (3 channels, 16×16, 10 classes) from the weights of `models`' model m.
fn script_from(py: &Path, dir: &Path, models: &Classifiers, m: usize) -> PathBuf {
    lifecycle::save_weights(dir, m, &models.stores[m], resnet::to_reference_names).unwrap();
    let name = if m == 0 { "teacher" } else { "student0" };
    let (weights, out) = (dir.join(format!("{name}.safetensors")), dir.join(format!("{name}.pt")));
    script_resnet(py, &["--depth", "8", "--classes", "10", "--input-size", "16", "--weights", weights.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    out
}


/// Our ResNet-8 teacher and student (3 channels, 16×16, 10 classes) on `device`, and PyTorch's,
/// scripted from the same initial weights by scripts/script_resnet.py, each take `steps` LoT steps
/// (a joint step and N − 1 = 1 student step each, SGD with Nesterov momentum and weight decay) on
/// the same batches; the largest difference of any weight or BatchNorm statistic after them.
pub fn torchscript_vs_builtin(py: &Path, device: Device, steps: usize) -> f64 {
    let d = tempfile::tempdir().unwrap();
    let mut ours = Classifiers::build(&[8, 8], 3, 10, 7, device).unwrap();
    let files: Vec<(String, PathBuf)> = (0..2).map(|m| ("test".to_string(), script_from(py, d.path(), &ours, m))).collect();
    let mut theirs = Classifiers::load_scripted(&files, &[device, device], [3, 16, 16], 10).unwrap();
    let initial: Vec<(String, Tensor)> = by_reference_name(&theirs, 0, lifecycle::same_names).into_iter().map(|(n, t)| (n, t.copy())).collect();
    for m in 0..2 {
        let (a, b) = (by_reference_name(&ours, m, resnet::to_reference_names), by_reference_name(&theirs, m, lifecycle::same_names));
        assert_eq!(max_abs_diff(&a, &b), 0.0, "model {m}: the scripted copy starts from other weights");
        assert_eq!(named_trainable(&ours.stores[m]).len(), named_trainable(&theirs.stores[m]).len(), "the optimizer sees every parameter");
    }
    tch::manual_seed(11);
    let batch = |_: usize| (Tensor::randn([16, 3, 16, 16], (Kind::Float, device)), Tensor::randint(10, [16], (Kind::Int64, device)));
    let batches: Vec<_> = (0..2 * steps).map(batch).collect();
    let (mut e_ours, mut e_theirs) = (engine(&ours), engine(&theirs));
    for k in 0..steps {
        let (t, s) = (&batches[2 * k], &batches[2 * k + 1]);
        let next = || Ok((s.0.shallow_clone(), s.1.shallow_clone()));
        let a = e_ours.lot_step(&mut ours, t, next).unwrap();
        let b = e_theirs.lot_step(&mut theirs, t, next).unwrap();
        assert!((a.teacher_loss - b.teacher_loss).abs() < 1e-4, "step {k}: teacher loss {} vs {}", a.teacher_loss, b.teacher_loss);
    }
    let mut worst: f64 = 0.0;
    for m in 0..2 {
        let (a, b) = (by_reference_name(&ours, m, resnet::to_reference_names), by_reference_name(&theirs, m, lifecycle::same_names));
        worst = worst.max(max_abs_diff(&a, &b));
    }
    eprintln!("torchscript vs built-in ResNet-8 on {device:?} after {steps} LoT steps: max |weight difference| {worst:e}");
    let moved = max_abs_diff(&initial, &by_reference_name(&theirs, 0, lifecycle::same_names));
    assert!(moved > 1e-3, "the scripted teacher did not train ({moved})");
    worst
}
