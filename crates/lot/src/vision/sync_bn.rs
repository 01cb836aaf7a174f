//! Synchronized BatchNorm (`run.sync_bn` in data-parallel runs): in training mode every BatchNorm
//! normalises with the mean and variance of the *global* batch (all ranks' rows), as PyTorch's
//! `nn.SyncBatchNorm`, instead of each rank's own rows (DDP's default). Two differentiable sums
//! over ranks per layer (the channel sums, then the squared deviations from the global mean): their
//! backward sums the gradients over ranks, so the gradient is the single-process one for the global
//! batch. Evaluation mode uses the running statistics, which then agree on every rank.
//!
//! A collective that fails inside a forward cannot return an error through `ModuleT::forward_t`:
//! the first failure is kept ([`SyncBn::take_error`]), the layer passes its input through, later
//! layers skip their collectives, and the trainer turns the kept error into the run's error.

use std::sync::{Arc, Mutex};

use c10d_sys::ProcessGroup;
use tch::{nn, Kind, Tensor};

/// torch's BatchNorm2d defaults, which every lot ResNet uses.
const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// The process group the statistics are summed over, and the first failure.
pub struct SyncBn {
    pg: Arc<ProcessGroup>,
    error: Mutex<Option<String>>,
}

impl std::fmt::Debug for SyncBn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyncBn(rank {} of {})", self.pg.rank(), self.pg.world_size())
    }
}

impl SyncBn {
    pub fn new(pg: Arc<ProcessGroup>) -> Arc<Self> {
        Arc::new(Self { pg, error: Mutex::new(None) })
    }

    /// The first collective failure since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn failed(&self) -> bool {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn sum(&self, t: &Tensor) -> Option<Tensor> {
        if self.failed() {
            return None;
        }
        match self.pg.all_reduce_sum_differentiable(t) {
            Ok(s) => Some(s),
            Err(e) => {
                *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("synchronized BatchNorm: {e}"));
                None
            }
        }
    }

    /// BatchNorm2d in training mode over every rank's batch: normalise `x` ([N, C, H, W], any
    /// float kind and memory format; the statistics in fp32) and move `bn`'s running statistics.
    pub fn forward(&self, bn: &nn::BatchNorm, x: &Tensor) -> Tensor {
        let c = x.size()[1];
        let xf = x.to_kind(Kind::Float);
        let dims: &[i64] = &[0, 2, 3];
        let local_n = (x.numel() as i64 / c.max(1)) as f64;
        // Pass 1: the global count and channel sums (the count rides along, so ranks may differ).
        let ones = Tensor::full([1], local_n, (Kind::Float, x.device()));
        let Some(s1) = self.sum(&Tensor::cat(&[xf.sum_dim_intlist(dims, false, Kind::Float), ones], 0)) else {
            return x.shallow_clone();
        };
        let n = s1.narrow(0, c, 1).detach().double_value(&[0]);
        let mean = s1.narrow(0, 0, c) / n;
        // Pass 2: the biased variance from deviations to the global mean (two passes, as accurate
        // as libtorch's own statistics, unlike E[x²] − E[x]²).
        let dev = &xf - mean.view([1, c, 1, 1]);
        let Some(s2) = self.sum(&dev.square().sum_dim_intlist(dims, false, Kind::Float)) else {
            return x.shallow_clone();
        };
        let var = s2 / n;
        let inv_std = (&var + EPS).rsqrt();
        let scale = match &bn.ws {
            Some(w) => inv_std * w,
            None => inv_std,
        };
        let mut y = dev * scale.view([1, c, 1, 1]);
        if let Some(b) = &bn.bs {
            y += b.view([1, c, 1, 1]);
        }
        tch::no_grad(|| {
            // Running variance unbiased over the global batch, as BatchNorm's.
            let unbiased = var.detach() * (n / (n - 1.0).max(1.0));
            let _ = bn.running_mean.shallow_clone().g_mul_scalar_(1.0 - MOMENTUM).g_add_(&(mean.detach() * MOMENTUM));
            let _ = bn.running_var.shallow_clone().g_mul_scalar_(1.0 - MOMENTUM).g_add_(&(unbiased * MOMENTUM));
        });
        if x.kind() == Kind::Float {
            y
        } else {
            y.to_kind(x.kind())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tch::{nn::ModuleT, Device};

    fn bn(vs: &nn::VarStore, name: &str) -> nn::BatchNorm {
        let b = nn::batch_norm2d(vs.root() / name, 3, Default::default());
        tch::no_grad(|| {
            b.ws.as_ref().unwrap().shallow_clone().copy_(&Tensor::from_slice(&[0.5f32, 1.5, -2.0]));
            b.bs.as_ref().unwrap().shallow_clone().copy_(&Tensor::from_slice(&[0.1f32, -0.3, 0.7]));
        });
        b
    }

    /// On one rank the synchronized layer is libtorch's batch_norm: output, the input's and the
    /// affine parameters' gradients, and the running statistics.
    #[test]
    fn one_rank_is_torch_batch_norm() {
        let port = c10d_sys::free_port().unwrap();
        let pg = ProcessGroup::gloo("127.0.0.1", port, 0, 1, Duration::from_secs(20)).unwrap();
        let sync = SyncBn::new(Arc::new(pg));
        let vs = nn::VarStore::new(Device::Cpu);
        let (a, b) = (bn(&vs, "a"), bn(&vs, "b"));
        tch::manual_seed(3);
        let x = (Tensor::randn([4, 3, 5, 5], (Kind::Float, Device::Cpu)) * 3.0 + 1.0).set_requires_grad(true);
        let g = Tensor::randn([4, 3, 5, 5], (Kind::Float, Device::Cpu));
        let x2 = x.detach().copy().set_requires_grad(true);
        let (ya, yb) = (a.forward_t(&x, true), sync.forward(&b, &x2));
        (&ya * &g).sum(Kind::Float).backward();
        (&yb * &g).sum(Kind::Float).backward();
        let close = |p: &Tensor, q: &Tensor, what: &str| {
            let d = (p - q).abs().max().double_value(&[]);
            assert!(d < 1e-5, "{what}: {d}");
        };
        close(&ya, &yb, "output");
        close(&x.grad(), &x2.grad(), "input gradient");
        close(&a.ws.as_ref().unwrap().grad(), &b.ws.as_ref().unwrap().grad(), "weight gradient");
        close(&a.bs.as_ref().unwrap().grad(), &b.bs.as_ref().unwrap().grad(), "bias gradient");
        close(&a.running_mean, &b.running_mean, "running mean");
        close(&a.running_var, &b.running_var, "running variance");
        assert!(sync.take_error().is_none());
    }
}
