//! The reference's LSTM language model (Zaremba-style, model/rnn.py): embedding → dropout →
//! multi-layer LSTM (dropout between layers) → dropout → linear decoder, no weight tying.
//! Embedding and decoder weights uniform(±0.05), decoder bias 0; LSTM weights torch's default
//! uniform(±1/√hidden). The LSTM runs as libtorch's fused `lstm` op.
//!
//! bf16 fast path ([`LstmLm::set_precision`]): the embedding, the LSTM op (gates, states) and the
//! decoder run in bf16 on bf16 casts of the fp32 master weights (autograd returns fp32 gradients
//! through the casts); the logits come back as fp32, so losses, KL and perplexity are fp32, and
//! the hidden state carried between windows is stored in fp32.

use tch::nn;
use tch::{Kind, Tensor};

use crate::dropout::dropout;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmConfig {
    pub n_token: i64,
    pub emsize: i64,
    pub nhid: i64,
    pub nlayers: i64,
    pub dropout: f64,
}

pub struct LstmLm {
    pub cfg: LstmConfig,
    /// The kind the forward computes in (Float = the exact fp32 path).
    compute: Kind,
    encoder: Tensor,
    weights: Vec<Tensor>,
    decoder_w: Tensor,
    decoder_b: Tensor,
}

/// (h, c), each `[nlayers, bsz, nhid]`.
pub type Hidden = (Tensor, Tensor);

impl LstmLm {
    pub fn new(vs: &nn::Path, cfg: LstmConfig) -> Self {
        let init = nn::Init::Uniform { lo: -0.05, up: 0.05 };
        let encoder = vs.sub("encoder").var("weight", &[cfg.n_token, cfg.emsize], init);
        let k = 1.0 / (cfg.nhid as f64).sqrt();
        let u = nn::Init::Uniform { lo: -k, up: k };
        let rnn = vs.sub("rnn");
        let mut weights = Vec::new();
        for l in 0..cfg.nlayers {
            let inp = if l == 0 { cfg.emsize } else { cfg.nhid };
            weights.push(rnn.var(&format!("weight_ih_l{l}"), &[4 * cfg.nhid, inp], u));
            weights.push(rnn.var(&format!("weight_hh_l{l}"), &[4 * cfg.nhid, cfg.nhid], u));
            weights.push(rnn.var(&format!("bias_ih_l{l}"), &[4 * cfg.nhid], u));
            weights.push(rnn.var(&format!("bias_hh_l{l}"), &[4 * cfg.nhid], u));
        }
        let dec = vs.sub("decoder");
        let decoder_w = dec.var("weight", &[cfg.n_token, cfg.nhid], init);
        let decoder_b = dec.var("bias", &[cfg.n_token], nn::Init::Const(0.0));
        Self { cfg, compute: Kind::Float, encoder, weights, decoder_w, decoder_b }
    }

    /// Run the forward in `p` (fp32 exact, or bf16 with fp32 master weights and fp32 logits).
    /// The device the parameters live on.
    pub fn device(&self) -> tch::Device {
        self.encoder.device()
    }

    pub fn set_precision(&mut self, p: crate::precision::Precision) {
        self.compute = p.kind();
    }

    pub fn init_hidden(&self, bsz: i64) -> Hidden {
        let z = Tensor::zeros([self.cfg.nlayers, bsz, self.cfg.nhid], (Kind::Float, self.encoder.device()));
        (z.shallow_clone(), z)
    }

    /// tokens `[len, bsz]` → logits `[len, bsz, n_token]` and the final hidden state.
    pub fn forward_t(&self, tokens: &Tensor, hidden: &Hidden, train: bool) -> (Tensor, Hidden) {
        // The compute kind: no casts at all on the exact fp32 path, bf16 casts otherwise.
        let k = self.compute;
        let cast = |t: &Tensor| if k == Kind::Float { t.shallow_clone() } else { t.to_kind(k) };
        let to_f32 = |t: Tensor| if k == Kind::Float { t } else { t.to_kind(Kind::Float) };
        let emb = dropout(&Tensor::embedding(&cast(&self.encoder), tokens, -1, false, false), self.cfg.dropout, train);
        let weights: Vec<Tensor> = self.weights.iter().map(cast).collect();
        let (out, h, c) = emb.lstm(
            &[&cast(&hidden.0), &cast(&hidden.1)],
            &weights.iter().collect::<Vec<_>>(),
            true,
            self.cfg.nlayers,
            self.cfg.dropout,
            train,
            false,
            false,
        );
        let out = dropout(&out, self.cfg.dropout, train);
        let logits = out.linear(&cast(&self.decoder_w), Some(&cast(&self.decoder_b)));
        (to_f32(logits), (to_f32(h), to_f32(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn model(seed: i64) -> (nn::VarStore, LstmLm) {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = LstmLm::new(&vs.root(), LstmConfig { n_token: 11, emsize: 6, nhid: 5, nlayers: 2, dropout: 0.3 });
        (vs, m)
    }

    #[test]
    fn parameter_count_and_init_ranges() {
        let (vs, _m) = model(0);
        // emb 11·6 + layer0 4·5·(6+5) + 2·4·5 + layer1 4·5·(5+5) + 2·4·5 + decoder 11·5 + 11
        let expect = 66 + (220 + 40) + (200 + 40) + 55 + 11;
        let n: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(n, expect);
        let vars = vs.variables();
        assert!(vars["encoder.weight"].abs().max().double_value(&[]) <= 0.05);
        assert_eq!(vars["decoder.bias"].abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert!(vars["rnn.weight_hh_l1"].abs().max().double_value(&[]) <= 1.0 / 5f64.sqrt());
    }

    /// The fused op agrees with the LSTM equations written out step by step (eval mode).
    #[test]
    fn fused_lstm_matches_the_equations() {
        let (vs, m) = model(1);
        let tokens = Tensor::from_slice(&[1i64, 4, 2, 7, 3, 0]).view([3, 2]);
        let (logits, (h, _c)) = m.forward_t(&tokens, &m.init_hidden(2), false);
        let v = vs.variables();
        let x = v["encoder.weight"].index_select(0, &tokens.view([-1])).view([3, 2, 6]);
        let mut hs = [Tensor::zeros([2, 5], (Kind::Float, Device::Cpu)), Tensor::zeros([2, 5], (Kind::Float, Device::Cpu))];
        let mut cs = [hs[0].copy(), hs[1].copy()];
        let mut outs = Vec::new();
        for t in 0..3 {
            let mut inp = x.get(t);
            for l in 0..2 {
                let g = inp.matmul(&v[&format!("rnn.weight_ih_l{l}")].tr())
                    + &v[&format!("rnn.bias_ih_l{l}")]
                    + hs[l].matmul(&v[&format!("rnn.weight_hh_l{l}")].tr())
                    + &v[&format!("rnn.bias_hh_l{l}")];
                let ch = g.chunk(4, 1);
                let (i, f, gg, o) = (ch[0].sigmoid(), ch[1].sigmoid(), ch[2].tanh(), ch[3].sigmoid());
                cs[l] = f * &cs[l] + i * gg;
                hs[l] = o * cs[l].tanh();
                inp = hs[l].shallow_clone();
            }
            outs.push(inp.matmul(&v["decoder.weight"].tr()) + &v["decoder.bias"]);
        }
        let manual = Tensor::stack(&outs, 0);
        assert!(logits.allclose(&manual, 1e-5, 1e-6, false));
        assert!(h.get(1).allclose(&hs[1], 1e-5, 1e-6, false));
    }

    /// bf16: logits and the carried state come back as fp32 and stay close to the fp32 forward;
    /// gradients reach the fp32 master weights as fp32. The exact path is untouched.
    #[test]
    fn bf16_forward_is_close_and_trains_fp32_master_weights() {
        let (vs, mut m) = model(2);
        let tokens = Tensor::from_slice(&[1i64, 4, 2, 7, 3, 0, 9, 10]).view([4, 2]);
        let (exact, _) = m.forward_t(&tokens, &m.init_hidden(2), false);
        m.set_precision(crate::precision::Precision::Bf16);
        let (logits, (h, c)) = m.forward_t(&tokens, &m.init_hidden(2), false);
        assert_eq!((logits.kind(), h.kind(), c.kind()), (Kind::Float, Kind::Float, Kind::Float));
        let err = (&logits - &exact).abs().max().double_value(&[]);
        let scale = exact.abs().max().double_value(&[]);
        assert!(err > 0.0 && err < 0.02 * scale.max(0.1), "bf16 logits off by {err} (scale {scale})");
        let (logits, _) = m.forward_t(&tokens, &m.init_hidden(2), true);
        logits.view([-1, 11]).cross_entropy_for_logits(&tokens.view([-1])).backward();
        for (name, v) in vs.variables() {
            let g = v.grad();
            assert!(g.defined() && g.kind() == Kind::Float && v.kind() == Kind::Float, "{name}");
            assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "{name}: no gradient");
        }
        m.set_precision(crate::precision::Precision::Fp32);
        let (again, _) = m.forward_t(&tokens, &m.init_hidden(2), false);
        assert!(again.equal(&exact), "the fp32 path must be exactly the original");
    }
}
