//! LoT for PPO (docs/algorithm.md, "Reinforcement learning (PPO)"), driven by the shared engine.
//!
//! Per rollout: `update_epochs × num_minibatches` joint steps in which the teacher takes a PPO step
//! on `PPO loss + α·T²·KL(p_s‖p_t)` (policy logits only) and every student a KL step towards the
//! teacher on the same minibatch; then the students alone make N passes over a cache of
//! `obs_cache` entries, in shuffled minibatches of the PPO minibatch size. `ppo.student_cache`
//! says what an entry is: the current rollout (`reference`: what the reference's code does, its
//! entries being views of one overwritten buffer) or one of the last rollouts (`distinct`). The
//! teacher is fixed during that phase, so its logits for the cache are computed once per update.
//! α is 0 for the first PPO update (the reference sets it when the first student phase starts).

use std::collections::VecDeque;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn;
use tch::{Device, Kind, Tensor};

use super::agent::Agent;
use super::config::StudentCache;
use super::ppo::{ppo_loss, sample, PpoParams, PpoStats, PpoTargets};
use super::state::{rng_from_hex, rng_to_hex};
use crate::checkpoint;
use crate::config::{Config, Mode};
use crate::engine::{Engine, LotModels, Stream};

/// A minibatch: observations, plus the PPO targets on the teacher's stream (absent for the
/// students' cache minibatches).
pub struct Minibatch {
    pub obs: Tensor,
    pub ppo: Option<PpoTargets>,
}

/// Teacher (0) and students, each with its own var store.
pub struct RlModels {
    pub device: Device,
    pub agents: Vec<Agent>,
    pub stores: Vec<nn::VarStore>,
    pub params: PpoParams,
    /// Network forward passes per model.
    pub forwards: Vec<u64>,
}

impl RlModels {
    /// `count` models (teacher + students); model m is initialised from seed `seed + m`.
    pub fn build(obs_shape: &[usize], num_actions: usize, count: usize, seed: u64, device: Device, params: PpoParams) -> Result<Self> {
        let mut agents = Vec::with_capacity(count);
        let mut stores = Vec::with_capacity(count);
        for m in 0..count {
            tch::manual_seed((seed + m as u64) as i64);
            let vs = nn::VarStore::new(device);
            agents.push(Agent::new(&vs.root(), obs_shape, num_actions)?);
            stores.push(vs);
        }
        Ok(Self { device, agents, stores, params, forwards: vec![0; count] })
    }

    /// Every model's forward precision and memory format (`ppo.precision`, `ppo.channels_last`).
    pub fn set_forward(&mut self, opts: crate::precision::ForwardOptions) -> Result<()> {
        for a in self.agents.iter_mut() {
            a.set_forward(opts)?;
        }
        Ok(())
    }

    /// Sample actions from model `m` without a graph: (actions, log-probs, values).
    pub fn act(&mut self, m: usize, obs: &Tensor) -> (Tensor, Tensor, Tensor) {
        self.forwards[m] += 1;
        tch::no_grad(|| {
            let (logits, value) = self.agents[m].logits_value(obs);
            let (a, lp) = sample(&logits);
            (a, lp, value)
        })
    }

    /// Values of model `m` without a graph.
    pub fn value(&mut self, m: usize, obs: &Tensor) -> Tensor {
        self.forwards[m] += 1;
        tch::no_grad(|| self.agents[m].value(obs))
    }

    /// Logits of model `m` without a graph.
    pub fn logits(&mut self, m: usize, obs: &Tensor) -> Tensor {
        self.forwards[m] += 1;
        tch::no_grad(|| self.agents[m].logits(obs))
    }
}

impl LotModels for RlModels {
    type Batch = Minibatch;
    type Stats = PpoStats;
    /// The teacher on a PPO minibatch: its policy logits, the PPO loss and that loss's diagnostics
    /// (which the engine returns in `JointOut::teacher_stats`). Otherwise (students, or no PPO
    /// targets): policy logits, a zero task loss and default diagnostics.
    fn forward(&mut self, m: usize, b: &Minibatch, _stream: Stream) -> (Tensor, Tensor, PpoStats) {
        self.forwards[m] += 1;
        match (&b.ppo, m) {
            (Some(t), 0) => {
                let (logits, values) = self.agents[0].logits_value(&b.obs);
                let (loss, stats) = ppo_loss(&logits, &values, t, &self.params);
                (logits, loss, stats)
            }
            // Students imitate only (no task loss); their value heads are never trained.
            _ => (self.agents[m].logits(&b.obs), Tensor::zeros([], (Kind::Float, self.device)), PpoStats::default()),
        }
    }
}

/// A rollout flattened to `[num_steps · num_envs]` rows, on the device.
pub struct Rollout {
    /// Observations in the agent's storage kind (bytes for frames).
    pub obs: Tensor,
    pub actions: Tensor,
    pub logprobs: Tensor,
    pub advantages: Tensor,
    pub returns: Tensor,
    pub values: Tensor,
}

impl Rollout {
    fn minibatch(&self, idx: &Tensor) -> Minibatch {
        let g = |t: &Tensor| t.index_select(0, idx);
        Minibatch {
            obs: g(&self.obs),
            ppo: Some(PpoTargets {
                actions: g(&self.actions),
                logprobs: g(&self.logprobs),
                advantages: g(&self.advantages),
                returns: g(&self.returns),
                values: g(&self.values),
            }),
        }
    }
}

/// What a mode trains (see `config::Mode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// Students trained alongside the teacher.
    pub students: usize,
    /// Teacher α after the warm-up update.
    pub alpha: f64,
    /// Students whose optimizer steps a compute-matched teacher takes over (0 otherwise).
    pub matched_students: usize,
}

impl Plan {
    pub fn for_config(cfg: &Config) -> Self {
        // RL keeps the environment steps fixed: a compute-matched teacher takes the students'
        // optimizer steps on each rollout instead of running more rollouts.
        let p = cfg.lot.mode.plan(&cfg.lot);
        let matched_students = if cfg.lot.mode == Mode::ComputeMatched { cfg.lot.students } else { 0 };
        Self { students: p.students, alpha: p.alpha, matched_students }
    }
}

/// Shapes of one update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateShape {
    pub update_epochs: usize,
    pub num_minibatches: usize,
    pub minibatch_size: usize,
    /// Rows per rollout.
    pub batch_size: usize,
    /// Entries of the students' cache (rollouts, or views of the current one).
    pub obs_cache: usize,
    pub student_cache: StudentCache,
}

impl UpdateShape {
    /// Entries in the cache at update `u` (1-based), in either mode.
    pub fn cached_rollouts(&self, u: u64) -> usize {
        (u as usize).min(self.obs_cache)
    }
    /// Extra student steps per student at update `u`: N passes × cache rows / minibatch size.
    pub fn extra_student_steps(&self, u: u64, n: usize) -> usize {
        n * self.cached_rollouts(u) * self.batch_size / self.minibatch_size
    }
    /// Teacher steps at update `u` with N student passes. Compute-matched (RL definition): the
    /// teacher alone takes, on each rollout, as many optimizer steps as the LoT teacher and its K
    /// students take together on it, i.e. 16·(1+K) + K·N·(cache rows / minibatch); the extra steps
    /// are further shuffled PPO epochs on the same rollout, so both runs see the same env steps.
    pub fn teacher_steps(&self, u: u64, plan: &Plan, n: usize) -> usize {
        let joint = self.update_epochs * self.num_minibatches;
        joint + plan.matched_students * (joint + self.extra_student_steps(u, n))
    }
}

/// The students' cache.
enum Cache {
    /// `reference`: `entries` views of the current rollout, so only the count is kept.
    Reference { entries: usize },
    /// `distinct`: the last rollouts' observations, newest last.
    Distinct(VecDeque<Tensor>),
}

/// A minibatch shuffle stream, optionally recording its permutations (for the test that replays
/// them through the reference's loop in PyTorch).
struct Shuffles {
    rng: ChaCha8Rng,
    log: Option<Vec<Vec<i64>>>,
}

impl Shuffles {
    fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed), log: None }
    }
    fn permutation(&mut self, n: usize, device: Device) -> Tensor {
        let mut p: Vec<i64> = (0..n as i64).collect();
        p.shuffle(&mut self.rng);
        if let Some(log) = self.log.as_mut() {
            log.push(p.clone());
        }
        Tensor::from_slice(&p).to_device(device)
    }
}

/// Per-update results for metrics.
#[derive(Clone, Debug, Default)]
pub struct UpdateStats {
    /// Mean teacher loss over its steps (PPO + α·KL).
    pub teacher_loss: f64,
    /// Mean PPO diagnostics over the teacher's steps.
    pub ppo: PpoStats,
    /// Mean loss per student over all its steps of this update.
    pub student_loss: Vec<f64>,
    pub teacher_steps: u64,
    /// Steps per student (joint + cache).
    pub student_steps: u64,
    /// α the teacher used in this update.
    pub alpha: f64,
}

pub struct LotPpo {
    pub models: RlModels,
    pub engine: Engine,
    pub plan: Plan,
    pub shape: UpdateShape,
    cache: Cache,
    /// Separate streams, so the students' shuffles never change the teacher's minibatches:
    /// with α = 0 the teacher then learns exactly as it would alone.
    teacher_rng: Shuffles,
    student_rng: Shuffles,
    pub updates: u64,
    /// Times the teacher's logits for the cache were computed (once per update with students).
    pub cache_target_passes: u64,
}

/// The learner's state besides tensors, for resume checkpoints (see [`LotPpo::save_state`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LearnerState {
    pub updates: u64,
    pub cache_target_passes: u64,
    /// Bits of `engine.teacher_alpha` (0 until the warm-up update is over).
    pub teacher_alpha: u64,
    /// Positions of the minibatch shuffle streams.
    pub teacher_rng: String,
    pub student_rng: String,
    pub opt_steps: Vec<u64>,
    pub forwards: Vec<u64>,
    /// Entries in the student cache; `distinct` saves them as tensors `cache.0` (oldest) …
    pub cache_rollouts: usize,
    /// The cache's mode. Checkpoints written before `ppo.student_cache` existed lack it: they
    /// were trained with the distinct cache.
    #[serde(default = "distinct")]
    pub student_cache: StudentCache,
}

fn distinct() -> StudentCache {
    StudentCache::Distinct
}

impl LotPpo {
    /// `engine.teacher_alpha` is forced to 0 for the first update (the warm-up).
    pub fn new(models: RlModels, mut engine: Engine, plan: Plan, shape: UpdateShape, seed: u64) -> Self {
        engine.teacher_alpha = 0.0;
        Self {
            models,
            engine,
            plan,
            shape,
            cache: match shape.student_cache {
                StudentCache::Reference => Cache::Reference { entries: 0 },
                StudentCache::Distinct => Cache::Distinct(VecDeque::with_capacity(shape.obs_cache)),
            },
            teacher_rng: Shuffles::new(seed ^ 0x7ea_c4e5),
            student_rng: Shuffles::new(seed ^ 0x57d_e475),
            updates: 0,
            cache_target_passes: 0,
        }
    }

    pub fn num_students(&self) -> usize {
        self.engine.num_students()
    }

    /// Entries currently in the student cache.
    pub fn cache_entries(&self) -> usize {
        match &self.cache {
            Cache::Reference { entries } => *entries,
            Cache::Distinct(c) => c.len(),
        }
    }

    /// Rows one student pass covers (entries × rollout rows).
    pub fn cache_rows(&self) -> i64 {
        (self.cache_entries() * self.shape.batch_size) as i64
    }

    /// Record every minibatch permutation from now on (see [`LotPpo::take_shuffles`]).
    pub fn record_shuffles(&mut self) {
        self.teacher_rng.log = Some(Vec::new());
        self.student_rng.log = Some(Vec::new());
    }

    /// The permutations drawn since the last call, in order: (teacher's PPO epochs, students' cache
    /// phase). Each indexes the current rollout's rows (the cache's rows for `distinct`).
    pub fn take_shuffles(&mut self) -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
        let take = |s: &mut Shuffles| s.log.as_mut().map(std::mem::take).unwrap_or_default();
        (take(&mut self.teacher_rng), take(&mut self.student_rng))
    }

    /// Everything later updates depend on: the meta, and tensors `model{m}.` (weights), `optim{m}.`
    /// (optimizer state) and `cache.{i}` (the student cache's observations, oldest first).
    pub fn save_state(&self) -> (LearnerState, Vec<(String, Tensor)>) {
        let mut tensors = Vec::new();
        for (m, vs) in self.models.stores.iter().enumerate() {
            tensors.extend(checkpoint::prefixed(&format!("model{m}."), checkpoint::store_tensors(vs)));
            tensors.extend(checkpoint::prefixed(&format!("optim{m}."), self.engine.optims[m].state()));
        }
        if let Cache::Distinct(c) = &self.cache {
            for (i, obs) in c.iter().enumerate() {
                tensors.push((format!("cache.{i}"), obs.shallow_clone()));
            }
        }
        let st = LearnerState {
            updates: self.updates,
            cache_target_passes: self.cache_target_passes,
            teacher_alpha: self.engine.teacher_alpha.to_bits(),
            teacher_rng: rng_to_hex(&self.teacher_rng.rng),
            student_rng: rng_to_hex(&self.student_rng.rng),
            opt_steps: self.engine.optims.iter().map(|o| o.steps()).collect(),
            forwards: self.models.forwards.clone(),
            cache_rollouts: self.cache_entries(),
            student_cache: self.shape.student_cache,
        };
        (st, tensors)
    }

    /// Restore what [`LotPpo::save_state`] returned (tensors already on the learner's device).
    pub fn restore_state(&mut self, st: &LearnerState, tensors: &checkpoint::Tensors) -> Result<()> {
        let nm = self.models.stores.len();
        let mismatch = |what: &str| crate::error::input_err(format!("checkpoint does not match the config: {what}"));
        if st.opt_steps.len() != nm || st.forwards.len() != nm {
            return Err(mismatch(&format!("it holds {} models, the config has {nm}", st.opt_steps.len())));
        }
        let key = |m: StudentCache| if m == StudentCache::Reference { "reference" } else { "distinct" };
        if st.student_cache != self.shape.student_cache {
            return Err(mismatch(&format!(
                "it was trained with ppo.student_cache = {}, the config says {}",
                key(st.student_cache),
                key(self.shape.student_cache)
            )));
        }
        if st.cache_rollouts > self.shape.obs_cache {
            return Err(mismatch(&format!("{} cached rollouts, more than ppo.obs_cache = {}", st.cache_rollouts, self.shape.obs_cache)));
        }
        for m in 0..nm {
            checkpoint::restore_store(&self.models.stores[m], &tensors.with_prefix(&format!("model{m}.")), &crate::run::model_name(m))?;
            self.engine.optims[m].load_state(&tensors.with_prefix(&format!("optim{m}.")), st.opt_steps[m]);
        }
        match &mut self.cache {
            Cache::Reference { entries } => *entries = st.cache_rollouts,
            Cache::Distinct(cache) => {
                cache.clear();
                for i in 0..st.cache_rollouts {
                    let obs = tensors.get(&format!("cache.{i}")).ok_or_else(|| mismatch(&format!("student cache rollout {i} missing")))?;
                    if obs.size()[0] != self.shape.batch_size as i64 {
                        return Err(mismatch(&format!("cached rollout {i} has {} rows, a rollout has {}", obs.size()[0], self.shape.batch_size)));
                    }
                    cache.push_back(obs);
                }
            }
        }
        let rng = |s: &str| rng_from_hex(s).map_err(|e| mismatch(&format!("shuffle stream: {e}")));
        self.teacher_rng.rng = rng(&st.teacher_rng)?;
        self.student_rng.rng = rng(&st.student_rng)?;
        self.updates = st.updates;
        self.cache_target_passes = st.cache_target_passes;
        self.engine.teacher_alpha = f64::from_bits(st.teacher_alpha);
        self.models.forwards = st.forwards.clone();
        Ok(())
    }

    /// One update on a rollout: the PPO phase (joint steps), then the students' cache phase.
    /// The PPO diagnostics are averaged from each joint step's `JointOut::teacher_stats`.
    pub fn update(&mut self, r: &Rollout) -> Result<UpdateStats> {
        self.updates += 1;
        let u = self.updates;
        let k = self.num_students();
        let s = self.shape;
        let device = self.models.device;
        let mut st = UpdateStats { alpha: self.engine.teacher_alpha, student_loss: vec![0.0; k], ..Default::default() };

        // PPO phase: shuffled epochs over the rollout; the last epoch may be partial when a
        // compute-matched teacher's step count is not a whole number of epochs.
        let steps = s.teacher_steps(u, &self.plan, self.engine.student_steps);
        let (mut ppo_sum, mut taken) = (PpoStats::default(), 0usize);
        while taken < steps {
            let perm = self.teacher_rng.permutation(s.batch_size, device);
            for start in (0..s.batch_size).step_by(s.minibatch_size) {
                if taken == steps {
                    break;
                }
                let mb = r.minibatch(&perm.narrow(0, start as i64, s.minibatch_size as i64));
                let out = self.engine.joint_step(&mut self.models, &mb)?;
                taken += 1;
                st.teacher_loss += out.teacher_loss;
                for (i, l) in out.student_losses.iter().enumerate() {
                    st.student_loss[i] += l;
                }
                let p = out.teacher_stats;
                ppo_sum.pg_loss += p.pg_loss;
                ppo_sum.v_loss += p.v_loss;
                ppo_sum.entropy += p.entropy;
                ppo_sum.approx_kl += p.approx_kl;
                ppo_sum.clip_frac += p.clip_frac;
            }
        }
        st.teacher_steps = taken as u64;
        let n = taken.max(1) as f64;
        st.teacher_loss /= n;
        st.ppo = PpoStats {
            pg_loss: ppo_sum.pg_loss / n,
            v_loss: ppo_sum.v_loss / n,
            entropy: ppo_sum.entropy / n,
            approx_kl: ppo_sum.approx_kl / n,
            clip_frac: ppo_sum.clip_frac / n,
        };
        if k > 0 {
            st.student_steps = taken as u64;
            // The warm-up ends when the first student phase starts.
            self.engine.teacher_alpha = self.plan.alpha;
            let extra = match self.shape.student_cache {
                StudentCache::Reference => self.reference_phase(&r.obs)?,
                StudentCache::Distinct => self.distinct_phase(&r.obs)?,
            };
            st.student_steps += extra.0;
            for (i, l) in extra.1.iter().enumerate() {
                st.student_loss[i] += l;
            }
            for l in st.student_loss.iter_mut() {
                *l /= st.student_steps.max(1) as f64;
            }
        }
        Ok(st)
    }

    /// The reference's student phase as its code runs: the cache gains an entry (up to
    /// `obs_cache`), every entry being the current rollout. N passes; in each, every entry in turn
    /// gets a fresh shuffle of the rollout and one student step per minibatch (the reference's
    /// `for _ in range(N): for e in range(len(obs_cache)): shuffle; for minibatch: step`). The
    /// reference recomputes the teacher's logits per minibatch; the teacher is fixed in this phase,
    /// so one pass over the rollout gives the same targets. Returns (steps, summed loss per student).
    fn reference_phase(&mut self, obs: &Tensor) -> Result<(u64, Vec<f64>)> {
        let Cache::Reference { entries } = &mut self.cache else { unreachable!("reference cache") };
        *entries = (*entries + 1).min(self.shape.obs_cache);
        let entries = *entries;
        let targets = self.models.logits(0, obs);
        self.cache_target_passes += 1;
        let (device, rows, mb) = (self.models.device, self.shape.batch_size, self.shape.minibatch_size);
        let (rng, targets) = (&mut self.student_rng, &targets);
        self.engine.student_passes(&mut self.models, || {
            // The entries' shuffles, drawn in the order the reference's loop draws them.
            let perms: Vec<Tensor> = (0..entries).map(|_| rng.permutation(rows, device)).collect();
            Ok(perms.into_iter().flat_map(move |perm| {
                (0..rows).step_by(mb).map(move |start| {
                    let idx = perm.narrow(0, start as i64, mb as i64);
                    (Minibatch { obs: obs.index_select(0, &idx), ppo: None }, targets.index_select(0, &idx))
                })
            }))
        })
    }

    /// The distinct-rollout cache: push the rollout's observations, compute the teacher's logits
    /// for the whole cache once, then the engine's N passes, each a fresh shuffle of the whole
    /// cache into minibatches. Returns (steps, summed loss per student).
    fn distinct_phase(&mut self, obs: &Tensor) -> Result<(u64, Vec<f64>)> {
        let Cache::Distinct(cache) = &mut self.cache else { unreachable!("distinct cache") };
        if cache.len() == self.shape.obs_cache {
            cache.pop_front();
        }
        cache.push_back(obs.copy());
        let device = self.models.device;
        // One teacher pass per cached rollout (bounded memory), all of them once per update.
        let targets: Vec<Tensor> = cache.iter().map(|o| self.models.logits(0, o)).collect();
        self.cache_target_passes += 1;
        let cache_obs = Tensor::cat(&cache.iter().collect::<Vec<_>>(), 0);
        let targets = Tensor::cat(&targets, 0);
        let rows = cache_obs.size()[0] as usize;
        let mb = self.shape.minibatch_size;
        let (rng, cache_obs, targets) = (&mut self.student_rng, &cache_obs, &targets);
        // Each pass: a fresh shuffle of the cache, whole minibatches only.
        self.engine.student_passes(&mut self.models, || {
            let perm = rng.permutation(rows, device);
            Ok((0..rows - rows % mb).step_by(mb).map(move |start| {
                let idx = perm.narrow(0, start as i64, mb as i64);
                (Minibatch { obs: cache_obs.index_select(0, &idx), ppo: None }, targets.index_select(0, &idx))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{LossMode, LotLoss};
    use crate::optim::{named_trainable, Adam, AdamConfig, Optimizer};

    const OBS: usize = 4;
    const ACTIONS: usize = 2;

    fn params() -> PpoParams {
        PpoParams { clip_coef: 0.1, clip_vloss: true, norm_adv: true, ent_coef: 0.01, vf_coef: 0.5 }
    }

    fn shape(student_cache: StudentCache) -> UpdateShape {
        UpdateShape { update_epochs: 4, num_minibatches: 4, minibatch_size: 8, batch_size: 32, obs_cache: 3, student_cache }
    }

    const MODES: [StudentCache; 2] = [StudentCache::Reference, StudentCache::Distinct];

    fn learner(plan: Plan, passes: usize) -> LotPpo {
        learner_with(plan, passes, StudentCache::Reference)
    }

    fn learner_with(plan: Plan, passes: usize, mode: StudentCache) -> LotPpo {
        let models = RlModels::build(&[OBS], ACTIONS, 1 + plan.students, 3, Device::Cpu, params()).unwrap();
        let optims: Vec<Box<dyn Optimizer>> = models
            .stores
            .iter()
            .enumerate()
            .map(|(m, vs)| {
                let wd = if m == 0 { 0.0 } else { 1e-4 };
                Box::new(Adam::new(named_trainable(vs), AdamConfig { lr: 1e-3, eps: 1e-5, weight_decay: wd, ..Default::default() }))
                    as Box<dyn Optimizer>
            })
            .collect();
        let loss = LotLoss { mode: LossMode::Kl, alpha: plan.alpha, temperature: 1.0, detach: true };
        let engine = Engine::new(loss, passes, optims, Some(0.5));
        LotPpo::new(models, engine, plan, shape(mode), 11)
    }

    /// A rollout from its own generator: libtorch's global one is shared by the test threads, so
    /// two calls with the same seed could otherwise differ.
    fn rollout(seed: i64) -> Rollout {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
        let n = 32;
        let opts = (Kind::Float, Device::Cpu);
        let mut uniform = |len: usize| -> Tensor {
            let v: Vec<f32> = (0..len).map(|_| rng.gen_range(-2.0f32..2.0)).collect();
            Tensor::from_slice(&v)
        };
        let obs = uniform(n * OBS).view([n as i64, OBS as i64]);
        let advantages = uniform(n);
        let returns = uniform(n);
        let actions: Vec<i64> = (0..n).map(|_| rng.gen_range(0..ACTIONS as i64)).collect();
        Rollout {
            obs,
            actions: Tensor::from_slice(&actions),
            logprobs: Tensor::full([n as i64], -(2f64.ln()), opts),
            advantages,
            returns,
            values: Tensor::zeros([n as i64], opts),
        }
    }

    /// Give `b`'s teacher `a`'s teacher weights (building both from the same seed is not enough
    /// when other test threads draw from libtorch's global generator meanwhile).
    fn same_teacher(a: &LotPpo, b: &mut LotPpo) {
        b.models.stores[0].copy(&a.models.stores[0]).unwrap();
    }

    const LOT: Plan = Plan { students: 1, alpha: 0.5, matched_students: 0 };

    #[test]
    fn alpha_warms_up_and_steps_are_counted() {
        for (passes, mode) in [1, 3].into_iter().flat_map(|p| MODES.map(|m| (p, m))) {
            let mut l = learner_with(LOT, passes, mode);
            let mut teacher_forwards = l.models.forwards[0];
            for u in 1..=5u64 {
                let st = l.update(&rollout(u as i64)).unwrap();
                // α = 0 on the first update only
                assert_eq!(st.alpha, if u == 1 { 0.0 } else { 0.5 }, "update {u}");
                assert_eq!(l.engine.teacher_alpha, 0.5);
                // 16 joint steps; students: 16 + N × cache rows / minibatch (cache grows to 3 rollouts)
                let cached = (u as usize).min(3);
                assert_eq!(st.teacher_steps, 16);
                assert_eq!(st.student_steps as usize, 16 + passes * cached * 32 / 8, "update {u}");
                assert_eq!(l.cache_rows() as usize, cached * 32);
                // teacher forwards: 16 PPO minibatches + one pass over each distinct cached rollout
                // (reference: over the current one), whatever N is
                let now = l.models.forwards[0];
                let cache_passes = if mode == StudentCache::Reference { 1 } else { cached as u64 };
                assert_eq!(now - teacher_forwards, 16 + cache_passes, "update {u}, N {passes}, {mode:?}");
                teacher_forwards = now;
                assert_eq!(l.cache_target_passes, u);
            }
            let steps: Vec<u64> = l.engine.optims.iter().map(|o| o.steps()).collect();
            let student_total: usize = (1..=5).map(|u: usize| 16 + passes * u.min(3) * 4).sum();
            assert_eq!(steps, vec![80, student_total as u64]);
        }
    }

    #[test]
    fn teacher_only_leaves_the_teacher_as_if_alone() {
        // α = 0 blocks the students' feedback: same teacher weights as the no-student run
        let mut with = learner(Plan { students: 1, alpha: 0.0, matched_students: 0 }, 2);
        let mut alone = learner(Plan { students: 0, alpha: 0.0, matched_students: 0 }, 2);
        same_teacher(&with, &mut alone);
        for u in 1..=3 {
            let a = with.update(&rollout(u)).unwrap();
            let b = alone.update(&rollout(u)).unwrap();
            assert_eq!(a.teacher_loss, b.teacher_loss);
            assert!(a.student_steps > 0 && b.student_steps == 0 && b.student_loss.is_empty());
        }
        let wa = named_trainable(&with.models.stores[0]);
        let wb = named_trainable(&alone.models.stores[0]);
        for ((n, x), (_, y)) in wa.iter().zip(&wb) {
            assert!(x.equal(y), "{n} differs");
        }
        // with α > 0 the teacher's path differs from the second update on
        let mut lot = learner(LOT, 2);
        let mut alone = learner(Plan { students: 0, alpha: 0.0, matched_students: 0 }, 2);
        same_teacher(&lot, &mut alone);
        let a1 = lot.update(&rollout(1)).unwrap();
        let b1 = alone.update(&rollout(1)).unwrap();
        assert_eq!(a1.teacher_loss, b1.teacher_loss);
        let a2 = lot.update(&rollout(2)).unwrap();
        let b2 = alone.update(&rollout(2)).unwrap();
        assert_ne!(a2.teacher_loss, b2.teacher_loss);
    }

    #[test]
    fn compute_matched_teacher_takes_the_lot_total() {
        let matched = Plan { students: 0, alpha: 0.0, matched_students: 1 };
        let mut cm = learner(matched, 2);
        let mut lot = learner(LOT, 2);
        for u in 1..=4 {
            let a = cm.update(&rollout(u)).unwrap();
            let b = lot.update(&rollout(u)).unwrap();
            assert_eq!(a.teacher_steps, b.teacher_steps + b.student_steps, "update {u}");
        }
        let total: u64 = lot.engine.optims.iter().map(|o| o.steps()).sum();
        assert_eq!(cm.engine.optims[0].steps(), total);
        assert_eq!(cm.cache_target_passes, 0);
    }

    /// A learner saved through a checkpoint file after some updates and restored into a fresh one
    /// continues exactly: same losses, steps, α and weights (cache, shuffles and Adam state included).
    #[test]
    fn saved_learner_continues_exactly() {
        for mode in MODES {
            saved_learner_continues_exactly_with(mode);
        }
    }

    fn saved_learner_continues_exactly_with(mode: StudentCache) {
        let mut a = learner_with(LOT, 2, mode);
        for u in 1..=4 {
            a.update(&rollout(u)).unwrap();
        }
        let (st, tensors) = a.save_state();
        assert_eq!((st.cache_rollouts, st.student_cache), (3, mode));
        // the reference's cache is the current rollout: nothing but the count to save
        let cached = tensors.iter().filter(|(n, _)| n.starts_with("cache.")).count();
        assert_eq!(cached, if mode == StudentCache::Reference { 0 } else { 3 });
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(checkpoint::FILE);
        checkpoint::save(&p, &serde_json::to_value(&st).unwrap(), &tensors).unwrap();
        let (meta, loaded) = checkpoint::load(&p, Device::Cpu).unwrap();
        let st: LearnerState = serde_json::from_value(meta).unwrap();
        let mut b = learner_with(LOT, 2, mode);
        assert_eq!(b.engine.teacher_alpha, 0.0);
        b.restore_state(&st, &checkpoint::Tensors(loaded)).unwrap();
        assert_eq!((b.updates, b.engine.teacher_alpha, b.cache_rows()), (4, 0.5, 96));
        for u in 5..=7 {
            let (x, y) = (a.update(&rollout(u)).unwrap(), b.update(&rollout(u)).unwrap());
            assert_eq!(x.teacher_loss.to_bits(), y.teacher_loss.to_bits(), "update {u}");
            assert_eq!(x.student_loss, y.student_loss);
            assert_eq!((x.teacher_steps, x.student_steps), (y.teacher_steps, y.student_steps));
        }
        for m in 0..2 {
            for ((n, x), (_, y)) in checkpoint::store_tensors(&a.models.stores[m]).iter().zip(checkpoint::store_tensors(&b.models.stores[m])) {
                assert!(x.equal(&y), "model {m} {n} differs");
            }
        }
        assert_eq!(a.save_state().0, b.save_state().0);
        // A checkpoint of another shape, or of the other cache mode, is refused.
        let mut c = learner_with(Plan { students: 0, alpha: 0.0, matched_students: 0 }, 2, mode);
        assert!(c.restore_state(&st, &checkpoint::Tensors(Vec::new())).unwrap_err().to_string().contains("models"));
        let other = if mode == StudentCache::Reference { StudentCache::Distinct } else { StudentCache::Reference };
        let e = learner_with(LOT, 2, other).restore_state(&st, &checkpoint::Tensors(Vec::new())).unwrap_err().to_string();
        assert!(e.contains("ppo.student_cache") && e.contains("trained with"), "{e}");
    }

    /// A checkpoint written before `ppo.student_cache` existed (no `student_cache` in its meta)
    /// was trained with the distinct cache: it loads as such, and a reference learner refuses it.
    #[test]
    fn old_checkpoints_are_distinct() {
        let mut a = learner_with(LOT, 2, StudentCache::Distinct);
        for u in 1..=2 {
            a.update(&rollout(u)).unwrap();
        }
        let (st, tensors) = a.save_state();
        let mut meta = serde_json::to_value(&st).unwrap();
        meta.as_object_mut().unwrap().remove("student_cache").unwrap();
        let old: LearnerState = serde_json::from_value(meta).unwrap();
        assert_eq!(old, st);
        let tensors = checkpoint::Tensors(tensors);
        learner_with(LOT, 2, StudentCache::Distinct).restore_state(&old, &tensors).unwrap();
        assert!(learner(LOT, 2).restore_state(&old, &tensors).is_err());
    }

    /// The reference's cache: every student step of the cache phase reads rows of the current
    /// rollout only (each permutation is one of its rows, the older rollouts are not kept), and
    /// an update takes N × min(u, obs_cache) × num_minibatches student steps after the joint ones,
    /// drawing one shuffle per (pass, entry).
    #[test]
    fn reference_cache_revisits_the_current_rollout() {
        let passes = 2;
        let mut l = learner(LOT, passes);
        l.record_shuffles();
        for u in 1..=5u64 {
            let st = l.update(&rollout(u as i64)).unwrap();
            let entries = (u as usize).min(3);
            assert_eq!(st.student_steps as usize - 16, passes * entries * 4, "update {u}");
            let (teacher, student) = l.take_shuffles();
            assert_eq!(teacher.len(), 4);
            assert_eq!(student.len(), passes * entries, "update {u}");
            for p in &student {
                let mut sorted = p.clone();
                sorted.sort();
                assert_eq!(sorted, (0..32).collect::<Vec<i64>>(), "a permutation of the rollout's 32 rows");
            }
            assert_eq!((l.cache_entries(), l.cache_rows()), (entries, entries as i64 * 32));
        }
        assert!(l.save_state().1.iter().all(|(n, _)| !n.starts_with("cache.")));
        // The distinct cache shuffles all its rows together, once per pass.
        let mut d = learner_with(LOT, passes, StudentCache::Distinct);
        d.record_shuffles();
        for u in 1..=4u64 {
            d.update(&rollout(u as i64)).unwrap();
            let student = d.take_shuffles().1;
            assert_eq!(student.len(), passes);
            assert!(student.iter().all(|p| p.len() == 32 * (u as usize).min(3)));
        }
    }

    #[test]
    fn students_learn_to_imitate() {
        let mut l = learner(LOT, 3);
        // make the teacher opinionated, so that the untrained student starts far from it
        tch::no_grad(|| {
            let mut w = l.models.stores[0].variables()["actor.4.weight"].shallow_clone();
            let _ = w.g_mul_scalar_(100.0);
        });
        let probe = rollout(99).obs;
        let kl = |l: &mut LotPpo| {
            let (t, s) = (l.models.logits(0, &probe), l.models.logits(1, &probe));
            crate::engine::kl_div_logits(&s, &t, 1.0).double_value(&[])
        };
        let before = kl(&mut l);
        for u in 1..=6 {
            l.update(&rollout(u)).unwrap();
        }
        let after = kl(&mut l);
        assert!(before > 0.02 && after < before * 0.5, "student KL to the teacher {before} → {after}");
    }
}
