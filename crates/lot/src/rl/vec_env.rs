//! M environments stepped together, with automatic reset on `done` (gym's vector-env semantics:
//! the observation returned for a finished env is the first one of its next episode).
//!
//! Envs are split into contiguous chunks, one per persistent worker thread; a step sends each
//! worker its chunk's actions and buffers through a channel and waits for them to come back.
//! The buffers travel back and forth, so the hot loop allocates nothing. For cheap envs
//! (classic control: well under a microsecond per step) a channel round trip costs more than
//! the whole step, so `threads = 0` (auto) steps them inline on the caller's thread.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{bail, Result};

use super::env::{Env, EpisodeStats, Step};

/// Auto mode steps inline when one reset of every env takes less than this (per env).
const INLINE_BELOW_S: f64 = 20e-6;

/// What a worker does with a job.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Step,
    /// Fill `states` with each env's `save_state`.
    Save,
    /// Restore each env from `states` (errors go to `error`).
    Restore,
}

/// One chunk's buffers, owned by whoever holds them (the caller or the worker).
struct Job {
    op: Op,
    actions: Vec<usize>,
    obs: Vec<f32>,
    steps: Vec<Step>,
    /// Env states for `Op::Save` / `Op::Restore` (empty while stepping).
    states: Vec<Option<Vec<u8>>>,
    error: Option<String>,
}

struct Worker {
    /// Index of the chunk's first env.
    start: usize,
    to_worker: Option<Sender<Job>>,
    from_worker: Receiver<Job>,
    job: Option<Job>,
    handle: Option<JoinHandle<()>>,
}

enum Backend {
    Inline { envs: Vec<Box<dyn Env>>, steps: Vec<Step> },
    Pool(Vec<Worker>),
}

pub struct VecEnv {
    num_envs: usize,
    obs_shape: Vec<usize>,
    obs_len: usize,
    num_actions: usize,
    obs: Vec<f32>,
    rewards: Vec<f32>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    /// Episodes finished since the last `drain_episodes`, as (env index, stats), in env order per step.
    episodes: Vec<(usize, EpisodeStats)>,
    backend: Backend,
}

/// Step every env of a chunk; an env that is done is reset, writing its new first observation.
fn step_chunk(envs: &mut [Box<dyn Env>], actions: &[usize], obs: &mut [f32], steps: &mut [Step], obs_len: usize) {
    for (i, env) in envs.iter_mut().enumerate() {
        let o = &mut obs[i * obs_len..(i + 1) * obs_len];
        let s = env.step(actions[i], o);
        if s.done() {
            env.reset(o);
        }
        steps[i] = s;
    }
}

impl VecEnv {
    /// Reset all envs and start `threads` workers (0 = auto, 1 = inline on the caller's thread).
    pub fn new(mut envs: Vec<Box<dyn Env>>, threads: usize) -> Result<Self> {
        let Some(first) = envs.first() else { bail!("a vector env needs at least one env") };
        let obs_shape = first.obs_shape();
        let num_actions = first.num_actions();
        if envs.iter().any(|e| e.obs_shape() != obs_shape || e.num_actions() != num_actions) {
            bail!("all envs of a vector env must have the same observation shape and action count");
        }
        let n = envs.len();
        let obs_len: usize = obs_shape.iter().product();
        let mut obs = vec![0f32; n * obs_len];
        let t0 = Instant::now();
        for (i, e) in envs.iter_mut().enumerate() {
            e.reset(&mut obs[i * obs_len..(i + 1) * obs_len]);
        }
        let per_env_s = t0.elapsed().as_secs_f64() / n as f64;
        let threads = match threads {
            0 if per_env_s < INLINE_BELOW_S => 1,
            0 => std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1),
            t => t,
        }
        .min(n);
        let backend = if threads <= 1 {
            Backend::Inline { envs, steps: vec![Step::default(); n] }
        } else {
            Backend::Pool(spawn_workers(envs, threads, obs_len)?)
        };
        Ok(Self {
            num_envs: n,
            obs_shape,
            obs_len,
            num_actions,
            obs,
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            episodes: Vec::new(),
            backend,
        })
    }

    pub fn num_envs(&self) -> usize {
        self.num_envs
    }
    pub fn obs_shape(&self) -> &[usize] {
        &self.obs_shape
    }
    pub fn num_actions(&self) -> usize {
        self.num_actions
    }
    /// Worker threads stepping the envs (1 = inline).
    pub fn threads(&self) -> usize {
        match &self.backend {
            Backend::Inline { .. } => 1,
            Backend::Pool(w) => w.len(),
        }
    }

    /// Current observations, `[num_envs, obs...]` row-major.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }
    /// Rewards of the last step.
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }
    /// Whether env i's episode ended at the last step (terminated or truncated).
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }

    /// Finished episodes since the last call, as (env index, stats).
    pub fn drain_episodes(&mut self) -> std::vec::Drain<'_, (usize, EpisodeStats)> {
        self.episodes.drain(..)
    }

    /// Step every env with its action (one per env, each < `num_actions`).
    pub fn step(&mut self, actions: &[usize]) -> Result<()> {
        if actions.len() != self.num_envs {
            bail!("vector env: {} actions for {} envs", actions.len(), self.num_envs);
        }
        if let Some(a) = actions.iter().find(|&&a| a >= self.num_actions) {
            bail!("vector env: action {a} out of range (the env has {} actions)", self.num_actions);
        }
        let obs_len = self.obs_len;
        match &mut self.backend {
            Backend::Inline { envs, steps } => {
                step_chunk(envs, actions, &mut self.obs, steps, obs_len);
                for (i, s) in steps.iter().enumerate() {
                    record(i, s, &mut self.rewards, &mut self.terminated, &mut self.truncated, &mut self.episodes);
                }
            }
            Backend::Pool(workers) => {
                for w in workers.iter_mut() {
                    let Some(mut job) = w.job.take() else {
                        bail!("vector env: a worker's buffers were lost in an earlier failed step");
                    };
                    let count = job.actions.len();
                    job.op = Op::Step;
                    job.actions.copy_from_slice(&actions[w.start..w.start + count]);
                    let sent = w.to_worker.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false);
                    if !sent {
                        bail!("vector env: a worker thread has stopped (an environment panicked)");
                    }
                }
                for w in workers.iter_mut() {
                    let Ok(job) = w.from_worker.recv() else {
                        bail!("vector env: a worker thread has stopped (an environment panicked)");
                    };
                    let count = job.steps.len();
                    self.obs[w.start * obs_len..(w.start + count) * obs_len].copy_from_slice(&job.obs);
                    for (j, s) in job.steps.iter().enumerate() {
                        record(w.start + j, s, &mut self.rewards, &mut self.terminated, &mut self.truncated, &mut self.episodes);
                    }
                    w.job = Some(job);
                }
            }
        }
        Ok(())
    }

    /// Every env's saved state (see [`Env::save_state`]), in env order; `None` when any env
    /// cannot be saved (Atari). With the current observations ([`VecEnv::obs`]) this is the whole
    /// state of the vector env between steps.
    pub fn save_state(&mut self) -> Result<Option<Vec<Vec<u8>>>> {
        let states = match &mut self.backend {
            Backend::Inline { envs, .. } => save_chunk(envs),
            Backend::Pool(workers) => {
                let mut all = Vec::with_capacity(self.num_envs);
                for job in pool_round_trip(workers, Op::Save, |_| Vec::new())? {
                    all.extend(job);
                }
                all
            }
        };
        Ok(states.into_iter().collect())
    }

    /// Restore what [`VecEnv::save_state`] returned and the observations saved with it.
    pub fn restore_state(&mut self, states: &[Vec<u8>], obs: &[f32]) -> Result<()> {
        if states.len() != self.num_envs || obs.len() != self.obs.len() {
            bail!(
                "saved vector env has {} envs and {} observation values, this one {} and {}",
                states.len(),
                obs.len(),
                self.num_envs,
                self.obs.len()
            );
        }
        let states: Vec<Option<Vec<u8>>> = states.iter().map(|s| Some(s.clone())).collect();
        match &mut self.backend {
            Backend::Inline { envs, .. } => restore_chunk(envs, &states, 0).map_err(|e| anyhow::anyhow!("vector env: cannot restore the saved state: {e}"))?,
            Backend::Pool(workers) => {
                pool_round_trip(workers, Op::Restore, |w| states[w.start..w.start + w.count()].to_vec())?;
            }
        }
        self.obs.copy_from_slice(obs);
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.episodes.clear();
        Ok(())
    }
}

impl Worker {
    fn count(&self) -> usize {
        self.job.as_ref().map_or(0, |j| j.actions.len())
    }
}

/// Send every worker an `op` job carrying `states_for(worker)`, wait for all, and return each
/// worker's `states` (in worker order), or the first error a worker reported.
fn pool_round_trip(
    workers: &mut [Worker],
    op: Op,
    mut states_for: impl FnMut(&Worker) -> Vec<Option<Vec<u8>>>,
) -> Result<Vec<Vec<Option<Vec<u8>>>>> {
    for w in workers.iter_mut() {
        let states = states_for(w);
        let Some(mut job) = w.job.take() else {
            bail!("vector env: a worker's buffers were lost in an earlier failed step");
        };
        job.op = op;
        job.states = states;
        job.error = None;
        if !w.to_worker.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false) {
            bail!("vector env: a worker thread has stopped (an environment panicked)");
        }
    }
    let mut out = Vec::with_capacity(workers.len());
    let mut error = None;
    for w in workers.iter_mut() {
        let Ok(mut job) = w.from_worker.recv() else {
            bail!("vector env: a worker thread has stopped (an environment panicked)");
        };
        out.push(std::mem::take(&mut job.states));
        error = error.or(job.error.take());
        job.op = Op::Step;
        w.job = Some(job);
    }
    match error {
        Some(e) => bail!("vector env: cannot restore the saved state: {e}"),
        None => Ok(out),
    }
}

fn record(
    i: usize,
    s: &Step,
    rewards: &mut [f32],
    terminated: &mut [bool],
    truncated: &mut [bool],
    episodes: &mut Vec<(usize, EpisodeStats)>,
) {
    rewards[i] = s.reward;
    terminated[i] = s.terminated;
    truncated[i] = s.truncated;
    if let Some(e) = s.episode {
        episodes.push((i, e));
    }
}

/// Save (or restore) the states of a chunk of envs; restore errors name the env by its index.
fn save_chunk(envs: &[Box<dyn Env>]) -> Vec<Option<Vec<u8>>> {
    envs.iter().map(|e| e.save_state()).collect()
}

fn restore_chunk(envs: &mut [Box<dyn Env>], states: &[Option<Vec<u8>>], first: usize) -> Result<(), String> {
    for (i, (env, st)) in envs.iter_mut().zip(states).enumerate() {
        let Some(st) = st else { return Err(format!("env {}: no saved state", first + i)) };
        env.restore_state(st).map_err(|e| format!("env {}: {e:#}", first + i))?;
    }
    Ok(())
}

/// Split the envs into `threads` contiguous chunks of near-equal size, one worker each.
fn spawn_workers(envs: Vec<Box<dyn Env>>, threads: usize, obs_len: usize) -> Result<Vec<Worker>> {
    let n = envs.len();
    let mut rest = envs.into_iter();
    let mut workers = Vec::with_capacity(threads);
    let mut start = 0;
    for t in 0..threads {
        let count = n / threads + usize::from(t < n % threads);
        let mut chunk: Vec<Box<dyn Env>> = rest.by_ref().take(count).collect();
        let (to_worker, jobs) = channel::<Job>();
        let (done, from_worker) = channel::<Job>();
        let handle = std::thread::Builder::new().name(format!("lot-env-{t}")).spawn(move || {
            while let Ok(mut job) = jobs.recv() {
                match job.op {
                    Op::Step => step_chunk(&mut chunk, &job.actions, &mut job.obs, &mut job.steps, obs_len),
                    Op::Save => job.states = save_chunk(&chunk),
                    Op::Restore => {
                        job.error = restore_chunk(&mut chunk, &job.states, start).err();
                        job.states.clear();
                    }
                }
                if done.send(job).is_err() {
                    break;
                }
            }
        })?;
        let job = Job {
            op: Op::Step,
            actions: vec![0; count],
            obs: vec![0.0; count * obs_len],
            steps: vec![Step::default(); count],
            states: Vec::new(),
            error: None,
        };
        workers.push(Worker { start, to_worker: Some(to_worker), from_worker, job: Some(job), handle: Some(handle) });
        start += count;
    }
    Ok(workers)
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        if let Backend::Pool(workers) = &mut self.backend {
            for w in workers.iter_mut() {
                w.to_worker = None; // closing the channel ends the worker's loop
            }
            for w in workers.iter_mut() {
                if let Some(h) = w.handle.take() {
                    let _ = h.join();
                }
            }
        }
    }
}

/// `lot bench vec-env`: env steps per second of 8 CartPoles stepped `steps` times with each
/// thread count (1 = inline), as (threads, rate).
pub fn cartpole_stepping_rates(steps: usize, threads: &[usize]) -> Result<Vec<(usize, f64)>> {
    let actions = [0, 1, 0, 1, 1, 0, 1, 0];
    let mut out = Vec::new();
    for &t in threads {
        let envs = (0..8).map(|i| Box::new(super::classic::CartPole::new(i)) as Box<dyn Env>).collect();
        let mut v = VecEnv::new(envs, t)?;
        let t0 = Instant::now();
        for _ in 0..steps {
            v.step(&actions)?;
        }
        out.push((t, (steps * actions.len()) as f64 / t0.elapsed().as_secs_f64().max(1e-12)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rl::classic::CartPole;

    /// Ends an episode every `len` steps (terminated), reward = action + 1, obs = [env id, t].
    struct Counter {
        id: f32,
        len: u64,
        t: u64,
        ret: f64,
    }

    impl Env for Counter {
        fn obs_shape(&self) -> Vec<usize> {
            vec![2]
        }
        fn num_actions(&self) -> usize {
            3
        }
        fn reset(&mut self, obs: &mut [f32]) {
            self.t = 0;
            self.ret = 0.0;
            obs.copy_from_slice(&[self.id, 0.0]);
        }
        fn step(&mut self, action: usize, obs: &mut [f32]) -> Step {
            self.t += 1;
            let reward = action as f32 + 1.0;
            self.ret += reward as f64;
            obs.copy_from_slice(&[self.id, self.t as f32]);
            let terminated = self.t == self.len;
            let episode = terminated.then_some(EpisodeStats { ret: self.ret, len: self.t });
            Step { reward, terminated, truncated: false, episode }
        }
    }

    fn counters(lens: &[u64]) -> Vec<Box<dyn Env>> {
        lens.iter().enumerate().map(|(i, &len)| Box::new(Counter { id: i as f32, len, t: 0, ret: 0.0 }) as Box<dyn Env>).collect()
    }

    #[test]
    fn auto_resets_and_collects_episodes_inline_and_threaded() {
        for threads in [1, 2, 3] {
            let mut v = VecEnv::new(counters(&[2, 3, 5]), threads).unwrap();
            assert_eq!(v.threads(), threads);
            assert_eq!(v.obs(), &[0.0, 0.0, 1.0, 0.0, 2.0, 0.0]);
            let mut eps = Vec::new();
            for step in 1..=6u64 {
                v.step(&[0, 1, 2]).unwrap();
                assert_eq!(v.rewards(), &[1.0, 2.0, 3.0]);
                for (i, len) in [2u64, 3, 5].into_iter().enumerate() {
                    let done = step % len == 0;
                    assert_eq!(v.done(i), done, "threads {threads} step {step} env {i}");
                    // after a done the observation is already the next episode's first one
                    let t = if done { 0 } else { step % len };
                    assert_eq!(&v.obs()[i * 2..i * 2 + 2], &[i as f32, t as f32]);
                }
                eps.extend(v.drain_episodes().map(|(i, e)| (step, i, e.ret, e.len)));
            }
            assert_eq!(
                eps,
                vec![(2, 0, 2.0, 2), (3, 1, 6.0, 3), (4, 0, 2.0, 2), (5, 2, 15.0, 5), (6, 0, 2.0, 2), (6, 1, 6.0, 3)],
                "threads {threads}"
            );
        }
    }

    #[test]
    fn rejects_bad_actions_and_mixed_envs() {
        let mut v = VecEnv::new(counters(&[2, 2]), 2).unwrap();
        assert!(v.step(&[0]).is_err());
        assert!(v.step(&[0, 3]).unwrap_err().to_string().contains("out of range"));
        let mixed: Vec<Box<dyn Env>> = vec![Box::new(CartPole::new(0)), Box::new(Counter { id: 0.0, len: 1, t: 0, ret: 0.0 })];
        assert!(VecEnv::new(mixed, 1).is_err());
        assert!(VecEnv::new(Vec::new(), 1).is_err());
    }

    #[test]
    fn threaded_and_inline_give_identical_cartpole_rollouts() {
        let make = || (0..8).map(|i| Box::new(CartPole::new(100 + i)) as Box<dyn Env>).collect::<Vec<_>>();
        let (mut a, mut b) = (VecEnv::new(make(), 1).unwrap(), VecEnv::new(make(), 4).unwrap());
        assert_eq!(a.obs(), b.obs());
        for t in 0..600 {
            let actions: Vec<usize> = (0..8).map(|i| (t * 7 + i * 3) % 5 % 2).collect();
            a.step(&actions).unwrap();
            b.step(&actions).unwrap();
            assert_eq!(a.obs(), b.obs());
            assert_eq!(a.terminated(), b.terminated());
        }
        let ea: Vec<_> = a.drain_episodes().collect();
        let eb: Vec<_> = b.drain_episodes().collect();
        assert!(!ea.is_empty());
        assert_eq!(ea, eb);
    }

    #[test]
    fn saved_state_restores_into_a_fresh_vec_env_inline_and_threaded() {
        let make = |seed: u64| (0..5).map(|i| Box::new(CartPole::new(seed + i)) as Box<dyn Env>).collect::<Vec<_>>();
        let actions = |t: usize| (0..5).map(|i| (t * 7 + i * 3) % 5 % 2).collect::<Vec<usize>>();
        for (threads_a, threads_b) in [(1, 1), (1, 3), (2, 1), (3, 2)] {
            let mut a = VecEnv::new(make(100), threads_a).unwrap();
            for t in 0..77 {
                a.step(&actions(t)).unwrap();
            }
            a.drain_episodes().for_each(drop);
            let states = a.save_state().unwrap().unwrap();
            let mut b = VecEnv::new(make(500), threads_b).unwrap();
            assert_ne!(a.obs(), b.obs());
            b.restore_state(&states, a.obs()).unwrap();
            for t in 77..700 {
                a.step(&actions(t)).unwrap();
                b.step(&actions(t)).unwrap();
                assert_eq!(a.obs(), b.obs(), "threads {threads_a}/{threads_b} t {t}");
                assert_eq!(a.rewards(), b.rewards());
                assert_eq!((a.terminated(), a.truncated()), (b.terminated(), b.truncated()));
                assert_eq!(a.drain_episodes().collect::<Vec<_>>(), b.drain_episodes().collect::<Vec<_>>());
            }
            assert!(b.restore_state(&states[..4], a.obs()).is_err());
            let mut bad = states.clone();
            bad[3].pop();
            let e = b.restore_state(&bad, a.obs()).unwrap_err().to_string();
            assert!(e.contains("env 3"), "{e}");
        }
        // Envs without a saved state (Atari) make the whole vector env unsaveable.
        let mut c = VecEnv::new(counters(&[2, 3]), 2).unwrap();
        assert!(c.save_state().unwrap().is_none());
        assert!(c.restore_state(&[vec![], vec![]], &[0.0; 4]).is_err());
    }

    /// `env.threads = 0` steps cheap envs inline (their speed is `lot bench vec-env`).
    #[test]
    fn auto_steps_cartpoles_inline() {
        let make = || (0..8).map(|i| Box::new(CartPole::new(i)) as Box<dyn Env>).collect::<Vec<_>>();
        let auto = VecEnv::new(make(), 0).unwrap();
        assert_eq!(auto.threads(), 1, "auto mode should step cheap envs inline");
        let mut rates = cartpole_stepping_rates(10, &[1, 2]).unwrap();
        rates.sort_by_key(|r| r.0);
        assert_eq!(rates.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        assert!(rates.iter().all(|r| r.1 > 0.0 && r.1.is_finite()), "{rates:?}");
    }
}
