//! CUDA checks, for a GPU machine (scripts/gpu-check.sh runs them with LOT_REQUIRE_CUDA=1).
//! Without a GPU they skip, unless LOT_REQUIRE_CUDA is set, in which case a missing CUDA is a
//! failure (that is how a binary that dropped libtorch_cuda.so at link time shows up).

mod common;

use common::{lot, python_with_torch, stderr, torchscript_vs_builtin, write_config, write_dataset, write_script_config};
use lot::vision::resnet::{ForwardOptions, PreActResNet, Precision};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

fn cuda_or_skip(test: &str) -> bool {
    if tch::Cuda::is_available() {
        return true;
    }
    if std::env::var_os("LOT_REQUIRE_CUDA").is_some() {
        panic!("{test}: LOT_REQUIRE_CUDA is set but libtorch sees no CUDA device (libtorch_cuda.so not linked, or no GPU/driver)");
    }
    eprintln!("{test}: skipped (no CUDA)");
    false
}

#[test]
fn cuda_is_linked_and_available() {
    if !cuda_or_skip("cuda_is_linked_and_available") {
        return;
    }
    assert!(tch::Cuda::device_count() >= 1);
    let x = Tensor::ones([4, 4], (Kind::Float, Device::Cuda(0)));
    assert_eq!(x.sum(Kind::Float).double_value(&[]), 16.0);
}

/// The same weights on CPU and GPU: fp32 logits agree within 1e-2 relative (libtorch lets cuDNN
/// use TF32 for fp32 convolutions by default: 10-bit mantissa, ~1e-3 per conv), bf16 +
/// channels-last within 5e-2 (bf16 rounding, as the CPU test in vision::resnet).
#[test]
fn resnet_forward_on_cuda_matches_cpu() {
    if !cuda_or_skip("resnet_forward_on_cuda_matches_cpu") {
        return;
    }
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut m = PreActResNet::new(&vs.root(), 20, 3, 10).unwrap();
    let x = Tensor::randn([8, 3, 32, 32], (Kind::Float, Device::Cpu));
    let cpu = m.forward_t(&x, false);
    vs.set_device(Device::Cuda(0));
    let xg = x.to_device(Device::Cuda(0));
    let rel = |a: &Tensor, b: &Tensor| {
        let (a, b) = (a.to_device(Device::Cpu).to_kind(Kind::Double), b.to_kind(Kind::Double));
        (&a - &b).norm().double_value(&[]) / b.norm().double_value(&[])
    };
    let gpu = m.forward_t(&xg, false);
    assert!(rel(&gpu, &cpu) < 1e-2, "fp32 cuda vs cpu: {}", rel(&gpu, &cpu));
    m.set_options(ForwardOptions::new(Precision::Bf16, true));
    let fast = m.forward_t(&xg, false);
    assert_eq!(fast.kind(), Kind::Float);
    assert!(rel(&fast, &cpu) < 5e-2, "bf16 cuda vs fp32 cpu: {}", rel(&fast, &cpu));
    // Backward on the fast path gives fp32 gradients on the GPU.
    let y = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5, 6, 7]).to_device(Device::Cuda(0));
    m.forward_t(&xg, true).cross_entropy_for_logits(&y).backward();
    for t in vs.trainable_variables() {
        assert_eq!(t.grad().kind(), Kind::Float);
        assert!(t.grad().device().is_cuda());
    }
}

#[test]
fn training_runs_on_cuda_in_fp32_and_bf16() {
    if !cuda_or_skip("training_runs_on_cuda_in_fp32_and_bf16") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    for (p, cl) in [("fp32", "false"), ("bf16", "true")] {
        let out = tmp.path().join(format!("run-{p}"));
        let o = lot(&[
            "train",
            cfg.to_str().unwrap(),
            "--set",
            "run.device=cuda",
            "--set",
            &format!("train.precision={p}"),
            "--set",
            &format!("train.channels_last={cl}"),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "cuda {p} train failed: {}", stderr(&o));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
        assert!(acc > 60.0, "cuda {p} teacher accuracy {acc}");
    }
}

/// `run.devices`: the teacher on the GPU, its student on the CPU, only logits crossing; the run
/// learns like the one-device GPU run (the same data and seeds; the student's kernels differ, so
/// the accuracies are compared loosely) and `lot eval` reloads both models onto their devices.
#[test]
fn a_teacher_on_the_gpu_teaches_a_student_on_the_cpu() {
    if !cuda_or_skip("a_teacher_on_the_gpu_teaches_a_student_on_the_cpu") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    let acc = |sets: &[&str], name: &str| -> (f64, f64) {
        let out = tmp.path().join(name);
        let mut args = vec!["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
        for s in sets {
            args.extend(["--set", s]);
        }
        let o = lot(&args);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let e = lot(&["eval", out.to_str().unwrap()]);
        assert!(e.status.success(), "{name} eval: {}", stderr(&e));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let m = |k: &str| s["models"][k]["final_test_accuracy"].as_f64().unwrap();
        (m("teacher"), m("student0"))
    };
    let (t1, s1) = acc(&["run.device=cuda"], "one");
    let (t2, s2) = acc(&[r#"run.devices=["cuda:0", "cpu"]"#], "placed");
    assert!(t2 > 60.0 && s2 > 60.0, "placed: teacher {t2}, student {s2}");
    assert!((t1 - t2).abs() < 10.0 && (s1 - s2).abs() < 10.0, "one device {t1}/{s1}, placed {t2}/{s2}");
}

/// TorchScript models on CUDA (docs/torchscript.md), as `tests/torchscript.rs` on the CPU: 4 LoT
/// steps of the scripted PyTorch ResNet-8 equal our built-in ResNet-8's (both run cuDNN, TF32
/// convolutions included: 1e-4), and a `lot train` run with the scripted teacher on the GPU and its
/// student on the CPU learns, saves `.pt` modules and is read back by `lot eval`.
#[test]
fn torchscript_models_train_on_cuda() {
    if !cuda_or_skip("torchscript_models_train_on_cuda") {
        return;
    }
    let Some(py) = python_with_torch() else {
        lot::testing::skip("torchscript_models_train_on_cuda", "no python with torch to script the models");
        return;
    };
    let worst = torchscript_vs_builtin(&py, Device::Cuda(0), 4);
    assert!(worst < 1e-4, "weights differ by {worst}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_script_config(&py, tmp.path(), &data);
    for (name, set) in [("gpu", "run.device=cuda"), ("placed", r#"run.devices=["cuda:0", "cpu"]"#)] {
        let out = tmp.path().join(name);
        let o = lot(&["train", cfg.to_str().unwrap(), "--set", set, "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(out.join("teacher.pt").is_file() && out.join("student0.pt").is_file(), "{name}");
        let e = lot(&["eval", out.to_str().unwrap()]);
        assert!(e.status.success(), "{name} eval: {}", stderr(&e));
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        let acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
        assert!(acc > 60.0, "{name}: teacher accuracy {acc}");
    }
}

/// PPO + LoT on CUDA (the rollout buffer, PPO and the students' passes on the GPU; the envs on the
/// host): a short CartPole run finishes with its env-step count and an evaluation of the teacher.
#[test]
fn ppo_lot_runs_on_cuda() {
    if !cuda_or_skip("ppo_lot_runs_on_cuda") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cartpole.toml");
    std::fs::write(
        &cfg,
        "task = \"rl\"\n[run]\nname = \"cartpole\"\nseed = 1\ndevice = \"cuda\"\n[lot]\nmode = \"lot\"\nloss = \"kl\"\nstudent_steps = 2\n\
         [env]\nname = \"CartPole-v1\"\nnum_envs = 4\n[ppo]\ntotal_timesteps = 4096\nnum_steps = 128\nlr = 1e-3\nnum_minibatches = 4\n\
         update_epochs = 2\nobs_cache = 2\n[eval]\nepisodes = 3\n",
    )
    .unwrap();
    let out = tmp.path().join("run");
    let o = lot(&["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "cuda PPO + LoT failed: {}", stderr(&o));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["models"]["teacher"]["env_steps"].as_u64(), Some(4096), "{s}");
    let ret = s["models"]["teacher"]["eval_return"].as_f64().unwrap();
    assert!(ret >= 8.0, "CartPole episodes last at least 8 steps, got a mean return of {ret}");
}

/// Data parallelism over NCCL (`cuda` builds): one rank on the GPU trains and reports; every
/// collective it makes (gradient buckets, metric sums, the interrupt flag) must be a CUDA tensor.
#[cfg(feature = "cuda")]
#[test]
fn data_parallel_over_nccl_trains() {
    if !cuda_or_skip("data_parallel_over_nccl_trains") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 640, 200);
    let cfg = write_config(tmp.path(), &data);
    let out = tmp.path().join("nccl");
    let o = lot(&[
        "launch",
        "--nproc-per-node",
        "1",
        "--",
        "train",
        cfg.to_str().unwrap(),
        "--set",
        "run.device=cuda",
        "--set",
        "run.dist_backend=nccl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "NCCL data-parallel run failed: {}", stderr(&o));
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("dist.json")).unwrap()).unwrap();
    assert_eq!(d["world_size"].as_u64(), Some(1), "{d}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let acc = s["models"]["teacher"]["final_test_accuracy"].as_f64().unwrap();
    assert!(acc > 60.0, "NCCL teacher accuracy {acc}");
}
