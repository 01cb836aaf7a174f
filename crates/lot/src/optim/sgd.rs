//! SGD with momentum, Nesterov and L2 weight decay, with torch.optim.SGD's exact update:
//! d = g + wd·p; buf = m·buf + d (buf = d on the first step); d = nesterov ? d + m·buf : buf; p −= lr·d.

use tch::Tensor;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

pub struct Sgd {
    pub config: SgdConfig,
    params: Vec<(String, Tensor)>,
    momentum: Vec<Option<Tensor>>,
    /// Optimizer steps taken so far.
    pub steps: u64,
}

impl Sgd {
    pub fn new(params: Vec<(String, Tensor)>, config: SgdConfig) -> Self {
        let momentum = params.iter().map(|_| None).collect();
        Self { config, params, momentum, steps: 0 }
    }

    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in self.params.iter_mut() {
            p.zero_grad();
        }
    }

    pub fn step(&mut self) {
        let _guard = tch::no_grad_guard();
        let SgdConfig { lr, momentum, nesterov, weight_decay } = self.config;
        for ((_, p), buf) in self.params.iter_mut().zip(self.momentum.iter_mut()) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let mut d = if weight_decay != 0.0 { &g + &*p * weight_decay } else { g.copy() };
            if momentum != 0.0 {
                match buf {
                    Some(b) => {
                        let _ = b.g_mul_scalar_(momentum).g_add_(&d);
                    }
                    None => *buf = Some(d.copy()),
                }
                let b = buf.as_ref().unwrap();
                d = if nesterov { d + b * momentum } else { b.copy() };
            }
            let _ = p.g_sub_(&(d * lr));
        }
        self.steps += 1;
    }

    pub fn load_state(&mut self, state: &[(String, Tensor)], steps: u64) {
        for ((n, _), buf) in self.params.iter().zip(self.momentum.iter_mut()) {
            *buf = super::saved(state, &format!("momentum.{n}"));
        }
        self.steps = steps;
    }

    /// Momentum buffers by parameter name (for checkpoints).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .zip(&self.momentum)
            .filter_map(|((n, _), b)| b.as_ref().map(|b| (format!("momentum.{n}"), b.shallow_clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    /// Two steps on f(p) = ½·Σ p² (gradient = p), checked against the update written out by hand.
    #[test]
    fn nesterov_momentum_weight_decay_matches_hand_computation() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let cfg = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 };
        let mut opt = Sgd::new(vec![("p".into(), p.shallow_clone())], cfg);
        let mut expect = [1.0f64, -2.0];
        let mut buf = [0.0f64; 2];
        for step in 0..2 {
            opt.zero_grad();
            (p.square().sum(Kind::Float) * 0.5).backward();
            opt.step();
            for i in 0..2 {
                let d = expect[i] + 0.01 * expect[i];
                buf[i] = if step == 0 { d } else { 0.9 * buf[i] + d };
                expect[i] -= 0.1 * (d + 0.9 * buf[i]);
            }
        }
        let got: Vec<f32> = Vec::try_from(&p.detach()).unwrap();
        for i in 0..2 {
            assert!((got[i] as f64 - expect[i]).abs() < 1e-6, "{got:?} vs {expect:?}");
        }
        assert_eq!(opt.steps, 2);
    }

    #[test]
    fn plain_sgd_without_momentum() {
        let p = Tensor::from_slice(&[3.0f32]).set_requires_grad(true);
        let cfg = SgdConfig { lr: 0.5, momentum: 0.0, nesterov: false, weight_decay: 0.0 };
        let mut opt = Sgd::new(vec![("p".into(), p.shallow_clone())], cfg);
        (&p * 2.0).sum(Kind::Float).backward();
        opt.step();
        assert!((p.double_value(&[0]) - 2.0).abs() < 1e-6);
    }
}
