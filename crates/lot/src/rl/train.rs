//! The RL trainer: PPO (+ LoT) on a vector env, writing the same run folder as the other tasks.
//! `step` in metrics.jsonl counts env (agent) steps; `epoch` counts PPO updates.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::config::RlConfig;
use super::eval::{mean_std, play};
use super::lot_ppo::{LearnerState, LotPpo, Plan, RlModels, UpdateShape};
use super::ppo::PpoParams;
use super::rollout::RolloutBuffer;
use super::state::{from_hex, to_hex};
use super::vec_env::VecEnv;
use crate::checkpoint;
use crate::config::{Config, Domain};
use crate::dist::{Dist, LaunchEnv};
use crate::engine::Engine;
use crate::optim::{named_trainable, Adam, AdamConfig, Optimizer};
use crate::lifecycle::{self, Tracker};
use crate::run::{self, model_name, ModelSummary, Summary, SummaryKind};
use crate::track::{plot, Record, RecordKind};

/// Episodes in the "final" and "best" return windows.
const RETURN_WINDOW: usize = 20;
/// Eval envs are seeded far from the training ones.
const EVAL_SEED_OFFSET: u64 = 1_000_000;

fn rl_config(cfg: &Config) -> Result<&RlConfig> {
    match &cfg.domain {
        Domain::Rl(r) => Ok(r),
        _ => crate::bail_input!("task '{:?}' has no reinforcement-learning sections", cfg.task),
    }
}

/// `n` envs named by the config, env i seeded `seed + i` (as gym's vector env seeds them).
pub fn make_vec_env(r: &RlConfig, n: usize, seed: u64) -> Result<VecEnv> {
    let envs = (0..n).map(|i| super::make_env(&r.env.name, seed + i as u64, &r.env)).collect::<Result<Vec<_>>>()?;
    VecEnv::new(envs, r.env.threads)
}

fn ppo_params(r: &RlConfig) -> PpoParams {
    let p = &r.ppo;
    PpoParams { clip_coef: p.clip_coef, clip_vloss: p.clip_vloss, norm_adv: p.norm_adv, ent_coef: p.ent_coef, vf_coef: p.vf_coef }
}

/// The learner a config describes: teacher + students, Adam (students with weight decay), the engine.
pub fn build_learner(cfg: &Config, obs_shape: &[usize], num_actions: usize, device: Device) -> Result<LotPpo> {
    let r = rl_config(cfg)?;
    let plan = Plan::for_config(cfg);
    let mut models = RlModels::build(obs_shape, num_actions, 1 + plan.students, cfg.run.seed, device, ppo_params(r))?;
    models.set_forward(crate::precision::ForwardOptions::new(r.ppo.precision, r.ppo.channels_last))?;
    let adam = |wd: f64| AdamConfig { lr: r.ppo.lr, eps: r.ppo.adam_eps, weight_decay: wd, ..Default::default() };
    let optims: Vec<Box<dyn Optimizer>> = models
        .stores
        .iter()
        .enumerate()
        .map(|(m, vs)| {
            let wd = if m == 0 { 0.0 } else { r.ppo.student_weight_decay };
            Box::new(Adam::new(named_trainable(vs), adam(wd))) as Box<dyn Optimizer>
        })
        .collect();
    let loss = cfg.lot.loss();
    // max_grad_norm clips the teacher's and each student's gradients separately.
    let engine = Engine::new(loss, cfg.lot.student_steps, optims, Some(r.ppo.max_grad_norm));
    let shape = UpdateShape {
        update_epochs: r.ppo.update_epochs,
        num_minibatches: r.ppo.num_minibatches,
        minibatch_size: r.minibatch_size(),
        batch_size: r.batch_size(),
        obs_cache: r.ppo.obs_cache,
        student_cache: r.ppo.student_cache,
    };
    Ok(LotPpo::new(models, engine, plan, shape, cfg.run.seed))
}

/// Raw episode returns seen so far, with the running "final" and "best" window means.
#[derive(Default)]
struct Returns {
    window: VecDeque<f64>,
    best: Option<f64>,
    count: u64,
}

impl Returns {
    fn push(&mut self, ret: f64) {
        self.count += 1;
        self.window.push_back(ret);
        if self.window.len() > RETURN_WINDOW {
            self.window.pop_front();
        }
        if self.window.len() == RETURN_WINDOW {
            let m = self.mean().unwrap_or(f64::NAN);
            self.best = Some(self.best.map_or(m, |b| b.max(m)));
        }
    }
    fn mean(&self) -> Option<f64> {
        (!self.window.is_empty()).then(|| self.window.iter().sum::<f64>() / self.window.len() as f64)
    }
}

/// The error for resuming a run whose envs cannot be saved.
pub const ATARI_RESUME: &str = "resume is not supported for Atari runs (the emulator state is not saved)";

/// Everything besides tensors that a resumed run needs to continue exactly. f64 values that feed
/// later results are kept as bit patterns (JSON's decimal floats need not read back bit-exact).
#[derive(Serialize, Deserialize)]
struct TrainState {
    /// PPO updates done.
    update: u64,
    global_step: u64,
    /// Bits of the returns window, the best window mean, and episodes seen.
    returns_window: Vec<u64>,
    best_return: Option<u64>,
    episodes: u64,
    /// Bits of each model's loss in the last update (the summary's final_train_loss).
    last_losses: Vec<u64>,
    /// The rollout buffer's carried `next_done`.
    next_done: Vec<bool>,
    /// Each env's `Env::save_state`, as hex; the observations are the tensor `env.obs`.
    envs: Vec<String>,
    learner: LearnerState,
    #[serde(flatten)]
    progress: lifecycle::RunProgress,
    /// Data-parallel runs: ranks 1.. 's own states (their envs, carried dones, shuffle streams and
    /// student caches, whose tensors are saved as `rank<r>.<name>`); rank 0's is the rest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ranks: Vec<serde_json::Value>,
}

impl Returns {
    fn to_bits(&self) -> (Vec<u64>, Option<u64>, u64) {
        (self.window.iter().map(|v| v.to_bits()).collect(), self.best.map(f64::to_bits), self.count)
    }
    fn from_bits(window: &[u64], best: Option<u64>, count: u64) -> Self {
        Self { window: window.iter().map(|&b| f64::from_bits(b)).collect(), best: best.map(f64::from_bits), count }
    }
}

impl lifecycle::RunState for TrainState {
    fn progress(&self) -> &lifecycle::RunProgress {
        &self.progress
    }
    fn position(&self) -> String {
        format!("update {} (env step {})", self.update, self.global_step)
    }
}

/// The checkpoint after update `st.update` (its metric lines written). In a data-parallel run
/// every rank calls this: each rank's own state is gathered into rank 0's checkpoint.
fn checkpoint_contents(st: &mut TrainState, envs: &VecEnv, env_states: Vec<Vec<u8>>, learner: &LotPpo, dist: Option<&Dist>) -> Result<lifecycle::Saved> {
    let (learner_state, mut tensors) = learner.save_state();
    st.learner = learner_state;
    st.envs = env_states.iter().map(|b| to_hex(b)).collect();
    tensors.push(("env.obs".into(), Tensor::from_slice(envs.obs())));
    if let Some(d) = dist {
        // Weights and optimizer states are the same on every rank; the rest is each rank's own.
        let own: Vec<(String, Tensor)> =
            tensors.iter().filter(|(n, _)| !is_shared(n)).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
        st.ranks.clear();
        let all = d.gather_state(&serde_json::to_value(&*st)?, &own)?;
        for (r, (meta, ts)) in all.into_iter().enumerate().skip(1) {
            st.ranks.push(meta);
            tensors.extend(checkpoint::prefixed(&format!("rank{r}."), ts));
        }
    }
    Ok((serde_json::to_value(&*st)?, tensors))
}

/// Checkpoint tensors every rank holds alike (the models and their optimizer states).
fn is_shared(name: &str) -> bool {
    name.starts_with("model") || name.starts_with("optim")
}

/// Rank `rank`'s part of a data-parallel checkpoint (its world size checked by
/// [`lifecycle::open_run`]): its own state, with the shared tensors.
fn rank_state(saved: TrainState, tensors: checkpoint::Tensors, rank: usize, out: &Path) -> Result<(TrainState, checkpoint::Tensors)> {
    if rank == 0 {
        return Ok((saved, tensors));
    }
    let Some(own) = saved.ranks.get(rank - 1) else {
        crate::bail_input!("{}: checkpoint does not match the config: rank {rank}'s state is missing", out.display())
    };
    let own: TrainState = serde_json::from_value(own.clone())
        .map_err(|e| crate::error::input_err(format!("{}: checkpoint does not match the config: rank {rank}'s state: {e}", out.display())))?;
    let mut ts: Vec<(String, Tensor)> = tensors.0.iter().filter(|(n, _)| is_shared(n)).map(|(n, t)| (n.clone(), t.shallow_clone())).collect();
    ts.extend(tensors.with_prefix(&format!("rank{rank}.")));
    Ok((own, checkpoint::Tensors(ts)))
}

/// An RL run in progress: the PPO + LoT learner, its envs and rollout buffer, the training
/// returns, and the resume state. [`lifecycle::fit`] drives it, one PPO update per step.
struct RlLearner {
    learner: LotPpo,
    envs: VecEnv,
    buffer: RolloutBuffer,
    returns: Returns,
    /// PPO updates done, env steps over all ranks, each model's loss in the last update, and the
    /// rest of what a checkpoint holds.
    st: TrainState,
    num_updates: u64,
    r: RlConfig,
    seed: u64,
    rank: usize,
    world: usize,
    /// Whether the envs can be saved (not Atari): without it, no checkpoints.
    saveable: bool,
    dist: Option<Arc<Dist>>,
}

impl RlLearner {
    /// The weights, then an evaluation of every model (students are policies too).
    fn finish(self, cfg: &Config, out: &Path, trained: lifecycle::Trained) -> Result<Summary> {
        let lifecycle::Trained { mut track, wall_s } = trained;
        let (r, seed, global_step) = (&self.r, self.seed, self.st.global_step);
        if self.dist.as_ref().is_some_and(|d| !d.is_main()) {
            return Ok(Summary::default()); // rank 0 saves, evaluates and reports
        }
        let learner = &self.learner;
        let device = learner.models.device;
        let mut summary = Summary::new(cfg, self.num_updates, learner.engine.optims[0].steps(), wall_s);
        // Same envs and sampling seed as `lot eval`, so it reproduces these numbers from the weights.
        let mut eval_envs = make_vec_env(r, r.env.num_envs.min(r.eval.episodes), seed + EVAL_SEED_OFFSET)?;
        tch::manual_seed(seed as i64);
        let mut line = format!("{global_step} env steps in {wall_s:.0} s ({:.0}/s)", global_step as f64 / wall_s.max(1e-9));
        let returns = &self.returns;
        for (m, last_loss) in self.st.last_losses.iter().map(|&b| f64::from_bits(b)).enumerate() {
            lifecycle::save_weights(out, m, &learner.models.stores[m], lifecycle::same_names)?;
            let eps = play(&learner.models.agents[m], &mut eval_envs, r.eval.episodes, r.eval.greedy, device)?;
            let (mean, std) = mean_std(&eps);
            track.write(&Record {
                epoch: self.num_updates,
                step: global_step,
                model: model_name(m),
                split: "eval".into(),
                kind: RecordKind::Episode {
                    episodic_return: mean,
                    episode_length: eps.iter().map(|e| e.len as f64).sum::<f64>() / eps.len().max(1) as f64,
                },
                wall_s: track.wall_s(),
                ..Default::default()
            })?;
            let teacher = m == 0;
            summary.models.insert(
                model_name(m),
                ModelSummary {
                    best_epoch: self.num_updates,
                    optimizer_steps: learner.engine.optims[m].steps(),
                    kind: SummaryKind::Reinforcement {
                        final_train_loss: Some(last_loss),
                        legacy_final_test_loss: None,
                        final_return: if teacher { returns.mean() } else { None },
                        best_return: if teacher { returns.best.or(returns.mean()) } else { None },
                        eval_return: mean,
                        eval_return_std: std,
                        env_steps: teacher.then_some(global_step),
                    },
                },
            );
            line.push_str(&format!(" | {} eval return {mean:.1} ± {std:.1}", model_name(m)));
            if teacher {
                line.push_str(&format!(" (training, last {RETURN_WINDOW}: {})", returns.mean().map_or("-".into(), |v| format!("{v:.1}"))));
            }
        }
        eprintln!("{line}");
        run::write_summary(out, &summary)?;
        plot_run(out)?;
        Ok(summary)
    }
}

impl lifecycle::Learner for RlLearner {
    fn done(&self) -> u64 {
        self.st.update
    }

    fn total(&self) -> u64 {
        self.num_updates
    }

    fn label(&self, update: u64) -> String {
        format!("update {update}")
    }

    fn step(&mut self, track: &mut Tracker) -> Result<()> {
        let update = self.st.update + 1;
        let r = &self.r;
        // Action sampling draws from torch's generator: a function of (seed, rank, update) alone.
        checkpoint::reseed_torch(self.seed.wrapping_add(self.rank as u64 * 1_000_003), update);
        let lr = r.ppo.lr_at(update, self.num_updates);
        self.learner.engine.set_lr_all(lr);
        let base_step = self.st.global_step;
        // Env steps count over all ranks; the episodes recorded are rank 0's envs'.
        let n = (self.envs.num_envs() * self.world) as u64;
        let mut episodes = Vec::new();
        let rollout = self.buffer.collect(&mut self.envs, &mut self.learner.models, r.ppo.gamma, r.ppo.gae_lambda, |step, e| {
            episodes.push((base_step + (step as u64 + 1) * n, e));
        })?;
        self.st.global_step += (r.batch_size() * self.world) as u64;
        let global_step = self.st.global_step;
        let wall_s = track.wall_s();
        for (step, e) in episodes {
            self.returns.push(e.ret);
            track.write(&Record {
                epoch: update,
                step,
                model: model_name(0),
                split: "rollout".into(),
                kind: RecordKind::Episode { episodic_return: e.ret, episode_length: e.len as f64 },
                wall_s,
                ..Default::default()
            })?;
        }
        let us = self.learner.update(&rollout)?;
        self.st.update = update;
        let wall_s = track.wall_s();
        let rate = global_step as f64 / wall_s.max(1e-9);
        self.st.last_losses[0] = us.teacher_loss.to_bits();
        track.write(&Record {
            epoch: update,
            step: global_step,
            model: model_name(0),
            split: "train".into(),
            loss: us.teacher_loss,
            lr: Some(lr),
            wall_s,
            kind: RecordKind::PpoUpdate {
                env_steps_per_s: rate,
                approx_kl: us.ppo.approx_kl,
                clip_frac: us.ppo.clip_frac,
                entropy: us.ppo.entropy,
                policy_loss: us.ppo.pg_loss,
                value_loss: us.ppo.v_loss,
            },
            ..Default::default()
        })?;
        for (i, &l) in us.student_loss.iter().enumerate() {
            self.st.last_losses[1 + i] = l.to_bits();
            track.write(&Record {
                epoch: update,
                step: global_step,
                model: model_name(1 + i),
                split: "train".into(),
                loss: l,
                lr: Some(lr),
                wall_s,
                ..Default::default()
            })?;
        }
        let ret = self.returns.mean().map_or("-".to_string(), |m| format!("{m:.1}"));
        track.bar.set_message(format!("return {ret} | {rate:.0} steps/s"));
        track.bar.inc(|| format!("step {global_step} return(last {RETURN_WINDOW}) {ret} {rate:.0} steps/s"));
        Ok(())
    }

    /// Evaluations come after training (episodic returns are recorded as they happen).
    fn eval_due(&self) -> bool {
        false
    }

    fn evaluate(&mut self, _track: &mut Tracker) -> Result<()> {
        Ok(())
    }

    fn checkpoint(&mut self, progress: lifecycle::RunProgress) -> Result<Option<lifecycle::Saved>> {
        if !self.saveable {
            return Ok(None);
        }
        let Some(env_states) = self.envs.save_state()? else { anyhow::bail!("the envs can no longer be saved") };
        let st = &mut self.st;
        (st.returns_window, st.best_return, st.episodes) = self.returns.to_bits();
        st.next_done = self.buffer.next_done();
        st.progress = progress;
        checkpoint_contents(st, &self.envs, env_states, &self.learner, self.dist.as_deref()).map(Some)
    }

    fn stopped_at(&self) -> String {
        format!("after update {} of {} (env step {})", self.st.update, self.num_updates, self.st.global_step)
    }

    fn not_saved(&self) -> Option<&'static str> {
        (!self.saveable).then_some(ATARI_RESUME)
    }

    fn stores(&self) -> &[tch::nn::VarStore] {
        &self.learner.models.stores
    }

    fn world_size(&self) -> usize {
        self.world
    }

    fn intro(&self) -> Option<String> {
        let r = &self.r;
        Some(format!(
            "{}: {} envs ({} env thread(s)), {} updates of {} steps, {} student(s){}",
            r.env.name,
            self.envs.num_envs(),
            self.envs.threads(),
            self.num_updates,
            r.batch_size(),
            self.learner.num_students(),
            if self.saveable { "" } else { "; no resume checkpoints (the emulator state is not saved)" }
        ))
    }

    fn throughput(&self) -> lifecycle::Throughput {
        let r = &self.r;
        lifecycle::Throughput { per_rank_batch: r.env.num_envs, per_step: (r.batch_size() * self.world) as f64, unit: "env_steps" }
    }
}

/// Train per the config into the run folder `out` (created once the envs are built); with
/// `resume`, continue from its checkpoint. A checkpoint is written every `run.checkpoint_every`
/// PPO updates and on Ctrl-C, except for Atari runs, whose emulator state cannot be saved.
pub fn train(cfg: &Config, out: &Path, resume: bool) -> Result<Summary> {
    let r = rl_config(cfg)?;
    if resume && super::is_atari_name(&r.env.name) {
        crate::bail_input!("{ATARI_RESUME}");
    }
    let device = lifecycle::device(cfg)?;
    let seed = cfg.run.seed;
    // Data parallelism (RANK/WORLD_SIZE set): rank r runs its own num_envs envs, seeded after the
    // lower ranks' (env i of rank r gets seed + r·num_envs + i), and its own action samples.
    let (rank, world) = LaunchEnv::from_env()?.map_or((0, 1), |e| (e.rank, e.world_size));
    let mut envs = make_vec_env(r, r.env.num_envs, seed + (rank * r.env.num_envs) as u64)?;
    let mut learner = build_learner(cfg, envs.obs_shape(), envs.num_actions(), device)?;
    // Envs that cannot be saved (Atari) make the run non-resumable: no checkpoints then.
    let saveable = envs.save_state()?.is_some();
    if resume && !saveable {
        crate::bail_input!("{ATARI_RESUME}");
    }
    let dist = Dist::for_run(cfg, device)?.map(Arc::new);
    if let Some(d) = &dist {
        learner.engine.sync = Some(d.grad_sync());
    }
    let storage = learner.models.agents[0].kind.storage_kind();
    let mut buffer = RolloutBuffer::new(r.ppo.num_steps, &envs, storage, device);
    // ppo.total_timesteps counts over all ranks (as cleanRL's multi-GPU PPO): W ranks take 1/W
    // of the updates, each of W × num_envs × num_steps env steps.
    let num_updates = r.num_updates() / world as u64;
    if num_updates == 0 {
        crate::bail_input!("key 'ppo.total_timesteps': {} is less than one update of {} ranks × {} env steps", r.ppo.total_timesteps, world, r.batch_size());
    }
    let nm = learner.models.agents.len();
    let mut st = TrainState {
        update: 0,
        global_step: 0,
        returns_window: Vec::new(),
        best_return: None,
        episodes: 0,
        last_losses: vec![0f64.to_bits(); nm],
        next_done: Vec::new(),
        envs: Vec::new(),
        learner: learner.save_state().0,
        progress: lifecycle::RunProgress::fresh(world),
        ranks: Vec::new(),
    };
    let mut returns = Returns::default();
    let opts = lifecycle::RunOptions::from_config(cfg);
    // The envs exist (ROMs found, names valid): only now open the run folder.
    if let Some((saved, tensors)) = lifecycle::open_run::<TrainState>(&opts, out, resume, device, dist.as_deref())? {
        let (saved, tensors) = rank_state(saved, tensors, rank, out)?;
        st = saved;
        let mismatch = |e: anyhow::Error| crate::error::input_err(format!("checkpoint does not match the config: {e:#}"));
        learner.restore_state(&st.learner, &tensors)?;
        let env_states = st.envs.iter().map(|h| from_hex(h)).collect::<Result<Vec<_>>>().map_err(mismatch)?;
        let obs = tensors.get("env.obs").ok_or_else(|| mismatch(anyhow::anyhow!("env observations missing")))?;
        let obs = Vec::<f32>::try_from(obs.to_device(Device::Cpu).to_kind(Kind::Float))?;
        envs.restore_state(&env_states, &obs).map_err(mismatch)?;
        buffer.set_next_done(&st.next_done).map_err(mismatch)?;
        if st.last_losses.len() != nm {
            return Err(mismatch(anyhow::anyhow!("{} models saved, {nm} configured", st.last_losses.len())));
        }
        returns = Returns::from_bits(&st.returns_window, st.best_return, st.episodes);
    }
    let elapsed_s = st.progress.elapsed_s;
    let mut run = RlLearner {
        learner,
        envs,
        buffer,
        returns,
        st,
        num_updates,
        r: r.clone(),
        seed,
        rank,
        world,
        saveable,
        dist,
    };
    let dist = run.dist.clone();
    let trained = lifecycle::run(&mut run, &opts, out, elapsed_s, dist)?;
    run.finish(cfg, out, trained)
}

/// `curves.png`: the teacher's episodic return (mean of the last 20 episodes) against env steps,
/// the teacher's loss, and the students' imitation loss.
pub fn plot_run(dir: &Path) -> Result<()> {
    let recs = crate::track::read_metrics(&dir.join(run::METRICS_FILE))?;
    let max_step = recs.iter().map(|r| r.step).max().unwrap_or(0);
    let (scale, unit) = if max_step >= 2_000_000 { (1e6, "M") } else { (1e3, "k") };
    let x = |r: &Record| r.step as f64 / scale;
    let eps: Vec<(f64, f64)> =
        recs.iter().filter(|r| r.split == "rollout").filter_map(|r| r.episodic_return().map(|v| (x(r), v))).collect();
    let smooth: Vec<(f64, f64)> = (0..eps.len())
        .map(|i| {
            let w = &eps[i.saturating_sub(RETURN_WINDOW - 1)..=i];
            (eps[i].0, w.iter().map(|p| p.1).sum::<f64>() / w.len() as f64)
        })
        .collect();
    let mut students: Vec<String> =
        recs.iter().filter(|r| r.split == "train" && r.model != "teacher").map(|r| r.model.clone()).collect();
    students.sort();
    students.dedup();
    let loss = |name: &str| plot::Series {
        label: name.to_string(),
        points: recs.iter().filter(|r| r.model == name && r.split == "train").map(|r| (x(r), r.loss)).collect(),
        band: None,
    };
    let x_label = format!("env steps ({unit})");
    let mut panels = vec![
        plot::Panel {
            title: format!("teacher episodic return (mean of {RETURN_WINDOW})"),
            x_label: x_label.clone(),
            y_label: "return".into(),
            series: vec![plot::Series { label: "teacher".into(), points: smooth, band: None }],
        },
        plot::Panel { title: "teacher loss (PPO + α·KL)".into(), x_label: x_label.clone(), y_label: "loss".into(), series: vec![loss("teacher")] },
    ];
    if !students.is_empty() {
        let series = students.iter().map(|n| loss(n)).collect();
        panels.push(plot::Panel { title: "student loss (KL to the teacher)".into(), x_label, y_label: "loss".into(), series });
    }
    plot::plot_panels(&dir.join("curves.png"), &panels)
}

/// `lot eval RUN_DIR`: reload the saved models and play `eval.episodes` episodes with each.
pub fn evaluate_run(dir: &Path, cfg: &Config) -> Result<Vec<run::EvalRow>> {
    let r = rl_config(cfg)?;
    let device = lifecycle::device(cfg)?;
    let mut envs = make_vec_env(r, r.env.num_envs.min(r.eval.episodes), cfg.run.seed + EVAL_SEED_OFFSET)?;
    let learner = build_learner(cfg, envs.obs_shape(), envs.num_actions(), device)?;
    tch::manual_seed(cfg.run.seed as i64);
    let mut out = Vec::new();
    for m in 0..learner.models.agents.len() {
        lifecycle::load_weights(dir, m, &learner.models.stores[m], lifecycle::same_names)?;
        let eps = play(&learner.models.agents[m], &mut envs, r.eval.episodes, r.eval.greedy, device)?;
        let (mean, std) = mean_std(&eps);
        out.push(run::EvalRow {
            model: model_name(m),
            values: vec![("mean return".into(), mean), ("std return".into(), std), ("episodes".into(), eps.len() as f64)],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const CARTPOLE: &str = include_str!("../../../../configs/cartpole_lot.toml");

    fn config(sets: &[&str]) -> Config {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::from_toml(CARTPOLE, &sets, "cartpole_lot.toml").unwrap()
    }

    #[test]
    fn baselines_run_and_count_their_steps() {
        // two updates of each mode on a small rollout
        let small = ["ppo.total_timesteps=512", "env.num_envs=2", "ppo.num_steps=128", "lot.student_steps=3"];
        let mut steps = BTreeMap::new();
        for mode in ["lot", "teacher_only", "no_student", "compute_matched"] {
            let dir = tempfile::tempdir().unwrap();
            let mut sets = small.to_vec();
            let m = format!("lot.mode={mode}");
            sets.push(&m);
            let s = train(&config(&sets), &dir.path().join("run"), false).unwrap();
            let total: u64 = s.models.values().map(|m| m.optimizer_steps).sum();
            steps.insert(mode, (s.models.len(), s.models["teacher"].optimizer_steps, total));
        }
        // LoT: 16 joint steps per update; students add N × cache rollouts × 4 (cache: 1, then 2 rollouts)
        assert_eq!(steps["lot"], (2, 32, 32 + 32 + 3 * 4 * (1 + 2)));
        assert_eq!(steps["teacher_only"], steps["lot"]);
        assert_eq!(steps["no_student"], (1, 32, 32));
        // compute-matched: the teacher alone takes the LoT run's total
        assert_eq!(steps["compute_matched"], (1, steps["lot"].2, steps["lot"].2));
    }

    #[test]
    fn atari_runs_cannot_be_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&[]);
        if let Domain::Rl(r) = &mut cfg.domain {
            r.env.name = "BreakoutNoFrameskip-v4".into();
        }
        let e = train(&cfg, dir.path(), true).unwrap_err();
        assert!(crate::error::is_input_error(&e) && e.to_string() == ATARI_RESUME, "{e}");
    }

    /// Frames like the Atari envs give (4×84×84, whole numbers 0..255): the Nature-CNN path,
    /// byte storage and the student cache, through collection and two LoT updates.
    struct Frames {
        t: u64,
        ret: f64,
    }

    impl super::super::env::Env for Frames {
        fn obs_shape(&self) -> Vec<usize> {
            vec![4, 84, 84]
        }
        fn num_actions(&self) -> usize {
            4
        }
        fn reset(&mut self, obs: &mut [f32]) {
            self.t = 0;
            self.ret = 0.0;
            obs.iter_mut().enumerate().for_each(|(i, o)| *o = (i % 256) as f32);
        }
        fn step(&mut self, action: usize, obs: &mut [f32]) -> super::super::env::Step {
            self.t += 1;
            let reward = if action == 1 { 1.0 } else { 0.0 };
            self.ret += reward as f64;
            obs.iter_mut().enumerate().for_each(|(i, o)| *o = ((i as u64 + self.t * 7) % 256) as f32);
            let terminated = self.t == 5;
            let episode = terminated.then_some(super::super::env::EpisodeStats { ret: self.ret, len: self.t });
            super::super::env::Step { reward, terminated, truncated: false, episode }
        }
    }

    #[test]
    fn nature_cnn_learner_runs_on_frames() {
        let cfg = config(&["env.num_envs=2", "ppo.num_steps=8", "ppo.total_timesteps=32", "ppo.obs_cache=2"]);
        let envs: Vec<Box<dyn super::super::env::Env>> = (0..2).map(|_| Box::new(Frames { t: 0, ret: 0.0 }) as _).collect();
        let mut envs = VecEnv::new(envs, 2).unwrap();
        let mut learner = build_learner(&cfg, envs.obs_shape(), envs.num_actions(), Device::Cpu).unwrap();
        assert_eq!(learner.models.agents[0].kind, super::super::agent::AgentKind::NatureCnn);
        let mut buffer = RolloutBuffer::new(8, &envs, tch::Kind::Uint8, Device::Cpu);
        let mut episodes = 0;
        for u in 1..=3 {
            let r = buffer.collect(&mut envs, &mut learner.models, 0.99, 0.95, |_, e| {
                assert_eq!(e.len, 5);
                episodes += 1;
            }).unwrap();
            assert_eq!(r.obs.kind(), tch::Kind::Uint8);
            assert_eq!(r.obs.size(), vec![16, 4, 84, 84]);
            let st = learner.update(&r).unwrap();
            assert!(st.teacher_loss.is_finite() && st.student_loss[0].is_finite());
            // 16 joint steps + N (5) passes × cache rows / minibatch (4)
            assert_eq!(st.student_steps as usize, 16 + 5 * u.min(2) * 16 / 4);
        }
        assert_eq!(episodes, 2 * (24 / 5));
        assert_eq!(learner.cache_rows(), 32);
    }
}
