//! What one bench run does ([`BenchSpec`]): the reference's recipes per task, the reference
//! program's command line, and the spec as the worker reads it.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::Device;

use lot::precision::Precision;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchTask {
    Vision,
    Lstm,
    /// PPO + LoT on CartPole or an Atari game.
    Ppo,
    /// Transformer-XL LM (the reference's PTB recipe).
    Txl,
}

impl BenchTask {
    pub fn name(self) -> &'static str {
        match self {
            BenchTask::Vision => "vision",
            BenchTask::Lstm => "lstm",
            BenchTask::Ppo => "ppo",
            BenchTask::Txl => "txl",
        }
    }
    /// The reference program in `benches/reference/`.
    pub fn program(self) -> &'static str {
        match self {
            BenchTask::Vision => "vision_lot.py",
            BenchTask::Lstm => "lstm_lot.py",
            BenchTask::Ppo => "ppo_lot.py",
            BenchTask::Txl => "txl_lot.py",
        }
    }
}

/// What one bench run does; the same spec drives our worker and the Python program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchSpec {
    pub task: BenchTask,
    /// Timed teacher steps (each = the joint step + N−1 student steps).
    pub steps: usize,
    /// Untimed teacher steps before them (oneDNN primitive creation, allocator warm-up).
    pub warmup: usize,
    pub device: String,
    /// Intra-op threads; 0 = what the library picks (the machine's cores) on both sides.
    pub threads: usize,
    pub seed: u64,
    pub batch_size: usize,
    /// N.
    pub student_steps: usize,
    pub alpha: f64,
    pub temperature: f64,
    pub lr: f64,
    // Vision.
    pub precision: Precision,
    pub channels_last: bool,
    pub depth: String,
    pub samples: usize,
    pub classes: usize,
    /// DataLoader workers of the reference program (its default: 4).
    pub workers: usize,
    // LSTM.
    pub emsize: i64,
    pub nhid: i64,
    pub nlayers: i64,
    pub dropout: f64,
    pub vocab: usize,
    pub tokens: usize,
    pub bptt: usize,
    pub momentum: f64,
    pub clip: f64,
    // PPO.
    #[serde(default)]
    pub num_envs: usize,
    #[serde(default)]
    pub num_steps: usize,
    #[serde(default)]
    pub obs_cache: usize,
    /// The PPO env: `CartPole-v1` or an Atari game by its gym v4 name (`BreakoutNoFrameskip-v4`).
    #[serde(default = "cartpole")]
    pub env: String,
    /// Students K (vision). 0 = the `no_student` baseline, whose worker also times the teacher's
    /// no-grad forward (what each extra student step adds on the teacher side).
    #[serde(default = "one")]
    pub students: usize,
    // Transformer-XL (with `dropout`, `vocab`, `tokens`, `bptt` = tgt_len, `clip`).
    #[serde(default)]
    pub n_layer: i64,
    #[serde(default)]
    pub d_model: i64,
    #[serde(default)]
    pub n_head: i64,
    #[serde(default)]
    pub d_head: i64,
    #[serde(default)]
    pub d_inner: i64,
    #[serde(default)]
    pub mem_len: i64,
}

fn one() -> usize {
    1
}

fn cartpole() -> String {
    "CartPole-v1".into()
}

impl BenchSpec {
    /// What every recipe shares: CPU, the library's threads, seed 0, fp32, one student, and zero
    /// for every field of another task.
    fn common(task: BenchTask) -> Self {
        Self {
            task,
            steps: 0,
            warmup: 0,
            device: "cpu".into(),
            threads: 0,
            seed: 0,
            batch_size: 0,
            student_steps: 0,
            alpha: 0.0,
            temperature: 0.0,
            lr: 0.0,
            precision: Precision::Fp32,
            channels_last: false,
            depth: String::new(),
            samples: 0,
            classes: 0,
            workers: 0,
            emsize: 0,
            nhid: 0,
            nlayers: 0,
            dropout: 0.0,
            vocab: 0,
            tokens: 0,
            bptt: 0,
            momentum: 0.0,
            clip: 0.0,
            num_envs: 0,
            num_steps: 0,
            obs_cache: 0,
            env: cartpole(),
            students: 1,
            n_layer: 0,
            d_model: 0,
            n_head: 0,
            d_head: 0,
            d_inner: 0,
            mem_len: 0,
        }
    }

    /// The reference's CIFAR run: ResNet-20/20, batch 256, N = 2, kl_ce, α 0.5, T 1.5, on 50,000
    /// CIFAR-shaped images with 100 classes. lr 0.1 (the script's 1.0 can diverge on random labels;
    /// timing does not depend on it).
    pub fn vision() -> Self {
        Self {
            steps: 12,
            warmup: 2,
            batch_size: 256,
            student_steps: 2,
            alpha: 0.5,
            temperature: 1.5,
            lr: 0.1,
            depth: "20_20".into(),
            samples: 50_000,
            classes: 100,
            workers: 4,
            momentum: 0.9,
            ..Self::common(BenchTask::Vision)
        }
    }

    /// The reference's PTB LSTM recipe (α 1, N 5, T 1.5, batch 20, bptt 35, SGD momentum 0.3,
    /// clip 0.2, vocab 10k) at the CPU size of `configs/lstm_ptb_small_lot.toml` (2×200, dropout
    /// 0.2, lr 20) on a PTB-sized synthetic token stream.
    pub fn lstm() -> Self {
        Self {
            steps: 30,
            warmup: 2,
            batch_size: 20,
            student_steps: 5,
            alpha: 1.0,
            temperature: 1.5,
            lr: 20.0,
            emsize: 200,
            nhid: 200,
            nlayers: 2,
            dropout: 0.2,
            vocab: 10_000,
            tokens: 929_589,
            bptt: 35,
            momentum: 0.3,
            clip: 0.2,
            ..Self::common(BenchTask::Lstm)
        }
    }

    /// PPO + LoT on CartPole-v1 as `configs/cartpole_lot.toml` (8 envs × 128 steps, 4 epochs × 4
    /// minibatches, Adam 1e-3, N 5 passes over a 10-rollout cache, α 0.5, T 1, pure-KL student).
    /// `steps` are PPO updates, all timed (the trainer times its whole update loop).
    pub fn ppo() -> Self {
        Self {
            steps: 20,
            seed: 1,
            batch_size: 1024,
            student_steps: 5,
            alpha: 0.5,
            temperature: 1.0,
            lr: 1e-3,
            clip: 0.5,
            num_envs: 8,
            num_steps: 128,
            obs_cache: 10,
            ..Self::common(BenchTask::Ppo)
        }
    }

    /// [`BenchSpec::ppo`] on env `name`; an Atari game (`BreakoutNoFrameskip-v4`) takes the size
    /// and hyperparameters of `configs/atari_breakout_lot.toml` (8 envs × 128 steps, Nature CNN,
    /// Adam 2.5e-4 cosine to 2.5e-6, clip 0.1, entropy 0.01, N 5 over a 10-rollout cache, α 0.5, T 1).
    pub fn ppo_on(name: &str) -> Self {
        let mut s = Self::ppo();
        s.env = name.to_string();
        if lot::rl::is_atari_name(name) {
            s.lr = 2.5e-4;
        }
        s
    }

    /// Input error unless the PPO env is one both sides run (CartPole-v1 or an Atari game this
    /// build supports); the latter's error is the trainer's one line on the `atari` feature.
    pub fn check_env(&self) -> Result<()> {
        if self.task != BenchTask::Ppo {
            return Ok(());
        }
        if self.env == "CartPole-v1" {
            if self.precision == Precision::Bf16 {
                lot::bail_input!("--precision bf16: only for Atari (the CNN); CartPole's MLP runs in fp32");
            }
            if self.channels_last {
                lot::bail_input!("--channels-last: only for Atari (the CNN); CartPole's MLP has no convolutions");
            }
            return Ok(());
        }
        if !lot::rl::is_atari_name(&self.env) {
            lot::bail_input!("--env: '{}' is not benched (CartPole-v1 or an Atari game such as BreakoutNoFrameskip-v4)", self.env);
        }
        lot::rl::check_env_name(&self.env)
    }

    pub fn for_task(task: BenchTask) -> Self {
        match task {
            BenchTask::Vision => Self::vision(),
            BenchTask::Lstm => Self::lstm(),
            BenchTask::Ppo => Self::ppo(),
            BenchTask::Txl => Self::txl(),
        }
    }

    /// The reference's Transformer-XL PTB recipe (`configs/txl_ptb_lot.toml`): 4 layers, d_model
    /// 200, 8 heads of 20, d_inner 1000, dropout 0.25, batch 60, tgt_len = mem_len = 70, Adam 1e-3,
    /// clip 0.35, N 5, α 0.5, T 1.5, on a PTB-sized synthetic token stream.
    pub fn txl() -> Self {
        Self {
            steps: 5,
            warmup: 1,
            batch_size: 60,
            student_steps: 5,
            alpha: 0.5,
            temperature: 1.5,
            lr: 1e-3,
            dropout: 0.25,
            vocab: 10_000,
            tokens: 929_589,
            bptt: 70,
            clip: 0.35,
            n_layer: 4,
            d_model: 200,
            n_head: 8,
            d_head: 20,
            d_inner: 1000,
            mem_len: 70,
            ..Self::common(BenchTask::Txl)
        }
    }

    pub(crate) fn device(&self) -> Result<Device> {
        let d = self.device.as_str();
        Ok(match d {
            "cpu" => Device::Cpu,
            "cuda" => Device::Cuda(0),
            _ => match d.strip_prefix("cuda:").and_then(|i| i.parse().ok()) {
                Some(i) => Device::Cuda(i),
                None => lot::bail_input!("--device: unknown device '{d}' (expected cpu, cuda or cuda:N)"),
            },
        })
    }

    pub(crate) fn depths(&self) -> Result<(usize, usize)> {
        let parts: Vec<usize> = self.depth.split('_').map(|p| p.trim().parse()).collect::<std::result::Result<_, _>>().map_err(|_| {
            lot::error::input_err(format!("--depth: '{}' is not TEACHER_STUDENT, e.g. 20_20", self.depth))
        })?;
        match parts.as_slice() {
            [t, s] => Ok((*t, *s)),
            _ => lot::bail_input!("--depth: '{}' is not TEACHER_STUDENT, e.g. 20_20", self.depth),
        }
    }

    /// Command-line arguments of the reference program for this spec.
    pub fn reference_args(&self) -> Vec<String> {
        let mut a: Vec<(&str, String)> = vec![
            ("--steps", self.steps.to_string()),
            ("--warmup", self.warmup.to_string()),
            ("--batch-size", self.batch_size.to_string()),
            ("--student-steps", self.student_steps.to_string()),
            ("--alpha", self.alpha.to_string()),
            ("--T", self.temperature.to_string()),
            ("--lr", self.lr.to_string()),
            ("--seed", self.seed.to_string()),
            ("--device", self.device.clone()),
            ("--threads", self.threads.to_string()),
        ];
        match self.task {
            BenchTask::Vision => a.extend([
                ("--depth", self.depth.clone()),
                ("--samples", self.samples.to_string()),
                ("--classes", self.classes.to_string()),
                ("--workers", self.workers.to_string()),
            ]),
            BenchTask::Lstm => a.extend([
                ("--emsize", self.emsize.to_string()),
                ("--nhid", self.nhid.to_string()),
                ("--nlayers", self.nlayers.to_string()),
                ("--dropout", self.dropout.to_string()),
                ("--vocab", self.vocab.to_string()),
                ("--tokens", self.tokens.to_string()),
                ("--bptt", self.bptt.to_string()),
                ("--momentum", self.momentum.to_string()),
                ("--clip", self.clip.to_string()),
            ]),
            BenchTask::Txl => a.extend([
                ("--n-layer", self.n_layer.to_string()),
                ("--d-model", self.d_model.to_string()),
                ("--n-head", self.n_head.to_string()),
                ("--d-head", self.d_head.to_string()),
                ("--d-inner", self.d_inner.to_string()),
                ("--mem-len", self.mem_len.to_string()),
                ("--dropout", self.dropout.to_string()),
                ("--vocab", self.vocab.to_string()),
                ("--tokens", self.tokens.to_string()),
                ("--bptt", self.bptt.to_string()),
                ("--clip", self.clip.to_string()),
            ]),
            BenchTask::Ppo => a.extend([
                ("--env", self.env.clone()),
                ("--num-envs", self.num_envs.to_string()),
                ("--num-steps", self.num_steps.to_string()),
                ("--obs-cache", self.obs_cache.to_string()),
            ]),
        }
        a.into_iter().flat_map(|(k, v)| [k.to_string(), v]).collect()
    }
}

/// A spec from the worker's `--spec` argument.
pub fn parse_spec(s: &str) -> Result<BenchSpec> {
    serde_json::from_str(s).map_err(|e| lot::error::input_err(format!("--spec: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_args_follow_the_spec() {
        let mut s = BenchSpec::vision();
        s.steps = 7;
        let a = s.reference_args();
        let get = |k: &str| a.iter().position(|x| x == k).map(|i| a[i + 1].clone());
        assert_eq!(get("--steps").as_deref(), Some("7"));
        assert_eq!(get("--batch-size").as_deref(), Some("256"));
        assert_eq!(get("--depth").as_deref(), Some("20_20"));
        assert_eq!(get("--student-steps").as_deref(), Some("2"));
        let l = BenchSpec::lstm().reference_args();
        assert!(l.windows(2).any(|w| w[0] == "--student-steps" && w[1] == "5"));
        assert!(l.windows(2).any(|w| w[0] == "--bptt" && w[1] == "35"));
        // The spec travels to the worker as JSON and back unchanged.
        let back: BenchSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn ppo_reference_args_pass_the_env() {
        let get = |a: &[String], k: &str| a.iter().position(|x| x == k).map(|i| a[i + 1].clone());
        let c = BenchSpec::ppo().reference_args();
        assert_eq!(get(&c, "--env").as_deref(), Some("CartPole-v1"));
        assert_eq!(get(&c, "--lr").as_deref(), Some("0.001"));
        let s = BenchSpec::ppo_on("BreakoutNoFrameskip-v4");
        let a = s.reference_args();
        assert_eq!(get(&a, "--env").as_deref(), Some("BreakoutNoFrameskip-v4"));
        assert_eq!(get(&a, "--lr").as_deref(), Some("0.00025"));
        assert_eq!(get(&a, "--num-envs").as_deref(), Some("8"));
        assert_eq!(get(&a, "--num-steps").as_deref(), Some("128"));
        assert_eq!(get(&a, "--obs-cache").as_deref(), Some("10"));
        assert_eq!(get(&a, "--student-steps").as_deref(), Some("5"));
        // Only PPO passes --env; a spec from before the field reads as CartPole.
        assert!(get(&BenchSpec::vision().reference_args(), "--env").is_none());
        let mut old = serde_json::to_value(BenchSpec::ppo()).unwrap();
        old.as_object_mut().unwrap().remove("env");
        assert_eq!(serde_json::from_value::<BenchSpec>(old).unwrap().env, "CartPole-v1");
        let back: BenchSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        // Envs the reference program lacks are refused; Atari needs the feature.
        let mut bad = BenchSpec::ppo();
        bad.env = "Acrobot-v1".into();
        assert!(bad.check_env().unwrap_err().to_string().contains("--env"));
        assert!(BenchSpec::ppo().check_env().is_ok());
        let mut bf16_cartpole = BenchSpec::ppo();
        bf16_cartpole.precision = Precision::Bf16;
        assert!(bf16_cartpole.check_env().unwrap_err().to_string().contains("--precision bf16"));
        let mut cl_cartpole = BenchSpec::ppo();
        cl_cartpole.channels_last = true;
        assert!(cl_cartpole.check_env().unwrap_err().to_string().contains("--channels-last"));
        match s.check_env() {
            Ok(()) => assert!(cfg!(feature = "atari")),
            Err(e) => assert!(!cfg!(feature = "atari") && e.to_string().contains("--features atari"), "{e}"),
        }
    }
}
