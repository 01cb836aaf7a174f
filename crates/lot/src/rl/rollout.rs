//! Rollout collection as cleanRL's loop does it: `num_steps` steps of every env with the teacher's
//! sampled actions, then GAE with the value of the observation after the last step.

use anyhow::Result;
use tch::{Device, Kind, Tensor};

use super::env::EpisodeStats;
use super::lot_ppo::{RlModels, Rollout};
use super::ppo::gae;
use super::vec_env::VecEnv;

pub struct RolloutBuffer {
    num_steps: usize,
    num_envs: usize,
    /// `[num_envs, obs...]` as i64 for tensor shapes.
    obs_dims: Vec<i64>,
    storage: Kind,
    device: Device,
    /// `[num_steps, num_envs, obs...]` on the device, in the storage kind.
    obs: Tensor,
    actions: Vec<i64>,
    logprobs: Vec<f32>,
    values: Vec<f32>,
    rewards: Vec<f32>,
    dones: Vec<f32>,
    /// Whether the current observation starts a new episode (cleanRL's `next_done`).
    next_done: Vec<f32>,
    action_buf: Vec<usize>,
}

impl RolloutBuffer {
    pub fn new(num_steps: usize, envs: &VecEnv, storage: Kind, device: Device) -> Self {
        let n = envs.num_envs();
        let mut obs_dims = vec![n as i64];
        obs_dims.extend(envs.obs_shape().iter().map(|&d| d as i64));
        let mut full = vec![num_steps as i64];
        full.extend(&obs_dims);
        let len = num_steps * n;
        Self {
            num_steps,
            num_envs: n,
            obs: Tensor::zeros(full.as_slice(), (storage, device)),
            obs_dims,
            storage,
            device,
            actions: vec![0; len],
            logprobs: vec![0.0; len],
            values: vec![0.0; len],
            rewards: vec![0.0; len],
            dones: vec![0.0; len],
            next_done: vec![0.0; n],
            action_buf: vec![0; n],
        }
    }

    /// What carries over from one rollout to the next (besides the envs): whether each env's
    /// current observation starts a new episode.
    pub fn next_done(&self) -> Vec<bool> {
        self.next_done.iter().map(|&d| d != 0.0).collect()
    }

    /// Restore what [`RolloutBuffer::next_done`] returned (resume).
    pub fn set_next_done(&mut self, done: &[bool]) -> Result<()> {
        if done.len() != self.num_envs {
            anyhow::bail!("saved rollout state has {} envs, this run {}", done.len(), self.num_envs);
        }
        for (d, &s) in self.next_done.iter_mut().zip(done) {
            *d = if s { 1.0 } else { 0.0 };
        }
        Ok(())
    }

    /// The vector env's current observations as a device tensor in the storage kind.
    pub fn obs_tensor(&self, envs: &VecEnv) -> Tensor {
        obs_tensor(envs, &self.obs_dims, self.storage, self.device)
    }

    /// Play `num_steps` steps with the teacher (model 0). `on_episode(step_index, stats)` gets every
    /// finished episode, with the index (0-based) of the rollout step at which it ended.
    pub fn collect(
        &mut self,
        envs: &mut VecEnv,
        models: &mut RlModels,
        gamma: f64,
        gae_lambda: f64,
        mut on_episode: impl FnMut(usize, EpisodeStats),
    ) -> Result<Rollout> {
        let n = self.num_envs;
        for step in 0..self.num_steps {
            let obs = self.obs_tensor(envs);
            self.obs.get(step as i64).copy_(&obs);
            let row = step * n..(step + 1) * n;
            self.dones[row.clone()].copy_from_slice(&self.next_done);
            let (a, lp, v) = models.act(0, &obs);
            // one device→host transfer for actions, log-probs and values
            let host: Vec<f32> = Vec::try_from(Tensor::stack(&[a.to_kind(Kind::Float), lp, v], 0).view([-1]).to_device(Device::Cpu))?;
            for (i, &a) in host[..n].iter().enumerate() {
                self.action_buf[i] = a as usize;
                self.actions[step * n + i] = a as i64;
            }
            self.logprobs[row.clone()].copy_from_slice(&host[n..2 * n]);
            self.values[row.clone()].copy_from_slice(&host[2 * n..3 * n]);
            envs.step(&self.action_buf)?;
            self.rewards[row].copy_from_slice(envs.rewards());
            for i in 0..n {
                // cleanRL: next_done = terminated or truncated (truncation is not bootstrapped)
                self.next_done[i] = if envs.done(i) { 1.0 } else { 0.0 };
            }
            for (_, e) in envs.drain_episodes() {
                on_episode(step, e);
            }
        }
        let next_value: Vec<f32> = Vec::try_from(models.value(0, &self.obs_tensor(envs)).to_device(Device::Cpu))?;
        let (adv, ret) = gae(&self.rewards, &self.values, &self.dones, &next_value, &self.next_done, gamma, gae_lambda);
        let d = self.device;
        let mut flat = vec![-1i64];
        flat.extend(&self.obs_dims[1..]);
        Ok(Rollout {
            obs: self.obs.view(flat.as_slice()),
            actions: Tensor::from_slice(&self.actions).to_device(d),
            logprobs: Tensor::from_slice(&self.logprobs).to_device(d),
            advantages: Tensor::from_slice(&adv).to_device(d),
            returns: Tensor::from_slice(&ret).to_device(d),
            values: Tensor::from_slice(&self.values).to_device(d),
        })
    }
}

/// Observations of a vector env as a `[num_envs, obs...]` tensor of `kind` on `device`.
pub fn obs_tensor(envs: &VecEnv, dims: &[i64], kind: Kind, device: Device) -> Tensor {
    let t = Tensor::from_slice(envs.obs()).view(dims);
    // Frames are whole numbers 0..255 (the Env contract), so the byte cast is exact.
    let t = if kind == Kind::Float { t } else { t.to_kind(kind) };
    t.to_device(device)
}
