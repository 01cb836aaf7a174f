//! The losses of [`super::loss`] as the engine computes them: the same values, faster.
//!
//! - Each model's tempered distribution is computed once per step ([`Tempered`]) and read by every
//!   KL term of that step, as the model's own side and as the other model's target.
//! - With detached targets, a KL term towards a fixed target has its gradient written out
//!   (T·(p − q)/B) instead of differentiated through the elementwise ops ([`kl_to_fixed_target`]).
//! - For cross-entropy tasks (`kl`, `kl_ce`, detached) the task loss and the KL terms are one loss
//!   with the whole gradient written out ([`LotLoss::joint_losses_ce`]).
//!
//! Checked against the definitions and autograd in `engine/tests.rs`.

use tch::{Kind, Tensor};

use super::loss::{kl_log_probs, tempered_log_probs, LotLoss};

/// One model's tempered distribution, computed once per step and read by every KL term of that
/// step, as the model's own side and as the other model's target. In the joint step this halves
/// the softmaxes over `[tokens, vocab]` against computing them per term.
pub struct Tempered {
    logits: Tensor,
    /// log_softmax(logits/T) and its exp, without autograd (targets, and the written-out gradient).
    log_p: Tensor,
    p: Tensor,
    /// The same log-probabilities with autograd: only where a term differentiates through a
    /// distribution (detach off: the target side; symmetric modes: the reverse KL).
    graph: Option<Tensor>,
}

/// The losses of one joint step (teacher and students on the teacher's batch), with each model's
/// task loss for metrics.
pub struct JointLosses {
    /// task + α·Σ_i λ_i·KL(p_{s_i}‖p_t) (+ reverse when symmetric): [`LotLoss::teacher_loss`].
    pub teacher: Tensor,
    pub teacher_task: Tensor,
    /// Each student's [`LotLoss::student_loss`] towards the teacher.
    pub students: Vec<Tensor>,
    pub student_tasks: Vec<Tensor>,
}

impl JointLosses {
    /// teacher + Σ students: with detach the losses are independent, so one backward of the sum
    /// gives each model its own gradient.
    pub fn total(&self) -> Tensor {
        let mut total = self.teacher.shallow_clone();
        for s in &self.students {
            total = total + s;
        }
        total
    }
}

/// KL(q ‖ softmax(logits/T))·T² (batchmean) towards a fixed target q, with its gradient written out
/// instead of differentiated through the elementwise ops: ∂/∂logits = T·(softmax(logits/T) − q)/B.
/// The returned tensor has the KL's value (computed without autograd) and, through a dot product
/// with the logits, exactly that gradient. On a language model's `[tokens, vocab]` logits this
/// replaces the graph's sub/mul/sum and their backward (expand, mul, neg, log-softmax backward,
/// div) by one subtraction and one scale. Checked against autograd in the engine tests.
fn kl_to_fixed_target(me: &Tempered, log_q: &Tensor, q: &Tensor, temp: f64) -> Tensor {
    let b = me.logits.size()[0].max(1) as f64;
    let (value, grad) = tch::no_grad(|| {
        let value = q.reshape([-1]).dot(&(log_q - &me.log_p).reshape([-1])) * (temp * temp / b);
        let mut grad = &me.p - q;
        grad *= temp / b;
        (value, grad)
    });
    let linear = me.logits.to_kind(Kind::Float).reshape([-1]).dot(&grad.reshape([-1]));
    // value + (x − x): the KL's value exactly (0 for finite x; NaN logits still give NaN), gradient `grad`.
    value + (&linear - linear.detach())
}

/// `w_ce`·CE(logits, labels) (mean over rows) + Σ_j c_j·KL(q_j ‖ softmax(logits/T))·T² (batchmean)
/// towards fixed targets q_j, as one loss with its whole gradient written out:
/// w_ce·(softmax(z) − onehot(y))/B + Σ_j c_j·T·(softmax(z/T) − q_j)/B. Returns the loss (value
/// computed without autograd, gradient through one dot product with the logits, as
/// [`kl_to_fixed_target`]) and the cross-entropy's value (no graph) for metrics. Against autograd
/// over log-softmax + NLL + the KL this saves the NLL backward's zero fill, the log-softmax
/// backward and one gradient accumulation per model per step (the LM's `[tokens, vocab]` logits).
fn ce_and_kl_written_out(me: &Tempered, labels: &Tensor, w_ce: f64, targets: &[(f64, &Tempered)], temp: f64) -> (Tensor, Tensor) {
    let b = me.logits.size()[0].max(1) as f64;
    let (value, ce, grad) = tch::no_grad(|| {
        let mut log_p1 = me.logits.log_softmax(-1, Kind::Float);
        let labels = labels.view([-1, 1]);
        let ce = -log_p1.gather(1, &labels, false).mean(Kind::Float);
        let mut value = &ce * w_ce;
        // softmax(z) − onehot(y), reusing the log-softmax's buffer.
        let mut grad = log_p1.exp_();
        let _ = grad.scatter_add_(1, &labels, &Tensor::full([labels.size()[0], 1], -1.0, (Kind::Float, grad.device())));
        grad *= w_ce / b;
        for (c, q) in targets {
            value = value + q.p.reshape([-1]).dot(&(&q.log_p - &me.log_p).reshape([-1])) * (c * temp * temp / b);
            grad += (&me.p - &q.p) * (c * temp / b);
        }
        (value, ce, grad)
    });
    let linear = me.logits.to_kind(Kind::Float).reshape([-1]).dot(&grad.reshape([-1]));
    (value + (&linear - linear.detach()), ce)
}

impl LotLoss {
    /// A model's tempered distribution for this loss's temperature and detach rule.
    pub fn tempered(&self, logits: &Tensor) -> Tempered {
        let temp = self.temperature;
        let graph = (!self.detach || self.mode.symmetric()).then(|| tempered_log_probs(logits, temp));
        let log_p = match &graph {
            Some(g) => g.detach(),
            None => tch::no_grad(|| tempered_log_probs(logits, temp)),
        };
        let p = log_p.exp();
        Tempered { logits: logits.shallow_clone(), log_p, p, graph }
    }

    /// Imitation term of model `me` towards `other`: KL(p_other‖p_me), plus KL(p_me‖p_other) when symmetric.
    fn imitation_tempered(&self, me: &Tempered, other: &Tempered) -> Tensor {
        let temp = self.temperature;
        let forward = if self.detach {
            kl_to_fixed_target(me, &other.log_p, &other.p, temp)
        } else {
            // Without detach the gradient also flows into the other model: the plain graph.
            kl_log_probs(me.graph.as_ref().unwrap(), other.graph.as_ref().unwrap(), temp)
        };
        if self.mode.symmetric() {
            // KL(p_me‖p_other): differentiated through p_me itself (the target side), by autograd.
            let other_lp = if self.detach { other.log_p.shallow_clone() } else { other.graph.as_ref().unwrap().shallow_clone() };
            forward + kl_log_probs(&other_lp, me.graph.as_ref().unwrap(), temp)
        } else {
            forward
        }
    }

    fn teacher_regularizer_tempered(&self, teacher_logits: &Tensor, teacher: &Tempered, students: &[Tempered]) -> Tensor {
        if students.is_empty() {
            return Tensor::zeros([], (Kind::Float, teacher_logits.device()));
        }
        let lambda = 1.0 / students.len() as f64;
        let mut total = self.imitation_tempered(teacher, &students[0]) * lambda;
        for s in &students[1..] {
            total = total + self.imitation_tempered(teacher, s) * lambda;
        }
        total
    }

    fn student_loss_tempered(&self, task: &Tensor, student: &Tempered, teacher: &Tempered) -> Tensor {
        let imitation = self.imitation_tempered(student, teacher);
        if self.mode.student_uses_task() {
            task + imitation * self.alpha
        } else {
            imitation
        }
    }

    /// [`Self::teacher_loss`] computed as the engine does (each KL towards a fixed target with its
    /// gradient written out): the same value up to rounding, the same gradient.
    pub fn teacher_loss_fused(&self, task: &Tensor, teacher: &Tensor, students: &[Tensor], alpha: f64) -> Tensor {
        if alpha == 0.0 || students.is_empty() {
            return task.shallow_clone();
        }
        let students: Vec<Tempered> = students.iter().map(|s| self.tempered(s)).collect();
        task + self.teacher_regularizer_tempered(teacher, &self.tempered(teacher), &students) * alpha
    }

    /// [`Self::student_loss`] computed as the engine does: the same value up to rounding.
    pub fn student_loss_fused(&self, task: &Tensor, student: &Tensor, teacher: &Tensor) -> Tensor {
        self.student_loss_tempered(task, &self.tempered(student), &self.tempered(teacher))
    }

    /// Whether the written-out cross-entropy + KL losses apply: targets detached (the reference's
    /// setting) and only forward KL terms (the symmetric modes' reverse KL differentiates through
    /// the model's own distribution as a target, left to autograd).
    pub fn written_out(&self) -> bool {
        self.detach && !self.mode.symmetric()
    }

    /// The joint step's losses when the task loss is cross-entropy against `labels` (see
    /// [`LotModels::forward_ce`](super::LotModels::forward_ce)), with [`Self::written_out`]:
    /// each loss the same value as `teacher_loss` / `student_loss` with `task` = that model's CE,
    /// and its gradient written out. The task losses are values without a graph.
    pub fn joint_losses_ce(&self, t_logits: &Tensor, s_logits: &[Tensor], labels: &Tensor, alpha: f64) -> JointLosses {
        debug_assert!(self.written_out());
        let teacher = self.tempered(t_logits);
        let students: Vec<Tempered> = s_logits.iter().map(|s| self.tempered(s)).collect();
        let lambda = 1.0 / students.len().max(1) as f64;
        let t_targets: Vec<(f64, &Tempered)> =
            if alpha == 0.0 { Vec::new() } else { students.iter().map(|s| (alpha * lambda, s)).collect() };
        let (teacher_loss, teacher_task) = ce_and_kl_written_out(&teacher, labels, 1.0, &t_targets, self.temperature);
        let (mut losses, mut tasks) = (Vec::new(), Vec::new());
        for s in &students {
            let (l, ce) = self.student_ce_written_out(s, labels, &teacher);
            losses.push(l);
            tasks.push(ce);
        }
        JointLosses { teacher: teacher_loss, teacher_task, students: losses, student_tasks: tasks }
    }

    /// A student's loss towards the teacher's tempered distribution with the task loss being
    /// cross-entropy against `labels` ([`Self::written_out`] only): (loss, CE value).
    pub fn student_loss_ce(&self, s_logits: &Tensor, labels: &Tensor, teacher: &Tempered) -> (Tensor, Tensor) {
        debug_assert!(self.written_out());
        self.student_ce_written_out(&self.tempered(s_logits), labels, teacher)
    }

    fn student_ce_written_out(&self, s: &Tempered, labels: &Tensor, teacher: &Tempered) -> (Tensor, Tensor) {
        // kl_ce: CE + α·KL; kl: KL alone (the CE is still reported).
        let (w_ce, c) = if self.mode.student_uses_task() { (1.0, self.alpha) } else { (0.0, 1.0) };
        ce_and_kl_written_out(s, labels, w_ce, &[(c, teacher)], self.temperature)
    }

    /// The joint step's losses for any task loss, each model's tempered log-probabilities computed
    /// once: `teacher_loss_fused(t_task, t, s, alpha)` and each `student_loss_fused(s_task_i, s_i, t)`,
    /// bit for bit.
    pub fn joint_losses(&self, t_task: &Tensor, t_logits: &Tensor, s_tasks: &[Tensor], s_logits: &[Tensor], alpha: f64) -> JointLosses {
        let tasks = |teacher: Tensor, students: Vec<Tensor>| JointLosses {
            teacher,
            teacher_task: t_task.shallow_clone(),
            students,
            student_tasks: s_tasks.iter().map(|task| task.shallow_clone()).collect(),
        };
        if s_logits.is_empty() {
            return tasks(t_task.shallow_clone(), Vec::new());
        }
        let teacher = self.tempered(t_logits);
        let students: Vec<Tempered> = s_logits.iter().map(|s| self.tempered(s)).collect();
        let teacher_loss = if alpha == 0.0 {
            t_task.shallow_clone()
        } else {
            t_task + self.teacher_regularizer_tempered(t_logits, &teacher, &students) * alpha
        };
        let student_losses = students.iter().zip(s_tasks).map(|(s, task)| self.student_loss_tempered(task, s, &teacher)).collect();
        tasks(teacher_loss, student_losses)
    }
}
