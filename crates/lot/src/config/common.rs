//! The config sections every task shares, `[run]` and `[lot]`, and what each mode trains.
//! A leaf: domain configs import it, it imports no domain.

use serde::{Deserialize, Serialize};

use crate::engine::LossMode;

/// What is trained: LoT, or one of the baselines the paper compares against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Teacher + students with feedback (α from the config).
    Lot,
    /// α = 0 everywhere, students still trained (what the reference's α = 0 run does).
    TeacherOnly,
    /// The teacher alone, task loss only.
    NoStudent,
    /// The teacher alone for as many optimizer steps as the LoT run takes in total (teacher + students).
    ComputeMatched,
}

impl Mode {
    /// Every mode, in the order the docs list them.
    pub const ALL: [Mode; 4] = [Mode::Lot, Mode::TeacherOnly, Mode::NoStudent, Mode::ComputeMatched];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Lot => "lot",
            Mode::TeacherOnly => "teacher_only",
            Mode::NoStudent => "no_student",
            Mode::ComputeMatched => "compute_matched",
        }
    }

    /// What this mode trains under a LoT config: the one place every domain reads it from.
    pub fn plan(self, lot: &LotConfig) -> Plan {
        let (k, n) = (lot.students, lot.student_steps);
        match self {
            Mode::Lot => Plan { students: k, alpha: lot.alpha, budget_factor: 1 },
            Mode::TeacherOnly => Plan { students: k, alpha: 0.0, budget_factor: 1 },
            Mode::NoStudent => Plan { students: 0, alpha: 0.0, budget_factor: 1 },
            // Each LoT teacher step comes with K·N student steps: the teacher alone takes them all.
            Mode::ComputeMatched => Plan { students: 0, alpha: 0.0, budget_factor: 1 + k * n },
        }
    }
}

/// A mode's schedule (see [`Mode::plan`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Students trained alongside the teacher.
    pub students: usize,
    /// The teacher's α.
    pub alpha: f64,
    /// Multiplies every teacher-step budget (epochs, `train.max_steps`): 1 + K·N for
    /// `compute_matched`, so the teacher alone takes as many optimizer steps as LoT's models together.
    pub budget_factor: usize,
}

impl Plan {
    /// A teacher-step budget (epochs, a step cap) of the plain run, scaled to this mode's.
    pub fn budget(&self, base: usize) -> usize {
        base * self.budget_factor
    }
}

/// `[run]`: naming, seeding, devices and process-level settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// The run's name (the default run folder is `runs/<name>-<mode>-s<seed>`).
    pub name: String,
    /// Seed of the teacher; student i is seeded `seed + 1 + i`.
    pub seed: u64,
    /// `"cpu"`, `"cuda"` or `"cuda:N"`.
    pub device: String,
    /// libtorch intra-op threads; 0 keeps libtorch's default.
    pub threads: usize,
    /// Write a resume checkpoint every this many teacher steps (0 = only at epoch ends / evaluations);
    /// for RL, every this many PPO updates (0 = only on Ctrl-C).
    pub checkpoint_every: usize,
    /// Data-parallel runs (RANK/WORLD_SIZE set): seconds to wait for the other ranks, at the
    /// rendezvous and in every collective, before failing with an error.
    pub dist_timeout_s: u64,
    /// Data-parallel runs: the c10d backend.
    pub dist_backend: DistBackend,
    /// Data-parallel vision runs: BatchNorm statistics in training mode over every rank's batch
    /// (PyTorch's SyncBatchNorm) instead of each rank's own (DDP's default). No effect in one
    /// process; an error for tasks without BatchNorm.
    pub sync_bn: bool,
    /// LoT placement in one process: model m (0 = the teacher, then the students) on
    /// `devices[m % len]`, e.g. `["cuda:0", "cuda:1"]`, exchanging only logits; replaces `device`.
    /// Empty: every model on `device`. Vision and language models only.
    pub devices: Vec<String>,
    /// Flush denormal floats to zero on libtorch's CPU threads (x86 FTZ/DAZ, as TensorFlow and
    /// XLA do by default; PyTorch does not). Arithmetic on denormals is up to ~100× slower, and
    /// LoT's imitation losses make them once a teacher is nearly deterministic: a MinAtar
    /// Breakout LoT run took 12× longer per update without it. `false`: PyTorch's behaviour.
    pub flush_denormal: bool,
}

/// `run.dist_backend`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistBackend {
    /// NCCL on CUDA when libtorch was built with it, else Gloo.
    #[default]
    Auto,
    /// Gloo (CPU and CUDA tensors).
    Gloo,
    /// NCCL (needs `run.device = "cuda"`).
    Nccl,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { name: "run".into(), seed: 0, device: "cpu".into(), threads: 0, checkpoint_every: 500, dist_timeout_s: 300, dist_backend: DistBackend::Auto, sync_bn: false, devices: Vec::new(), flush_denormal: true }
    }
}

/// `[lot]`: the Learning-from-Teaching regulariser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LotConfig {
    /// What is trained: LoT or a baseline (`compute_matched` scales every teacher-step budget,
    /// epochs and `train.max_steps`, by 1 + K·N).
    pub mode: Mode,
    /// The teacher's and students' terms, as the reference code defines them (`engine/loss.rs`):
    /// `kl`, `kl_ce`, `symmetric_kl` or `symmetric_kl_ce` (RL, without labels: `kl` or `symmetric_kl`).
    pub loss: LossMode,
    /// α: weight of the teacher's LoT regulariser.
    pub alpha: f64,
    /// T: softmax temperature of the logits the models compare.
    pub temperature: f64,
    /// N: student updates per teacher update (1 joint + N−1 on the student's own sequential stream).
    pub student_steps: usize,
    /// K: number of students; the teacher's regulariser weights each by 1/K.
    pub students: usize,
    /// Cut gradients through the other model's logits.
    pub detach: bool,
}

impl LotConfig {
    /// This mode's schedule (see [`Mode::plan`]).
    pub fn plan(&self) -> Plan {
        self.mode.plan(self)
    }

    /// The engine's losses for this mode: the configured loss, T and detach, the mode's α.
    pub fn loss(&self) -> crate::engine::LotLoss {
        crate::engine::LotLoss { mode: self.loss, alpha: self.plan().alpha, temperature: self.temperature, detach: self.detach }
    }
}

impl Default for LotConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Lot,
            loss: LossMode::KlCe,
            alpha: 0.5,
            temperature: 1.5,
            student_steps: 2,
            students: 1,
            detach: true,
        }
    }
}
