//! Transformer-XL language model, as Dai et al.'s `pytorch/mem_transformer.py` (`MemTransformerLM`)
//! in the configuration the LoT reference trains (spec §2.3):
//!
//! * attn_type 0: relative partial-learnable multi-head attention, score
//!   `(q + u)·k + shift((q + v)·W_r R)`, with the content/position biases `u = r_w_bias`,
//!   `v = r_r_bias` owned by the model and shared by every layer (the original; `untie_r` gives
//!   each layer its own pair, as later ports do);
//! * sinusoidal relative positions `R` over distances `klen−1 … 0` (optionally clamped);
//! * post-LayerNorm blocks (pre_lnorm false), position-wise FF with ReLU;
//! * segment-level recurrence: each layer's input of the last `mem_len` steps is kept, detached;
//!   ext_len is 0;
//! * tied input/output embedding with a full softmax: logits = h·Eᵀ + b (the reference's
//!   `ProjectedAdaptiveLogSoftmax` with no cutoffs keeps `out_layers[0]`, a biased Linear whose
//!   weight is the embedding); inputs are `E[x]·sqrt(d_model)` (`AdaptiveEmbedding`, div_val 1);
//! * the reference's `weights_init` with init 'normal', init_std 0.02.
//!
//! Internally attention scores are laid out `[bsz, n_head, qlen, klen]` (batched matmuls,
//! softmax over the contiguous last axis) rather than the reference's `[qlen, klen, bsz, n_head]`
//! einsums; the arithmetic is the same.
//!
//! bf16 fast path ([`TransformerXl::set_precision`]): every matmul (q/k/v, positions, attention
//! scores and values, output projection, feed-forward, the tied decoder) runs on bf16 casts of
//! its inputs and of the fp32 master weights; the residual stream, LayerNorms, the attention
//! softmax, the memories and the logits stay fp32.

use tch::nn::{self, Init, Module};
use tch::{Device, Kind, Tensor};

use crate::dropout::dropout;

/// Model hyper-parameters (names as the reference's command line).
#[derive(Clone, Debug, PartialEq)]
pub struct TxlConfig {
    pub n_token: i64,
    pub n_layer: i64,
    pub n_head: i64,
    pub d_model: i64,
    pub d_head: i64,
    pub d_inner: i64,
    /// Dropout on embeddings, positional embeddings, attention output, FF and the final hidden.
    pub dropout: f64,
    /// Dropout on attention probabilities.
    pub dropatt: f64,
    /// Training segment length. Kept for parity with the reference; attn_type 0 never reads it.
    pub tgt_len: i64,
    /// How many past steps each layer remembers (0 = no recurrence).
    pub mem_len: i64,
    /// Every query sees the same number of keys (the reference's `--same_length`).
    pub same_length: bool,
    /// Relative distances beyond this share one embedding; −1 (or any value ≤ 0) = no clamp.
    pub clamp_len: i64,
    /// One (r_w_bias, r_r_bias) pair per layer instead of the shared pair.
    pub untie_r: bool,
}

/// The reference's `init_weight` for init='normal': N(0, init_std = 0.02).
const INIT_STD: f64 = 0.02;

fn normal() -> Init {
    Init::Randn { mean: 0.0, stdev: INIT_STD }
}

fn linear(vs: nn::Path, d_in: i64, d_out: i64, bias: bool) -> nn::Linear {
    // weights_init: Linear weight N(0, 0.02), bias 0.
    let cfg = nn::LinearConfig { ws_init: normal(), bs_init: Some(Init::Const(0.0)), bias };
    nn::linear(vs, d_in, d_out, cfg)
}

/// `l(x)` computed in `k`: the plain fp32 call, or the matmul on casts (the result stays in `k`).
fn lin(l: &nn::Linear, x: &Tensor, k: Kind) -> Tensor {
    if k == Kind::Float {
        l.forward(x)
    } else {
        x.to_kind(k).linear(&l.ws.to_kind(k), l.bs.as_ref().map(|b| b.to_kind(k)).as_ref())
    }
}

/// Back to fp32 after a reduced-precision matmul (nothing on the fp32 path).
fn f32(x: Tensor, k: Kind) -> Tensor {
    if k == Kind::Float {
        x
    } else {
        x.to_kind(Kind::Float)
    }
}

fn layer_norm(vs: nn::Path, d: i64) -> nn::LayerNorm {
    // weights_init: LayerNorm weight N(1, 0.02), bias 0; torch's eps 1e-5.
    let cfg = nn::LayerNormConfig {
        ws_init: Init::Randn { mean: 1.0, stdev: INIT_STD },
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    nn::layer_norm(vs, vec![d], cfg)
}

/// The `_rel_shift` trick on scores laid out `[.., qlen, klen]`, where column `c` of the input
/// belongs to the relative position `klen−1−c`. Returns `out[i][j] = x[i][j + qlen − 1 − i]`
/// for every visible key (`j ≤ i + mlen`, `mlen = klen − qlen`), i.e. the score at distance
/// `mlen + i − j`; masked entries hold junk, as in the reference.
fn rel_shift(x: &Tensor) -> Tensor {
    let size = x.size();
    let nd = size.len();
    let (q, k) = (size[nd - 2], size[nd - 1]);
    // Prepend a zero column, re-read the rows as (k+1) × q, drop the first row: each row i
    // ends up shifted left by q−1−i.
    let mut pad_shape = size.clone();
    pad_shape[nd - 1] = 1;
    let padded = Tensor::cat(&[Tensor::zeros(pad_shape.as_slice(), (x.kind(), x.device())), x.shallow_clone()], -1);
    let mut view = size[..nd - 2].to_vec();
    view.extend([k + 1, q]);
    padded.view(view.as_slice()).narrow(-2, 1, k).reshape(size.as_slice())
}

/// Sinusoidal embedding of positions `pos` [len] → [len, d]: `[sin(pos·f), cos(pos·f)]`,
/// `f = 1/10000^(2i/d)` (the reference's `PositionalEmbedding`).
fn sinusoid(pos: &Tensor, inv_freq: &Tensor) -> Tensor {
    let inp = pos.outer(inv_freq);
    Tensor::cat(&[inp.sin(), inp.cos()], -1)
}

/// One `RelPartialLearnableDecoderLayer`: relative attention then position-wise FF, each with a
/// residual and a post-LayerNorm.
#[derive(Debug)]
struct Layer {
    qkv_net: nn::Linear,
    r_net: nn::Linear,
    o_net: nn::Linear,
    attn_norm: nn::LayerNorm,
    ff1: nn::Linear,
    ff2: nn::Linear,
    ff_norm: nn::LayerNorm,
}

/// What a layer needs besides its input.
struct Ctx<'a> {
    pos_emb: &'a Tensor, // [klen, d_model], positions klen−1 … 0
    mask: &'a Tensor,    // [qlen, klen] bool, true = not visible
    r_w_bias: &'a Tensor,
    r_r_bias: &'a Tensor,
    train: bool,
    /// The matmuls' kind (Float = the exact fp32 path); the biases above are already in it.
    compute: Kind,
}

impl Layer {
    fn new(vs: &nn::Path, cfg: &TxlConfig) -> Self {
        let (d, hd) = (cfg.d_model, cfg.n_head * cfg.d_head);
        let attn = vs / "dec_attn";
        let ff = vs / "pos_ff";
        Layer {
            qkv_net: linear(&attn / "qkv_net", d, 3 * hd, false),
            r_net: linear(&attn / "r_net", d, hd, false),
            o_net: linear(&attn / "o_net", hd, d, false),
            attn_norm: layer_norm(&attn / "layer_norm", d),
            ff1: linear(&ff / "CoreNet" / "0", d, cfg.d_inner, true),
            ff2: linear(&ff / "CoreNet" / "3", cfg.d_inner, d, true),
            ff_norm: layer_norm(&ff / "layer_norm", d),
        }
    }

    /// `w` [qlen, bsz, d_model], `mem` [mlen, bsz, d_model] (or None) → [qlen, bsz, d_model].
    fn forward(&self, w: &Tensor, mem: Option<&Tensor>, cx: &Ctx, cfg: &TxlConfig) -> Tensor {
        let (nh, dh) = (cfg.n_head, cfg.d_head);
        let (qlen, bsz) = (w.size()[0], w.size()[1]);
        // Keys and values cover memory + segment; queries only the segment.
        let cat = match mem {
            Some(m) if m.size()[0] > 0 => Tensor::cat(&[m, w], 0),
            _ => w.shallow_clone(),
        };
        let klen = cat.size()[0];
        let ck = cx.compute;
        let heads = lin(&self.qkv_net, &cat, ck).chunk(3, -1);
        let q = heads[0].narrow(0, klen - qlen, qlen).view([qlen, bsz, nh, dh]);
        let k = heads[1].view([klen, bsz, nh, dh]).permute([1, 2, 3, 0]); // [b, n, d, klen]
        let v = heads[2].view([klen, bsz, nh, dh]).permute([1, 2, 0, 3]); // [b, n, klen, d]
        let r_k = lin(&self.r_net, cx.pos_emb, ck).view([klen, nh, dh]).permute([1, 2, 0]); // [n, d, klen]

        // Content term (a)+(c) and position term (b)+(d), each with its learned global bias.
        let ac = (&q + cx.r_w_bias).permute([1, 2, 0, 3]).matmul(&k); // [b, n, qlen, klen]
        let bd = rel_shift(&(&q + cx.r_r_bias).permute([1, 2, 0, 3]).matmul(&r_k));
        // Scores, mask and softmax in fp32.
        let score = (f32(ac + bd, ck) * (1.0 / (dh as f64).sqrt())).masked_fill(cx.mask, f64::NEG_INFINITY);
        let prob = dropout(&score.softmax(-1, score.kind()), cfg.dropatt, cx.train);
        let prob = if ck == Kind::Float { prob } else { prob.to_kind(ck) };

        let vec = prob.matmul(&v).permute([2, 0, 1, 3]).reshape([qlen, bsz, nh * dh]);
        let attn_out = dropout(&f32(lin(&self.o_net, &vec, ck), ck), cfg.dropout, cx.train);
        let out = self.attn_norm.forward(&(w + attn_out));

        // CoreNet: Linear, ReLU, Dropout, Linear, Dropout.
        let core = dropout(&lin(&self.ff1, &out, ck).relu(), cfg.dropout, cx.train);
        let core = dropout(&f32(lin(&self.ff2, &core, ck), ck), cfg.dropout, cx.train);
        self.ff_norm.forward(&(out + core))
    }
}

/// Transformer-XL LM with tied embeddings and a full softmax.
#[derive(Debug)]
pub struct TransformerXl {
    cfg: TxlConfig,
    /// The matmuls' kind (Float = the exact fp32 path).
    compute: Kind,
    /// [n_token, d_model]: the input embedding and the output layer's weight (one tensor).
    emb: Tensor,
    /// [n_token]: the output layer's bias.
    out_bias: Tensor,
    /// (r_w_bias, r_r_bias), each [n_head, d_head]: one shared pair, or one per layer (untie_r).
    r_biases: Vec<(Tensor, Tensor)>,
    layers: Vec<Layer>,
    /// 1/10000^(2i/d_model), a buffer (not trained).
    inv_freq: Tensor,
}

impl TransformerXl {
    pub fn new(vs: &nn::Path, cfg: &TxlConfig) -> Self {
        assert!(cfg.d_model % 2 == 0, "d_model must be even for the sinusoidal positions (got {})", cfg.d_model);
        assert!(cfg.n_layer >= 1 && cfg.n_head >= 1 && cfg.d_head >= 1 && cfg.n_token >= 1);
        // Variable names follow the reference's state_dict.
        let emb = (vs / "word_emb" / "emb_layers" / "0").var("weight", &[cfg.n_token, cfg.d_model], normal());
        let out_bias = (vs / "crit" / "out_layers" / "0").var("bias", &[cfg.n_token], Init::Const(0.0));
        let shape = [cfg.n_head, cfg.d_head];
        let r_biases = if cfg.untie_r {
            (0..cfg.n_layer)
                .map(|i| {
                    let p = vs / "layers" / i / "dec_attn";
                    (p.var("r_w_bias", &shape, normal()), p.var("r_r_bias", &shape, normal()))
                })
                .collect()
        } else {
            vec![(vs.var("r_w_bias", &shape, normal()), vs.var("r_r_bias", &shape, normal()))]
        };
        let layers = (0..cfg.n_layer).map(|i| Layer::new(&(vs / "layers" / i), cfg)).collect();
        // 1 / 10000^(2i/d) = exp(−ln(10000)·2i/d)
        let inv_freq = (Tensor::arange_start_step(0.0, cfg.d_model as f64, 2.0, (Kind::Float, vs.device()))
            * (-(10000f64).ln() / cfg.d_model as f64))
            .exp();
        TransformerXl { cfg: cfg.clone(), compute: Kind::Float, emb, out_bias, r_biases, layers, inv_freq }
    }

    /// Run the matmuls in `p` (fp32 exact, or bf16 with fp32 master weights, norms and logits).
    /// The device the parameters live on.
    pub fn device(&self) -> tch::Device {
        self.emb.device()
    }

    pub fn set_precision(&mut self, p: crate::precision::Precision) {
        self.compute = p.kind();
    }

    pub fn config(&self) -> &TxlConfig {
        &self.cfg
    }

    /// Change the memory length, as the reference's `reset_length` does around evaluation.
    pub fn set_mem_len(&mut self, mem_len: i64) {
        self.cfg.mem_len = mem_len;
    }

    /// Empty memories, `[0, bsz, d_model]` for the embedding output and every layer, when
    /// `mem_len > 0`; no memories otherwise.
    pub fn init_mems(&self, bsz: i64, device: Device) -> Vec<Tensor> {
        if self.cfg.mem_len <= 0 {
            return Vec::new();
        }
        (0..=self.cfg.n_layer).map(|_| Tensor::zeros([0, bsz, self.cfg.d_model], (self.emb.kind(), device))).collect()
    }

    /// `[qlen, klen]` bool, true where key j is hidden from query i (mlen memory steps first).
    fn attn_mask(&self, qlen: i64, mlen: i64, device: Device) -> Tensor {
        let klen = qlen + mlen;
        let ones = Tensor::ones([qlen, klen], (Kind::Bool, device));
        // Causal: query i (absolute mlen + i) sees keys j ≤ mlen + i.
        let future = ones.triu(1 + mlen);
        if !self.cfg.same_length {
            return future;
        }
        // Also hide keys mem_len or more steps behind the query, so that (once the context is
        // long enough) every query attends to the same number of keys; the reference's formula.
        let mask_len = klen - self.cfg.mem_len;
        let shift = if mask_len > 0 { qlen - mask_len } else { qlen };
        future.logical_or(&ones.tril(-shift))
    }

    /// Run one segment. `tokens` [len, bsz] (Int64); `mems` holds `n_layer + 1` tensors
    /// `[mlen, bsz, d_model]` (the embedding output and each layer's output of earlier steps), or
    /// is empty for no memory. Returns logits `[len, bsz, n_token]` and the new memories
    /// (detached, at most `mem_len` steps; empty when `mem_len` is 0).
    pub fn forward_t(&self, tokens: &Tensor, mems: &[Tensor], train: bool) -> (Tensor, Vec<Tensor>) {
        let (hidden, new_mems) = self.hidden_t(tokens, mems, train);
        // The output layer: the embedding matrix (tied) plus its own bias, full softmax.
        let k = self.compute;
        let logits = if k == Kind::Float {
            hidden.linear(&self.emb, Some(&self.out_bias))
        } else {
            hidden.to_kind(k).linear(&self.emb.to_kind(k), Some(&self.out_bias.to_kind(k))).to_kind(Kind::Float)
        };
        (logits, new_mems)
    }

    /// The final hidden states [len, bsz, d_model] (after the last dropout) and the new memories.
    fn hidden_t(&self, tokens: &Tensor, mems: &[Tensor], train: bool) -> (Tensor, Vec<Tensor>) {
        let cfg = &self.cfg;
        let (qlen, _bsz) = tokens.size2().expect("tokens must be [len, bsz]");
        assert!(
            mems.is_empty() || mems.len() as i64 == cfg.n_layer + 1,
            "expected {} memories (embedding + layers), got {}",
            cfg.n_layer + 1,
            mems.len()
        );
        let device = tokens.device();
        let mlen = mems.first().map_or(0, |m| m.size()[0]);
        let klen = mlen + qlen;

        let word_emb = Tensor::embedding(&self.emb, tokens, -1, false, false) * (cfg.d_model as f64).sqrt();
        let mask = self.attn_mask(qlen, mlen, device);
        // Distances klen−1 … 0 of the keys from the last query.
        let mut pos_seq = Tensor::arange_start_step(klen as f64 - 1.0, -1.0, -1.0, (word_emb.kind(), device));
        if cfg.clamp_len > 0 {
            pos_seq = pos_seq.clamp_max(cfg.clamp_len as f64);
        }
        let pos_emb = dropout(&sinusoid(&pos_seq, &self.inv_freq.to_kind(word_emb.kind())), cfg.dropout, train);

        let mut core = dropout(&word_emb, cfg.dropout, train);
        // hids[l] is the input of layer l (hids[0] the dropped-out embedding), kept for memory.
        let mut hids = Vec::with_capacity(self.layers.len() + 1);
        hids.push(core.shallow_clone());
        let k = self.compute;
        let r_biases: Vec<(Tensor, Tensor)> = if k == Kind::Float {
            self.r_biases.iter().map(|(a, b)| (a.shallow_clone(), b.shallow_clone())).collect()
        } else {
            self.r_biases.iter().map(|(a, b)| (a.to_kind(k), b.to_kind(k))).collect()
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let (rw, rr) = &r_biases[if cfg.untie_r { l } else { 0 }];
            let cx = Ctx { pos_emb: &pos_emb, mask: &mask, r_w_bias: rw, r_r_bias: rr, train, compute: k };
            core = layer.forward(&core, mems.get(l), &cx, cfg);
            hids.push(core.shallow_clone());
        }
        (dropout(&core, cfg.dropout, train), self.update_mems(&hids, mems))
    }

    /// Keep the last `mem_len` of (old memory ++ this segment) per layer, cut from the graph.
    fn update_mems(&self, hids: &[Tensor], mems: &[Tensor]) -> Vec<Tensor> {
        let mem_len = self.cfg.mem_len;
        if mem_len <= 0 {
            return Vec::new();
        }
        hids.iter()
            .enumerate()
            .map(|(l, h)| {
                let cat = match mems.get(l) {
                    Some(m) if m.size()[0] > 0 => Tensor::cat(&[m, &h.detach()], 0),
                    _ => h.detach(),
                };
                let end = cat.size()[0]; // ext_len 0: everything up to the last step
                let beg = (end - mem_len).max(0);
                cat.narrow(0, beg, end - beg).detach()
            })
            .collect()
    }
}

/// The input embedding's name; the reference ties its output layer's weight to it.
const EMB_WEIGHT: &str = "word_emb.emb_layers.0.weight";
/// The reference's name for the tied output weight (the same tensor as [`EMB_WEIGHT`]).
const OUT_WEIGHT: &str = "crit.out_layers.0.weight";
/// The reference's `PositionalEmbedding` buffer.
const INV_FREQ: &str = "pos_emb.inv_freq";

/// The reference's `1 / (10000 ** (torch.arange(0.0, d_model, 2.0) / d_model))`, as it computes it.
fn reference_inv_freq(d_model: i64, device: Device) -> Tensor {
    let e = Tensor::arange_start_step(0.0, d_model as f64, 2.0, (Kind::Float, device)) / d_model as f64;
    Tensor::pow_scalar(10000.0, &e).reciprocal()
}

/// Our variables under the names of the reference's `MemTransformerLM.state_dict()`, for
/// [`crate::lifecycle::save_weights`]: the names already match, and `load_state_dict(strict=True)`
/// also wants the two entries that are not variables of ours: `crit.out_layers.0.weight` (the
/// output weight, tied to the embedding: the same tensor as `word_emb.emb_layers.0.weight`) and
/// the buffer `pos_emb.inv_freq` (from d_model, the embedding's width). Sorted by name.
pub fn to_reference_names(vars: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    let mut out = Vec::with_capacity(vars.len() + 2);
    for (name, t) in vars {
        if name == EMB_WEIGHT {
            out.push((OUT_WEIGHT.to_string(), t.shallow_clone()));
            out.push((INV_FREQ.to_string(), reference_inv_freq(t.size()[1], t.device())));
        }
        out.push((name, t));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The inverse of [`to_reference_names`], for [`crate::lifecycle::load_weights`]: drops the tied
/// output weight and `pos_emb.inv_freq`; files written before them (our names only) pass unchanged.
pub fn from_reference_names(saved: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    saved.into_iter().filter(|(n, _)| n != OUT_WEIGHT && n != INV_FREQ).collect()
}

/// The memory length for evaluation windows of `eval_tgt_len` tokens: the reference's
/// `evaluate` lengthens the memory by what the window shrinks (mem_len + tgt_len − eval_tgt_len),
/// so that the last query of a window sees as many tokens as in training. Without memory
/// (mem_len 0) the reference lengthens `ext_len` instead, which keeps no memory either (and `lot`
/// does not have); a length below 0 means none.
pub fn eval_mem_len(mem_len: i64, tgt_len: i64, eval_tgt_len: i64) -> i64 {
    if mem_len <= 0 {
        return 0;
    }
    (mem_len + tgt_len - eval_tgt_len).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn::OptimizerConfig;

    #[test]
    fn evaluation_memory_makes_up_for_a_shorter_window() {
        // The reference's rule: mem_len + tgt_len − eval_tgt_len.
        assert_eq!(eval_mem_len(70, 70, 50), 90);
        assert_eq!(eval_mem_len(70, 70, 100), 40);
        // Equal windows (every shipped config): the training memory.
        assert_eq!(eval_mem_len(70, 70, 70), 70);
        // No memory stays none; a window longer than memory and window together keeps none.
        assert_eq!(eval_mem_len(0, 70, 50), 0);
        assert_eq!(eval_mem_len(10, 20, 40), 0);
    }

    fn small(n_token: i64, mem_len: i64) -> TxlConfig {
        TxlConfig {
            n_token,
            n_layer: 2,
            n_head: 2,
            d_model: 16,
            d_head: 8,
            d_inner: 32,
            dropout: 0.0,
            dropatt: 0.0,
            tgt_len: 8,
            mem_len,
            same_length: false,
            clamp_len: -1,
            untie_r: false,
        }
    }

    fn tokens(v: &[i64], bsz: i64) -> Tensor {
        Tensor::from_slice(v).view([-1, bsz])
    }

    /// Add N(0, 0.3) to every parameter: at init (std 0.02) attention is nearly uniform and the
    /// position term tiny, too weak for tests that need positions to matter.
    fn sharpen(vs: &nn::VarStore) {
        tch::no_grad(|| {
            for (_, mut t) in vs.variables() {
                let _ = t.g_add_(&(Tensor::randn_like(&t) * 0.3));
            }
        });
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn rel_shift_matches_naive_relative_scores() {
        tch::manual_seed(1);
        let (b, n, q, d, mlen) = (2, 3, 5, 4, 3);
        let k = q + mlen;
        let query = Tensor::randn([b, n, q, d], (Kind::Double, Device::Cpu));
        // Row c of r_k is the (projected) embedding of relative position klen−1−c.
        let r_k = Tensor::randn([k, n, d], (Kind::Double, Device::Cpu));
        let shifted = rel_shift(&query.matmul(&r_k.permute([1, 2, 0])));
        assert_eq!(shifted.size(), vec![b, n, q, k]);
        for bi in 0..b {
            for ni in 0..n {
                for i in 0..q {
                    for j in 0..=(i + mlen) {
                        // Query i sits at absolute position mlen + i; key j at j.
                        let dist = mlen + i - j;
                        let row = k - 1 - dist;
                        let naive = query.get(bi).get(ni).get(i).dot(&r_k.get(row).get(ni)).double_value(&[]);
                        let got = shifted.double_value(&[bi, ni, i, j]);
                        assert!((naive - got).abs() < 1e-12, "({bi},{ni},{i},{j}): {naive} vs {got}");
                    }
                }
            }
        }
    }

    #[test]
    fn positional_embedding_is_the_sinusoid() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TransformerXl::new(&vs.root(), &small(5, 0));
        let pe = sinusoid(&Tensor::from_slice(&[3.0f32]), &m.inv_freq);
        for i in 0..8 {
            let f = 1.0 / 10000f64.powf(2.0 * i as f64 / 16.0);
            assert!((pe.double_value(&[0, i]) - (3.0 * f).sin()).abs() < 1e-5);
            assert!((pe.double_value(&[0, i + 8]) - (3.0 * f).cos()).abs() < 1e-5);
        }
    }

    #[test]
    fn memory_segment_equals_concatenated_context() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let (la, lb, bsz) = (5, 4, 2);
        let m = TransformerXl::new(&vs.root(), &small(11, la));
        sharpen(&vs);
        let all = Tensor::randint(11, [la + lb, bsz], (Kind::Int64, Device::Cpu));
        let (a, bseg) = (all.narrow(0, 0, la), all.narrow(0, la, lb));

        let (logits_a, mems) = m.forward_t(&a, &m.init_mems(bsz, Device::Cpu), false);
        assert_eq!(mems.len(), 3);
        assert_eq!(mems[0].size(), vec![la, bsz, 16]);
        let (logits_b, _) = m.forward_t(&bseg, &mems, false);
        assert_eq!(logits_b.size(), vec![lb, bsz, 11]);

        // The whole context in one segment (no memory; mem_len only matters for returned mems).
        let (logits_all, _) = m.forward_t(&all, &[], false);
        let tail = logits_all.narrow(0, la, lb);
        let diff = max_abs_diff(&logits_b, &tail);
        assert!(diff < 1e-5, "segment-with-memory logits differ from full-context logits by {diff}");
        assert!(max_abs_diff(&logits_a, &logits_all.narrow(0, 0, la)) < 1e-5);
        // Sanity: without memory segment B sees less context, so its logits do change.
        let (logits_b_cold, _) = m.forward_t(&bseg, &[], false);
        assert!(max_abs_diff(&logits_b_cold, &tail) > 1e-2);
    }

    #[test]
    fn memory_is_detached_and_truncated() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TransformerXl::new(&vs.root(), &small(9, 3));
        let seg1 = tokens(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 1], 2); // [5, 2]
        let (logits, mems) = m.forward_t(&seg1, &m.init_mems(2, Device::Cpu), false);
        assert!(logits.requires_grad());
        assert_eq!(mems.len(), 3);
        for mem in &mems {
            assert!(!mem.requires_grad(), "memory must be cut from the graph");
            assert_eq!(mem.size(), vec![3, 2, 16]);
        }
        // Layer-0 memory = the scaled embeddings of the last 3 steps (dropout off).
        let emb = |t: &Tensor| Tensor::embedding(&m.emb, t, -1, false, false) * 4.0;
        assert!(max_abs_diff(&mems[0], &emb(&seg1.narrow(0, 2, 3))) < 1e-6);

        // A 2-step segment keeps the last old step plus the 2 new ones.
        let seg2 = tokens(&[2, 3, 4, 5], 2);
        let (_, mems2) = m.forward_t(&seg2, &mems, false);
        assert_eq!(mems2[0].size(), vec![3, 2, 16]);
        let expect = Tensor::cat(&[seg1.narrow(0, 4, 1), seg2.shallow_clone()], 0);
        assert!(max_abs_diff(&mems2[0], &emb(&expect)) < 1e-6);

        // No gradient flows back into the previous segment: the parameter gradient of segment 2's
        // loss is the same whether its memory came from a graph-building forward or a no_grad one.
        let emb_grad_after_seg2 = |mems: &[Tensor]| {
            m.emb.shallow_clone().zero_grad();
            let (logits2, _) = m.forward_t(&seg2, mems, false);
            logits2.log_softmax(-1, Kind::Float).select(-1, 1).sum(Kind::Float).backward();
            m.emb.grad().copy()
        };
        let with_graph = emb_grad_after_seg2(&mems);
        let (_, mems_nograd) = tch::no_grad(|| m.forward_t(&seg1, &[], false));
        let without_graph = emb_grad_after_seg2(&mems_nograd);
        assert_eq!(max_abs_diff(&with_graph, &without_graph), 0.0);

        // No memory kept when mem_len is 0.
        let m0 = TransformerXl::new(&nn::VarStore::new(Device::Cpu).root(), &small(9, 0));
        assert!(m0.init_mems(2, Device::Cpu).is_empty());
        assert!(m0.forward_t(&seg1, &[], false).1.is_empty());
    }

    #[test]
    fn future_tokens_do_not_change_earlier_logits() {
        tch::manual_seed(4);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TransformerXl::new(&vs.root(), &small(13, 4));
        let bsz = 3;
        let x = Tensor::randint(13, [7, bsz], (Kind::Int64, Device::Cpu));
        let (_, mems) = m.forward_t(&Tensor::randint(13, [4, bsz], (Kind::Int64, Device::Cpu)), &[], false);
        for mem_slice in [&mems[..], &[]] {
            let (base, _) = m.forward_t(&x, mem_slice, false);
            for t in [0, 3, 6] {
                let y = x.copy();
                let _ = y.get(t).fill_(12);
                let _ = y.get(t).get(0).fill_(11);
                let (changed, _) = m.forward_t(&y, mem_slice, false);
                if t > 0 {
                    let d = max_abs_diff(&base.narrow(0, 0, t), &changed.narrow(0, 0, t));
                    assert_eq!(d, 0.0, "position < {t} changed by {d}");
                }
                assert!(max_abs_diff(&base.narrow(0, t, 7 - t), &changed.narrow(0, t, 7 - t)) > 1e-6);
            }
        }
    }

    #[test]
    fn same_length_mask_matches_reference_formula() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = small(5, 3);
        cfg.same_length = true;
        let m = TransformerXl::new(&vs.root(), &cfg);
        // qlen 3, mlen 3, klen 6, mem_len 3: mask_len 3, shift 0 → tril(0) also masked, i.e. each
        // query sees exactly keys i+1 ..= i+3 (3 keys).
        let mask = m.attn_mask(3, 3, Device::Cpu);
        for i in 0..3i64 {
            for j in 0..6i64 {
                let hidden = j > i + 3 || j <= i;
                assert_eq!(mask.int64_value(&[i, j]) != 0, hidden, "({i},{j})");
            }
        }
    }

    #[test]
    fn clamp_len_shares_far_positions_and_untie_r_adds_per_layer_biases() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut m = TransformerXl::new(&vs.root(), &small(9, 0));
        sharpen(&vs);
        let x = Tensor::randint(9, [6, 2], (Kind::Int64, Device::Cpu));
        let (plain, _) = m.forward_t(&x, &[], false);
        // Distances never exceed klen − 1 = 5, so clamping there changes nothing; at 1 it does.
        m.cfg.clamp_len = 5;
        assert_eq!(max_abs_diff(&plain, &m.forward_t(&x, &[], false).0), 0.0);
        m.cfg.clamp_len = 1;
        let clamped = m.forward_t(&x, &[], false).0;
        // Query 0 and 1 only see distances ≤ 1: unchanged; later queries see clamped ones.
        assert!(max_abs_diff(&plain.narrow(0, 0, 2), &clamped.narrow(0, 0, 2)) < 1e-6);
        assert!(max_abs_diff(&plain.narrow(0, 2, 4), &clamped.narrow(0, 2, 4)) > 1e-3);

        let shared = nn::VarStore::new(Device::Cpu);
        let _ = TransformerXl::new(&shared.root(), &small(9, 0));
        let untied = nn::VarStore::new(Device::Cpu);
        let mut cfg = small(9, 0);
        cfg.untie_r = true;
        let mu = TransformerXl::new(&untied.root(), &cfg);
        let count = |vs: &nn::VarStore| vs.trainable_variables().iter().map(|t| t.numel() as i64).sum::<i64>();
        assert_eq!(count(&untied) - count(&shared), (2 - 1) * 2 * 2 * 8);
        assert_eq!(mu.forward_t(&x, &[], false).0.size(), vec![6, 2, 9]);
    }

    #[test]
    fn output_weight_is_the_embedding_and_parameter_count_is_exact() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = small(10, 0);
        let m = TransformerXl::new(&vs.root(), &cfg);
        let (v, l, h, dh, d, di) = (10, 2, 2, 8, 16, 32);
        let per_layer = d * 3 * h * dh // qkv_net
            + d * h * dh               // r_net
            + h * dh * d               // o_net
            + 2 * d                    // attention LayerNorm
            + d * di + di + di * d + d // FF
            + 2 * d; // FF LayerNorm
        let hand = v * d + v + 2 * h * dh + l * per_layer;
        let total: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(total, hand);
        // Only one [n_token, d_model] matrix exists.
        let vars = vs.variables();
        assert_eq!(vars.values().filter(|t| t.size() == vec![v, d]).count(), 1);
        assert_eq!(vars["word_emb.emb_layers.0.weight"].data_ptr(), m.emb.data_ptr());

        // Gradient reaches the shared matrix from both uses, and the total is their sum. Tokens
        // 0..4 are inputs; rows 5..9 are touched only by the output layer.
        let x = tokens(&[0, 1, 2, 3, 4, 0], 2);
        let objective = |logits: Tensor| logits.log_softmax(-1, Kind::Float).select(-1, 7).mean(Kind::Float);
        let grad_of = |f: &dyn Fn() -> Tensor| {
            m.emb.shallow_clone().zero_grad();
            objective(f()).backward();
            m.emb.grad().copy()
        };
        let g_total = grad_of(&|| m.forward_t(&x, &[], false).0);
        // Input use only: the output layer reads a detached copy of the matrix.
        let g_in = grad_of(&|| m.hidden_t(&x, &[], false).0.linear(&m.emb.detach(), Some(&m.out_bias)));
        // Output use only: the hidden states are cut from the graph.
        let g_out = grad_of(&|| m.hidden_t(&x, &[], false).0.detach().linear(&m.emb, Some(&m.out_bias)));
        let rows = |g: &Tensor, from: i64| g.narrow(0, from, 5).abs().sum(Kind::Float).double_value(&[]);
        assert!(rows(&g_in, 0) > 0.0, "input use gives no gradient");
        assert_eq!(rows(&g_in, 5), 0.0);
        assert!(rows(&g_out, 5) > 0.0, "output use gives no gradient");
        assert!(max_abs_diff(&g_total, &(&g_in + &g_out)) < 1e-7);
        // The logits are exactly h·Eᵀ + b with that one matrix.
        let (logits, _) = m.forward_t(&x, &[], false);
        let (h, _) = m.hidden_t(&x, &[], false);
        assert!(max_abs_diff(&logits, &(h.matmul(&m.emb.tr()) + &m.out_bias)) < 1e-6);
    }

    #[test]
    fn loss_falls_on_a_repeating_sequence() {
        tch::manual_seed(6);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = small(8, 8);
        // Exercise the dropout paths while training; the loss is measured with train = false.
        cfg.dropout = 0.1;
        cfg.dropatt = 0.1;
        let m = TransformerXl::new(&vs.root(), &cfg);
        let mut opt = nn::Adam::default().build(&vs, 1e-2).unwrap();
        // Two streams of the cycle 0..7 (offset), 17 steps: input the first 16, predict the next.
        let seq: Vec<i64> = (0..17).flat_map(|t| [t % 8, (t + 3) % 8]).collect();
        let data = tokens(&seq, 2);
        let (inp, tgt) = (data.narrow(0, 0, 16), data.narrow(0, 1, 16));
        let loss_of = |train: bool| {
            let (logits, _) = m.forward_t(&inp, &[], train);
            logits.view([-1, 8]).cross_entropy_for_logits(&tgt.reshape([-1]))
        };
        let first = tch::no_grad(|| loss_of(false)).double_value(&[]);
        for _ in 0..80 {
            let loss = loss_of(true);
            opt.backward_step(&loss);
        }
        let last = tch::no_grad(|| loss_of(false)).double_value(&[]);
        assert!((first - (8f64).ln()).abs() < 0.5, "initial loss {first} should be near ln 8");
        eprintln!("loss {first} → {last}");
        assert!(last < first / 10.0, "loss {first} → {last}");
    }

    /// bf16: logits and memories come back as fp32 and stay close to the fp32 forward; gradients
    /// reach the fp32 master weights as fp32; switching back gives the exact fp32 logits.
    #[test]
    fn bf16_forward_is_close_and_trains_fp32_master_weights() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut m = TransformerXl::new(&vs.root(), &small(13, 4));
        let tokens = Tensor::from_slice(&[1i64, 4, 2, 7, 3, 0, 9, 10, 12, 5]).view([5, 2]);
        let mems = m.init_mems(2, Device::Cpu);
        let (exact, _) = m.forward_t(&tokens, &mems, false);
        m.set_precision(crate::precision::Precision::Bf16);
        let (logits, new_mems) = m.forward_t(&tokens, &mems, false);
        assert_eq!(logits.kind(), Kind::Float);
        assert!(new_mems.iter().all(|t| t.kind() == Kind::Float));
        let err = (&logits - &exact).abs().max().double_value(&[]);
        let scale = exact.abs().max().double_value(&[]);
        assert!(err > 0.0 && err < 0.05 * scale.max(0.1), "bf16 logits off by {err} (scale {scale})");
        // A second segment through the bf16 memories.
        let (logits, _) = m.forward_t(&tokens, &new_mems, true);
        logits.view([-1, 13]).cross_entropy_for_logits(&tokens.view([-1])).backward();
        for (name, v) in vs.variables() {
            let g = v.grad();
            assert!(g.defined() && g.kind() == Kind::Float && v.kind() == Kind::Float, "{name}");
        }
        m.set_precision(crate::precision::Precision::Fp32);
        let (again, _) = m.forward_t(&tokens, &mems, false);
        assert!(again.equal(&exact), "the fp32 path must be exactly the original");
    }

    #[test]
    fn reference_names_round_trip_and_accept_old_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = TransformerXl::new(&vs.root(), &small(10, 4));
        let ours = crate::checkpoint::store_tensors(&vs);
        let theirs = to_reference_names(ours.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
        assert_eq!(theirs.len(), ours.len() + 2);
        let get = |name: &str| &theirs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name}")).1;
        // The tied output weight is the embedding; the buffer is the model's frequencies.
        assert!(get(OUT_WEIGHT).equal(&m.emb));
        assert!(get("crit.out_layers.0.bias").equal(&m.out_bias));
        assert!(get("r_w_bias").size() == vec![2, 8] && get("layers.1.pos_ff.CoreNet.3.bias").size() == vec![16]);
        assert_eq!(get(INV_FREQ).size(), vec![8]);
        assert!(max_abs_diff(get(INV_FREQ), &m.inv_freq) < 1e-6);
        assert!(theirs.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no duplicates");
        let back = from_reference_names(theirs);
        let names = |v: &[(String, Tensor)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(&back), names(&ours));
        // Files written with our own names load unchanged.
        let old = from_reference_names(ours.iter().map(|(n, t)| (n.clone(), t.shallow_clone())).collect());
        assert_eq!(names(&old), names(&ours));
        // And a saved file restores: both directions through lifecycle.
        let d = tempfile::tempdir().unwrap();
        crate::lifecycle::save_weights(d.path(), 0, &vs, to_reference_names).unwrap();
        let other = nn::VarStore::new(Device::Cpu);
        let m2 = TransformerXl::new(&other.root(), &small(10, 4));
        crate::lifecycle::load_weights(d.path(), 0, &other, from_reference_names).unwrap();
        assert!(m2.emb.equal(&m.emb) && m2.out_bias.equal(&m.out_bias));
    }
}
