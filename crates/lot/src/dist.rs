//! Data parallelism over c10d (the engine behind torch.distributed): the standard launcher
//! variables, a Gloo process group, gradient averaging for the engine ([`GradSync`]) in one flat
//! bucket per model, and the start-of-run broadcast of every rank's weights from rank 0.

use anyhow::{Context, Result};
use c10d_sys::ProcessGroup;
use tch::{nn, Kind, Tensor};

use crate::bail_input;
use crate::engine::GradSync;

/// `RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT` as torchrun (or `lot launch`, or srun with
/// these set) gives them; `None` when `WORLD_SIZE` is unset (a single process).
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchEnv {
    pub rank: usize,
    pub world_size: usize,
    pub master_addr: String,
    pub master_port: u16,
}

impl LaunchEnv {
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The rule behind [`Self::from_env`], separate so tests need not touch the environment.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let Some(world) = get("WORLD_SIZE") else { return Ok(None) };
        let num = |k: &str, v: &str| -> Result<usize> {
            v.trim().parse().map_err(|_| crate::error::input_err(format!("environment variable {k}: '{v}' is not a number")))
        };
        let world_size = num("WORLD_SIZE", &world)?;
        let rank = num("RANK", &get("RANK").unwrap_or_else(|| "0".into()))?;
        if world_size == 0 || rank >= world_size {
            bail_input!("environment variables RANK={rank}, WORLD_SIZE={world_size}: the rank must be below the world size");
        }
        let master_addr = get("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = get("MASTER_PORT").unwrap_or_else(|| "29500".into());
        let master_port = port
            .trim()
            .parse()
            .map_err(|_| crate::error::input_err(format!("environment variable MASTER_PORT: '{port}' is not a port")))?;
        Ok(Some(Self { rank, world_size, master_addr, master_port }))
    }

    /// Join the Gloo group these variables describe.
    pub fn join(&self, timeout: std::time::Duration) -> Result<ProcessGroup> {
        ProcessGroup::gloo(&self.master_addr, self.master_port, self.rank, self.world_size, timeout)
            .with_context(|| format!("rank {} of {} joining {}:{}", self.rank, self.world_size, self.master_addr, self.master_port))
    }
}

/// The engine's gradient averaging over a process group: each model's gradients are flattened into
/// one bucket, averaged with one all-reduce, and copied back.
pub struct DataParallel {
    pg: std::sync::Arc<ProcessGroup>,
}

impl DataParallel {
    pub fn new(pg: std::sync::Arc<ProcessGroup>) -> Self {
        Self { pg }
    }
}

impl GradSync for DataParallel {
    fn average(&mut self, grads: &[Tensor]) -> Result<()> {
        let _g = tch::no_grad_guard();
        let defined: Vec<&Tensor> = grads.iter().filter(|g| g.defined()).collect();
        if defined.is_empty() {
            return Ok(());
        }
        let flat: Vec<Tensor> = defined.iter().map(|g| g.reshape([-1]).to_kind(Kind::Float)).collect();
        let mut bucket = Tensor::cat(&flat, 0);
        self.pg.all_reduce_mean(&mut bucket)?;
        let mut off = 0;
        for g in defined {
            let n = g.numel() as i64;
            g.shallow_clone().copy_(&bucket.narrow(0, off, n).view_as(g));
            off += n;
        }
        Ok(())
    }
}

/// Make every rank start from rank 0's weights (and buffers, such as BatchNorm statistics).
pub fn broadcast_weights(pg: &ProcessGroup, stores: &[nn::VarStore]) -> Result<()> {
    let _g = tch::no_grad_guard();
    for vs in stores {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in vars {
            let mut t = v.detach().contiguous();
            pg.broadcast(&mut t, 0).with_context(|| format!("broadcasting {name}"))?;
            v.shallow_clone().copy_(&t);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launch_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(LaunchEnv::from_vars(vars(&[])).unwrap(), None);
        let e = LaunchEnv::from_vars(vars(&[("WORLD_SIZE", "4"), ("RANK", "3"), ("MASTER_ADDR", "node1"), ("MASTER_PORT", "1234")])).unwrap().unwrap();
        assert_eq!(e, LaunchEnv { rank: 3, world_size: 4, master_addr: "node1".into(), master_port: 1234 });
        let d = LaunchEnv::from_vars(vars(&[("WORLD_SIZE", "2")])).unwrap().unwrap();
        assert_eq!((d.rank, d.master_addr.as_str(), d.master_port), (0, "127.0.0.1", 29500));
        let bad: [&'static [(&'static str, &'static str)]; 3] =
            [&[("WORLD_SIZE", "2"), ("RANK", "2")], &[("WORLD_SIZE", "x")], &[("WORLD_SIZE", "2"), ("MASTER_PORT", "99999")]];
        for bad in bad {
            let e = LaunchEnv::from_vars(vars(bad)).unwrap_err();
            assert!(crate::error::is_input_error(&e), "{e}");
        }
    }
}
