//! `lot bench`: our trainers' inner loops against PyTorch re-implementations of the reference's
//! (`benches/reference/*.py`), on the same synthetic input, as child processes measured the same way
//! (wall time from spawn to exit, peak RSS from `wait4`), alternating, with medians and ratios; and
//! `lot bench accuracy`, the fp32-vs-bf16 accuracy guard.
//!
//! The worker side ([`run_worker`], the hidden `lot bench-worker`) drives the trainers' own step
//! (`VisionLearner`, `LmLearner`: the [`lot::lifecycle::Learner`]s `lot train` runs; PPO runs
//! `lot train` itself); only the data is synthetic (CIFAR-shaped uint8 images, a PTB-sized token
//! stream) and nothing is evaluated, logged or checkpointed.

pub mod roofline;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::{Device, Kind};

use lot::config::Config;
use lot::data::ImageDataset;
use lot::precision::Precision;

/// tch as pinned in Cargo.toml / Cargo.lock (checked by a unit test).
pub const TCH_VERSION: &str = "0.24.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchTask {
    Vision,
    Lstm,
    /// PPO + LoT on CartPole or an Atari game.
    Ppo,
    /// Transformer-XL LM (the reference's PTB recipe).
    Txl,
}

impl BenchTask {
    pub fn name(self) -> &'static str {
        match self {
            BenchTask::Vision => "vision",
            BenchTask::Lstm => "lstm",
            BenchTask::Ppo => "ppo",
            BenchTask::Txl => "txl",
        }
    }
    /// The reference program in `benches/reference/`.
    pub fn program(self) -> &'static str {
        match self {
            BenchTask::Vision => "vision_lot.py",
            BenchTask::Lstm => "lstm_lot.py",
            BenchTask::Ppo => "ppo_lot.py",
            BenchTask::Txl => "txl_lot.py",
        }
    }
}

/// What one bench run does; the same spec drives our worker and the Python program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSpec {
    pub task: BenchTask,
    /// Timed teacher steps (each = the joint step + N−1 student steps).
    pub steps: usize,
    /// Untimed teacher steps before them (oneDNN primitive creation, allocator warm-up).
    pub warmup: usize,
    pub device: String,
    /// Intra-op threads; 0 = what the library picks (the machine's cores) on both sides.
    pub threads: usize,
    pub seed: u64,
    pub batch_size: usize,
    /// N.
    pub student_steps: usize,
    pub alpha: f64,
    pub temperature: f64,
    pub lr: f64,
    // Vision.
    pub precision: Precision,
    pub channels_last: bool,
    pub depth: String,
    pub samples: usize,
    pub classes: usize,
    /// DataLoader workers of the reference program (its default: 4).
    pub workers: usize,
    // LSTM.
    pub emsize: i64,
    pub nhid: i64,
    pub nlayers: i64,
    pub dropout: f64,
    pub vocab: usize,
    pub tokens: usize,
    pub bptt: usize,
    pub momentum: f64,
    pub clip: f64,
    // PPO.
    #[serde(default)]
    pub num_envs: usize,
    #[serde(default)]
    pub num_steps: usize,
    #[serde(default)]
    pub obs_cache: usize,
    /// The PPO env: `CartPole-v1` or an Atari game by its gym v4 name (`BreakoutNoFrameskip-v4`).
    #[serde(default = "cartpole")]
    pub env: String,
    /// Students K (vision). 0 = the `no_student` baseline, whose worker also times the teacher's
    /// no-grad forward (what each extra student step adds on the teacher side).
    #[serde(default = "one")]
    pub students: usize,
    // Transformer-XL (with `dropout`, `vocab`, `tokens`, `bptt` = tgt_len, `clip`).
    #[serde(default)]
    pub n_layer: i64,
    #[serde(default)]
    pub d_model: i64,
    #[serde(default)]
    pub n_head: i64,
    #[serde(default)]
    pub d_head: i64,
    #[serde(default)]
    pub d_inner: i64,
    #[serde(default)]
    pub mem_len: i64,
}

fn one() -> usize {
    1
}

fn cartpole() -> String {
    "CartPole-v1".into()
}

impl BenchSpec {
    /// The reference's CIFAR run: ResNet-20/20, batch 256, N = 2, kl_ce, α 0.5, T 1.5, on 50,000
    /// CIFAR-shaped images with 100 classes. lr 0.1 (the script's 1.0 can diverge on random labels;
    /// timing does not depend on it).
    pub fn vision() -> Self {
        Self {
            task: BenchTask::Vision,
            steps: 12,
            warmup: 2,
            device: "cpu".into(),
            threads: 0,
            seed: 0,
            batch_size: 256,
            student_steps: 2,
            alpha: 0.5,
            temperature: 1.5,
            lr: 0.1,
            precision: Precision::Fp32,
            channels_last: false,
            depth: "20_20".into(),
            samples: 50_000,
            classes: 100,
            workers: 4,
            emsize: 0,
            nhid: 0,
            nlayers: 0,
            dropout: 0.0,
            vocab: 0,
            tokens: 0,
            bptt: 0,
            momentum: 0.9,
            clip: 0.0,
            num_envs: 0,
            num_steps: 0,
            obs_cache: 0,
            env: cartpole(),
            students: 1,
            n_layer: 0,
            d_model: 0,
            n_head: 0,
            d_head: 0,
            d_inner: 0,
            mem_len: 0,
        }
    }

    /// The reference's PTB LSTM recipe (α 1, N 5, T 1.5, batch 20, bptt 35, SGD momentum 0.3,
    /// clip 0.2, vocab 10k) at the CPU size of `configs/lstm_ptb_small_lot.toml` (2×200, dropout
    /// 0.2, lr 20) on a PTB-sized synthetic token stream.
    pub fn lstm() -> Self {
        Self {
            task: BenchTask::Lstm,
            steps: 30,
            warmup: 2,
            device: "cpu".into(),
            threads: 0,
            seed: 0,
            batch_size: 20,
            student_steps: 5,
            alpha: 1.0,
            temperature: 1.5,
            lr: 20.0,
            precision: Precision::Fp32,
            channels_last: false,
            depth: String::new(),
            samples: 0,
            classes: 0,
            workers: 0,
            emsize: 200,
            nhid: 200,
            nlayers: 2,
            dropout: 0.2,
            vocab: 10_000,
            tokens: 929_589,
            bptt: 35,
            momentum: 0.3,
            clip: 0.2,
            num_envs: 0,
            num_steps: 0,
            obs_cache: 0,
            env: cartpole(),
            students: 1,
            n_layer: 0,
            d_model: 0,
            n_head: 0,
            d_head: 0,
            d_inner: 0,
            mem_len: 0,
        }
    }

    /// PPO + LoT on CartPole-v1 as `configs/cartpole_lot.toml` (8 envs × 128 steps, 4 epochs × 4
    /// minibatches, Adam 1e-3, N 5 passes over a 10-rollout cache, α 0.5, T 1, pure-KL student).
    /// `steps` are PPO updates, all timed (the trainer times its whole update loop).
    pub fn ppo() -> Self {
        Self {
            task: BenchTask::Ppo,
            steps: 20,
            warmup: 0,
            device: "cpu".into(),
            threads: 0,
            seed: 1,
            batch_size: 1024,
            student_steps: 5,
            alpha: 0.5,
            temperature: 1.0,
            lr: 1e-3,
            precision: Precision::Fp32,
            channels_last: false,
            depth: String::new(),
            samples: 0,
            classes: 0,
            workers: 0,
            emsize: 0,
            nhid: 0,
            nlayers: 0,
            dropout: 0.0,
            vocab: 0,
            tokens: 0,
            bptt: 0,
            momentum: 0.0,
            clip: 0.5,
            num_envs: 8,
            num_steps: 128,
            obs_cache: 10,
            env: cartpole(),
            students: 1,
            n_layer: 0,
            d_model: 0,
            n_head: 0,
            d_head: 0,
            d_inner: 0,
            mem_len: 0,
        }
    }

    /// [`BenchSpec::ppo`] on env `name`; an Atari game (`BreakoutNoFrameskip-v4`) takes the size
    /// and hyperparameters of `configs/atari_breakout_lot.toml` (8 envs × 128 steps, Nature CNN,
    /// Adam 2.5e-4 cosine to 2.5e-6, clip 0.1, entropy 0.01, N 5 over a 10-rollout cache, α 0.5, T 1).
    pub fn ppo_on(name: &str) -> Self {
        let mut s = Self::ppo();
        s.env = name.to_string();
        if lot::rl::is_atari_name(name) {
            s.lr = 2.5e-4;
        }
        s
    }

    /// Input error unless the PPO env is one both sides run (CartPole-v1 or an Atari game this
    /// build supports); the latter's error is the trainer's one line on the `atari` feature.
    pub fn check_env(&self) -> Result<()> {
        if self.task != BenchTask::Ppo {
            return Ok(());
        }
        if self.env == "CartPole-v1" {
            if self.precision == Precision::Bf16 {
                lot::bail_input!("--precision bf16: only for Atari (the CNN); CartPole's MLP runs in fp32");
            }
            if self.channels_last {
                lot::bail_input!("--channels-last: only for Atari (the CNN); CartPole's MLP has no convolutions");
            }
            return Ok(());
        }
        if !lot::rl::is_atari_name(&self.env) {
            lot::bail_input!("--env: '{}' is not benched (CartPole-v1 or an Atari game such as BreakoutNoFrameskip-v4)", self.env);
        }
        lot::rl::check_env_name(&self.env)
    }

    pub fn for_task(task: BenchTask) -> Self {
        match task {
            BenchTask::Vision => Self::vision(),
            BenchTask::Lstm => Self::lstm(),
            BenchTask::Ppo => Self::ppo(),
            BenchTask::Txl => Self::txl(),
        }
    }

    /// The reference's Transformer-XL PTB recipe (`configs/txl_ptb_lot.toml`): 4 layers, d_model
    /// 200, 8 heads of 20, d_inner 1000, dropout 0.25, batch 60, tgt_len = mem_len = 70, Adam 1e-3,
    /// clip 0.35, N 5, α 0.5, T 1.5, on a PTB-sized synthetic token stream.
    pub fn txl() -> Self {
        Self {
            task: BenchTask::Txl,
            steps: 5,
            warmup: 1,
            batch_size: 60,
            student_steps: 5,
            alpha: 0.5,
            temperature: 1.5,
            lr: 1e-3,
            depth: String::new(),
            samples: 0,
            classes: 0,
            workers: 0,
            emsize: 0,
            nhid: 0,
            nlayers: 0,
            dropout: 0.25,
            vocab: 10_000,
            tokens: 929_589,
            bptt: 70,
            momentum: 0.0,
            clip: 0.35,
            n_layer: 4,
            d_model: 200,
            n_head: 8,
            d_head: 20,
            d_inner: 1000,
            mem_len: 70,
            ..Self::lstm()
        }
    }

    fn device(&self) -> Result<Device> {
        let d = self.device.as_str();
        Ok(match d {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda(0),
            _ => match d.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
                Some(i) => Device::Cuda(i),
                None => lot::bail_input!("--device: unknown device '{d}' (expected cpu, cuda or cuda:N)"),
            },
        })
    }

    fn depths(&self) -> Result<(usize, usize)> {
        let parts: Vec<usize> = self.depth.split('_').map(|p| p.trim().parse()).collect::<std::result::Result<_, _>>().map_err(|_| {
            lot::error::input_err(format!("--depth: '{}' is not TEACHER_STUDENT, e.g. 20_20", self.depth))
        })?;
        match parts.as_slice() {
            [t, s] => Ok((*t, *s)),
            _ => lot::bail_input!("--depth: '{}' is not TEACHER_STUDENT, e.g. 20_20", self.depth),
        }
    }

    /// Command-line arguments of the reference program for this spec.
    pub fn reference_args(&self) -> Vec<String> {
        let mut a: Vec<(&str, String)> = vec![
            ("--steps", self.steps.to_string()),
            ("--warmup", self.warmup.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--student-steps", self.student_steps.to_string()),
            ("--alpha", self.alpha.to_string()),
            ("--T", self.temperature.to_string()),
            ("--lr", self.lr.to_string()),
            ("--seed", self.seed.to_string()),
            ("--device", self.device.clone()),
            ("--threads", self.threads.to_string()),
        ];
        match self.task {
            BenchTask::Vision => a.extend([
                ("--depth", self.depth.clone()),
                ("--samples", self.samples.to_string()),
                ("--classes", self.classes.to_string()),
                ("--workers", self.workers.to_string()),
            ]),
            BenchTask::Lstm => a.extend([
                ("--emsize", self.emsize.to_string()),
                ("--nhid", self.nhid.to_string()),
                ("--nlayers", self.nlayers.to_string()),
                ("--dropout", self.dropout.to_string()),
                ("--vocab", self.vocab.to_string()),
                ("--tokens", self.tokens.to_string()),
                ("--bptt", self.bptt.to_string()),
                ("--momentum", self.momentum.to_string()),
                ("--clip", self.clip.to_string()),
            ]),
            BenchTask::Txl => a.extend([
                ("--n-layer", self.n_layer.to_string()),
                ("--d-model", self.d_model.to_string()),
                ("--n-head", self.n_head.to_string()),
                ("--d-head", self.d_head.to_string()),
                ("--d-inner", self.d_inner.to_string()),
                ("--mem-len", self.mem_len.to_string()),
                ("--dropout", self.dropout.to_string()),
                ("--vocab", self.vocab.to_string()),
                ("--tokens", self.tokens.to_string()),
                ("--bptt", self.bptt.to_string()),
                ("--clip", self.clip.to_string()),
            ]),
            BenchTask::Ppo => a.extend([
                ("--env", self.env.clone()),
                ("--num-envs", self.num_envs.to_string()),
                ("--num-steps", self.num_steps.to_string()),
                ("--obs-cache", self.obs_cache.to_string()),
            ]),
        }
        a.into_iter().flat_map(|(k, v)| [k.to_string(), v]).collect()
    }
}

/// Make glibc keep freed tensor memory in the process for reuse instead of handing it back to the
/// kernel after every step. By default glibc serves allocations above a (dynamic) threshold with
/// fresh `mmap`s and trims the heap top on free, so each training step's large temporaries (a
/// 16 MiB ResNet activation, a 28 MiB `[700, 10000]` LM logit tensor and its softmax/KL
/// temporaries) arrive as untouched pages: hundreds of thousands of page faults, each zero-filling
/// 4 KiB, which made the LSTM's loss and backward ~1.6× slower than the same kernels in a
/// Python process (whose earlier allocations had already raised glibc's dynamic threshold). With
/// the threshold fixed at its maximum (32 MiB) and the trim threshold at 1 GiB, those blocks are
/// reused from the heap. Blocks above 32 MiB (the Transformer-XL recipe's `[4200, 10000]` logits
/// are 168 MB) would still be fresh `mmap`s, so `M_MMAP_MAX = 0` serves them from the heap too
/// (glibc still falls back to `mmap` when the heap cannot grow): on the TXL recipe 17.5 → 10.1 s
/// per teacher step, system time 28 → 5 s, peak RSS +15 % (BENCHMARKS.md). Numerics are untouched.
/// Called at the start of the commands that train (`lot train`, the bench workers, `lot bench
/// accuracy`); `LOT_MALLOC_DEFAULT=1` keeps glibc's defaults (for A/B measurements).
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("LOT_MALLOC_DEFAULT").is_some() {
            return;
        }
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const M_MMAP_MAX: i32 = -4;
        // SAFETY: mallopt only changes allocator parameters; called before any threads start.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 1 << 30);
            mallopt(M_MMAP_MAX, 0);
        }
    }
}

/// A spec from the worker's `--spec` argument.
pub fn parse_spec(s: &str) -> Result<BenchSpec> {
    serde_json::from_str(s).map_err(|e| lot::error::input_err(format!("--spec: {e}")))
}

/// Write a report as pretty JSON, creating the parent folder. It goes through a [`Value`] first,
/// whose map is sorted, so keys come out alphabetically as in the reports committed before the
/// reports were typed: a re-run diffs against them by value, not by key order.
pub fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let v = serde_json::to_value(v)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n").with_context(|| format!("cannot write {}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Worker: our inner loop.

/// Peak resident set of this process in MiB (VmHWM), where /proc has it.
pub fn self_peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// `n` CIFAR-shaped (3×32×32, CHW) random images with random labels.
pub fn synthetic_images(n: usize, classes: usize, seed: u64) -> ImageDataset {
    let (c, h, w) = (3, 32, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut images = vec![0u8; n * c * h * w];
    rng.fill_bytes(&mut images);
    let labels = (0..n).map(|_| rng.gen_range(0..classes as i64)).collect();
    ImageDataset::from_u8(images, labels, [c, h, w], classes)
}

/// null → NaN on reading (serde_json writes a non-finite f64 as null), so a report with a missing
/// side (NaN medians and ratios) reads back as it was computed.
pub(crate) use lot::run::nan_if_null;

fn nan() -> f64 {
    f64::NAN
}

/// The JSON result line a bench child prints last: our worker (`lot bench-worker`) or a reference
/// program (`benches/reference/*.py`). Every field is optional (or NaN when missing) because the
/// two sides print different keys and the harness must read either; keys only one side prints
/// and nothing reads (`gpu_max_allocated_mb`, …) are kept as they came in `extra`. `Default` (zero
/// times, nothing else) is only the base the task loops fill before [`run_worker`] sets the rest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Ours only (the reference programs are one task each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<BenchTask>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<usize>,
    /// Process start to the result line, seconds.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub total_s: f64,
    /// The timed steps, seconds.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub train_s: f64,
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub per_step_s: f64,
    /// The process's own peak RSS, MiB; both sides print it, null where it is unknown.
    #[serde(default)]
    pub peak_rss_mb: Option<f64>,
    /// Intra-op threads the library ended up with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    // Ours only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels_last: Option<bool>,
    /// Whether [`tune_malloc`] was in effect (`LOT_MALLOC_DEFAULT` unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malloc_tuned: Option<bool>,
    // Vision.
    /// K (ours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_acc_teacher: Option<f64>,
    /// The teacher's no-grad forward per step: only from our no_student (K = 0) worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_forward_s: Option<f64>,
    // Language models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_teacher_loss: Option<f64>,
    // PPO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_steps_per_s: Option<f64>,
    /// PPO updates run (ours only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    // The reference only.
    /// Python's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<String>,
    /// PyTorch's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch: Option<String>,
    /// Peak RSS of the largest reaped child (DataLoader workers), MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children_peak_rss_mb: Option<f64>,
    /// Whatever else the line carried, unread but kept in the report.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The worker's result line: one JSON object, keys sorted (through a [`Value`]), so the line does
/// not depend on the struct's field order.
pub fn result_line(r: &WorkerResult) -> Result<String> {
    Ok(serde_json::to_value(r)?.to_string())
}

/// Run our inner loop per `spec` in this process and return the result line.
pub fn run_worker(spec: &BenchSpec) -> Result<WorkerResult> {
    let start = Instant::now();
    if spec.threads > 0 {
        // As the trainers' `run.threads`; 0 leaves libtorch's default, as they do.
        tch::set_num_threads(spec.threads as i32);
    }
    let device = spec.device()?;
    if let Device::Cuda(_) = device {
        if !tch::Cuda::is_available() {
            lot::bail_input!("--device {}: CUDA is not available to libtorch here", spec.device);
        }
    }
    // Each loop fills its task's fields; the common ones are added here.
    let (train_s, extra) = match spec.task {
        BenchTask::Vision => vision_loop(spec, device)?,
        BenchTask::Lstm => lm_loop(spec, device)?,
        BenchTask::Ppo => ppo_loop(spec)?,
        BenchTask::Txl => lm_loop(spec, device)?,
    };
    Ok(WorkerResult {
        program: Some("lot bench-worker".into()),
        task: Some(spec.task),
        steps: Some(spec.steps),
        warmup: Some(spec.warmup),
        total_s: start.elapsed().as_secs_f64(),
        train_s,
        per_step_s: train_s / spec.steps.max(1) as f64,
        peak_rss_mb: self_peak_rss_mb(),
        threads: Some(tch::get_num_threads().max(0) as usize),
        device: Some(spec.device.clone()),
        precision: Some(spec.precision),
        channels_last: Some(spec.channels_last),
        malloc_tuned: Some(std::env::var_os("LOT_MALLOC_DEFAULT").is_none()),
        ..extra
    })
}

/// The spec's `run` and `lot` sections (`students` 0: the `no_student` baseline).
fn run_lot_sections(spec: &BenchSpec, students: usize) -> String {
    let mode = if students == 0 { "no_student" } else { "lot" };
    format!(
        "[run]\nname = \"bench-{}\"\nseed = {}\ndevice = \"{}\"\nthreads = {}\ncheckpoint_every = 0\n\
         [lot]\nmode = \"{mode}\"\nloss = \"kl_ce\"\nalpha = {:?}\ntemperature = {:?}\nstudent_steps = {}\nstudents = {}\n",
        spec.task.name(),
        spec.seed,
        spec.device,
        spec.threads,
        spec.alpha,
        spec.temperature,
        spec.student_steps,
        students.max(1),
    )
}

/// The vision config the spec describes: the reference's CIFAR recipe (reference epoch
/// structure, crop + flip, SGD Nesterov with a per-epoch cosine over 180 epochs).
fn vision_config(spec: &BenchSpec) -> Result<Config> {
    let text = format!(
        "task = \"vision\"\n{}[data]\ndataset = \"cifar100\"\naugment = true\n[model]\ndepth = \"{}\"\n\
         [train]\nepochs = 180\nbatch_size = {}\nlr = {:?}\nmomentum = 0.9\nnesterov = true\nweight_decay = 1e-4\n\
         schedule = \"cosine\"\nepoch_style = \"reference\"\nprecision = \"{}\"\nchannels_last = {}\n",
        run_lot_sections(spec, spec.students),
        spec.depth,
        spec.batch_size,
        spec.lr,
        spec.precision.name(),
        spec.channels_last,
    );
    Config::from_toml(&text, &[], "bench vision config")
}

/// The vision trainer's own step (`VisionLearner`, what `lot train` runs) on synthetic
/// CIFAR-shaped data; nothing is evaluated, logged or checkpointed.
fn vision_loop(spec: &BenchSpec, device: Device) -> Result<(f64, WorkerResult)> {
    use lot::engine::{LotModels, Stream};
    use lot::lifecycle::{Learner, Tracker};
    use lot::vision::train::{Splits, VisionLearner};
    spec.depths()?;
    let cfg = vision_config(spec)?;
    let splits = Splits { train: synthetic_images(spec.samples, spec.classes, spec.seed), valid: None, test: synthetic_images(1, spec.classes, spec.seed) };
    let mut learner = VisionLearner::fresh(&cfg, splits, device)?;
    let mut track = Tracker::detached(learner.total());
    let mut timed = Instant::now();
    for step in 0..spec.warmup + spec.steps {
        if step == spec.warmup {
            synchronize(device);
            timed = Instant::now();
        }
        learner.step(&mut track)?;
    }
    synchronize(device);
    let train_s = timed.elapsed().as_secs_f64();
    let mut extra = WorkerResult {
        students: Some(spec.students),
        images_per_s: Some((spec.steps * spec.batch_size) as f64 / train_s.max(1e-9)),
        train_acc_teacher: Some(learner.train_accuracy()),
        ..Default::default()
    };
    if spec.students == 0 {
        // What an extra student step costs the teacher: its forward on the student's batch, in
        // train mode and without autograd, exactly as `Engine::student_step` runs it.
        let mut forward_s = 0.0;
        for _ in 0..spec.steps {
            let b = learner.teacher_batches.next()?;
            let batch = learner.models.prepare(b.to_tensors(device));
            synchronize(device);
            let t0 = Instant::now();
            let logits = tch::no_grad(|| learner.models.forward(0, &batch, Stream::Student).0);
            let _ = logits.sum(Kind::Float).double_value(&[]);
            synchronize(device);
            forward_s += t0.elapsed().as_secs_f64();
        }
        extra.teacher_forward_s = Some(forward_s / spec.steps.max(1) as f64);
    }
    Ok((train_s, extra))
}

/// The language-model config the spec describes: the LSTM recipe (SGD with momentum, clip) or
/// the Transformer-XL recipe (Adam, clip, no attention dropout), the learning rate on a cosine over
/// the bench's steps (warm-up and timed: `train.max_steps`), as the bench always ran it.
fn lm_config(spec: &BenchSpec) -> Result<Config> {
    let model = if spec.task == BenchTask::Txl {
        format!(
            "arch = \"transformer_xl\"\nn_layer = {}\nd_model = {}\nn_head = {}\nd_head = {}\nd_inner = {}\nmem_len = {}\ndropatt = 0.0\n",
            spec.n_layer, spec.d_model, spec.n_head, spec.d_head, spec.d_inner, spec.mem_len
        )
    } else {
        format!("arch = \"lstm\"\nemsize = {}\nnhid = {}\nnlayers = {}\n", spec.emsize, spec.nhid, spec.nlayers)
    };
    let optimizer = if spec.task == BenchTask::Txl { "adam" } else { "sgd" };
    // Enough epochs of the synthetic stream for every step the bench takes.
    let epochs = 1 + (spec.warmup + spec.steps) * spec.bptt * spec.batch_size / spec.tokens.max(1);
    let text = format!(
        "task = \"text\"\n{}[model]\n{model}dropout = {:?}\n[train]\nepochs = {epochs}\nbatch_size = {}\nbptt = {}\n\
         max_steps = {}\noptimizer = \"{optimizer}\"\nlr = {:?}\nmomentum = {:?}\nclip = {:?}\nschedule = \"cosine_step\"\n\
         student_schedule = \"same\"\nprecision = \"{}\"\n",
        run_lot_sections(spec, 1),
        spec.dropout,
        spec.batch_size,
        spec.bptt,
        spec.warmup + spec.steps,
        spec.lr,
        spec.momentum,
        spec.clip,
        spec.precision.name(),
    );
    Config::from_toml(&text, &[], "bench language-model config")
}

/// The language-model trainer's own step (`LmLearner`, what `lot train` runs: LSTM with SGD, or
/// Transformer-XL with Adam) on a synthetic token stream; nothing is evaluated, logged or
/// checkpointed.
fn lm_loop(spec: &BenchSpec, device: Device) -> Result<(f64, WorkerResult)> {
    use lot::lifecycle::{Learner, Tracker};
    use lot::text::corpus::{Corpus, Vocab};
    use lot::text::train::LmLearner;
    let cfg = lm_config(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut ids = |n: usize| -> Vec<u32> { (0..n).map(|_| rng.gen_range(0..spec.vocab as u32)).collect() };
    let corpus = Corpus {
        vocab: Vocab::from_words((0..spec.vocab).map(|i| format!("w{i}")).collect()),
        train: ids(spec.tokens),
        valid: ids(1000),
        test: ids(1000),
    };
    let mut learner = LmLearner::fresh(&cfg, &corpus, device)?;
    let mut track = Tracker::detached(learner.total());
    let mut timed = Instant::now();
    for step in 0..spec.warmup + spec.steps {
        if step == spec.warmup {
            synchronize(device);
            timed = Instant::now();
        }
        learner.step(&mut track)?;
    }
    synchronize(device);
    let train_s = timed.elapsed().as_secs_f64();
    Ok((
        train_s,
        WorkerResult { tokens_per_s: Some((spec.steps * spec.bptt * spec.batch_size) as f64 / train_s.max(1e-9)), mean_teacher_loss: Some(learner.train_loss()), ..Default::default() },
    ))
}

/// The CartPole LoT recipe (`configs/cartpole_lot.toml`) with the spec's sizes; the bench runs
/// the RL trainer itself (`lot train`'s code path) and reports its update-loop time.
const PPO_BENCH_CONFIG: &str = r#"
task = "rl"
[run]
name = "bench-ppo"
checkpoint_every = 0
[lot]
mode = "lot"
loss = "kl"
students = 1
[env]
name = "CartPole-v1"
[ppo]
anneal = "cosine"
lr_min = 1e-5
gamma = 0.99
gae_lambda = 0.95
num_minibatches = 4
update_epochs = 4
clip_coef = 0.2
ent_coef = 0.0
vf_coef = 0.5
max_grad_norm = 0.5
student_weight_decay = 1e-4
[eval]
episodes = 1
"#;

/// Our Atari config (cleanRL ppo_atari hyperparameters, Nature CNN, LoT α 0.5, N 5, T 1, obs
/// cache 10); the bench overrides the run, the sizes and the env name, and evaluates 1 episode.
const PPO_ATARI_BENCH_CONFIG: &str = include_str!("../../../configs/atari_breakout_lot.toml");

fn ppo_loop(spec: &BenchSpec) -> Result<(f64, WorkerResult)> {
    spec.check_env()?;
    let batch = spec.num_envs * spec.num_steps;
    let atari = lot::rl::is_atari_name(&spec.env);
    let mut sets: Vec<String> = vec![
        format!("run.seed={}", spec.seed),
        format!("run.device=\"{}\"", spec.device),
        format!("run.threads={}", spec.threads),
        format!("lot.alpha={}", spec.alpha),
        format!("lot.temperature={}", spec.temperature),
        format!("lot.student_steps={}", spec.student_steps),
        format!("env.num_envs={}", spec.num_envs),
        format!("ppo.num_steps={}", spec.num_steps),
        format!("ppo.lr={}", spec.lr),
        format!("ppo.obs_cache={}", spec.obs_cache),
        format!("ppo.precision=\"{}\"", spec.precision.name()),
        format!("ppo.channels_last={}", spec.channels_last),
        format!("ppo.total_timesteps={}", (spec.warmup + spec.steps) * batch),
    ];
    let cfg = if atari {
        sets.extend([
            "run.name=\"bench-ppo\"".to_string(),
            "run.checkpoint_every=0".to_string(),
            format!("env.name=\"{}\"", spec.env),
            "eval.episodes=1".to_string(),
        ]);
        Config::from_toml(PPO_ATARI_BENCH_CONFIG, &sets, "bench ppo config (configs/atari_breakout_lot.toml)")?
    } else {
        Config::from_toml(PPO_BENCH_CONFIG, &sets, "bench ppo config")?
    };
    let dir = std::env::temp_dir().join(format!("lot-bench-ppo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = lot::train(&cfg, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = result?;
    let train_s = summary.wall_s;
    Ok((
        train_s,
        WorkerResult {
            env_steps_per_s: Some(((spec.warmup + spec.steps) * batch) as f64 / train_s.max(1e-9)),
            updates: Some(spec.warmup + spec.steps),
            env: Some(spec.env.clone()),
            ..Default::default()
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Harness.

/// Median of a non-empty slice (mean of the two middle values for an even count); NaN if empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// ours / reference (a time ratio below 1 means we are faster); NaN when either is missing or 0.
pub fn ratio(ours: f64, reference: f64) -> f64 {
    if ours.is_finite() && reference.is_finite() && reference > 0.0 {
        ours / reference
    } else {
        f64::NAN
    }
}

/// The last line of a child's stdout that parses as a JSON object (untyped: the integration tests
/// read a worker's line key by key; [`run_child`] reads it as a [`WorkerResult`]).
pub fn parse_result_line(stdout: &str) -> Option<Value> {
    stdout.lines().rev().filter(|l| l.trim_start().starts_with('{')).find_map(|l| serde_json::from_str::<Value>(l).ok().filter(Value::is_object))
}

/// One child process's outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChildRun {
    /// Spawn to exit, seconds.
    pub wall_s: f64,
    /// Peak RSS of the child (or its largest reaped descendant) from `wait4`, MiB.
    pub peak_rss_mb: Option<f64>,
    /// CPU seconds (user + system) of the child and its reaped descendants (DataLoader workers),
    /// from `wait4`: less sensitive than wall time to other load on a shared machine.
    pub cpu_s: Option<f64>,
    /// The child's own JSON result line.
    pub result: WorkerResult,
}

impl ChildRun {
    fn line(&self) -> String {
        format!(
            "{:>8.2} s wall, {:.3} s/step, {} CPU s, peak RSS {} MiB",
            self.wall_s,
            self.result.per_step_s,
            fmt(self.cpu_s.unwrap_or(f64::NAN), 1),
            fmt(self.peak_rss_mb.unwrap_or(f64::NAN), 0)
        )
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys {
    //! `wait4(2)`: the child's exit status and resource usage (ru_maxrss) in one call.
    #[repr(C)]
    pub struct Timeval {
        pub sec: i64,
        pub usec: i64,
    }
    /// `struct rusage` on 64-bit Linux: two timevals and fourteen longs.
    #[repr(C)]
    pub struct Rusage {
        pub utime: Timeval,
        pub stime: Timeval,
        pub maxrss: i64,
        pub rest: [i64; 13],
    }
    extern "C" {
        pub fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
    }
}

/// Wait for `child`; (exited successfully?, exit description, peak RSS MiB, CPU seconds).
fn wait_child(child: std::process::Child) -> Result<(bool, String, Option<f64>, Option<f64>)> {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        let pid = child.id() as i32;
        let mut status = 0i32;
        let mut ru = sys::Rusage { utime: sys::Timeval { sec: 0, usec: 0 }, stime: sys::Timeval { sec: 0, usec: 0 }, maxrss: 0, rest: [0; 13] };
        loop {
            // SAFETY: pid is our own unwaited child; status and ru are valid for writes.
            let r = unsafe { sys::wait4(pid, &mut status, 0, &mut ru) };
            if r == pid {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("wait4({pid}): {e}");
            }
        }
        // Reaped here: std's Child must not wait again (dropping it does not).
        drop(child);
        let (ok, what) = if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff;
            (code == 0, format!("exit code {code}"))
        } else {
            (false, format!("killed by signal {}", status & 0x7f))
        };
        let secs = |t: &sys::Timeval| t.sec as f64 + t.usec as f64 * 1e-6;
        Ok((ok, what, Some(ru.maxrss as f64 / 1024.0), Some(secs(&ru.utime) + secs(&ru.stime))))
    }
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    {
        let mut child = child;
        let st = child.wait()?;
        Ok((st.success(), format!("{st}"), None, None))
    }
}

/// Run a command, capture its output, and measure it.
pub fn run_child(cmd: &mut Command) -> Result<ChildRun> {
    let desc = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("cannot start {desc}"))?;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut out, &mut stdout)?;
    let stderr = err_reader.join().unwrap_or_default();
    let (ok, what, rss, cpu_s) = wait_child(child)?;
    let wall_s = t0.elapsed().as_secs_f64();
    if !ok {
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        bail!("{desc} failed ({what}):\n{}", tail.join("\n"));
    }
    let line = parse_result_line(&stdout).with_context(|| format!("{desc}: no JSON result line in its output"))?;
    let result = serde_json::from_value(line).with_context(|| format!("{desc}: its result line is not a bench result"))?;
    Ok(ChildRun { wall_s, peak_rss_mb: rss, cpu_s, result })
}

/// Where the harness finds things and what it runs.
#[derive(Clone, Debug)]
pub struct HarnessOptions {
    pub repeats: usize,
    /// This binary (run as `bench-worker`).
    pub lot_exe: PathBuf,
    pub python: PathBuf,
    pub reference_dir: PathBuf,
    /// Skip the reference program (a quick check of our side only).
    pub ours_only: bool,
}

/// The venv python: $LOT_VENV/bin/python, ~/.cache/lot/venv/bin/python, else python3.
pub fn default_python() -> PathBuf {
    let venv = std::env::var_os("LOT_VENV").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("LOT_CACHE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lot")));
        cache.map(|c| c.join("venv"))
    });
    match venv.map(|v| v.join("bin/python")) {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("python3"),
    }
}

/// `benches/reference` found from the working directory or the executable upwards.
pub fn default_reference_dir() -> Option<PathBuf> {
    let mut starts = vec![];
    if let Ok(d) = std::env::current_dir() {
        starts.push(d);
    }
    if let Ok(e) = std::env::current_exe() {
        if let Some(d) = e.parent() {
            starts.push(d.to_path_buf());
        }
    }
    for s in starts {
        for dir in s.ancestors() {
            let cand = dir.join("benches/reference");
            if cand.join("vision_lot.py").exists() {
                return Some(cand);
            }
        }
    }
    None
}

/// CPU model name from /proc/cpuinfo (or "unknown").
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

fn load_avg() -> Option<Vec<f64>> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect())
}

/// The version of the libtorch this process loaded: `torch/version.py` next to the wheel's
/// `torch/lib/libtorch_cpu.so`, or `build-version` of a standalone libtorch.
pub fn libtorch_version() -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let lib = maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libtorch_cpu.so"));
    if let Some(dir) = lib.and_then(|p| Path::new(p).parent()).and_then(Path::parent) {
        if let Ok(s) = std::fs::read_to_string(dir.join("version.py")) {
            if let Some(v) = s.lines().find_map(|l| l.strip_prefix("__version__ = ")) {
                return v.trim().trim_matches('\'').trim_matches('"').to_string();
            }
        }
        if let Ok(s) = std::fs::read_to_string(dir.join("build-version")) {
            return s.trim().to_string();
        }
    }
    "unknown".into()
}

/// UTC date and time (RFC 3339, seconds) of a Unix time.
pub fn utc_timestamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// A report's machine and versions, what every report records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// UTC, RFC 3339, when the report was made.
    pub date: String,
    pub cpu: String,
    pub logical_cpus: usize,
    /// /proc/loadavg (1, 5, 15 min) before the runs and after them; null where there is none.
    pub load_avg_start: Option<Vec<f64>>,
    pub load_avg_end: Option<Vec<f64>>,
    pub lot: String,
    pub tch: String,
    pub libtorch: String,
}

/// A `lot bench` report's environment: the machine, the reference's Python and PyTorch, and each
/// side's threads. The four are always written (null when the reference did not run), and only
/// here: flattened, the JSON keeps the one object the reports have always had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchEnvironment {
    #[serde(flatten)]
    pub machine: Environment,
    pub python: Option<String>,
    pub python_torch: Option<String>,
    pub threads_ours: Option<usize>,
    pub threads_reference: Option<usize>,
}

/// The overhead report's environment: the machine and the LoT worker's threads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverheadEnvironment {
    #[serde(flatten)]
    pub machine: Environment,
    pub threads: Option<usize>,
}

/// This machine now, with the load average `load_start` taken before the runs.
pub fn environment(load_start: Option<Vec<f64>>) -> Environment {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Environment {
        date: utc_timestamp(now),
        cpu: cpu_model(),
        logical_cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        load_avg_start: load_start,
        load_avg_end: load_avg(),
        lot: env!("CARGO_PKG_VERSION").into(),
        tch: TCH_VERSION.into(),
        libtorch: libtorch_version(),
    }
}

/// Medians over one side's runs of the fields the report compares; NaN (null in the JSON) where
/// no run has the field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Medians {
    /// Spawn to exit.
    #[serde(deserialize_with = "nan_if_null")]
    pub wall_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub cpu_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub train_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_step_s: f64,
    /// From `wait4`, the child or its largest reaped descendant.
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_rss_mb: f64,
    /// What the child printed as its own peak RSS.
    #[serde(deserialize_with = "nan_if_null")]
    pub self_reported_peak_rss_mb: f64,
}

/// Medians over runs of the fields the report compares.
pub fn summarize(runs: &[ChildRun]) -> Medians {
    let col = |f: &dyn Fn(&ChildRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    Medians {
        wall_s: col(&|r| r.wall_s),
        cpu_s: col(&|r| r.cpu_s.unwrap_or(f64::NAN)),
        train_s: col(&|r| r.result.train_s),
        per_step_s: col(&|r| r.result.per_step_s),
        peak_rss_mb: col(&|r| r.peak_rss_mb.unwrap_or(f64::NAN)),
        self_reported_peak_rss_mb: col(&|r| r.result.peak_rss_mb.unwrap_or(f64::NAN)),
    }
}

/// The command lines both sides ran, quoted for a shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commands {
    pub ours: String,
    pub reference: String,
}

/// One side of a report: every run and their medians.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Side {
    pub runs: Vec<ChildRun>,
    pub median: Medians,
}

/// ours / reference of the medians (below 1: we are faster or smaller); NaN (null) when a side is
/// missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    #[serde(deserialize_with = "nan_if_null")]
    pub end_to_end_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub cpu_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_teacher_step_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_rss_mb: f64,
}

/// reference / ours of the median times (above 1: we are faster); NaN (null) when a side is missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Speedup {
    #[serde(deserialize_with = "nan_if_null")]
    pub end_to_end: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub per_teacher_step: f64,
}

/// The `lot bench` report: settings, machine, versions, every run, medians, ratios.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    pub task: BenchTask,
    pub spec: BenchSpec,
    pub environment: BenchEnvironment,
    pub commands: Commands,
    pub ours: Side,
    pub reference: Side,
    pub ratio_ours_over_reference: Ratios,
    pub speedup: Speedup,
    /// Added by [`add_roofline`] after the runs; reports from before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roofline: Option<roofline::Roofline>,
}

/// The report from both sides' runs (no roofline: [`add_roofline`] measures the peak after the runs).
pub fn build_report(spec: &BenchSpec, ours: &[ChildRun], reference: &[ChildRun], environment: BenchEnvironment, commands: Commands) -> BenchReport {
    let (mo, mr) = (summarize(ours), summarize(reference));
    let speed = |x: f64| if x.is_finite() && x > 0.0 { 1.0 / x } else { f64::NAN };
    let ratio_ours_over_reference = Ratios {
        end_to_end_s: ratio(mo.wall_s, mr.wall_s),
        cpu_s: ratio(mo.cpu_s, mr.cpu_s),
        per_teacher_step_s: ratio(mo.per_step_s, mr.per_step_s),
        peak_rss_mb: ratio(mo.peak_rss_mb, mr.peak_rss_mb),
    };
    let speedup = Speedup { end_to_end: speed(ratio_ours_over_reference.end_to_end_s), per_teacher_step: speed(ratio_ours_over_reference.per_teacher_step_s) };
    BenchReport {
        task: spec.task,
        spec: spec.clone(),
        environment,
        commands,
        ours: Side { runs: ours.to_vec(), median: mo },
        reference: Side { runs: reference.to_vec(), median: mr },
        ratio_ours_over_reference,
        speedup,
        roofline: None,
    }
}

fn fmt(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "—".into()
    }
}

/// A short human-readable table of a report.
pub fn report_table(rep: &BenchReport) -> String {
    let spec = &rep.spec;
    let task = if rep.task == BenchTask::Ppo { format!("ppo ({})", spec.env) } else { rep.task.name().to_string() };
    let mut s = format!(
        "{} bench: {} teacher steps (+{} warm-up), {} repeats, precision {}, channels_last {}, device {}\n",
        task,
        spec.steps,
        spec.warmup,
        rep.ours.runs.len(),
        spec.precision.name(),
        spec.channels_last,
        spec.device,
    );
    s.push_str("| | end-to-end s | s / teacher step | CPU s | peak RSS MiB |\n|---|---|---|---|---|\n");
    for (label, side) in [("lot (ours)", &rep.ours), ("PyTorch reference", &rep.reference)] {
        let m = &side.median;
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} |\n",
            fmt(m.wall_s, 2),
            fmt(m.per_step_s, 3),
            fmt(m.cpu_s, 1),
            fmt(m.peak_rss_mb, 0)
        ));
    }
    let ro = &rep.ratio_ours_over_reference;
    s.push_str(&format!(
        "| ours / reference | {} | {} | {} | {} |\n",
        fmt(ro.end_to_end_s, 3),
        fmt(ro.per_teacher_step_s, 3),
        fmt(ro.cpu_s, 3),
        fmt(ro.peak_rss_mb, 3)
    ));
    s.push_str(&format!(
        "speed-up (reference / ours): end-to-end {}×, per teacher step {}×\n",
        fmt(rep.speedup.end_to_end, 2),
        fmt(rep.speedup.per_teacher_step, 2)
    ));
    if let Some(r) = &rep.roofline {
        s.push_str(&roofline::roofline_line(r, roofline::ran_in(spec)));
    }
    s
}

/// Run the bench: ours and the reference alternately (the order flips every repeat), `repeats`
/// times each, then the report, without its roofline ([`add_roofline`]).
pub fn run_bench(spec: &BenchSpec, h: &HarnessOptions, mut log: impl FnMut(&str)) -> Result<BenchReport> {
    spec.check_env()?;
    let spec_json = serde_json::to_string(spec)?;
    let program = h.reference_dir.join(spec.task.program());
    if !h.ours_only && !program.exists() {
        lot::bail_input!("{}: reference program not found (give --reference-dir)", program.display());
    }
    let ours_cmd = || {
        let mut c = Command::new(&h.lot_exe);
        c.arg("bench-worker").arg("--spec").arg(&spec_json).env("LOT_NO_PROGRESS", "1");
        c
    };
    let ref_cmd = || {
        let mut c = Command::new(&h.python);
        c.arg("-W").arg("ignore").arg(&program).args(spec.reference_args());
        c
    };
    let load_start = load_avg();
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for r in 0..h.repeats.max(1) {
        let order: &[bool] = if r % 2 == 0 { &[true, false] } else { &[false, true] };
        for &mine in order {
            if mine {
                let run = run_child(&mut ours_cmd())?;
                log(&format!("repeat {}/{}: lot        {}", r + 1, h.repeats, run.line()));
                ours.push(run);
            } else if !h.ours_only {
                let run = run_child(&mut ref_cmd())?;
                log(&format!("repeat {}/{}: reference  {}", r + 1, h.repeats, run.line()));
                reference.push(run);
            }
        }
    }
    let env = BenchEnvironment {
        machine: environment(load_start),
        python: reference.first().and_then(|r| r.result.python.clone()),
        python_torch: reference.first().and_then(|r| r.result.torch.clone()),
        threads_ours: ours.first().and_then(|r| r.result.threads),
        threads_reference: reference.first().and_then(|r| r.result.threads),
    };
    let quote = |c: &Command| {
        std::iter::once(c.get_program()).chain(c.get_args()).map(|a| {
            let s = a.to_string_lossy();
            if s.contains(|ch: char| ch.is_whitespace() || ch == '"' || ch == '{') { format!("'{s}'") } else { s.into_owned() }
        }).collect::<Vec<_>>().join(" ")
    };
    let commands = Commands { ours: quote(&ours_cmd()), reference: quote(&ref_cmd()) };
    Ok(build_report(spec, &ours, &reference, env, commands))
}

/// Add the roofline to a finished bench's report: the machine's matmul peaks measured here, after
/// the runs, with the bench's thread count ([`roofline::measure_roofline`]: bounded probes, a bf16
/// peak only where it is native or the bench ran in bf16). Callers write the report first, so a
/// bench stopped during the probes still leaves one.
pub fn add_roofline(rep: &mut BenchReport, mut log: impl FnMut(&str)) {
    let (ours, reference) = (rep.ours.median.per_step_s, rep.reference.median.per_step_s);
    rep.roofline = Some(roofline::measure_roofline(&rep.spec, ours, reference, &mut log));
}

// ---------------------------------------------------------------------------------------------
// LoT's cost over no_student.

/// What a LoT teacher step should cost, from the no_student step it extends: the joint step is
/// the teacher's training step plus K students' (same depth: same cost), and each of the N−1 extra
/// student steps is K student training steps plus one teacher forward without autograd (shared by
/// the K students). Data batches are prepared on worker threads either way.
pub fn predicted_lot_step(no_student_step: f64, teacher_forward: f64, students: usize, student_steps: usize) -> f64 {
    let (k, n) = (students as f64, student_steps.max(1) as f64);
    (1.0 + k * n) * no_student_step + (n - 1.0) * teacher_forward
}

/// The no_student side of the overhead report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NoStudentSide {
    pub runs: Vec<ChildRun>,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_per_step_s: f64,
    /// The teacher's no-grad forward per step (what each extra student step adds).
    #[serde(deserialize_with = "nan_if_null")]
    pub median_teacher_forward_s: f64,
}

/// The LoT side of the overhead report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LotSide {
    pub runs: Vec<ChildRun>,
    #[serde(deserialize_with = "nan_if_null")]
    pub median_per_step_s: f64,
}

/// The overhead report (`lot bench overhead`): LoT's measured cost over no_student against
/// [`predicted_lot_step`]. Numbers are NaN (null in the JSON) when a side has no runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OverheadReport {
    /// Always "overhead": what tells this report from a [`BenchReport`] in a results folder.
    pub task: String,
    pub spec: BenchSpec,
    pub environment: OverheadEnvironment,
    pub no_student: NoStudentSide,
    pub lot: LotSide,
    #[serde(deserialize_with = "nan_if_null")]
    pub measured_lot_over_no_student: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_lot_over_no_student: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub predicted_lot_step_s: f64,
    /// measured / predicted − 1.
    #[serde(deserialize_with = "nan_if_null")]
    pub deviation_from_prediction: f64,
    pub within_5_percent: bool,
}

/// The overhead report from the no_student runs (which carry `teacher_forward_s`) and the LoT runs.
pub fn build_overhead_report(spec: &BenchSpec, no_student: &[ChildRun], lot: &[ChildRun], environment: OverheadEnvironment) -> OverheadReport {
    let med = |runs: &[ChildRun], f: fn(&WorkerResult) -> f64| median(&runs.iter().map(|r| f(&r.result)).collect::<Vec<_>>());
    let t_ns = med(no_student, |r| r.per_step_s);
    let t_f = med(no_student, |r| r.teacher_forward_s.unwrap_or(f64::NAN));
    let t_lot = med(lot, |r| r.per_step_s);
    let predicted = predicted_lot_step(t_ns, t_f, spec.students, spec.student_steps);
    let deviation = t_lot / predicted - 1.0;
    // Non-finite numbers are written as null (serde_json does so for any f64); keep them NaN here.
    let finite = |x: f64| if x.is_finite() { x } else { f64::NAN };
    OverheadReport {
        task: "overhead".into(),
        spec: spec.clone(),
        environment,
        no_student: NoStudentSide { runs: no_student.to_vec(), median_per_step_s: finite(t_ns), median_teacher_forward_s: finite(t_f) },
        lot: LotSide { runs: lot.to_vec(), median_per_step_s: finite(t_lot) },
        measured_lot_over_no_student: finite(ratio(t_lot, t_ns)),
        predicted_lot_over_no_student: finite(ratio(predicted, t_ns)),
        predicted_lot_step_s: finite(predicted),
        deviation_from_prediction: finite(deviation),
        within_5_percent: deviation.is_finite() && deviation.abs() <= 0.05,
    }
}

pub fn overhead_table(rep: &OverheadReport) -> String {
    let spec = &rep.spec;
    let mut s = format!(
        "LoT cost over no_student: ResNet-{} teacher and K = {} student(s), N = {}, batch {}, precision {}, channels_last {}, device {}, {} repeats\n",
        spec.depth,
        spec.students,
        spec.student_steps,
        spec.batch_size,
        spec.precision.name(),
        spec.channels_last,
        spec.device,
        rep.lot.runs.len(),
    );
    s.push_str("| | s / teacher step |\n|---|---|\n");
    s.push_str(&format!("| no_student (teacher training step) | {} |\n", fmt(rep.no_student.median_per_step_s, 3)));
    s.push_str(&format!("| teacher forward, no autograd | {} |\n", fmt(rep.no_student.median_teacher_forward_s, 3)));
    s.push_str(&format!("| LoT predicted: (1+K·N)·no_student + (N−1)·forward | {} |\n", fmt(rep.predicted_lot_step_s, 3)));
    s.push_str(&format!("| LoT measured | {} |\n", fmt(rep.lot.median_per_step_s, 3)));
    s.push_str(&format!(
        "LoT / no_student: measured {}×, predicted {}×; measured vs predicted {}% ({})\n",
        fmt(rep.measured_lot_over_no_student, 3),
        fmt(rep.predicted_lot_over_no_student, 3),
        fmt(100.0 * rep.deviation_from_prediction, 1),
        if rep.within_5_percent { "within 5 %" } else { "NOT within 5 %" },
    ));
    s
}

/// Our vision worker with K = 0 (no_student) and with K students, alternating, `repeats` times each.
pub fn run_overhead(spec: &BenchSpec, h: &HarnessOptions, mut log: impl FnMut(&str)) -> Result<OverheadReport> {
    if spec.task != BenchTask::Vision {
        lot::bail_input!("the overhead bench runs the vision loop");
    }
    let (td, sd) = spec.depths()?;
    if td != sd || spec.students == 0 {
        lot::bail_input!("--depth: the overhead prediction needs equal teacher and student depths and K >= 1 (got {}, K = {})", spec.depth, spec.students);
    }
    let mut base = spec.clone();
    base.students = 0;
    let cmd = |s: &BenchSpec| -> Result<Command> {
        let mut c = Command::new(&h.lot_exe);
        c.arg("bench-worker").arg("--spec").arg(serde_json::to_string(s)?).env("LOT_NO_PROGRESS", "1");
        Ok(c)
    };
    let load_start = load_avg();
    let (mut ns, mut lot) = (Vec::new(), Vec::new());
    for r in 0..h.repeats.max(1) {
        let order: &[bool] = if r % 2 == 0 { &[false, true] } else { &[true, false] };
        for &is_lot in order {
            let run = run_child(&mut cmd(if is_lot { spec } else { &base })?)?;
            log(&format!("repeat {}/{}: {} {}", r + 1, h.repeats, if is_lot { "lot       " } else { "no_student" }, run.line()));
            if is_lot { lot.push(run) } else { ns.push(run) }
        }
    }
    let env = OverheadEnvironment { machine: environment(load_start), threads: lot.first().and_then(|r| r.result.threads) };
    Ok(build_overhead_report(spec, &ns, &lot, env))
}

// ---------------------------------------------------------------------------------------------
// Accuracy guard.

#[derive(Clone, Debug)]
pub struct AccuracyOptions {
    /// The config trained (Fashion-MNIST ResNet-20 LoT by default): its name and TOML text.
    pub config_name: String,
    pub config_text: String,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub train_limit: usize,
    pub test_limit: usize,
    /// Further `--set` overrides for every run.
    pub sets: Vec<String>,
    /// Folder for the runs (`<precision>-s<seed>/`) and the report.
    pub out: PathBuf,
    /// The issue's bound on |mean bf16 − mean fp32| teacher test accuracy, points.
    pub tolerance: f64,
}

/// One model of one accuracy-guard run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRun {
    pub precision: Precision,
    pub seed: u64,
    pub model: String,
    /// Test accuracy, %; null where the run's summary has none.
    pub final_test_accuracy: Option<f64>,
    pub best_test_accuracy: Option<f64>,
    pub wall_s: f64,
}

/// A model's mean final test accuracy over the seeds in each precision, %.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyModel {
    pub model: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_mean: f64,
    /// bf16 − fp32, points.
    #[serde(deserialize_with = "nan_if_null")]
    pub difference: f64,
}

/// The accuracy guard's report (`lot bench accuracy`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    pub config: String,
    pub seeds: Vec<u64>,
    pub epochs: usize,
    pub train_limit: usize,
    pub test_limit: usize,
    pub runs: Vec<AccuracyRun>,
    pub per_model: Vec<AccuracyModel>,
    #[serde(deserialize_with = "nan_if_null")]
    pub teacher_difference_points: f64,
    pub tolerance_points: f64,
    pub within_tolerance: bool,
}

/// Train the config in fp32 and in bf16 + channels-last with the same seeds (finished runs in
/// `out` are reused), and compare the final test accuracies.
pub fn accuracy_guard(o: &AccuracyOptions, mut log: impl FnMut(&str)) -> Result<AccuracyReport> {
    let text = &o.config_text;
    let mut rows = Vec::new();
    for &seed in &o.seeds {
        for (prec, cl) in [(Precision::Fp32, false), (Precision::Bf16, true)] {
            let mut sets = o.sets.clone();
            sets.extend([
                format!("run.seed={seed}"),
                format!("train.precision={}", prec.name()),
                format!("train.channels_last={cl}"),
                format!("train.epochs={}", o.epochs),
                format!("data.train_limit={}", o.train_limit),
                format!("data.test_limit={}", o.test_limit),
            ]);
            let cfg = Config::from_toml(text, &sets, &o.config_name)?;
            let dir = o.out.join(format!("{}-s{seed}", prec.name()));
            let summary = train_or_reuse(&cfg, &dir, &mut log)?;
            for (model, ms) in &summary.models {
                rows.push(AccuracyRun {
                    precision: prec,
                    seed,
                    model: model.clone(),
                    final_test_accuracy: ms.final_test_accuracy(),
                    best_test_accuracy: ms.best_test_accuracy(),
                    wall_s: summary.wall_s,
                });
            }
        }
    }
    let mean = |prec: Precision, model: &str| {
        let v: Vec<f64> = rows.iter().filter(|r| r.precision == prec && r.model == model).filter_map(|r| r.final_test_accuracy).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut models: Vec<String> = rows.iter().map(|r| r.model.clone()).collect();
    models.sort();
    models.dedup();
    let per_model: Vec<AccuracyModel> = models
        .iter()
        .map(|m| {
            let (a, b) = (mean(Precision::Fp32, m), mean(Precision::Bf16, m));
            AccuracyModel { model: m.clone(), fp32_mean: a, bf16_mean: b, difference: b - a }
        })
        .collect();
    let teacher_diff = per_model.iter().find(|p| p.model == "teacher").map_or(f64::NAN, |p| p.difference);
    Ok(AccuracyReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        epochs: o.epochs,
        train_limit: o.train_limit,
        test_limit: o.test_limit,
        runs: rows,
        per_model,
        teacher_difference_points: teacher_diff,
        tolerance_points: o.tolerance,
        within_tolerance: teacher_diff.abs() <= o.tolerance,
    })
}

/// A guard's run: the finished run in `dir` if there is one, else resumed or trained.
fn train_or_reuse(cfg: &Config, dir: &Path, log: &mut impl FnMut(&str)) -> Result<lot::run::Summary> {
    if dir.join(lot::run::SUMMARY_FILE).exists() {
        log(&format!("{}: finished run found, reusing it", dir.display()));
        lot::run::read_summary(dir)
    } else if lot::checkpoint::path(dir).exists() {
        log(&format!("{}: resuming", dir.display()));
        lot::resume(dir)
    } else {
        log(&format!("{}: training {} seed {}", dir.display(), cfg.lot.mode.name(), cfg.run.seed));
        lot::train(cfg, dir)
    }
}

/// Mean and sample std (NaN when undefined).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    let s = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { f64::NAN };
    (m, s)
}

// ---------------------------------------------------------------------------------------------
// Perplexity guard: the language models' bf16 fast path against fp32.

#[derive(Clone, Debug)]
pub struct PerplexityOptions {
    /// A language-model config (`task = "text"`): its name and TOML text.
    pub config_name: String,
    pub config_text: String,
    pub seeds: Vec<u64>,
    /// The fixed budget: teacher steps of every run (`train.max_steps`), validated at the end.
    pub steps: usize,
    pub sets: Vec<String>,
    pub out: PathBuf,
    /// Bound on |mean bf16 − mean fp32| / mean fp32 of the teacher's validation perplexity, %.
    pub tolerance_pct: f64,
}

/// One model of one perplexity-guard run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityRun {
    pub precision: Precision,
    pub seed: u64,
    pub model: String,
    /// Validation perplexity at the end of the budget; null where the summary has none.
    pub valid_perplexity: Option<f64>,
    pub test_perplexity: Option<f64>,
    pub wall_s: f64,
}

/// A model's validation perplexity over the seeds in each precision (mean, sample std: NaN/null
/// with one seed), their relative difference, and the mean wall time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityModel {
    pub model: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_std: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_std: f64,
    /// 100 · (bf16 − fp32) / fp32.
    #[serde(deserialize_with = "nan_if_null")]
    pub difference_pct: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub fp32_wall_s: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub bf16_wall_s: f64,
}

/// The perplexity guard's report (`lot bench perplexity`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerplexityReport {
    pub config: String,
    pub seeds: Vec<u64>,
    pub steps: usize,
    pub sets: Vec<String>,
    pub runs: Vec<PerplexityRun>,
    /// The teacher first.
    pub per_model: Vec<PerplexityModel>,
    #[serde(deserialize_with = "nan_if_null")]
    pub teacher_difference_pct: f64,
    pub tolerance_pct: f64,
    pub within_tolerance: bool,
}

/// Train the config in fp32 and bf16 with the same seeds for `steps` teacher steps (finished runs
/// in `out` are reused) and compare each model's validation perplexity at the end.
pub fn perplexity_guard(o: &PerplexityOptions, mut log: impl FnMut(&str)) -> Result<PerplexityReport> {
    let mut rows = Vec::new();
    for &seed in &o.seeds {
        for prec in [Precision::Fp32, Precision::Bf16] {
            let mut sets = o.sets.clone();
            sets.extend([
                format!("run.seed={seed}"),
                format!("train.precision={}", prec.name()),
                format!("train.max_steps={}", o.steps),
                format!("train.eval_interval={}", o.steps),
            ]);
            let cfg = Config::from_toml(&o.config_text, &sets, &o.config_name)?;
            cfg.text()?;
            let dir = o.out.join(format!("{}-s{seed}", prec.name()));
            let summary = train_or_reuse(&cfg, &dir, &mut log)?;
            for (model, ms) in &summary.models {
                rows.push(PerplexityRun {
                    precision: prec,
                    seed,
                    model: model.clone(),
                    valid_perplexity: ms.best_valid_perplexity(),
                    test_perplexity: ms.final_test_perplexity(),
                    wall_s: summary.wall_s,
                });
            }
        }
    }
    let column = |prec: Precision, model: &str, key: fn(&PerplexityRun) -> Option<f64>| -> Vec<f64> {
        rows.iter().filter(|r| r.precision == prec && r.model == model).filter_map(key).collect()
    };
    let mut models: Vec<String> = rows.iter().map(|r| r.model.clone()).collect();
    models.sort();
    models.dedup();
    models.sort_by_key(|m| m != "teacher");
    let valid = |r: &PerplexityRun| r.valid_perplexity;
    let wall = |r: &PerplexityRun| Some(r.wall_s);
    let per_model: Vec<PerplexityModel> = models
        .iter()
        .map(|m| {
            let (fm, fs) = mean_std(&column(Precision::Fp32, m, valid));
            let (bm, bs) = mean_std(&column(Precision::Bf16, m, valid));
            let (ft, bt) = (column(Precision::Fp32, m, wall), column(Precision::Bf16, m, wall));
            PerplexityModel {
                model: m.clone(),
                fp32_mean: fm,
                fp32_std: fs,
                bf16_mean: bm,
                bf16_std: bs,
                difference_pct: 100.0 * (bm - fm) / fm,
                fp32_wall_s: mean_std(&ft).0,
                bf16_wall_s: mean_std(&bt).0,
            }
        })
        .collect();
    let teacher = per_model.iter().find(|p| p.model == "teacher").map_or(f64::NAN, |p| p.difference_pct);
    Ok(PerplexityReport {
        config: o.config_name.clone(),
        seeds: o.seeds.clone(),
        steps: o.steps,
        sets: o.sets.clone(),
        runs: rows,
        per_model,
        teacher_difference_pct: teacher,
        tolerance_pct: o.tolerance_pct,
        within_tolerance: teacher.abs() <= o.tolerance_pct,
    })
}

/// Markdown table of a perplexity-guard report.
pub fn perplexity_table(rep: &PerplexityReport) -> String {
    let mut s = String::from("| model | fp32 valid ppl (mean ± std) | bf16 valid ppl (mean ± std) | bf16 − fp32 | wall s fp32 / bf16 |\n|---|---|---|---|---|\n");
    for p in &rep.per_model {
        s.push_str(&format!(
            "| {} | {} ± {} | {} ± {} | {} % | {} / {} |\n",
            p.model,
            fmt(p.fp32_mean, 2),
            fmt(p.fp32_std, 2),
            fmt(p.bf16_mean, 2),
            fmt(p.bf16_std, 2),
            fmt(p.difference_pct, 2),
            fmt(p.fp32_wall_s, 0),
            fmt(p.bf16_wall_s, 0),
        ));
    }
    s.push_str(&format!(
        "teacher: |difference| {} %, tolerance {} % → {}\n",
        fmt(rep.teacher_difference_pct.abs(), 2),
        fmt(rep.tolerance_pct, 2),
        if rep.within_tolerance { "within" } else { "NOT within" }
    ));
    s
}

/// Markdown table of an accuracy-guard report.
pub fn accuracy_table(rep: &AccuracyReport) -> String {
    let mut s = String::from("| model | fp32 mean test acc % | bf16 mean test acc % | bf16 − fp32 (points) |\n|---|---|---|---|\n");
    for p in &rep.per_model {
        s.push_str(&format!("| {} | {} | {} | {} |\n", p.model, fmt(p.fp32_mean, 2), fmt(p.bf16_mean, 2), fmt(p.difference, 2)));
    }
    s.push_str(&format!(
        "teacher: |difference| {} points, tolerance {} → {}\n",
        fmt(rep.teacher_difference_points.abs(), 2),
        fmt(rep.tolerance_points, 2),
        if rep.within_tolerance { "within" } else { "NOT within" }
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_prediction_counts_the_extra_passes() {
        // K = 1, N = 2: teacher step + 2 student steps + 1 teacher forward.
        assert_eq!(predicted_lot_step(1.0, 0.25, 1, 2), 3.25);
        // K = 2, N = 3: 1 + 6 training steps, 2 teacher forwards (one per extra student step).
        assert_eq!(predicted_lot_step(0.5, 0.1, 2, 3), 3.5 + 0.2);
        // N = 1: the joint step only.
        assert_eq!(predicted_lot_step(2.0, 9.0, 1, 1), 4.0);
        let mk = |per: f64, fwd: Option<f64>| ChildRun {
            wall_s: 1.0,
            peak_rss_mb: None,
            cpu_s: None,
            result: WorkerResult { per_step_s: per, teacher_forward_s: fwd, ..Default::default() },
        };
        let mut spec = BenchSpec::vision();
        spec.student_steps = 2;
        let ns = [mk(1.0, Some(0.3)), mk(1.2, Some(0.2)), mk(0.8, Some(0.4))];
        let lot = [mk(3.5, None), mk(3.3, None), mk(3.4, None)];
        let rep = build_overhead_report(&spec, &ns, &lot, overhead_env());
        // Medians 1.0 and 0.3 → predicted 3.3; measured 3.4 → +3.03 %.
        assert!((rep.predicted_lot_step_s - 3.3).abs() < 1e-12);
        assert!((rep.deviation_from_prediction - (3.4 / 3.3 - 1.0)).abs() < 1e-12);
        assert!(rep.within_5_percent);
        assert!((rep.measured_lot_over_no_student - 3.4).abs() < 1e-12);
        assert_eq!((rep.no_student.median_per_step_s, rep.no_student.median_teacher_forward_s, rep.lot.median_per_step_s), (1.0, 0.3, 3.4));
        let slow = [mk(3.6, None)];
        assert!(!build_overhead_report(&spec, &ns, &slow, overhead_env()).within_5_percent);
        assert!(overhead_table(&rep).contains("within 5 %"));
        // The JSON keeps the report's shape and reads back.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["task"], "overhead");
        assert_eq!(v["no_student"]["median_teacher_forward_s"], 0.3);
        assert_eq!(v["lot"]["runs"].as_array().unwrap().len(), 3);
        assert!(v["environment"]["threads"].is_null() && v["environment"]["cpu"].is_string(), "{}", v["environment"]);
        let back: OverheadReport = serde_json::from_value(v).unwrap();
        assert_eq!(back.predicted_lot_step_s, rep.predicted_lot_step_s);
        assert_eq!(back.no_student.runs[0].result.teacher_forward_s, Some(0.3));
        // Missing runs give nulls, not NaN in the JSON, and NaN again when read back.
        let empty = build_overhead_report(&spec, &[], &[], overhead_env());
        assert!(empty.deviation_from_prediction.is_nan() && !empty.within_5_percent);
        let v = serde_json::to_value(&empty).unwrap();
        assert!(v["deviation_from_prediction"].is_null() && v["within_5_percent"] == false);
        assert!(v["predicted_lot_step_s"].is_null() && v["measured_lot_over_no_student"].is_null(), "{v}");
        let back: OverheadReport = serde_json::from_value(v).unwrap();
        assert!(back.predicted_lot_step_s.is_nan() && back.measured_lot_over_no_student.is_nan());
    }

    #[test]
    fn median_of_odd_even_and_nan() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[5.0]), 5.0);
        assert_eq!(median(&[f64::NAN, 1.0, 3.0]), 2.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn ratio_is_ours_over_reference() {
        assert_eq!(ratio(1.0, 2.0), 0.5);
        assert!(ratio(1.0, 0.0).is_nan());
        assert!(ratio(f64::NAN, 2.0).is_nan());
    }

    #[test]
    fn result_line_is_the_last_json_object() {
        let out = "warming up\n{\"a\": 1}\nnoise {not json\n{\"steps\": 3, \"per_step_s\": 0.5}\n";
        assert_eq!(parse_result_line(out).unwrap()["steps"], 3);
        assert!(parse_result_line("no json here\n[1, 2]\n").is_none());
        // As a WorkerResult: the keys it has, NaN / None for the rest.
        let r: WorkerResult = serde_json::from_value(parse_result_line(out).unwrap()).unwrap();
        assert_eq!((r.steps, r.per_step_s), (Some(3), 0.5));
        assert!(r.train_s.is_nan() && r.peak_rss_mb.is_none() && r.extra.is_empty(), "{r:?}");
        // A reference program's line: its own keys read, the rest kept as they came.
        let py = r#"{"program": "vision_lot.py", "steps": 12, "warmup": 2, "total_s": 26.0, "train_s": 20.4, "per_step_s": 1.7, "images_per_s": 150.5, "peak_rss_mb": 3197.9, "children_peak_rss_mb": 2505.1, "torch": "2.11.0+cu130", "python": "3.11.7", "threads": 2, "device": "cpu", "train_acc_teacher": 1.06, "gpu_max_allocated_mb": 12.5}"#;
        let r: WorkerResult = serde_json::from_value(parse_result_line(py).unwrap()).unwrap();
        assert_eq!((r.per_step_s, r.train_s, r.peak_rss_mb, r.threads), (1.7, 20.4, Some(3197.9), Some(2)));
        assert_eq!((r.python.as_deref(), r.torch.as_deref(), r.children_peak_rss_mb), (Some("3.11.7"), Some("2.11.0+cu130"), Some(2505.1)));
        assert_eq!(r.extra.get("gpu_max_allocated_mb"), Some(&serde_json::json!(12.5)));
        // Written back, it is the line it was read from.
        assert_eq!(serde_json::to_value(&r).unwrap(), serde_json::from_str::<Value>(py).unwrap());
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    fn run(wall: f64, per_step: f64, rss: f64) -> ChildRun {
        let result = WorkerResult { per_step_s: per_step, train_s: per_step * 10.0, peak_rss_mb: Some(rss), ..Default::default() };
        ChildRun { wall_s: wall, peak_rss_mb: Some(rss), cpu_s: Some(wall * 1.5), result }
    }

    fn bench_env() -> BenchEnvironment {
        BenchEnvironment { machine: environment(None), python: None, python_torch: None, threads_ours: Some(2), threads_reference: None }
    }

    fn overhead_env() -> OverheadEnvironment {
        OverheadEnvironment { machine: environment(None), threads: None }
    }

    #[test]
    fn report_shape_medians_and_ratios() {
        let spec = BenchSpec::vision();
        let ours = vec![run(10.0, 1.0, 500.0), run(12.0, 1.2, 510.0), run(11.0, 0.9, 505.0)];
        let reference = vec![run(30.0, 2.0, 1000.0), run(20.0, 2.2, 1010.0), run(25.0, 2.4, 990.0)];
        let commands = Commands { ours: "lot".into(), reference: "py".into() };
        let rep = build_report(&spec, &ours, &reference, bench_env(), commands);
        assert_eq!(rep.task, BenchTask::Vision);
        assert_eq!(rep.spec.batch_size, 256);
        assert_eq!(rep.ours.runs.len(), 3);
        assert_eq!(rep.ours.median.wall_s, 11.0);
        assert_eq!(rep.reference.median.per_step_s, 2.2);
        assert_eq!(rep.ours.median.peak_rss_mb, 505.0);
        assert_eq!(rep.ours.median.self_reported_peak_rss_mb, 505.0);
        assert_eq!(rep.ours.median.train_s, 10.0);
        assert_eq!(rep.ours.median.cpu_s, 16.5);
        let r = &rep.ratio_ours_over_reference;
        assert!((r.end_to_end_s - 11.0 / 25.0).abs() < 1e-12);
        assert!((r.per_teacher_step_s - 1.0 / 2.2).abs() < 1e-12);
        assert!((r.peak_rss_mb - 505.0 / 1000.0).abs() < 1e-12);
        assert!((r.cpu_s - 16.5 / 37.5).abs() < 1e-12);
        assert!((rep.speedup.per_teacher_step - 2.2).abs() < 1e-12);
        assert!((rep.speedup.end_to_end - 25.0 / 11.0).abs() < 1e-12);
        assert!(rep.roofline.is_none());
        // The JSON keeps the report's keys and nesting: environment flat, commands, no roofline yet.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["task"], "vision");
        assert_eq!(v["spec"]["batch_size"], 256);
        assert_eq!(v["ours"]["median"]["wall_s"], 11.0);
        assert_eq!(v["ours"]["runs"][0]["result"]["per_step_s"], 1.0);
        assert_eq!(v["ratio_ours_over_reference"]["per_teacher_step_s"].as_f64(), Some(r.per_teacher_step_s));
        assert_eq!(v["commands"]["reference"], "py");
        let e = &v["environment"];
        assert!(e["cpu"].is_string() && e["python"].is_null() && e["threads_ours"] == 2 && e.get("machine").is_none(), "{e}");
        assert!(v.get("roofline").is_none());
        // The report is plain JSON (no NaN sneaks in as invalid output), reads back the same, and
        // the table names both sides.
        let text = serde_json::to_string_pretty(&rep).unwrap();
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back.ours.median, rep.ours.median);
        assert_eq!(back.reference.median.peak_rss_mb, 1000.0);
        assert_eq!(back.ratio_ours_over_reference, rep.ratio_ours_over_reference);
        assert_eq!(back.speedup, rep.speedup);
        assert_eq!(back.environment, rep.environment);
        assert_eq!(back.ours.runs[2].result, rep.ours.runs[2].result);
        let t = report_table(&rep);
        assert!(t.contains("lot (ours)") && t.contains("PyTorch reference") && t.contains("2.20×"), "{t}");
        assert!(!t.contains("roofline"), "{t}");
        // With the roofline run_bench adds, the table gains its line.
        let mut with = rep.clone();
        with.roofline = Some(roofline::roofline(&spec, with.ours.median.per_step_s, with.reference.median.per_step_s, 100.0, 200.0));
        assert!(report_table(&with).contains("roofline:"), "{}", report_table(&with));
        assert!(serde_json::to_value(&with).unwrap()["roofline"]["ours_gflops"].is_number());
    }

    #[test]
    fn missing_reference_gives_null_ratios_not_invalid_json() {
        let commands = Commands { ours: "lot".into(), reference: "py".into() };
        let rep = build_report(&BenchSpec::lstm(), &[run(1.0, 0.1, 10.0)], &[], bench_env(), commands);
        let r = &rep.ratio_ours_over_reference;
        for (k, x) in [("end_to_end_s", r.end_to_end_s), ("cpu_s", r.cpu_s), ("per_teacher_step_s", r.per_teacher_step_s), ("peak_rss_mb", r.peak_rss_mb)] {
            assert!(x.is_nan(), "{k}: {x}");
        }
        assert!(rep.reference.median.per_step_s.is_nan() && rep.speedup.per_teacher_step.is_nan(), "{rep:?}");
        assert_eq!(rep.ours.median.per_step_s, 0.1);
        // NaN is written as null, and null reads back as NaN.
        let v = serde_json::to_value(&rep).unwrap();
        for k in ["end_to_end_s", "cpu_s", "per_teacher_step_s", "peak_rss_mb"] {
            assert!(v["ratio_ours_over_reference"][k].is_null(), "{k}: {}", v["ratio_ours_over_reference"][k]);
        }
        assert!(v["reference"]["median"]["per_step_s"].is_null() && v["speedup"]["per_teacher_step"].is_null(), "{v}");
        assert_eq!(v["ours"]["median"]["per_step_s"], 0.1);
        assert_eq!(v["reference"]["runs"].as_array().map(Vec::len), Some(0));
        let text = serde_json::to_string(&rep).unwrap();
        assert!(!text.contains("NaN"), "{text}");
        let back: BenchReport = serde_json::from_str(&text).unwrap();
        assert!(back.ratio_ours_over_reference.per_teacher_step_s.is_nan() && back.reference.median.wall_s.is_nan());
        assert!(back.speedup.end_to_end.is_nan());
        assert_eq!(back.ours.median.per_step_s, 0.1);
        assert!(back.reference.runs.is_empty());
    }

    #[test]
    fn reference_args_follow_the_spec() {
        let mut s = BenchSpec::vision();
        s.steps = 7;
        let a = s.reference_args();
        let get = |k: &str| a.iter().position(|x| x == k).map(|i| a[i + 1].clone());
        assert_eq!(get("--steps").as_deref(), Some("7"));
        assert_eq!(get("--batch-size").as_deref(), Some("256"));
        assert_eq!(get("--depth").as_deref(), Some("20_20"));
        assert_eq!(get("--student-steps").as_deref(), Some("2"));
        let l = BenchSpec::lstm().reference_args();
        assert!(l.windows(2).any(|w| w[0] == "--student-steps" && w[1] == "5"));
        assert!(l.windows(2).any(|w| w[0] == "--bptt" && w[1] == "35"));
        // The spec travels to the worker as JSON and back unchanged.
        let back: BenchSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn ppo_reference_args_pass_the_env() {
        let get = |a: &[String], k: &str| a.iter().position(|x| x == k).map(|i| a[i + 1].clone());
        let c = BenchSpec::ppo().reference_args();
        assert_eq!(get(&c, "--env").as_deref(), Some("CartPole-v1"));
        assert_eq!(get(&c, "--lr").as_deref(), Some("0.001"));
        let s = BenchSpec::ppo_on("BreakoutNoFrameskip-v4");
        let a = s.reference_args();
        assert_eq!(get(&a, "--env").as_deref(), Some("BreakoutNoFrameskip-v4"));
        assert_eq!(get(&a, "--lr").as_deref(), Some("0.00025"));
        assert_eq!(get(&a, "--num-envs").as_deref(), Some("8"));
        assert_eq!(get(&a, "--num-steps").as_deref(), Some("128"));
        assert_eq!(get(&a, "--obs-cache").as_deref(), Some("10"));
        assert_eq!(get(&a, "--student-steps").as_deref(), Some("5"));
        // Only PPO passes --env; a spec from before the field reads as CartPole.
        assert!(get(&BenchSpec::vision().reference_args(), "--env").is_none());
        let mut old = serde_json::to_value(BenchSpec::ppo()).unwrap();
        old.as_object_mut().unwrap().remove("env");
        assert_eq!(serde_json::from_value::<BenchSpec>(old).unwrap().env, "CartPole-v1");
        let back: BenchSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        // Envs the reference program lacks are refused; Atari needs the feature.
        let mut bad = BenchSpec::ppo();
        bad.env = "Acrobot-v1".into();
        assert!(bad.check_env().unwrap_err().to_string().contains("--env"));
        assert!(BenchSpec::ppo().check_env().is_ok());
        let mut bf16_cartpole = BenchSpec::ppo();
        bf16_cartpole.precision = Precision::Bf16;
        assert!(bf16_cartpole.check_env().unwrap_err().to_string().contains("--precision bf16"));
        let mut cl_cartpole = BenchSpec::ppo();
        cl_cartpole.channels_last = true;
        assert!(cl_cartpole.check_env().unwrap_err().to_string().contains("--channels-last"));
        match s.check_env() {
            Ok(()) => assert!(cfg!(feature = "atari")),
            Err(e) => assert!(!cfg!(feature = "atari") && e.to_string().contains("--features atari"), "{e}"),
        }
    }

    #[test]
    fn tch_version_constant_matches_the_lock_file() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
        let pos = lock.find("name = \"tch\"\nversion = \"").expect("tch in Cargo.lock");
        let rest = &lock[pos + "name = \"tch\"\nversion = \"".len()..];
        assert_eq!(&rest[..rest.find('"').unwrap()], TCH_VERSION);
    }

    #[test]
    fn child_measurement_reads_exit_status_and_output() {
        let r = run_child(Command::new("sh").arg("-c").arg("echo hello; echo '{\"steps\": 2}'")).unwrap();
        assert_eq!(r.result.steps, Some(2));
        assert!(r.peak_rss_mb.map_or(true, |m| m > 0.0));
        assert!(r.cpu_s.map_or(true, |c| c >= 0.0));
        let e = run_child(Command::new("sh").arg("-c").arg("echo oops >&2; exit 3")).unwrap_err();
        assert!(e.to_string().contains("exit code 3") && e.to_string().contains("oops"), "{e}");
    }

    #[test]
    fn synthetic_images_are_cifar_shaped_and_deterministic() {
        let a = synthetic_images(10, 100, 1);
        assert_eq!((a.n, a.c, a.h, a.w, a.images.len()), (10, 3, 32, 32, 10 * 3072));
        assert!(a.labels.iter().all(|&l| (0..100).contains(&l)));
        assert_eq!(a.images, synthetic_images(10, 100, 1).images);
    }

    /// The LM guard on a tiny synthetic corpus: both precisions per seed, the report's means and
    /// relative difference recomputed from its own rows, and finished runs reused.
    #[test]
    fn perplexity_guard_trains_both_precisions_and_reports_the_difference() {
        let d = tempfile::tempdir().unwrap();
        let words: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
        let (mut text, mut w) = (String::new(), 0usize);
        for line in 0..300 {
            for _ in 0..(5 + line % 4) {
                text.push_str(&words[w]);
                text.push(' ');
                w = (w * 5 + 1) % 12;
            }
            text.push('\n');
        }
        for split in ["train", "valid", "test"] {
            std::fs::write(d.path().join(format!("ptb.{split}.txt")), &text).unwrap();
        }
        let config_text = format!(
            "task = \"text\"\n[run]\nname = \"g\"\nthreads = 1\n[lot]\nalpha = 1.0\nstudent_steps = 2\n[data]\ncorpus = \"ptb\"\ndir = \"{}\"\n\
             [model]\nemsize = 16\nnhid = 16\nnlayers = 1\ndropout = 0.0\n[train]\nepochs = 1\nbatch_size = 4\neval_batch_size = 2\nbptt = 8\n\
             lr = 5.0\nclip = 1.0\nschedule = \"constant\"\nstudent_schedule = \"same\"\n",
            d.path().display()
        );
        let o = PerplexityOptions {
            config_name: "tiny".into(),
            config_text,
            seeds: vec![0, 1],
            steps: 6,
            sets: vec![],
            out: d.path().join("guard"),
            tolerance_pct: 1.0,
        };
        let rep = perplexity_guard(&o, |_| {}).unwrap();
        let rows = &rep.runs;
        assert_eq!(rows.len(), 2 * 2 * 2, "2 seeds x 2 precisions x teacher + student");
        let mean = |prec: Precision| {
            let v: Vec<f64> = rows.iter().filter(|r| r.precision == prec && r.model == "teacher").map(|r| r.valid_perplexity.unwrap()).collect();
            assert_eq!(v.len(), 2);
            (v[0] + v[1]) / 2.0
        };
        let (f, b) = (mean(Precision::Fp32), mean(Precision::Bf16));
        let t = &rep.per_model[0];
        assert_eq!(t.model, "teacher");
        assert!((t.fp32_mean - f).abs() < 1e-9 && (t.bf16_mean - b).abs() < 1e-9);
        let diff = 100.0 * (b - f) / f;
        assert!((rep.teacher_difference_pct - diff).abs() < 1e-9);
        assert_eq!(rep.within_tolerance, diff.abs() <= 1.0);
        assert!(f > 1.0 && b > 1.0 && f < 20.0, "perplexities {f} {b}");
        // The JSON names the precision as a string, and the report reads back unchanged.
        let v = serde_json::to_value(&rep).unwrap();
        assert_eq!(v["runs"][0]["precision"], "fp32");
        assert_eq!(v["per_model"][0]["model"], "teacher");
        assert_eq!(serde_json::from_value::<PerplexityReport>(v).unwrap(), rep);
        let again = perplexity_guard(&o, |_| {}).unwrap();
        assert_eq!(again.runs, rep.runs, "finished runs are reused");
        assert!(perplexity_table(&rep).contains("| teacher |"));
    }

    /// Every report committed under benches/results reads into its type: a field renamed or
    /// retyped without the files following fails here.
    #[test]
    fn committed_reports_deserialize() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/results");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
        files.sort();
        assert!(!files.is_empty(), "no reports in {}", dir.display());
        let (mut benches, mut overheads, mut guards) = (0, 0, 0);
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            let what = |e: serde_json::Error| format!("{name}: {e}");
            match v["task"].as_str() {
                Some("vision" | "lstm" | "txl" | "ppo") => {
                    let rep: BenchReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert_eq!(Some(rep.task.name()), v["task"].as_str(), "{name}");
                    assert!(rep.ours.median.per_step_s.is_finite() && rep.ours.median.per_step_s > 0.0, "{name}");
                    assert_eq!(rep.ours.median.per_step_s, v["ours"]["median"]["per_step_s"].as_f64().unwrap(), "{name}");
                    assert!(rep.reference.median.per_step_s.is_finite() && rep.ratio_ours_over_reference.per_teacher_step_s.is_finite(), "{name}");
                    assert!(!rep.ours.runs.is_empty() && rep.ours.runs.iter().all(|r| r.result.per_step_s.is_finite() && r.result.threads.is_some()), "{name}");
                    assert!(rep.reference.runs.iter().all(|r| r.result.python.is_some() && r.result.torch.is_some()), "{name}");
                    assert_eq!(rep.roofline.is_some(), v.get("roofline").is_some(), "{name}");
                    if let Some(r) = &rep.roofline {
                        let a = r.achieved.as_ref().unwrap_or_else(|| panic!("{name}: roofline without achieved GFLOP/s"));
                        assert!(r.flops_per_teacher_step.is_some_and(f64::is_finite) && a.ours_gflops.is_finite(), "{name}");
                    }
                    benches += 1;
                }
                Some("overhead") => {
                    let rep: OverheadReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.lot.median_per_step_s.is_finite() && rep.no_student.median_teacher_forward_s.is_finite(), "{name}");
                    assert!(rep.no_student.runs.iter().all(|r| r.result.teacher_forward_s.is_some()), "{name}");
                    assert!(rep.predicted_lot_step_s.is_finite(), "{name}");
                    overheads += 1;
                }
                Some(other) => panic!("{name}: unknown task {other}"),
                // The guards carry no task: told apart by what they compare.
                None if v.get("teacher_difference_pct").is_some() => {
                    let rep: PerplexityReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.teacher_difference_pct.is_finite() && rep.per_model.iter().all(|p| p.fp32_mean.is_finite()), "{name}");
                    assert!(!rep.runs.is_empty(), "{name}");
                    guards += 1;
                }
                None if v.get("teacher_difference_points").is_some() => {
                    let rep: AccuracyReport = serde_json::from_str(&text).map_err(what).unwrap();
                    assert!(rep.teacher_difference_points.is_finite() && !rep.runs.is_empty(), "{name}");
                    guards += 1;
                }
                None => panic!("{name}: neither a bench, an overhead nor a guard report"),
            }
        }
        assert_eq!(benches + overheads + guards, files.len());
        assert!(benches > 0 && overheads > 0, "{benches} bench and {overheads} overhead reports");
    }
}
