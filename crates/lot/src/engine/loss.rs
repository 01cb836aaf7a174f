//! LoT losses, exactly as the reference trainers compute them (LOT_SPEC §2).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// `kl_div_logits(p, q, T)` = KL(softmax(q/T) ‖ softmax(p/T)) · T², averaged over dim 0 ("batchmean").
/// The *second* argument is the target distribution. Logits are `[batch, classes]`; language
/// models flatten `[len, bsz, V]` to `[len·bsz, V]` first, so the mean is per token.
pub fn kl_div_logits(p: &Tensor, q: &Tensor, t: f64) -> Tensor {
    let log_p = (p / t).log_softmax(-1, Kind::Float);
    let log_q = (q / t).log_softmax(-1, Kind::Float);
    let batch = p.size()[0].max(1) as f64;
    // Σ q·(log q − log p) / batch · T²
    (log_q.exp() * (&log_q - &log_p)).sum(Kind::Float) / batch * (t * t)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossMode {
    /// Teacher: task + α·KL(p_s‖p_t). Student: pure KL(p_t‖p_s), no α, no labels.
    Kl,
    /// Teacher: task + α·KL(p_s‖p_t). Student: task + α·KL(p_t‖p_s). The reference's default.
    KlCe,
    /// Both directions of KL in both regularisers; student without labels or α.
    SymmetricKl,
    /// Both directions; student with labels and α.
    SymmetricKlCe,
}

impl LossMode {
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "kl" => Self::Kl,
            "kl_ce" => Self::KlCe,
            "symmetric_kl" => Self::SymmetricKl,
            "symmetric_kl_ce" => Self::SymmetricKlCe,
            _ => crate::bail_input!(
                "lot.loss: unknown loss mode '{s}' (expected kl, kl_ce, symmetric_kl or symmetric_kl_ce)"
            ),
        })
    }
    fn symmetric(self) -> bool {
        matches!(self, Self::SymmetricKl | Self::SymmetricKlCe)
    }
    fn student_uses_task(self) -> bool {
        matches!(self, Self::KlCe | Self::SymmetricKlCe)
    }
}

/// The loss configuration shared by all domains.
#[derive(Clone, Copy, Debug)]
pub struct LotLoss {
    pub mode: LossMode,
    pub alpha: f64,
    pub temperature: f64,
    /// Cut the gradient through the other model's logits (reference: always on).
    pub detach: bool,
}

impl LotLoss {
    fn other(&self, logits: &Tensor) -> Tensor {
        if self.detach {
            logits.detach()
        } else {
            logits.shallow_clone()
        }
    }

    /// Imitation term of model `me` towards `other`: KL(p_other‖p_me), plus KL(p_me‖p_other) when symmetric.
    fn imitation(&self, me: &Tensor, other: &Tensor) -> Tensor {
        let t = self.temperature;
        let other = self.other(other);
        let forward = kl_div_logits(me, &other, t);
        if self.mode.symmetric() {
            forward + kl_div_logits(&other, me, t)
        } else {
            forward
        }
    }

    /// The teacher's regulariser (without α) averaged over students with λ_i = 1/K:
    /// Σ_i λ_i · KL(p_{s_i}‖p_t) (+ reverse when symmetric). Zero tensor when there are no students.
    pub fn teacher_regularizer(&self, teacher: &Tensor, students: &[Tensor]) -> Tensor {
        if students.is_empty() {
            return Tensor::zeros([], (Kind::Float, teacher.device()));
        }
        let lambda = 1.0 / students.len() as f64;
        let mut total = self.imitation(teacher, &students[0]) * lambda;
        for s in &students[1..] {
            total = total + self.imitation(teacher, s) * lambda;
        }
        total
    }

    /// Teacher loss = task + α·regulariser. With α = 0 the regulariser is not built at all.
    pub fn teacher_loss(&self, task: &Tensor, teacher: &Tensor, students: &[Tensor], alpha: f64) -> Tensor {
        if alpha == 0.0 || students.is_empty() {
            return task.shallow_clone();
        }
        task + self.teacher_regularizer(teacher, students) * alpha
    }

    /// Student loss. `task` is the student's own task loss (labels); modes without labels ignore it.
    pub fn student_loss(&self, task: &Tensor, student: &Tensor, teacher: &Tensor) -> Tensor {
        let imitation = self.imitation(student, teacher);
        if self.mode.student_uses_task() {
            task + imitation * self.alpha
        } else {
            imitation
        }
    }
}
