//! Reinforcement learning: environments, vector env, PPO and LoT for PPO.
//!
//! `make_env` is the one place that turns an env name into an [`env::Env`]; the trainer and
//! `lot eval` go through it.

pub mod agent;
pub mod atari;
pub mod classic;
pub mod config;
pub mod env;
pub mod eval;
pub mod lot_ppo;
pub mod minatar;
pub mod ppo;
pub mod rollout;
pub mod state;
pub mod train;
pub mod vec_env;

pub use train::{evaluate_run, train};

use anyhow::Result;

use crate::bail_input;
use config::EnvConfig;
use env::Env;

/// Classic-control envs built in.
pub const CLASSIC_ENVS: [&str; 2] = ["CartPole-v1", "Acrobot-v1"];

/// Atari games go by gym's v4 names, e.g. `BreakoutNoFrameskip-v4`.
pub fn is_atari_name(name: &str) -> bool {
    name.len() > "NoFrameskip-v4".len() && name.ends_with("NoFrameskip-v4")
}

/// Check an env name before any work starts. Errors name the key `env.name`.
pub fn check_env_name(name: &str) -> Result<()> {
    if CLASSIC_ENVS.contains(&name) {
        return Ok(());
    }
    if minatar::is_minatar_name(name) {
        return minatar::check_name(name);
    }
    if is_atari_name(name) {
        atari::roms::rom_stem(name).map_err(|e| crate::error::input_err(format!("key 'env.name': {e}")))?;
        if cfg!(feature = "atari") {
            return Ok(());
        }
        bail_input!(
            "key 'env.name': '{name}' is an Atari game, and this build has no Atari support; rebuild with `cargo build --release --features atari`"
        );
    }
    let shown = if name.is_empty() { "missing".to_string() } else { format!("unknown environment '{name}'") };
    bail_input!("key 'env.name': {shown} (known: {}, an Atari game such as BreakoutNoFrameskip-v4, or a MinAtar game such as MinAtar/Breakout-v1)", CLASSIC_ENVS.join(", "))
}

/// Build env `name` seeded with `seed` (the trainer gives env i the seed `run.seed + i`).
pub fn make_env(name: &str, seed: u64, cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    match name {
        "CartPole-v1" => Ok(Box::new(classic::CartPole::new(seed))),
        "Acrobot-v1" => Ok(Box::new(classic::Acrobot::new(seed))),
        _ if minatar::is_minatar_name(name) => minatar::make(name, seed),
        _ => {
            check_env_name(name)?;
            make_atari(name, seed, cfg)
        }
    }
}

/// Atari through the wrappers of `atari::make_with`; without the `atari` feature that returns the
/// input error saying how to build it.
fn make_atari(name: &str, seed: u64, cfg: &EnvConfig) -> Result<Box<dyn Env>> {
    let dir = if cfg.rom_dir.is_empty() { atari::roms::default_rom_dir() } else { std::path::PathBuf::from(&cfg.rom_dir) };
    atari::make_with(name, seed, &dir, atari::AtariConfig::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve() {
        let cfg = EnvConfig::default();
        let e = make_env("CartPole-v1", 1, &cfg).unwrap();
        assert_eq!((e.obs_shape(), e.num_actions()), (vec![4], 2));
        let e = make_env("Acrobot-v1", 1, &cfg).unwrap();
        assert_eq!((e.obs_shape(), e.num_actions()), (vec![6], 3));
        assert!(is_atari_name("BreakoutNoFrameskip-v4") && !is_atari_name("NoFrameskip-v4") && !is_atari_name("Breakout-v5"));
        let e = make_env("FooNoFrameskip-v4", 1, &cfg).err().unwrap().to_string();
        assert!(e.starts_with("key 'env.name': unknown Atari game"), "{e}");
        let e = make_env("Pong", 1, &cfg).err().unwrap().to_string();
        assert!(e.contains("unknown environment 'Pong'") && e.contains("CartPole-v1, Acrobot-v1"), "{e}");
    }
}
