//! Playing a trained policy: `episodes` full episodes, spread evenly over the vector env's
//! envs (each env plays its own quota, so short episodes are not over-represented).

use anyhow::Result;
use tch::{Device, Kind};

use super::agent::Agent;
use super::env::EpisodeStats;
use super::ppo::sample;
use super::rollout::obs_tensor;
use super::vec_env::VecEnv;

/// Mean and (population) standard deviation of the episodes' returns.
pub fn mean_std(eps: &[EpisodeStats]) -> (f64, f64) {
    let n = eps.len().max(1) as f64;
    let mean = eps.iter().map(|e| e.ret).sum::<f64>() / n;
    let var = eps.iter().map(|e| (e.ret - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Play `episodes` episodes with `agent`, sampling actions (cleanRL's evaluation) or, when
/// `greedy`, taking the most likely one. Returns them in the order they finished.
pub fn play(agent: &Agent, envs: &mut VecEnv, episodes: usize, greedy: bool, device: Device) -> Result<Vec<EpisodeStats>> {
    let n = envs.num_envs();
    let mut quota: Vec<usize> = (0..n).map(|i| episodes / n + usize::from(i < episodes % n)).collect();
    let mut dims = vec![n as i64];
    dims.extend(envs.obs_shape().iter().map(|&d| d as i64));
    let kind = agent.kind.storage_kind();
    let mut out = Vec::with_capacity(episodes);
    let mut actions = vec![0usize; n];
    envs.drain_episodes().for_each(drop);
    while out.len() < episodes {
        let obs = obs_tensor(envs, &dims, kind, device);
        let a = tch::no_grad(|| {
            let logits = agent.logits(&obs);
            if greedy {
                logits.argmax(-1, false)
            } else {
                sample(&logits).0
            }
        });
        let a: Vec<i64> = Vec::try_from(a.to_kind(Kind::Int64).to_device(Device::Cpu))?;
        for (slot, v) in actions.iter_mut().zip(a) {
            *slot = v as usize;
        }
        envs.step(&actions)?;
        for (i, e) in envs.drain_episodes() {
            if quota[i] > 0 {
                quota[i] -= 1;
                out.push(e);
            }
        }
    }
    Ok(out)
}
