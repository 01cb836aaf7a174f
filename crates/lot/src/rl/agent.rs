//! Actor-critic networks as cleanRL builds them, with its `layer_init` (orthogonal weights,
//! zero biases): the MLP of `ppo.py` for vector observations and the Nature CNN of
//! `ppo_atari.py` for stacked 84×84 frames.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::bail_input;

/// Which network an observation shape gets: vectors → MLP, `[C, 84, 84]` frames → Nature CNN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    Mlp,
    NatureCnn,
}

impl AgentKind {
    pub fn for_obs(shape: &[usize]) -> anyhow::Result<Self> {
        match shape {
            [_] => Ok(Self::Mlp),
            [_, 84, 84] => Ok(Self::NatureCnn),
            _ => bail_input!("no agent network for observations of shape {shape:?} (expected [n] or [C, 84, 84])"),
        }
    }

    /// How rollouts store observations: frames are integers 0..255, so bytes (4× less memory for
    /// the 10-rollout student cache); vectors stay f32.
    pub fn storage_kind(self) -> Kind {
        match self {
            Self::Mlp => Kind::Float,
            Self::NatureCnn => Kind::Uint8,
        }
    }
}

fn linear(p: nn::Path, i: i64, o: i64, gain: f64) -> nn::Linear {
    let c = nn::LinearConfig { ws_init: nn::Init::Orthogonal { gain }, bs_init: Some(nn::Init::Const(0.0)), bias: true };
    nn::linear(p, i, o, c)
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64) -> nn::Conv2D {
    let c = nn::ConvConfig { stride, bs_init: nn::Init::Const(0.0), ..Default::default() };
    let mut conv = nn::conv2d(p, i, o, k, c);
    // tch's Orthogonal init returns the flattened [out, in·k·k] matrix for a 4-d weight, so
    // re-initialise in place, which views the weight as that matrix (torch's orthogonal_ does the same).
    conv.ws.init(nn::Init::Orthogonal { gain: 2f64.sqrt() });
    conv
}

enum Body {
    /// Separate actor and critic, 2×64 tanh each.
    Mlp { actor: nn::Sequential, critic: nn::Sequential },
    /// Shared conv trunk, linear actor and critic heads.
    Cnn { trunk: nn::Sequential, actor: nn::Linear, critic: nn::Linear },
}

pub struct Agent {
    pub kind: AgentKind,
    body: Body,
}

impl Agent {
    pub fn new(vs: &nn::Path, obs_shape: &[usize], num_actions: usize) -> anyhow::Result<Self> {
        let kind = AgentKind::for_obs(obs_shape)?;
        let a = num_actions as i64;
        let root2 = 2f64.sqrt();
        let body = match kind {
            AgentKind::Mlp => {
                let n = obs_shape[0] as i64;
                let mlp = |p: nn::Path, out: i64, gain: f64| {
                    nn::seq()
                        .add(linear(&p / "0", n, 64, root2))
                        .add_fn(|x| x.tanh())
                        .add(linear(&p / "2", 64, 64, root2))
                        .add_fn(|x| x.tanh())
                        .add(linear(&p / "4", 64, out, gain))
                };
                Body::Mlp { critic: mlp(vs / "critic", 1, 1.0), actor: mlp(vs / "actor", a, 0.01) }
            }
            AgentKind::NatureCnn => {
                let c = obs_shape[0] as i64;
                let p = vs / "network";
                let trunk = nn::seq()
                    .add(conv(&p / "0", c, 32, 8, 4))
                    .add_fn(|x| x.relu())
                    .add(conv(&p / "2", 32, 64, 4, 2))
                    .add_fn(|x| x.relu())
                    .add(conv(&p / "4", 64, 64, 3, 1))
                    .add_fn(|x| x.relu().flatten(1, -1))
                    .add(linear(&p / "7", 64 * 7 * 7, 512, root2))
                    .add_fn(|x| x.relu());
                Body::Cnn { trunk, actor: linear(vs / "actor", 512, a, 0.01), critic: linear(vs / "critic", 512, 1, 1.0) }
            }
        };
        Ok(Self { kind, body })
    }

    /// Observations as the network reads them: f32, frames scaled by 1/255 (cleanRL's `x / 255.0`).
    fn input(&self, obs: &Tensor) -> Tensor {
        match self.kind {
            AgentKind::Mlp => obs.to_kind(Kind::Float),
            AgentKind::NatureCnn => obs.to_kind(Kind::Float) / 255.0,
        }
    }

    /// Policy logits `[B, A]`.
    pub fn logits(&self, obs: &Tensor) -> Tensor {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { actor, .. } => actor.forward(&x),
            Body::Cnn { trunk, actor, .. } => actor.forward(&trunk.forward(&x)),
        }
    }

    /// State values `[B]`.
    pub fn value(&self, obs: &Tensor) -> Tensor {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { critic, .. } => critic.forward(&x).squeeze_dim(-1),
            Body::Cnn { trunk, critic, .. } => critic.forward(&trunk.forward(&x)).squeeze_dim(-1),
        }
    }

    /// Logits and values from one pass (the CNN trunk runs once).
    pub fn logits_value(&self, obs: &Tensor) -> (Tensor, Tensor) {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { actor, critic } => (actor.forward(&x), critic.forward(&x).squeeze_dim(-1)),
            Body::Cnn { trunk, actor, critic } => {
                let h = trunk.forward(&x);
                (actor.forward(&h), critic.forward(&h).squeeze_dim(-1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn rows_orthogonal(w: &Tensor, gain: f64) {
        // W Wᵀ = gain²·I for a wide matrix (rows ≤ cols), WᵀW = gain²·I for a tall one.
        let (r, c) = (w.size()[0], w.size()[1]);
        let g = if r <= c { w.matmul(&w.tr()) } else { w.tr().matmul(w) };
        let n = r.min(c);
        let eye = Tensor::eye(n, (Kind::Float, Device::Cpu)) * (gain * gain);
        let err = (g - eye).abs().max().double_value(&[]);
        assert!(err < 1e-4 * (1.0 + gain * gain), "not orthogonal ×{gain}: {err}");
    }

    #[test]
    fn mlp_shapes_and_cleanrl_init() {
        let vs = nn::VarStore::new(Device::Cpu);
        let agent = Agent::new(&vs.root(), &[4], 2).unwrap();
        let obs = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let (l, v) = agent.logits_value(&obs);
        assert_eq!((l.size(), v.size()), (vec![5, 2], vec![5]));
        assert!(l.allclose(&agent.logits(&obs), 1e-6, 1e-6, false));
        assert!(v.allclose(&agent.value(&obs), 1e-6, 1e-6, false));
        let vars = vs.variables();
        assert_eq!(vars.len(), 12);
        for (name, t) in &vars {
            if name.ends_with("bias") {
                assert_eq!(t.abs().sum(Kind::Float).double_value(&[]), 0.0, "{name}");
                continue;
            }
            let gain = match name.as_str() {
                "actor.4.weight" => 0.01,
                "critic.4.weight" => 1.0,
                _ => 2f64.sqrt(),
            };
            rows_orthogonal(t, gain);
        }
    }

    #[test]
    fn nature_cnn_shapes_and_byte_input() {
        let vs = nn::VarStore::new(Device::Cpu);
        let agent = Agent::new(&vs.root(), &[4, 84, 84], 6).unwrap();
        assert_eq!(agent.kind.storage_kind(), Kind::Uint8);
        let frames = Tensor::randint(256, [3, 4, 84, 84], (Kind::Uint8, Device::Cpu));
        let (l, v) = agent.logits_value(&frames);
        assert_eq!((l.size(), v.size()), (vec![3, 6], vec![3]));
        // bytes and the same values as f32 give the same outputs
        let l2 = agent.logits(&frames.to_kind(Kind::Float));
        assert!(l.allclose(&l2, 1e-5, 1e-6, false));
        let w = vs.variables()["network.7.weight"].shallow_clone();
        assert_eq!(w.size(), vec![512, 3136]);
        rows_orthogonal(&w, 2f64.sqrt());
        let c = vs.variables()["network.0.weight"].shallow_clone();
        assert_eq!(c.size(), vec![32, 4, 8, 8]);
        rows_orthogonal(&c.view([32, 256]), 2f64.sqrt());
        rows_orthogonal(&vs.variables()["actor.weight"], 0.01);
        assert!(Agent::new(&(vs.root() / "x"), &[2, 3], 2).is_err());
    }
}
