//! Data parallelism over c10d (the engine behind torch.distributed): the standard launcher
//! variables, the process group a trainer joins (Gloo, or NCCL for CUDA in `cuda` builds), gradient
//! averaging for the engine ([`GradSync`]) in one flat bucket per model, the start-of-run broadcast
//! of rank 0's weights, and the small collectives trainers need (sums, "any rank interrupted").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
pub use c10d_sys::free_port;
use c10d_sys::ProcessGroup;
use tch::{nn, Device, Kind, Tensor};

use crate::bail_input;
use crate::config::{Config, DistBackend};
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

    /// Join the group these variables describe (NCCL with `nccl`, else Gloo). Failing to (the
    /// master unreachable, a rank missing) within `timeout` is an input error: the launch
    /// variables are wrong.
    pub fn join(&self, timeout: Duration, nccl: bool) -> Result<ProcessGroup> {
        let join = if nccl { ProcessGroup::nccl } else { ProcessGroup::gloo };
        join(&self.master_addr, self.master_port, self.rank, self.world_size, timeout).map_err(|e| {
            crate::error::input_err(format!(
                "rank {} of {}: cannot join the process group at {}:{} within {} s (MASTER_ADDR/MASTER_PORT, and are all ranks started?): {e}",
                self.rank,
                self.world_size,
                self.master_addr,
                self.master_port,
                timeout.as_secs()
            ))
        })
    }
}

/// A data-parallel run's process group as a trainer sees it: who it is, the collectives it needs
/// beyond gradient averaging, and the seconds spent in gradient all-reduces.
pub struct Dist {
    pub pg: Arc<ProcessGroup>,
    pub rank: usize,
    pub world: usize,
    /// Where [`Self::sum`]'s host numbers travel: NCCL only reduces CUDA tensors, Gloo host ones.
    collective_device: Device,
    sync_ns: Arc<AtomicU64>,
}

impl Dist {
    /// Join the group the launch variables describe, with the run's `run.dist_backend` and
    /// `run.dist_timeout_s`, for models on `device`; `None` for a single process.
    pub fn for_run(cfg: &Config, device: Device) -> Result<Option<Self>> {
        let Some(env) = LaunchEnv::from_env()? else { return Ok(None) };
        if !cfg.run.devices.is_empty() {
            crate::bail_input!("key 'run.devices': places one process's models; in a data-parallel run each rank has one device (run.device)");
        }
        let nccl = use_nccl(cfg.run.dist_backend, device)?;
        let pg = env.join(Duration::from_secs(cfg.run.dist_timeout_s), nccl)?;
        let collective_device = if nccl { device } else { Device::Cpu };
        Ok(Some(Self { pg: Arc::new(pg), rank: env.rank, world: env.world_size, collective_device, sync_ns: Arc::default() }))
    }

    /// Rank 0 writes the run folder; the others only compute.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    /// The engine's gradient averaging over this group (its time is counted in [`Self::sync_s`]).
    pub fn grad_sync(&self) -> Box<dyn GradSync> {
        Box::new(DataParallel { pg: self.pg.clone(), ns: self.sync_ns.clone() })
    }

    /// Seconds this rank spent averaging gradients.
    pub fn sync_s(&self) -> f64 {
        self.sync_ns.load(Ordering::Relaxed) as f64 * 1e-9
    }

    /// Element-wise sums over ranks (metric counters), in f64.
    pub fn sum(&self, values: &[f64]) -> Result<Vec<f64>> {
        let mut t = Tensor::from_slice(values).to_device(self.collective_device);
        self.pg.all_reduce_sum(&mut t)?;
        Ok(Vec::<f64>::try_from(t.to_device(Device::Cpu))?)
    }

    /// `dist.json` (rank 0): world size, batches, this process's training throughput in `unit`s
    /// ("images", "tokens") per second over its `steps` teacher steps of `samples_per_step`
    /// (global) each, and the share of the time rank 0 spent averaging gradients.
    pub fn write_report(&self, out: &std::path::Path, per_rank_batch: usize, samples_per_step: f64, unit: &str, steps: u64, loop_s: f64) -> Result<()> {
        let mut report = serde_json::json!({
            "world_size": self.world,
            "per_rank_batch": per_rank_batch,
            "global_batch": per_rank_batch * self.world,
            "teacher_steps": steps,
            "train_s": loop_s,
            "allreduce_s": self.sync_s(),
            "allreduce_share": self.sync_s() / loop_s.max(1e-9),
        });
        report[format!("teacher_{unit}_per_s")] = serde_json::json!(steps as f64 * samples_per_step / loop_s.max(1e-9));
        crate::fsio::write_atomic(&out.join("dist.json"), serde_json::to_string_pretty(&report)?.as_bytes())
    }

    /// Every rank's `values` (the same length on each), rank by rank, gathered exactly: each rank
    /// fills its own slot of zeros and the slots are summed (x + 0 = x).
    pub fn gather(&self, values: &[f64]) -> Result<Vec<Vec<f64>>> {
        let n = values.len();
        let mut slots = vec![0.0; self.world * n];
        slots[self.rank * n..(self.rank + 1) * n].copy_from_slice(values);
        let all = self.sum(&slots)?;
        Ok(all.chunks(n.max(1)).map(<[f64]>::to_vec).collect())
    }

    /// Every rank's resume state — a JSON value and tensors of the same names, shapes and kinds on
    /// every rank — gathered exactly, rank by rank (bytes and f32/i64 values are exact in f64),
    /// for rank 0's checkpoint.
    pub fn gather_state(&self, meta: &serde_json::Value, tensors: &[(String, Tensor)]) -> Result<Vec<(serde_json::Value, Vec<(String, Tensor)>)>> {
        let bytes = serde_json::to_vec(meta)?;
        let lens = self.gather(&[bytes.len() as f64])?;
        let max = lens.iter().map(|l| l[0] as usize).max().unwrap_or(0);
        let mut padded: Vec<f64> = bytes.iter().map(|&b| b as f64).collect();
        padded.resize(max, 0.0);
        let metas = self
            .gather(&padded)?
            .into_iter()
            .zip(&lens)
            .map(|(b, l)| serde_json::from_slice(&b[..l[0] as usize].iter().map(|&x| x as u8).collect::<Vec<u8>>()))
            .collect::<Result<Vec<serde_json::Value>, _>>()?;
        let mut out: Vec<(serde_json::Value, Vec<(String, Tensor)>)> = metas.into_iter().map(|m| (m, Vec::new())).collect();
        for (name, t) in tensors {
            let flat = Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?;
            for (r, values) in self.gather(&flat)?.into_iter().enumerate() {
                let back = Tensor::from_slice(&values).view(t.size().as_slice()).to_kind(t.kind()).to_device(t.device());
                out[r].1.push((name.clone(), back));
            }
        }
        Ok(out)
    }

    /// Whether any rank says yes (e.g. saw Ctrl-C), so all stop at the same step.
    pub fn any(&self, flag: bool) -> Result<bool> {
        Ok(self.sum(&[flag as u8 as f64])?[0] > 0.0)
    }
}

/// Whether `run.dist_backend` means NCCL for models on `device`: `auto` takes NCCL for CUDA
/// when this build has it (the `cuda` feature), Gloo otherwise.
pub fn use_nccl(backend: DistBackend, device: Device) -> Result<bool> {
    Ok(match backend {
        DistBackend::Gloo => false,
        DistBackend::Auto => device.is_cuda() && c10d_sys::NCCL_BUILT,
        DistBackend::Nccl if !c10d_sys::NCCL_BUILT => {
            crate::bail_input!("key 'run.dist_backend': nccl, but this lot was built without NCCL (cargo feature `cuda`, see scripts/gpu-bundle.sh)")
        }
        DistBackend::Nccl => true,
    })
}

/// Rank `rank`'s part of a global batch of `len` samples among `world` ranks: `per` positions
/// starting at `start`, where positions ≥ `len` wrap to the batch's start (DistributedSampler's
/// padding, so every rank has the same number of rows and none is empty).
pub fn shard(len: usize, rank: usize, world: usize) -> (usize, usize) {
    let per = len.div_ceil(world).max(1);
    (rank * per, per)
}

/// The engine's gradient averaging over a process group: each model's gradients are flattened into
/// one bucket, averaged with one all-reduce, and copied back.
pub struct DataParallel {
    pg: Arc<ProcessGroup>,
    ns: Arc<AtomicU64>,
}

impl DataParallel {
    pub fn new(pg: Arc<ProcessGroup>) -> Self {
        Self { pg, ns: Arc::default() }
    }
}

impl GradSync for DataParallel {
    fn average(&mut self, grads: &[Tensor]) -> Result<()> {
        let t0 = Instant::now();
        let r = self.average_now(grads);
        self.ns.fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
}

impl DataParallel {
    fn average_now(&mut self, grads: &[Tensor]) -> Result<()> {
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
    fn backend_choice() {
        assert!(!use_nccl(DistBackend::Auto, Device::Cpu).unwrap());
        assert!(!use_nccl(DistBackend::Gloo, Device::Cuda(0)).unwrap());
        assert_eq!(use_nccl(DistBackend::Auto, Device::Cuda(0)).unwrap(), c10d_sys::NCCL_BUILT);
        match use_nccl(DistBackend::Nccl, Device::Cuda(0)) {
            Ok(b) => assert!(b && c10d_sys::NCCL_BUILT),
            Err(e) => assert!(!c10d_sys::NCCL_BUILT && crate::error::is_input_error(&e) && e.to_string().contains("without NCCL"), "{e}"),
        }
    }

    #[test]
    fn shards_cover_the_batch_with_equal_parts() {
        // 10 over 3 ranks: 4 each, positions 0..12, the last two wrapping to samples 0 and 1.
        assert_eq!([shard(10, 0, 3), shard(10, 1, 3), shard(10, 2, 3)], [(0, 4), (4, 4), (8, 4)]);
        assert_eq!(shard(8, 1, 2), (4, 4));
        assert_eq!(shard(1, 1, 2), (1, 1)); // a 1-sample batch: rank 1 repeats it
        assert_eq!(shard(7, 0, 1), (0, 7));
    }

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
