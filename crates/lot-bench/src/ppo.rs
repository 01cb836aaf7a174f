//! The PPO worker: the RL trainer itself (`lot train`'s code path) on CartPole or an Atari game.

use anyhow::Result;

use lot::config::Config;

use crate::{BenchSpec, WorkerResult};

/// The CartPole LoT recipe (`configs/cartpole_lot.toml`) with the spec's sizes; the bench runs
/// the RL trainer itself (`lot train`'s code path) and reports its update-loop time.
const PPO_BENCH_CONFIG: &str = r#"
task = "rl"
[run]
name = "bench-ppo"
checkpoint_every = 0
[lot]
mode = "lot"
loss = "kl"
students = 1
[env]
name = "CartPole-v1"
[ppo]
anneal = "cosine"
lr_min = 1e-5
gamma = 0.99
gae_lambda = 0.95
num_minibatches = 4
update_epochs = 4
clip_coef = 0.2
ent_coef = 0.0
vf_coef = 0.5
max_grad_norm = 0.5
student_weight_decay = 1e-4
[eval]
episodes = 1
"#;

/// Our Atari config (cleanRL ppo_atari hyperparameters, Nature CNN, LoT α 0.5, N 5, T 1, obs
/// cache 10); the bench overrides the run, the sizes and the env name, and evaluates 1 episode.
const PPO_ATARI_BENCH_CONFIG: &str = include_str!("../../../configs/atari_breakout_lot.toml");

pub(crate) fn ppo_loop(spec: &BenchSpec) -> Result<(f64, WorkerResult)> {
    spec.check_env()?;
    let batch = spec.num_envs * spec.num_steps;
    let atari = lot::rl::is_atari_name(&spec.env);
    let mut sets: Vec<String> = vec![
        format!("run.seed={}", spec.seed),
        format!("run.device=\"{}\"", spec.device),
        format!("run.threads={}", spec.threads),
        format!("lot.alpha={}", spec.alpha),
        format!("lot.temperature={}", spec.temperature),
        format!("lot.student_steps={}", spec.student_steps),
        format!("env.num_envs={}", spec.num_envs),
        format!("ppo.num_steps={}", spec.num_steps),
        format!("ppo.lr={}", spec.lr),
        format!("ppo.obs_cache={}", spec.obs_cache),
        format!("ppo.precision=\"{}\"", spec.precision.name()),
        format!("ppo.channels_last={}", spec.channels_last),
        format!("ppo.total_timesteps={}", (spec.warmup + spec.steps) * batch),
    ];
    let cfg = if atari {
        sets.extend([
            "run.name=\"bench-ppo\"".to_string(),
            "run.checkpoint_every=0".to_string(),
            format!("env.name=\"{}\"", spec.env),
            "eval.episodes=1".to_string(),
        ]);
        Config::from_toml(PPO_ATARI_BENCH_CONFIG, &sets, "bench ppo config (configs/atari_breakout_lot.toml)")?
    } else {
        Config::from_toml(PPO_BENCH_CONFIG, &sets, "bench ppo config")?
    };
    let dir = std::env::temp_dir().join(format!("lot-bench-ppo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = lot::train(&cfg, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = result?;
    let train_s = summary.wall_s;
    Ok((
        train_s,
        WorkerResult {
            env_steps_per_s: Some(((spec.warmup + spec.steps) * batch) as f64 / train_s.max(1e-9)),
            updates: Some(spec.warmup + spec.steps),
            env: Some(spec.env.clone()),
            ..Default::default()
        },
    ))
}
