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
    let grads: Vec<Tensor> = params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
    if grads.is_empty() {
        return 0.0;
    }
    // torch's way: the norm of the per-tensor norms, one host read for the whole model
    let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
    let norm = Tensor::stack(&norms, 0).norm().double_value(&[]);
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// Gradients [3, 4] and [12]: global norm √(9 + 16 + 144) = 13.
    fn with_grads() -> Vec<(String, Tensor)> {
        let a = Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let b = Tensor::zeros([1], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
        let loss = (&a * Tensor::from_slice(&[3.0f32, 4.0])).sum(Kind::Float) + (&b * 12.0).sum(Kind::Float);
        loss.backward();
        vec![("a".into(), a), ("b".into(), b)]
    }

    fn grads(p: &[(String, Tensor)]) -> Vec<f32> {
        p.iter().flat_map(|(_, t)| Vec::<f32>::try_from(t.grad()).unwrap()).collect()
    }

    #[test]
    fn clip_grad_norm_scales_to_the_bound_and_reports_the_norm_before() {
        let p = with_grads();
        let norm = clip_grad_norm(&p, 6.5);
        assert!((norm - 13.0).abs() < 1e-5, "{norm}");
        let c = (6.5 / (13.0 + 1e-6)) as f32;
        for (got, want) in grads(&p).iter().zip([3.0 * c, 4.0 * c, 12.0 * c]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // under the bound: untouched
        let p = with_grads();
        assert!((clip_grad_norm(&p, 20.0) - 13.0).abs() < 1e-5);
        assert_eq!(grads(&p), vec![3.0, 4.0, 12.0]);
    }
}
