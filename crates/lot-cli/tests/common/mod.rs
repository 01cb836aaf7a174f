//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn lot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lot")).args(args).env("LOT_NO_PROGRESS", "1").output().expect("run lot")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write a Fashion-MNIST-layout folder of 12×12 images: class c has a bright 3×3 patch at a
/// class-specific place on a noisy background, so a small ResNet can learn it in a few dozen steps.
pub fn write_dataset(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut seed = 12345u64;
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

/// `scripts/script_resnet.py ARGS`: a scripted PreAct ResNet saved as a TorchScript file.
pub fn script_resnet(py: &Path, args: &[&str]) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/script_resnet.py");
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
