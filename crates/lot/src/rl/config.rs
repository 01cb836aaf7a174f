//! The rl sections of a config: `[env]`, `[ppo]`, `[eval]`. Defaults are the reference's Atari
//! values (cleanRL ppo_atari + LoT's cosine schedule; docs/algorithm.md, "Reinforcement learning
//! (PPO)").

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::bail_input;
use crate::config::common::LotConfig;
use crate::engine::LossMode;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlConfig {
    /// `[env]`: the environments.
    pub env: EnvConfig,
    /// `[ppo]`: PPO and the students' updates.
    pub ppo: PpoConfig,
    /// `[eval]`: the evaluation after training and in `lot eval`.
    pub eval: EvalConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// `CartPole-v1`, `Acrobot-v1` (gymnasium dynamics, 500-step limit), an Atari game
    /// `<Game>NoFrameskip-v4` (feature `atari`), or `MinAtar/<Game>-v1` for Asterix, Breakout,
    /// Freeway, Seaquest, SpaceInvaders (feature `minatar`).
    pub name: String,
    /// Parallel envs; env i is seeded `run.seed + i`.
    pub num_envs: usize,
    /// Worker threads stepping the envs: 0 = auto (inline for cheap envs), 1 = inline.
    pub threads: usize,
    /// Atari ROM folder; empty = `<data root>/atari-roms` (`lot data fetch atari-roms`).
    pub rom_dir: String,
}

impl Default for EnvConfig {
    fn default() -> Self {
        Self { name: String::new(), num_envs: 8, threads: 0, rom_dir: String::new() }
    }
}

/// Learning-rate schedule over updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anneal {
    /// CosineAnnealingLR to `lr_min`, stepped per update (the LoT reference).
    Cosine,
    /// cleanRL's linear decay: lr·(1 − (update−1)/num_updates).
    Linear,
    /// `lr` throughout.
    Constant,
}

/// What the students revisit after each update (`ppo.student_cache`; docs/algorithm.md, "Student
/// phase").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentCache {
    /// What the reference's code does: its cache entries are views of the one rollout buffer,
    /// overwritten every rollout, so each of the min(update, obs_cache) entries is the current
    /// rollout, shuffled on its own.
    #[default]
    Reference,
    /// What the reference's code looks like (and the paper says): the last `obs_cache` distinct
    /// rollouts, shuffled together.
    Distinct,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PpoConfig {
    /// Agent steps (all envs together).
    pub total_timesteps: u64,
    /// Steps per env per rollout.
    pub num_steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Learning-rate schedule over updates.
    pub anneal: Anneal,
    /// `cosine`: the final learning rate.
    pub lr_min: f64,
    /// Adam ε.
    pub adam_eps: f64,
    /// Discount γ.
    pub gamma: f64,
    /// GAE λ.
    pub gae_lambda: f64,
    /// Minibatches per PPO epoch.
    pub num_minibatches: usize,
    /// PPO epochs per rollout.
    pub update_epochs: usize,
    /// Normalise advantages per minibatch.
    pub norm_adv: bool,
    /// PPO's clip ε of the policy ratio (and of the value change with `clip_vloss`).
    pub clip_coef: f64,
    /// Clip the value loss as cleanRL does.
    pub clip_vloss: bool,
    /// Weight of the entropy bonus.
    pub ent_coef: f64,
    /// Weight of the value loss.
    pub vf_coef: f64,
    /// Gradient-norm clip, per model.
    pub max_grad_norm: f64,
    /// Rollouts whose observations the students revisit after each update (the reference's obs_num).
    pub obs_cache: usize,
    /// What a cache entry is. A resumed run folder whose config.toml lacks the key predates it
    /// and keeps `distinct`.
    pub student_cache: StudentCache,
    /// Adam L2 weight decay of the students (the teacher has none).
    pub student_weight_decay: f64,
    /// `fp32` (exact), `auto` (bf16 where native, else fp32; the MLP always fp32) or `bf16`: the
    /// Atari CNN's convolutions and 3136→512 layer in bf16 with fp32 master weights, heads and
    /// losses (Atari only; pair it with `channels_last`).
    pub precision: crate::precision::Precision,
    /// The Atari CNN's convolutions in channels-last memory format (oneDNN's fast layout on CPU;
    /// in fp32 the same math in another summation order; bf16 needs it to be fast). Not for the MLP.
    pub channels_last: bool,
}

impl Default for PpoConfig {
    fn default() -> Self {
        Self {
            total_timesteps: 20_000_000,
            num_steps: 128,
            lr: 2.5e-4,
            anneal: Anneal::Cosine,
            lr_min: 2.5e-6,
            adam_eps: 1e-5,
            gamma: 0.99,
            gae_lambda: 0.95,
            num_minibatches: 4,
            update_epochs: 4,
            norm_adv: true,
            clip_coef: 0.1,
            clip_vloss: true,
            ent_coef: 0.01,
            vf_coef: 0.5,
            max_grad_norm: 0.5,
            obs_cache: 10,
            student_cache: StudentCache::Reference,
            student_weight_decay: 1e-4,
            precision: crate::precision::Precision::Fp32,
            channels_last: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Episodes per model at the end of training and in `lot eval`.
    pub episodes: usize,
    /// Argmax actions instead of sampling (cleanRL evaluates by sampling).
    pub greedy: bool,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self { episodes: 10, greedy: false }
    }
}

/// `--set`s a saved run config needs to be read back as it was trained: a run folder's config.toml
/// records every key, so one whose `[ppo]` lacks `student_cache` was written before the key
/// existed, when the distinct cache was the only one (in a new config a missing key means
/// `reference`). Not an rl config, or the key present: none.
pub fn saved_config_sets(text: &str) -> Vec<String> {
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    let rl = doc.get("task").and_then(|t| t.as_str()) == Some("rl");
    let has_key = doc.get("ppo").and_then(|p| p.as_table()).is_some_and(|p| p.contains_key("student_cache"));
    if rl && !has_key {
        vec!["ppo.student_cache=\"distinct\"".to_string()]
    } else {
        Vec::new()
    }
}

impl PpoConfig {
    /// lr at update `u` (1-based) of `num_updates`.
    pub fn lr_at(&self, u: u64, num_updates: u64) -> f64 {
        match self.anneal {
            Anneal::Cosine => crate::optim::cosine_lr(self.lr, self.lr_min, u.saturating_sub(1), num_updates),
            Anneal::Linear => self.lr * (1.0 - (u.saturating_sub(1)) as f64 / num_updates.max(1) as f64),
            Anneal::Constant => self.lr,
        }
    }
}

impl RlConfig {
    /// Samples per rollout (num_envs × num_steps).
    pub fn batch_size(&self) -> usize {
        self.env.num_envs * self.ppo.num_steps
    }
    pub fn minibatch_size(&self) -> usize {
        self.batch_size() / self.ppo.num_minibatches.max(1)
    }
    pub fn num_updates(&self) -> u64 {
        self.ppo.total_timesteps / self.batch_size().max(1) as u64
    }

    /// Range checks serde cannot express; errors name the key.
    pub fn validate(&self, lot: &LotConfig) -> Result<()> {
        super::check_env_name(&self.env.name)?;
        let (e, p) = (&self.env, &self.ppo);
        if p.precision == crate::precision::Precision::Bf16 && !super::is_atari_name(&e.name) {
            bail_input!("key 'ppo.precision': bf16 is for the Atari CNN; {} runs the MLP in fp32", e.name);
        }
        if p.channels_last && !super::is_atari_name(&e.name) {
            bail_input!("key 'ppo.channels_last': channels-last is for the Atari CNN; {} runs an MLP", e.name);
        }
        if e.num_envs < 1 {
            bail_input!("key 'env.num_envs': must be >= 1");
        }
        if p.num_steps < 1 {
            bail_input!("key 'ppo.num_steps': must be >= 1");
        }
        // Bounded so the rollout size cannot overflow (it would wrap in release builds).
        if e.num_envs > 4096 {
            bail_input!("key 'env.num_envs': at most 4096, got {}", e.num_envs);
        }
        if p.num_steps > 1 << 20 {
            bail_input!("key 'ppo.num_steps': at most 1048576, got {}", p.num_steps);
        }
        if p.total_timesteps < self.batch_size() as u64 {
            bail_input!(
                "key 'ppo.total_timesteps': must be at least one rollout (env.num_envs × ppo.num_steps = {}), got {}",
                self.batch_size(),
                p.total_timesteps
            );
        }
        if p.num_minibatches < 1 || self.batch_size() % p.num_minibatches != 0 {
            bail_input!(
                "key 'ppo.num_minibatches': must divide the rollout size env.num_envs × ppo.num_steps = {}, got {}",
                self.batch_size(),
                p.num_minibatches
            );
        }
        if self.minibatch_size() < 2 {
            bail_input!("key 'ppo.num_minibatches': minibatches need at least 2 samples (advantages are normalised per minibatch)");
        }
        if p.update_epochs < 1 {
            bail_input!("key 'ppo.update_epochs': must be >= 1");
        }
        let positive = [("ppo.lr", p.lr), ("ppo.adam_eps", p.adam_eps), ("ppo.clip_coef", p.clip_coef), ("ppo.max_grad_norm", p.max_grad_norm)];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                bail_input!("key '{key}': must be > 0, got {v}");
            }
        }
        let non_negative = [
            ("ppo.ent_coef", p.ent_coef),
            ("ppo.vf_coef", p.vf_coef),
            ("ppo.student_weight_decay", p.student_weight_decay),
            ("ppo.lr_min", p.lr_min),
        ];
        for (key, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                bail_input!("key '{key}': must be >= 0, got {v}");
            }
        }
        if p.lr_min > p.lr {
            bail_input!("key 'ppo.lr_min': must be <= ppo.lr ({}), got {}", p.lr, p.lr_min);
        }
        for (key, v) in [("ppo.gamma", p.gamma), ("ppo.gae_lambda", p.gae_lambda)] {
            if !(0.0..=1.0).contains(&v) {
                bail_input!("key '{key}': must be in [0, 1], got {v}");
            }
        }
        if p.obs_cache < 1 {
            bail_input!("key 'ppo.obs_cache': must be >= 1");
        }
        if self.eval.episodes < 1 {
            bail_input!("key 'eval.episodes': must be >= 1");
        }
        if matches!(lot.loss, LossMode::KlCe | LossMode::SymmetricKlCe) {
            bail_input!("key 'lot.loss': RL students have no labels to learn from; use kl (the reference) or symmetric_kl");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, Domain, Mode};
    use crate::error::is_input_error;

    const CARTPOLE: &str = include_str!("../../../../configs/cartpole_lot.toml");

    fn parse(text: &str, sets: &[&str]) -> anyhow::Result<Config> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::from_toml(text, &sets, "test.toml")
    }

    fn err(text: &str, sets: &[&str]) -> String {
        let e = parse(text, sets).unwrap_err();
        assert!(is_input_error(&e), "not an input error: {e:#}");
        let msg = e.to_string();
        assert_eq!(msg.lines().count(), 1, "{msg}");
        msg
    }

    #[test]
    fn shipped_configs_parse_with_reference_values() {
        let c = parse(CARTPOLE, &[]).unwrap();
        let Domain::Rl(r) = &c.domain else { panic!("not rl") };
        assert_eq!(r.env.name, "CartPole-v1");
        assert_eq!(c.lot.mode, Mode::Lot);
        let again = parse(&c.to_toml(), &[]).unwrap();
        assert_eq!(c, again);
        // the reference's effective cache by default; the saved config records the key
        assert_eq!(r.ppo.student_cache, super::StudentCache::Reference);
        assert!(c.to_toml().contains("student_cache = \"reference\""));
        let d = parse(CARTPOLE, &["ppo.student_cache=distinct"]).unwrap();
        let Domain::Rl(d) = &d.domain else { panic!("not rl") };
        assert_eq!(d.ppo.student_cache, super::StudentCache::Distinct);
        parse(include_str!("../../../../configs/acrobot_lot.toml"), &[]).unwrap();
        for game in ["beamrider", "breakout", "upndown", "gravitar"] {
            let path = format!("{}/../../configs/atari_{game}_lot.toml", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            match parse(&text, &[]) {
                Ok(c) => {
                    let Domain::Rl(r) = &c.domain else { panic!("not rl") };
                    assert_eq!((r.env.num_envs, r.ppo.num_steps, r.ppo.total_timesteps), (8, 128, 20_000_000));
                    assert_eq!((c.lot.student_steps, c.lot.temperature), (5, 1.0));
                    assert_eq!(c.lot.alpha, if game == "gravitar" { 0.1 } else { 0.5 });
                    assert_eq!(r.ppo, super::PpoConfig::default());
                    let fast = parse(&text, &["ppo.precision=\"bf16\""]).unwrap();
                    let Domain::Rl(f) = &fast.domain else { panic!("not rl") };
                    assert_eq!(f.ppo.precision, crate::precision::Precision::Bf16);
                }
                // without the atari feature the name is refused with a pointer to the feature
                Err(e) => assert!(!cfg!(feature = "atari") && e.to_string().contains("--features atari"), "{e}"),
            }
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(err(CARTPOLE, &["env.num_envs=0"]).contains("key 'env.num_envs': must be >= 1"));
        assert!(err(CARTPOLE, &["env.num_envs=4611686018427387905", "ppo.num_steps=4"]).contains("key 'env.num_envs': at most"));
        let e = err(CARTPOLE, &["env.name=MountainCar-v0"]);
        assert!(e.contains("env.name") && e.contains("MountainCar-v0") && e.contains("CartPole-v1") && e.contains("Acrobot-v1"), "{e}");
        assert!(err(CARTPOLE, &["ppo.num_minibatches=3"]).contains("ppo.num_minibatches"));
        assert!(err(CARTPOLE, &["ppo.total_timesteps=10"]).contains("ppo.total_timesteps"));
        assert!(err(CARTPOLE, &["ppo.gamma=1.5"]).contains("ppo.gamma"));
        assert!(err(CARTPOLE, &["ppo.lr=0"]).contains("ppo.lr"));
        assert!(err(CARTPOLE, &["ppo.obs_cache=0"]).contains("ppo.obs_cache"));
        assert!(err(CARTPOLE, &["eval.episodes=0"]).contains("eval.episodes"));
        let e = err(CARTPOLE, &["ppo.precision=\"bf16\""]);
        assert!(e.contains("key 'ppo.precision'") && e.contains("Atari"), "{e}");
        assert!(err(CARTPOLE, &["ppo.precision=\"fp16\""]).contains("fp16"));
        let e = err(CARTPOLE, &["ppo.channels_last=true"]);
        assert!(e.contains("key 'ppo.channels_last'") && e.contains("Atari"), "{e}");
        assert!(err(CARTPOLE, &["lot.loss=kl_ce"]).contains("lot.loss"));
        assert!(err(CARTPOLE, &["ppo.anneal=step"]).contains("ppo.anneal"));
        assert!(err(CARTPOLE, &["ppo.student_cache=fifo"]).contains("ppo.student_cache"));
        assert!(err(CARTPOLE, &["ppo.bogus=1"]).contains("bogus"));
        assert!(err("task = \"rl\"\n", &[]).contains("env.name"));
        if !cfg!(feature = "atari") {
            let e = err(CARTPOLE, &["env.name=BreakoutNoFrameskip-v4"]);
            assert!(e.contains("--features atari"), "{e}");
        }
    }

    #[test]
    fn old_saved_configs_resume_with_the_distinct_cache() {
        let old = parse(CARTPOLE, &[]).unwrap().to_toml().replace("student_cache = \"reference\"\n", "");
        assert!(!old.contains("student_cache"));
        let sets = super::saved_config_sets(&old);
        let Domain::Rl(r) = parse(&old, &sets.iter().map(|s| s.as_str()).collect::<Vec<_>>()).unwrap().domain else { panic!() };
        assert_eq!(r.ppo.student_cache, super::StudentCache::Distinct);
        // a new run's saved config keeps its own value; other tasks get nothing
        let new = parse(CARTPOLE, &[]).unwrap().to_toml();
        assert!(super::saved_config_sets(&new).is_empty());
        assert!(super::saved_config_sets("task = \"vision\"\n").is_empty());
    }

    #[test]
    fn lr_schedules() {
        let mut p = super::PpoConfig::default();
        assert_eq!(p.lr_at(1, 100), 2.5e-4);
        assert!((p.lr_at(101, 100) - 2.5e-6).abs() < 1e-15);
        assert!((p.lr_at(51, 100) - (2.5e-6 + (2.5e-4 - 2.5e-6) / 2.0)).abs() < 1e-15);
        p.anneal = super::Anneal::Linear;
        assert!((p.lr_at(51, 100) - 1.25e-4).abs() < 1e-15);
        assert!((p.lr_at(100, 100) - 2.5e-6).abs() < 1e-15);
        p.anneal = super::Anneal::Constant;
        assert_eq!(p.lr_at(77, 100), 2.5e-4);
    }
}
