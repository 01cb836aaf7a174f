//! TorchScript models (`model.teacher = "teacher.pt"`, docs/torchscript.md): PyTorch's PreAct
//! ResNet-8, scripted by scripts/script_resnet.py from our built-in ResNet-8's initial weights, takes
//! the same LoT steps as ours; the module's train/eval mode really switches; a frozen parameter is
//! refused by name; a run trains, saves TorchScript and PyTorch-named weights, and `lot eval` reads
//! them. Skipped (saying why) without a Python with torch; LOT_NO_SKIP=1 makes that a failure.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{eval_teacher_accuracy, lot, python_with_torch, script_resnet, stderr, torchscript_vs_builtin, write_dataset, write_script_config};
use lot::vision::Classifiers;
use tch::{Device, Kind, Tensor};

fn python_or_skip(test: &str) -> Option<PathBuf> {
    let py = python_with_torch();
    if py.is_none() {
        lot::testing::skip(test, "no python with torch (run scripts/setup.sh)");
    }
    py
}

fn scripted(files: &[PathBuf], image: [i64; 3]) -> Classifiers {
    let files: Vec<(String, PathBuf)> = files.iter().map(|p| ("test".to_string(), p.clone())).collect();
    Classifiers::load_scripted(&files, &vec![Device::Cpu; files.len()], image, 10).unwrap()
}

/// k LoT steps (a joint step and N − 1 = 1 student step each, SGD with Nesterov momentum and
/// weight decay) through the TorchScript path equal the built-in ResNet-8's, fp32 on the CPU:
/// every weight and BatchNorm statistic within 1e-5 (measured: 2.4e-7).
#[test]
fn torchscript_lot_steps_equal_the_builtin_resnet() {
    let Some(py) = python_or_skip("torchscript_lot_steps_equal_the_builtin_resnet") else { return };
    let worst = torchscript_vs_builtin(&py, Device::Cpu, 4);
    assert!(worst < 1e-5, "weights differ by {worst}");
}

/// The module's mode follows the `train` flag: training mode normalizes with batch statistics and
/// updates the running ones (buffers the var store shares), evaluation mode uses them unchanged.
#[test]
fn torchscript_train_and_eval_modes_differ() {
    let Some(py) = python_or_skip("torchscript_train_and_eval_modes_differ") else { return };
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("m.pt");
    script_resnet(&py, &["--depth", "8", "--classes", "10", "--input-size", "16", "--out", f.to_str().unwrap()]);
    let models = scripted(&[f], [3, 16, 16]);
    let stat = || models.stores[0].variables()["layer1.0.bn1.running_mean"].copy();
    let x = Tensor::randn([8, 3, 16, 16], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
    let _g = tch::no_grad_guard();
    let e1 = models.logits(0, &x, false);
    let s0 = stat();
    let t = models.logits(0, &x, true);
    let s1 = stat();
    let e2 = models.logits(0, &x, false);
    let e3 = models.logits(0, &x, false);
    assert!((&t - &e2).abs().max().double_value(&[]) > 1e-3, "training and evaluation mode give the same logits");
    assert!((&s1 - &s0).abs().max().double_value(&[]) > 1e-3, "a training-mode forward left the running mean alone");
    assert!(e2.equal(&e3) && !e1.equal(&e2), "evaluation mode must read (and not update) the running statistics");
}

/// A parameter with requires_grad=False is refused with one input error naming it.
#[test]
fn torchscript_frozen_parameter_is_refused() {
    let Some(py) = python_or_skip("torchscript_frozen_parameter_is_refused") else { return };
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("frozen.pt");
    script_resnet(&py, &["--depth", "8", "--classes", "10", "--out", f.to_str().unwrap(), "--freeze", "conv1.weight", "fc.bias"]);
    let files = vec![("key 'model.teacher'".to_string(), f)];
    let e = Classifiers::load_scripted(&files, &[Device::Cpu], [3, 32, 32], 10).err().unwrap();
    let text = lot::testing::input_error_text(e);
    assert!(text.contains("conv1.weight, fc.bias") && text.contains("requires_grad") && text.contains("model.teacher"), "{text}");
    // A module whose logits do not fit the data (100 classes for 10) is refused too.
    let g = d.path().join("wide.pt");
    script_resnet(&py, &["--depth", "8", "--classes", "100", "--out", g.to_str().unwrap()]);
    let e = Classifiers::load_scripted(&[("key 'model.teacher'".to_string(), g)], &[Device::Cpu], [3, 32, 32], 10).err().unwrap();
    let text = lot::testing::input_error_text(e);
    assert!(text.contains("[2, 100]") && text.contains("[2, 10]"), "{text}");
}

/// `lot train` with TorchScript files (relative to the config): the run learns, writes
/// `teacher.pt`/`student0.pt` that torch.jit.load reads, holding exactly the `.safetensors`
/// weights under PyTorch's names; `lot eval` reproduces the final accuracy; the CLI refuses a
/// frozen parameter with one `error:` line and exit code 2.
#[test]
fn torchscript_run_trains_saves_and_evaluates() {
    let Some(py) = python_or_skip("torchscript_run_trains_saves_and_evaluates") else { return };
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    write_dataset(&data, 640, 100);
    let cfg = write_script_config(&py, d.path(), &data);
    let out = d.path().join("run");
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let saved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(saved.contains(&format!("teacher = {:?}", d.path().join("teacher.pt").display().to_string())), "config.toml records absolute paths: {saved}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let teacher_acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
    assert!(teacher_acc > 60.0, "teacher accuracy {teacher_acc} not far above chance (10%)");
    let w = Tensor::read_safetensors(out.join("teacher.safetensors")).unwrap();
    let names: Vec<&str> = w.iter().map(|(n, _)| n.as_str()).collect();
    for n in ["conv1.weight", "layer2.0.downsample.0.weight", "layer1.0.bn1.running_var", "bn.num_batches_tracked", "fc.bias"] {
        assert!(names.contains(&n), "{n} not in {names:?}");
    }
    let check = format!(
        "import json, struct, sys, torch\nsys.path.insert(0, {:?})\nfrom script_resnet import read_safetensors\n\
         for m in ['teacher', 'student0']:\n    mod = torch.jit.load(sys.argv[1] + '/' + m + '.pt')\n    \
         sd, w = mod.state_dict(), read_safetensors(sys.argv[1] + '/' + m + '.safetensors')\n    \
         assert sorted(sd) == sorted(w), (sorted(sd), sorted(w))\n    assert not mod.training\n    \
         print(max((sd[k].double() - w[k].double()).abs().max().item() for k in sd))",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts").display().to_string()
    );
    let o = Command::new(&py).arg("-c").arg(&check).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diffs = String::from_utf8_lossy(&o.stdout);
    assert!(diffs.lines().all(|l| l.trim() == "0.0"), "the .pt and .safetensors weights differ: {diffs}");
    // The batch counter counted: a training-mode forward per step (and student step) of the run.
    let nbt = w.iter().find(|(n, _)| n == "bn.num_batches_tracked").unwrap().1.int64_value(&[]);
    assert!(nbt > 60, "bn.num_batches_tracked = {nbt}");

    let acc = eval_teacher_accuracy(&out);
    assert!((acc - teacher_acc).abs() < 1e-6, "eval {acc} vs summary {teacher_acc}");

    // A frozen parameter: one clear error, exit 2, no run folder.
    script_resnet(&py, &["--depth", "8", "--classes", "10", "--in-channels", "1", "--input-size", "12", "--freeze", "fc.weight", "--out", d.path().join("student.pt").to_str().unwrap()]);
    let bad = d.path().join("bad");
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.trim().lines().count() == 1 && err.contains("error:") && err.contains("fc.weight") && err.contains("model.students"), "{err}");
    assert!(!bad.exists());
}
