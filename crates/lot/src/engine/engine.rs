//! The LoT engine, i.e. the step schedule (docs/algorithm.md, "Step schedule"): per teacher
//! update, one joint step in which the teacher and every student learn on the teacher's batch,
//! then N−1 extra student steps on batches from an independent stream, with the teacher's logits
//! for those computed without a graph.

use anyhow::{bail, Result};
use tch::Tensor;

use super::fused::JointLosses;
use super::loss::LotLoss;
use crate::optim::{clip_grad_norm, Optimizer};

/// Which data stream a forward pass belongs to. Recurrent models keep one hidden state per
/// (model, stream), so the student stream never disturbs the teacher stream's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Teacher,
    Student,
}

/// A domain's models seen by the engine: model 0 is the teacher, 1..=K the students.
pub trait LotModels {
    type Batch;
    /// Diagnostics of a forward pass beyond its task loss (RL: the PPO loss's `PpoStats`; `()`
    /// for domains without any). The engine hands the teacher's back in [`JointOut::teacher_stats`].
    type Stats: Default;
    /// Forward model `m` in training mode. Returns logits flattened to `[rows, classes]`, the
    /// model's task loss on the batch (a scalar; domains without labels return zeros) and the
    /// forward's diagnostics (kept for the teacher's forward in a joint step, dropped otherwise).
    fn forward(&mut self, m: usize, batch: &Self::Batch, stream: Stream) -> (Tensor, Tensor, Self::Stats);

    /// For domains whose task loss is the mean cross-entropy of the logits against integer labels
    /// (vision, language models): the same forward pass without the task loss, returning the
    /// logits and those labels, so that the engine computes the task loss together with the KL
    /// terms (gradient written out, `LotLoss::written_out`); a joint step taking this path reports
    /// `Self::Stats::default()` as the teacher's diagnostics. `None` (the default, RL): the engine
    /// uses `forward`. Must not change any state when it returns `None`.
    fn forward_ce(&mut self, _m: usize, _batch: &Self::Batch, _stream: Stream) -> Option<(Tensor, Tensor)> {
        None
    }
}

/// Data parallelism: averages one model's gradients over the ranks before its optimizer steps
/// (and before clipping, as PyTorch DDP), so every rank takes the same step.
pub trait GradSync {
    /// Replace each (defined) gradient by its mean over the ranks.
    fn average(&mut self, grads: &[Tensor]) -> Result<()>;
}

/// Logits (detached), loss values and the teacher's forward diagnostics of a joint step, for
/// metrics. `S` is the domain's [`LotModels::Stats`].
#[derive(Debug)]
pub struct JointOut<S = ()> {
    pub teacher_logits: Tensor,
    pub student_logits: Vec<Tensor>,
    pub teacher_loss: f64,
    pub teacher_task: f64,
    pub student_losses: Vec<f64>,
    /// Each student's task loss on the teacher's batch (what its metrics report).
    pub student_tasks: Vec<f64>,
    /// What the teacher's `forward` returned besides logits and task loss (RL: the minibatch's PPO
    /// diagnostics); `S::default()` when the step took the `forward_ce` path.
    pub teacher_stats: S,
}

pub struct Engine {
    pub loss: LotLoss,
    /// α applied to the teacher now (the RL warm-up starts at 0); the loss config keeps the target α.
    pub teacher_alpha: f64,
    /// N: student updates per teacher update.
    pub student_steps: usize,
    /// Optimizers: index 0 teacher, then one per student.
    pub optims: Vec<Box<dyn Optimizer>>,
    /// Per-model gradient-norm clip.
    pub clip: Option<f64>,
    /// Gradient averaging over data-parallel ranks (None: one process).
    pub sync: Option<Box<dyn GradSync>>,
}

impl Engine {
    pub fn new(loss: LotLoss, student_steps: usize, optims: Vec<Box<dyn Optimizer>>, clip: Option<f64>) -> Self {
        Self { teacher_alpha: loss.alpha, loss, student_steps, optims, clip, sync: None }
    }

    pub fn num_students(&self) -> usize {
        self.optims.len() - 1
    }

    pub fn set_lr(&mut self, m: usize, lr: f64) {
        self.optims[m].set_lr(lr);
    }

    /// Every model's learning rate.
    pub fn set_lr_all(&mut self, lr: f64) {
        for o in &mut self.optims {
            o.set_lr(lr);
        }
    }

    fn clip_and_step(&mut self, models: impl Iterator<Item = usize>) -> Result<()> {
        for m in models {
            if let Some(sync) = self.sync.as_mut() {
                let grads: Vec<Tensor> = self.optims[m].params().iter().map(|(_, p)| p.grad()).collect();
                sync.average(&grads)?;
            }
            if let Some(max) = self.clip {
                clip_grad_norm(self.optims[m].params(), max);
            }
            self.optims[m].step();
        }
        Ok(())
    }

    /// One teacher update: forward every model on `batch`, their losses, one backward of the sum
    /// (with detach the losses are independent, so each model gets its own gradient), clip and
    /// step every optimizer. The teacher's forward diagnostics come back in `teacher_stats`.
    pub fn joint_step<D: LotModels>(&mut self, models: &mut D, batch: &D::Batch) -> Result<JointOut<D::Stats>> {
        for o in self.optims.iter_mut() {
            o.zero_grad();
        }
        let (t_logits, s_logits, teacher_stats, losses) = self.forward_and_losses(models, batch);
        let teacher_loss = losses.teacher.double_value(&[]);
        let student_losses: Vec<f64> = losses.students.iter().map(|s| s.double_value(&[])).collect();
        // Name the term that broke: the task loss itself, or the LoT term on top of it.
        let teacher_task = losses.teacher_task.double_value(&[]);
        let student_tasks: Vec<f64> = losses.student_tasks.iter().map(|task| task.double_value(&[])).collect();
        check_finite("teacher", "task loss", teacher_task)?;
        check_finite("teacher", "LoT regulariser (KL to the students)", teacher_loss)?;
        for (i, v) in student_losses.iter().enumerate() {
            check_finite(&format!("student{i}"), "task loss", student_tasks[i])?;
            check_finite(&format!("student{i}"), "imitation loss (KL to the teacher)", *v)?;
        }
        losses.total().f_backward()?;
        self.clip_and_step(0..=self.num_students())?;
        Ok(JointOut {
            teacher_logits: t_logits.detach(),
            student_logits: s_logits.iter().map(|l| l.detach()).collect(),
            teacher_loss,
            teacher_task,
            student_losses,
            student_tasks,
            teacher_stats,
        })
    }

    /// The joint step's forward passes (teacher, then each student, all on the teacher's batch and
    /// stream) and losses: (teacher logits, student logits, teacher diagnostics, losses).
    /// Cross-entropy domains with the reference's detached targets take `forward_ce`: task loss and
    /// KL terms computed together, gradients written out. Otherwise each model's own task loss and
    /// autograd.
    fn forward_and_losses<D: LotModels>(&self, models: &mut D, batch: &D::Batch) -> (Tensor, Vec<Tensor>, D::Stats, JointLosses) {
        let k = self.num_students();
        let fused = if self.loss.written_out() { models.forward_ce(0, batch, Stream::Teacher) } else { None };
        if let Some((t_logits, labels)) = fused {
            let s_logits: Vec<Tensor> = (0..k)
                .map(|i| models.forward_ce(1 + i, batch, Stream::Teacher).expect("forward_ce answers for every model or none").0)
                .collect();
            let losses = self.loss.joint_losses_ce(&t_logits, &s_logits, &labels, self.teacher_alpha);
            return (t_logits, s_logits, D::Stats::default(), losses);
        }
        let (t_logits, t_task, t_stats) = models.forward(0, batch, Stream::Teacher);
        let mut s_logits = Vec::with_capacity(k);
        let mut s_tasks = Vec::with_capacity(k);
        for i in 0..k {
            let (l, task, _) = models.forward(1 + i, batch, Stream::Teacher);
            s_logits.push(l);
            s_tasks.push(task);
        }
        let losses = self.loss.joint_losses(&t_task, &t_logits, &s_tasks, &s_logits, self.teacher_alpha);
        (t_logits, s_logits, t_stats, losses)
    }

    /// One extra student update on a batch of the student stream. The teacher runs in training
    /// mode (as the reference does: its normalisation statistics move) but builds no graph.
    pub fn student_step<D: LotModels>(&mut self, models: &mut D, batch: &D::Batch) -> Result<Vec<f64>> {
        if self.num_students() == 0 {
            return Ok(Vec::new());
        }
        // The teacher's logits only: its task loss would be thrown away.
        let t_logits = tch::no_grad(|| match models.forward_ce(0, batch, Stream::Student) {
            Some((l, _)) => l,
            None => models.forward(0, batch, Stream::Student).0,
        });
        self.student_step_with_targets(models, batch, &t_logits)
    }

    /// One student update towards teacher logits computed beforehand (RL computes them once per
    /// update for its whole observation cache, since the teacher is fixed during that phase).
    pub fn student_step_with_targets<D: LotModels>(
        &mut self,
        models: &mut D,
        batch: &D::Batch,
        teacher_logits: &Tensor,
    ) -> Result<Vec<f64>> {
        let k = self.num_students();
        for o in self.optims[1..].iter_mut() {
            o.zero_grad();
        }
        // The teacher's tempered distribution, once for all students (written-out path).
        let teacher = self.loss.written_out().then(|| self.loss.tempered(teacher_logits));
        let mut total: Option<Tensor> = None;
        let mut values = Vec::with_capacity(k);
        for i in 0..k {
            let fused = if teacher.is_some() { models.forward_ce(1 + i, batch, Stream::Student) } else { None };
            let (loss, task) = match (fused, &teacher) {
                (Some((l, labels)), Some(teacher)) => self.loss.student_loss_ce(&l, &labels, teacher),
                _ => {
                    let (l, task, _) = models.forward(1 + i, batch, Stream::Student);
                    (self.loss.student_loss_fused(&task, &l, teacher_logits), task)
                }
            };
            let v = loss.double_value(&[]);
            check_finite(&format!("student{i}"), "task loss (student stream)", task.double_value(&[]))?;
            check_finite(&format!("student{i}"), "imitation loss (student stream)", v)?;
            values.push(v);
            total = Some(match total {
                None => loss,
                Some(sum) => sum + loss,
            });
        }
        if let Some(total) = total {
            total.f_backward()?;
            self.clip_and_step(1..=k)?;
        }
        Ok(values)
    }

    /// The students' phase of a schedule in which the teacher is fixed for a while (RL: after the
    /// PPO phase, the students alone over a cache of observations): N = `student_steps` passes,
    /// `pass()` giving each pass's minibatches with the teacher's logits for them, one student step
    /// per minibatch. Returns (student steps, summed loss per student).
    pub fn student_passes<D: LotModels, I>(&mut self, models: &mut D, mut pass: impl FnMut() -> Result<I>) -> Result<(u64, Vec<f64>)>
    where
        I: Iterator<Item = (D::Batch, Tensor)>,
    {
        let mut sums = vec![0.0; self.num_students()];
        let mut steps = 0u64;
        if sums.is_empty() {
            return Ok((0, sums));
        }
        for _ in 0..self.student_steps {
            for (batch, targets) in pass()? {
                let losses = self.student_step_with_targets(models, &batch, &targets)?;
                for (s, l) in sums.iter_mut().zip(losses) {
                    *s += l;
                }
                steps += 1;
            }
        }
        Ok((steps, sums))
    }

    /// A full teacher update: the joint step plus N−1 student steps, pulling student batches from `next`.
    pub fn lot_step<D: LotModels>(
        &mut self,
        models: &mut D,
        batch: &D::Batch,
        mut next_student_batch: impl FnMut() -> Result<D::Batch>,
    ) -> Result<JointOut<D::Stats>> {
        let out = self.joint_step(models, batch)?;
        if self.num_students() > 0 {
            for _ in 1..self.student_steps {
                let b = next_student_batch()?;
                self.student_step(models, &b)?;
            }
        }
        Ok(out)
    }
}

fn check_finite(model: &str, term: &str, v: f64) -> Result<()> {
    if !v.is_finite() {
        bail!("non-finite loss {v} in the {model}'s {term}: stopping (lower the learning rate, or check the data)");
    }
    Ok(())
}
