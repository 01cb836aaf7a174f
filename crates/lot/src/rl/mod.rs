//! Reinforcement learning: environments, vector env, PPO and LoT for PPO.

pub mod atari;
pub mod config;
pub mod env;
