//! Actor-critic networks as cleanRL builds them, with its `layer_init` (orthogonal weights,
//! zero biases): the MLP of `ppo.py` for vector observations, the Nature CNN of
//! `ppo_atari.py` for stacked 84×84 frames, and the MinAtar network (Young & Tian 2019: one
//! 16-filter 3×3 convolution, 128 hidden units) for 10×10 MinAtar frames.
//!
//! The CNN has the fast path of the vision models (`ppo.precision = "bf16"`): convolutions and the
//! 3136→512 layer in bf16, channels-last, with the fp32 weights cast on every forward (autograd
//! returns fp32 gradients to the fp32 master weights); the features come back to fp32 for the
//! actor and critic heads, so logits, values and every loss stay fp32.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use crate::bail_input;
use crate::precision::ForwardOptions;

/// Which network an observation shape gets: vectors → MLP, `[C, 84, 84]` frames → Nature CNN,
/// `[C, 10, 10]` MinAtar frames → the MinAtar network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    Mlp,
    NatureCnn,
    MinAtar,
}

impl AgentKind {
    pub fn for_obs(shape: &[usize]) -> anyhow::Result<Self> {
        match shape {
            [_] => Ok(Self::Mlp),
            [_, 84, 84] => Ok(Self::NatureCnn),
            [_, 10, 10] => Ok(Self::MinAtar),
            _ => bail_input!("no agent network for observations of shape {shape:?} (expected [n], [C, 84, 84] or [C, 10, 10])"),
        }
    }

    /// How rollouts store observations: frames are integers (0..255 Atari, 0/1 MinAtar), so bytes
    /// (4× less memory for the 10-rollout student cache); vectors stay f32.
    pub fn storage_kind(self) -> Kind {
        match self {
            Self::Mlp => Kind::Float,
            Self::NatureCnn | Self::MinAtar => Kind::Uint8,
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
    /// Shared trunk (convs with their strides, ReLU, then one hidden layer, ReLU), linear actor and
    /// critic heads: Nature CNN three convs and 3136→512, MinAtar one conv and 1024→128.
    Cnn { convs: Vec<(nn::Conv2D, i64)>, fc: nn::Linear, actor: nn::Linear, critic: nn::Linear },
}

pub struct Agent {
    pub kind: AgentKind,
    body: Body,
    /// Exact fp32 NCHW unless [`Agent::set_forward`] chose bf16 and/or channels-last (CNN only).
    opts: ForwardOptions,
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
                let convs = vec![
                    (conv(&p / "0", c, 32, 8, 4), 4),
                    (conv(&p / "2", 32, 64, 4, 2), 2),
                    (conv(&p / "4", 64, 64, 3, 1), 1),
                ];
                let fc = linear(&p / "7", 64 * 7 * 7, 512, root2);
                Body::Cnn { convs, fc, actor: linear(vs / "actor", 512, a, 0.01), critic: linear(vs / "critic", 512, 1, 1.0) }
            }
            AgentKind::MinAtar => {
                let c = obs_shape[0] as i64;
                let p = vs / "network";
                let convs = vec![(conv(&p / "0", c, 16, 3, 1), 1)];
                let fc = linear(&p / "3", 16 * 8 * 8, 128, root2);
                Body::Cnn { convs, fc, actor: linear(vs / "actor", 128, a, 0.01), critic: linear(vs / "critic", 128, 1, 1.0) }
            }
        };
        Ok(Self { kind, body, opts: ForwardOptions::default() })
    }

    /// The CNN trunk's compute precision and memory format (`ppo.precision`, `ppo.channels_last`).
    /// The MLP has no fast path (its step is per-op overhead, not arithmetic), so asking for one
    /// there is an error.
    pub fn set_forward(&mut self, opts: ForwardOptions) -> anyhow::Result<()> {
        if !opts.is_exact_fp32() && self.kind == AgentKind::Mlp {
            bail_input!("bf16 and channels-last are for the Atari and MinAtar CNNs; the vector-observation MLP runs in fp32");
        }
        self.opts = opts;
        Ok(())
    }

    /// The CNN trunk: fp32 features `[B, 512]` (MinAtar `[B, 128]`).
    fn trunk(&self, convs: &[(nn::Conv2D, i64)], fc: &nn::Linear, x: &Tensor) -> Tensor {
        if self.opts.is_exact_fp32() {
            let mut h = x.shallow_clone();
            for (c, _) in convs {
                h = c.forward(&h).relu();
            }
            return fc.forward(&h.flatten(1, -1)).relu();
        }
        let o = &self.opts;
        let k = o.precision.kind();
        let mut h = o.prepare(x);
        for (c, stride) in convs {
            let b = c.bs.as_ref().map(|b| b.to_kind(k));
            h = h.conv2d(&o.prepare(&c.ws), b.as_ref(), [*stride, *stride], [0, 0], [1, 1], 1).relu();
        }
        // flatten reads in logical (C, H, W) order whatever the memory format, as the fp32 path does
        let b = fc.bs.as_ref().map(|b| b.to_kind(k));
        h.flatten(1, -1).linear(&fc.ws.to_kind(k), b.as_ref()).relu().to_kind(Kind::Float)
    }

    /// Observations as the network reads them: f32, Atari frames scaled by 1/255 (cleanRL's
    /// `x / 255.0`); MinAtar's channels are already 0/1.
    fn input(&self, obs: &Tensor) -> Tensor {
        match self.kind {
            AgentKind::Mlp | AgentKind::MinAtar => obs.to_kind(Kind::Float),
            AgentKind::NatureCnn => obs.to_kind(Kind::Float) / 255.0,
        }
    }

    /// Policy logits `[B, A]`.
    pub fn logits(&self, obs: &Tensor) -> Tensor {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { actor, .. } => actor.forward(&x),
            Body::Cnn { convs, fc, actor, .. } => actor.forward(&self.trunk(convs, fc, &x)),
        }
    }

    /// State values `[B]`.
    pub fn value(&self, obs: &Tensor) -> Tensor {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { critic, .. } => critic.forward(&x).squeeze_dim(-1),
            Body::Cnn { convs, fc, critic, .. } => critic.forward(&self.trunk(convs, fc, &x)).squeeze_dim(-1),
        }
    }

    /// Logits and values from one pass (the CNN trunk runs once).
    pub fn logits_value(&self, obs: &Tensor) -> (Tensor, Tensor) {
        let x = self.input(obs);
        match &self.body {
            Body::Mlp { actor, critic } => (actor.forward(&x), critic.forward(&x).squeeze_dim(-1)),
            Body::Cnn { convs, fc, actor, critic } => {
                let h = self.trunk(convs, fc, &x);
                (actor.forward(&h), critic.forward(&h).squeeze_dim(-1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precision::Precision;
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

    const GRAD_REL: f64 = 0.2;
    const GRAD_COS: f64 = 0.98;

    /// From zeroed gradients, a forward and a backward of a loss that reaches every layer through
    /// both heads: `[logits, values, then the gradients named in grads]`.
    fn outputs_and_grads(vs: &nn::VarStore, agent: &Agent, frames: &Tensor, grads: &[&str]) -> Vec<Tensor> {
        for (_, mut t) in vs.variables() {
            t.zero_grad();
        }
        let (l, v) = agent.logits_value(frames);
        assert_eq!((l.kind(), v.kind()), (Kind::Float, Kind::Float));
        (l.square().sum(Kind::Float) * 100.0 + v.square().sum(Kind::Float)).backward();
        let vars = vs.variables();
        let mut out = vec![l.detach(), v.detach()];
        out.extend(grads.iter().map(|n| vars[*n].grad().copy()));
        out
    }

    fn rel(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).norm().double_value(&[]) / b.norm().double_value(&[]).max(1e-12)
    }

    /// The bf16 fast path against exact fp32 on the same weights: outputs and the gradients reaching
    /// the fp32 master weights agree to bf16 accuracy, and the weights stay fp32. bf16 rounds each
    /// cast by up to 2⁻⁹; the outputs stay within a few 0.1 %, the gradients, summed over the batch
    /// after four layers of bf16 backward, within GRAD_REL (measured: first conv 8 %, 3136→512 layer
    /// 3.4 %, critic 0.5 %; cosines ≥ 0.996). A real bug (a gradient lost at a cast, a wrong layout
    /// or flatten order) is an error of order 100 %.
    /// The MinAtar network: one 16-filter 3×3 convolution (stride 1, no padding: 10×10 → 8×8),
    /// 1024 → 128, the heads; 0/1 frames read unscaled. Checked against the same network written
    /// out with tensor ops.
    #[test]
    fn minatar_network_is_conv16_fc128_and_reads_frames_unscaled() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let agent = Agent::new(&vs.root(), &[4, 10, 10], 3).unwrap();
        assert_eq!(agent.kind, AgentKind::MinAtar);
        assert_eq!(AgentKind::MinAtar.storage_kind(), Kind::Uint8);
        let v = vs.variables();
        let shapes: Vec<(&str, Vec<i64>)> =
            vec![("network.0.weight", vec![16, 4, 3, 3]), ("network.3.weight", vec![128, 1024]), ("actor.weight", vec![3, 128]), ("critic.weight", vec![1, 128])];
        for (name, shape) in shapes {
            assert_eq!(v[name].size(), shape, "{name}");
        }
        assert_eq!(v.len(), 8, "four layers, weight and bias each");
        rows_orthogonal(&v["network.3.weight"], 2f64.sqrt());
        rows_orthogonal(&v["actor.weight"], 0.01);
        let frames = Tensor::randint(2, [5, 4, 10, 10], (Kind::Uint8, Device::Cpu));
        let x = frames.to_kind(Kind::Float);
        let h = x.conv2d(&v["network.0.weight"], Some(&v["network.0.bias"]), [1, 1], [0, 0], [1, 1], 1).relu();
        let h = h.flatten(1, -1).linear(&v["network.3.weight"], Some(&v["network.3.bias"])).relu();
        let logits = h.linear(&v["actor.weight"], Some(&v["actor.bias"]));
        let values = h.linear(&v["critic.weight"], Some(&v["critic.bias"])).squeeze_dim(-1);
        let (l, val) = agent.logits_value(&frames);
        assert_eq!((l.size(), val.size()), (vec![5, 3], vec![5]));
        assert!(l.allclose(&logits, 1e-6, 1e-6, false) && val.allclose(&values, 1e-6, 1e-6, false));
    }

    #[test]
    fn nature_cnn_bf16_is_close_to_fp32() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut agent = Agent::new(&vs.root(), &[4, 84, 84], 4).unwrap();
        let frames = Tensor::randint(256, [6, 4, 84, 84], (Kind::Uint8, Device::Cpu));
        let run = |agent: &Agent| outputs_and_grads(&vs, agent, &frames, &["network.0.weight", "network.7.weight", "critic.weight"]);
        let exact = run(&agent);
        agent.set_forward(ForwardOptions::new(Precision::Bf16, true)).unwrap();
        let fast = run(&agent);
        for (name, a, b) in [("logits", &fast[0], &exact[0]), ("values", &fast[1], &exact[1])] {
            let r = rel(a, b);
            assert!(r < 3e-2, "{name}: relative difference {r}");
            assert!(r > 0.0, "{name}: bf16 path gave bit-identical outputs; is it running?");
        }
        let cosine = |a: &Tensor, b: &Tensor| {
            let (a, b) = (a.to_kind(Kind::Double), b.to_kind(Kind::Double));
            (&a * &b).sum(Kind::Double).double_value(&[]) / (a.norm().double_value(&[]) * b.norm().double_value(&[]))
        };
        for (name, a, b) in [("conv0 grad", &fast[2], &exact[2]), ("fc grad", &fast[3], &exact[3]), ("critic grad", &fast[4], &exact[4])] {
            assert_eq!(a.kind(), Kind::Float, "{name}");
            let (r, cos) = (rel(a, b), cosine(a, b));
            eprintln!("{name}: relative difference {r:.4}, cosine {cos:.5}");
            assert!(r < GRAD_REL && cos > GRAD_COS, "{name}: relative difference {r}, cosine {cos}");
        }
        assert!(vs.variables().values().all(|t| t.kind() == Kind::Float));
        // back to fp32: the exact path again, bit for bit
        agent.set_forward(ForwardOptions::default()).unwrap();
        let again = run(&agent);
        assert!(again[0].equal(&exact[0]) && again[2].equal(&exact[2]));
    }

    /// fp32 channels-last runs other oneDNN kernels (another summation order), so the results
    /// differ from NCHW by rounding only: outputs and gradients to ~1e-6 relative; bound 1e-4.
    /// bf16 NCHW (without channels-last) is checked here too, against the bf16 bound.
    /// Uniform values in [−1, 1) from a fixed xorshift stream: inputs that do not depend on
    /// libtorch's global generator, which other unit-test threads reseed at any time.
    fn xorshift_values(state: &mut u64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| {
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                (*state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn nature_cnn_channels_last_matches_nchw() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut agent = Agent::new(&vs.root(), &[4, 84, 84], 4).unwrap();
        // Weights (±1/√fan_in) and frames from a fixed stream, so the test sees the same inputs
        // whatever other test threads do with the global generator.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        tch::no_grad(|| {
            for (_, mut t) in vars {
                let size = t.size();
                let n: i64 = size.iter().product();
                let bound = 1.0 / ((if size.len() > 1 { n / size[0] } else { 64 }) as f64).sqrt();
                let v: Vec<f32> = xorshift_values(&mut state, n as usize).iter().map(|x| (x * bound) as f32).collect();
                t.copy_(&Tensor::from_slice(&v).view(size.as_slice()));
            }
        });
        let pixels: Vec<u8> = xorshift_values(&mut state, 5 * 4 * 84 * 84).iter().map(|x| ((x + 1.0) * 127.99) as u8).collect();
        let frames = Tensor::from_slice(&pixels).view([5, 4, 84, 84]);
        let run = |agent: &Agent| {
            outputs_and_grads(&vs, agent, &frames, &["network.0.weight", "network.4.weight", "network.7.weight", "actor.weight"])
        };
        let exact = run(&agent);
        for (opts, bound) in [(ForwardOptions::new(Precision::Fp32, true), 1e-4), (ForwardOptions::new(Precision::Bf16, false), GRAD_REL)] {
            agent.set_forward(opts).unwrap();
            let got = run(&agent);
            for (i, (a, b)) in got.iter().zip(&exact).enumerate() {
                assert_eq!(a.kind(), Kind::Float);
                let r = rel(a, b);
                eprintln!("{opts:?}, output {i}: relative difference {r:.2e}");
                assert!(r < bound, "{opts:?}, output {i}: relative difference {r}");
            }
        }
    }

    #[test]
    fn fast_paths_are_refused_for_the_mlp() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut agent = Agent::new(&vs.root(), &[4], 2).unwrap();
        for opts in [ForwardOptions::new(Precision::Bf16, true), ForwardOptions::new(Precision::Bf16, false), ForwardOptions::new(Precision::Fp32, true)] {
            let err = agent.set_forward(opts).unwrap_err().to_string();
            assert!(err.contains("channels-last") && err.contains("MLP"), "{err}");
        }
        agent.set_forward(ForwardOptions::default()).unwrap();
    }
}
