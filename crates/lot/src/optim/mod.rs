//! Optimizers and learning-rate schedules, written here (not tch's C++ wrappers) so that their
//! state is plain named tensors we can checkpoint and test against hand computations.

pub mod adam;
pub mod schedule;
pub mod sgd;

pub use adam::{Adam, AdamConfig};
pub use schedule::cosine_lr;
pub use sgd::{Sgd, SgdConfig};

use tch::nn::VarStore;
use tch::Tensor;

/// Trainable parameters of a var store, sorted by name so every run sees the same order.
pub fn named_trainable(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> =
        vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Rescale gradients so that their global L2 norm is at most `max_norm` (torch's clip_grad_norm_).
/// Returns the norm before clipping.
pub fn clip_grad_norm(params: &[(String, Tensor)], max_norm: f64) -> f64 {
    let _guard = tch::no_grad_guard();
    let mut sq = 0.0;
    let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
    for g in &grads {
        sq += g.square().sum(tch::Kind::Double).double_value(&[]);
    }
    let norm = sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        for mut g in grads {
            let _ = g.g_mul_scalar_(coef);
        }
    }
    norm
}

/// What the engine needs from an optimizer; SGD now, Adam for the language and RL trainers.
pub trait Optimizer: Send {
    fn zero_grad(&mut self);
    fn step(&mut self);
    fn set_lr(&mut self, lr: f64);
    fn lr(&self) -> f64;
    /// Optimizer steps taken so far.
    fn steps(&self) -> u64;
    fn params(&self) -> &[(String, Tensor)];
    /// Internal state (momentum buffers, moments) by name, for checkpoints.
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restore what `state` returned, and the step count.
    fn load_state(&mut self, state: &[(String, Tensor)], steps: u64);
}

/// Find `prefix.name` in saved state: a copy to own (the checkpoint's tensors are shared).
pub(crate) fn saved(state: &[(String, Tensor)], key: &str) -> Option<Tensor> {
    state.iter().find(|(n, _)| n == key).map(|(_, t)| t.copy())
}

impl Optimizer for Sgd {
    fn zero_grad(&mut self) {
        Sgd::zero_grad(self)
    }
    fn step(&mut self) {
        Sgd::step(self)
    }
    fn set_lr(&mut self, lr: f64) {
        Sgd::set_lr(self, lr)
    }
    fn lr(&self) -> f64 {
        self.config.lr
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn params(&self) -> &[(String, Tensor)] {
        Sgd::params(self)
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        Sgd::state(self)
    }
    fn load_state(&mut self, state: &[(String, Tensor)], steps: u64) {
        Sgd::load_state(self, state, steps)
    }
}
