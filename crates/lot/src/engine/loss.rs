//! The LoT losses as the paper and the reference code define them (docs/algorithm.md, "Losses").
//! Notation: z_t, z_s the teacher's and a student's logits, p = softmax(z/T), α, K students.
//! These are the definitions; the engine computes the same values faster in [`super::fused`].

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// `kl_div_logits(a, b, T)` = T²·KL(softmax(b/T) ‖ softmax(a/T)), averaged over dim 0 ("batchmean").
/// The *second* argument is the target distribution. Logits are `[batch, classes]`; language
/// models flatten `[len, bsz, V]` to `[len·bsz, V]` first, so the mean is per token.
pub fn kl_div_logits(a: &Tensor, b: &Tensor, temp: f64) -> Tensor {
    kl_log_probs(&tempered_log_probs(a, temp), &tempered_log_probs(b, temp), temp)
}

/// log_softmax(z/T), in fp32.
pub(super) fn tempered_log_probs(logits: &Tensor, temp: f64) -> Tensor {
    (logits / temp).log_softmax(-1, Kind::Float)
}

/// T²·KL(q ‖ p) of tempered log-probabilities: Σ q·(log q − log p) / batch · T².
pub(super) fn kl_log_probs(log_p: &Tensor, log_q: &Tensor, temp: f64) -> Tensor {
    let batch = log_p.size()[0].max(1) as f64;
    (log_q.exp() * (log_q - log_p)).sum(Kind::Float) / batch * (temp * temp)
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
    pub(super) fn symmetric(self) -> bool {
        matches!(self, Self::SymmetricKl | Self::SymmetricKlCe)
    }
    pub(super) fn student_uses_task(self) -> bool {
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
    /// How model `z_me` is pulled towards `z_other`: T²·KL(p_other‖p_me), plus T²·KL(p_me‖p_other)
    /// when symmetric; `z_other` is a constant when detached.
    fn imitation(&self, me: &Tensor, other: &Tensor) -> Tensor {
        let other = if self.detach { other.detach() } else { other.shallow_clone() };
        let forward = kl_div_logits(me, &other, self.temperature);
        if self.mode.symmetric() {
            forward + kl_div_logits(&other, me, self.temperature)
        } else {
            forward
        }
    }

    /// The teacher's regulariser (without α): Σ_i λ_i·imitation(z_t, z_{s_i}) with λ_i = 1/K.
    /// Zero tensor when there are no students.
    pub fn teacher_regularizer(&self, teacher: &Tensor, students: &[Tensor]) -> Tensor {
        let lambda = 1.0 / students.len().max(1) as f64;
        let terms = students.iter().map(|s| self.imitation(teacher, s) * lambda);
        terms.reduce(|a, b| a + b).unwrap_or_else(|| Tensor::zeros([], (Kind::Float, teacher.device())))
    }

    /// Teacher loss = task + α·regulariser. With α = 0 (or no students) the regulariser is not built.
    pub fn teacher_loss(&self, task: &Tensor, teacher: &Tensor, students: &[Tensor], alpha: f64) -> Tensor {
        if alpha == 0.0 || students.is_empty() {
            return task.shallow_clone();
        }
        task + self.teacher_regularizer(teacher, students) * alpha
    }

    /// Student loss: task + α·imitation(z_s, z_t) (`*_ce` modes), or imitation(z_s, z_t) alone
    /// (`task`, the student's own task loss, is then ignored).
    pub fn student_loss(&self, task: &Tensor, student: &Tensor, teacher: &Tensor) -> Tensor {
        let imitation = self.imitation(student, teacher);
        if self.mode.student_uses_task() {
            task + imitation * self.alpha
        } else {
            imitation
        }
    }
}
