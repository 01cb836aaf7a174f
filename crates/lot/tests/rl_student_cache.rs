//! PPO + LoT updates against the reference trainer's loop in PyTorch
//! (benches/reference/ppo_student_cache.py): the same initial weights, rollouts and shuffles, and
//! the same teacher and student weights afterwards, for both `ppo.student_cache` modes. The script
//! builds the reference's cache literally (views of one rollout buffer that every rollout
//! overwrites), so `reference` is checked against what the reference's code does, not against our
//! reading of it. Skipped (saying why) without a Python with torch; LOT_NO_SKIP=1 makes that a
//! failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use lot::engine::{Engine, LossMode, LotLoss};
use lot::optim::{named_trainable, Adam, AdamConfig, Optimizer};
use lot::rl::config::StudentCache;
use lot::rl::lot_ppo::{LotPpo, Plan, RlModels, Rollout, UpdateShape};
use lot::rl::ppo::PpoParams;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

const OBS: usize = 4;
const ACTIONS: usize = 2;
const ROWS: usize = 32;
const UPDATES: usize = 5;
const LR: f64 = 1e-3;
const WEIGHT_DECAY: f64 = 1e-4;
const N: usize = 2;
const ALPHA: f64 = 0.5;
const TEMPERATURE: f64 = 2.0;

/// The venv python ($LOT_VENV, else $LOT_CACHE or ~/.cache/lot, then `venv/bin/python`; else
/// python3) if it imports torch.
fn python_with_torch() -> Option<PathBuf> {
    let venv = std::env::var_os("LOT_VENV").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("LOT_CACHE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lot")));
        cache.map(|c| c.join("venv"))
    });
    let py = venv.map(|v| v.join("bin/python")).filter(|p| p.exists()).unwrap_or_else(|| PathBuf::from("python3"));
    let ok = Command::new(&py).args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(py)
}

/// The script, from the source tree or the working directory (a carried test executable).
fn script() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/reference/ppo_student_cache.py");
    if p.is_file() {
        p
    } else {
        PathBuf::from("benches/reference/ppo_student_cache.py")
    }
}

fn params() -> PpoParams {
    PpoParams { clip_coef: 0.2, clip_vloss: true, norm_adv: true, ent_coef: 0.01, vf_coef: 0.5 }
}

fn learner(mode: StudentCache) -> LotPpo {
    let plan = Plan { students: 1, alpha: ALPHA, matched_students: 0 };
    let models = RlModels::build(&[OBS], ACTIONS, 2, 21, Device::Cpu, params()).unwrap();
    let optims: Vec<Box<dyn Optimizer>> = models
        .stores
        .iter()
        .enumerate()
        .map(|(m, vs)| {
            let wd = if m == 0 { 0.0 } else { WEIGHT_DECAY };
            Box::new(Adam::new(named_trainable(vs), AdamConfig { lr: LR, eps: 1e-5, weight_decay: wd, ..Default::default() })) as Box<dyn Optimizer>
        })
        .collect();
    let loss = LotLoss { mode: LossMode::Kl, alpha: ALPHA, temperature: TEMPERATURE, detach: true };
    let engine = Engine::new(loss, N, optims, Some(0.5));
    let shape = UpdateShape { update_epochs: 2, num_minibatches: 4, minibatch_size: ROWS / 4, batch_size: ROWS, obs_cache: 3, student_cache: mode };
    LotPpo::new(models, engine, plan, shape, 11)
}

/// A rollout from its own generator (libtorch's global one is shared by the test threads).
fn rollout(seed: u64) -> Rollout {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut uniform = |len: usize| -> Tensor {
        let v: Vec<f32> = (0..len).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
        Tensor::from_slice(&v)
    };
    let obs = uniform(ROWS * OBS).view([ROWS as i64, OBS as i64]);
    let (advantages, returns, values) = (uniform(ROWS), uniform(ROWS), uniform(ROWS) * 0.1);
    let actions: Vec<i64> = (0..ROWS).map(|i| (i * 7 % 3 % ACTIONS) as i64).collect();
    let logprobs = Tensor::full([ROWS as i64], -(2f64.ln()), (Kind::Float, Device::Cpu)) + uniform(ROWS) * 0.05;
    Rollout { obs, actions: Tensor::from_slice(&actions), logprobs, advantages, returns, values }
}

fn weights(l: &LotPpo) -> Vec<(String, Tensor)> {
    let mut w = Vec::new();
    for (m, name) in ["teacher", "student"].iter().enumerate() {
        for (n, t) in l.models.stores[m].variables() {
            w.push((format!("{name}.{n}"), t.detach().copy()));
        }
    }
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

fn perms(p: &[Vec<i64>]) -> Tensor {
    Tensor::from_slice(&p.concat())
}

/// Our `UPDATES` updates and the script's on the same inputs; the largest weight difference.
fn ours_vs_reference(py: &Path, mode: StudentCache) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut l = learner(mode);
    l.record_shuffles();
    let mut inputs = weights(&l);
    for u in 0..UPDATES {
        let r = rollout(100 + u as u64);
        l.update(&r).unwrap();
        let (teacher, student) = l.take_shuffles();
        let rows = teacher[0].len() as i64;
        inputs.push((format!("u{u}.teacher_perms"), perms(&teacher).view([-1, rows])));
        inputs.push((format!("u{u}.student_perms"), perms(&student)));
        for (k, t) in [("obs", &r.obs), ("actions", &r.actions), ("logprobs", &r.logprobs), ("advantages", &r.advantages), ("returns", &r.returns), ("values", &r.values)] {
            inputs.push((format!("u{u}.{k}"), t.shallow_clone()));
        }
    }
    let (src, dst) = (dir.path().join("in.safetensors"), dir.path().join("out.safetensors"));
    Tensor::write_safetensors(&inputs, &src).unwrap();
    let cache = if mode == StudentCache::Reference { "reference" } else { "distinct" };
    let args = serde_json::json!({
        "updates": UPDATES, "cache": cache, "obs_cache": 3, "minibatch_size": ROWS / 4, "student_steps": N,
        "alpha": ALPHA, "temperature": TEMPERATURE, "lr": LR, "adam_eps": 1e-5, "student_weight_decay": WEIGHT_DECAY,
        "max_grad_norm": 0.5, "clip_coef": 0.2, "ent_coef": 0.01, "vf_coef": 0.5,
    });
    let o = Command::new(py).arg(script()).arg(&src).arg(&dst).arg(args.to_string()).output().unwrap();
    assert!(o.status.success(), "ppo_student_cache.py failed: {}", String::from_utf8_lossy(&o.stderr));
    let theirs = Tensor::read_safetensors(&dst).unwrap();
    let ours = weights(&l);
    assert_eq!(theirs.len(), ours.len());
    let mut worst = 0f64;
    for (n, t) in &ours {
        let (_, r) = theirs.iter().find(|(m, _)| m == n).unwrap_or_else(|| panic!("{n} missing from the script's output"));
        let d = (t - r).abs().max().double_value(&[]);
        worst = worst.max(d);
    }
    // the models really moved, so the comparison means something
    let start = inputs.iter().find(|(n, _)| n == "student.actor.4.weight").unwrap().1.shallow_clone();
    let end = &ours.iter().find(|(n, _)| n == "student.actor.4.weight").unwrap().1;
    assert!((end - start).abs().max().double_value(&[]) > 1e-3);
    worst
}

/// Five updates (cache of 3: it fills and then drops entries) with N = 2, α = 0.5, T = 2:
/// teacher and student weights within 1e-5 of the reference's loop, in both cache modes.
#[test]
fn updates_match_the_reference_loop() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("updates_match_the_reference_loop", "no python with torch (run scripts/setup.sh)");
        return;
    };
    for mode in [StudentCache::Reference, StudentCache::Distinct] {
        let worst = ours_vs_reference(&py, mode);
        eprintln!("{mode:?}: largest weight difference {worst:e}");
        assert!(worst < 1e-5, "{mode:?}: weights differ by {worst}");
    }
}
