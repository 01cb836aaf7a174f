//! The run's device(s): `run.threads`, `run.device` (a data-parallel rank's own GPU), `run.devices`.


use anyhow::Result;
use tch::Device;

use crate::config::Config;

/// The run's device, after `run.threads` is applied; CUDA must be there if asked for. In a
/// data-parallel run, `run.device = "cuda"` means the rank's own GPU: cuda:LOCAL_RANK (modulo the
/// GPUs there are, so ranks share GPUs when there are fewer).
pub fn device(cfg: &Config) -> Result<Device> {
    if cfg.run.threads > 0 {
        tch::set_num_threads(cfg.run.threads as i32);
    }
    if !cfg.run.devices.is_empty() {
        return Ok(model_devices(cfg, 1)?[0]);
    }
    let mut d = cfg.device()?;
    if cfg.run.device == "cuda" {
        if let Some(local) = std::env::var("LOCAL_RANK").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
            d = Device::Cuda(local % tch::Cuda::device_count().max(1) as usize);
        }
    }
    if let Device::Cuda(_) = d {
        if !tch::Cuda::is_available() {
            crate::bail_input!("key 'run.device': CUDA requested but not available to libtorch on this machine");
        }
    }
    Ok(d)
}

/// Each of `models` models' device (`run.devices`, see [`Config::model_devices`]), every CUDA
/// device checked to exist. The first is [`device`]'s.
pub fn model_devices(cfg: &Config, models: usize) -> Result<Vec<Device>> {
    if cfg.run.devices.is_empty() {
        return Ok(vec![device(cfg)?; models]);
    }
    let gpus = if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
    // Every listed device, used or not (a list longer than the models is still a claim about this machine).
    for d in cfg.model_devices(cfg.run.devices.len())? {
        if let Device::Cuda(i) = d {
            if i >= gpus {
                crate::bail_input!("key 'run.devices': cuda:{i} is not on this machine (libtorch sees {gpus} CUDA device(s))");
            }
        }
    }
    cfg.model_devices(models)
}
