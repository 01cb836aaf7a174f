//! The worker (`lot bench-worker`): our inner loop for a spec, in this process, and its JSON
//! result line.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::Device;

use lot::precision::Precision;

use crate::lm::lm_loop;
use crate::ppo::ppo_loop;
use crate::vision::vision_loop;
use crate::{nan_if_null, BenchSpec, BenchTask};

/// Peak resident set of this process in MiB (VmHWM), where /proc has it.
pub fn self_peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

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
    /// Whether [`crate::tune_malloc`] was in effect (`LOT_MALLOC_DEFAULT` unset).
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
    // As `lot train` runs by default (`run.flush_denormal`); the ppo loop's trainer sets it itself.
    lot::lifecycle::flush_denormal(true);
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

/// Takes `spec.warmup` untimed steps of a trainer's own learner, then `spec.steps` timed ones; the
/// seconds of the timed steps (the device synchronized on both ends).
pub(crate) fn timed_steps(learner: &mut impl lot::lifecycle::Learner, spec: &BenchSpec, device: Device) -> Result<f64> {
    let mut track = lot::lifecycle::Tracker::detached(learner.total());
    for _ in 0..spec.warmup {
        learner.step(&mut track)?;
    }
    synchronize(device);
    let timed = Instant::now();
    for _ in 0..spec.steps {
        learner.step(&mut track)?;
    }
    synchronize(device);
    Ok(timed.elapsed().as_secs_f64())
}

/// The spec's `run` and `lot` sections (`students` 0: the `no_student` baseline).
pub(crate) fn run_lot_sections(spec: &BenchSpec, students: usize) -> String {
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
