//! End-to-end PPO + LoT on CartPole with the shipped config. In its own test binary (its own
//! process) because the trainer samples actions from libtorch's global generator: with the unit
//! tests alongside, other threads drawing from that generator would change this run's trajectory
//! and make the learning bar depend on thread timing.

use lot::config::{Config, Domain};

const CARTPOLE: &str = include_str!("../../../configs/cartpole_lot.toml");

fn config(sets: &[&str]) -> Config {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    Config::from_toml(CARTPOLE, &sets, "cartpole_lot.toml").unwrap()
}

/// The shipped CartPole config, as is: PPO + LoT must balance the pole (mean of the last 20
/// training episodes ≥ 450 of 500), write the whole run folder, and `lot eval` must replay
/// the summary's evaluation from the saved weights.
#[test]
fn ppo_lot_learns_cartpole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let cfg = config(&[]);
    let s = lot::rl::train(&cfg, &out, false).unwrap();
    let t = &s.models["teacher"];
    let student = &s.models["student0"];
    eprintln!("teacher: {t:?}\nstudent: {student:?}\nwall {:.0} s", s.wall_s);
    assert!(t.final_return().unwrap() >= 450.0, "teacher final return {:?}", t.final_return());
    assert!(t.eval_return().unwrap() >= 450.0, "teacher eval return {:?}", t.eval_return());
    let Domain::Rl(r) = &cfg.domain else { panic!("not an rl config") };
    assert_eq!(t.env_steps(), Some(r.num_updates() * r.batch_size() as u64));
    assert_eq!(t.optimizer_steps, r.num_updates() * 16);
    assert!(student.optimizer_steps > t.optimizer_steps);
    for f in ["config.toml", "metrics.jsonl", "summary.json", "teacher.safetensors", "student0.safetensors", "curves.png"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let recs = lot::track::read_metrics(&out.join(lot::run::METRICS_FILE)).unwrap();
    let episodes: Vec<&lot::track::metrics::Record> = recs.iter().filter(|r| r.split == "rollout").collect();
    assert!(episodes.len() > 100 && episodes.windows(2).all(|w| w[0].step <= w[1].step));
    assert!(episodes.iter().all(|r| r.episodic_return().is_some() && r.episode_length().is_some()));
    let trains = recs.iter().filter(|r| r.split == "train" && r.model == "teacher").count() as u64;
    assert_eq!(trains, r.num_updates());
    let rows = lot::rl::evaluate_run(&out, &cfg).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].values[0].1, t.eval_return().unwrap(), "lot eval replays the final evaluation");
}
