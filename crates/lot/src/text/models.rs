//! The language models as the engine sees them: LSTM or Transformer-XL nets, teacher and students
//! with their recurrent states (one per stream), evaluation, and the states' checkpoint tensors.

use anyhow::Result;
use tch::nn;
use tch::{Device, Tensor};

use super::config::{Arch, TextConfig};
use super::lstm::{Hidden, LstmConfig, LstmLm};
use super::streams::{columns, epoch_windows, window};
use super::txl::{eval_mem_len, TransformerXl, TxlConfig};
use crate::checkpoint;
use crate::dist::Dist;
use crate::engine::{LotModels, Stream};

pub enum Net {
    Lstm(LstmLm),
    Txl(TransformerXl),
}

/// Recurrent state carried between windows (always detached).
pub enum State {
    Lstm(Hidden),
    Txl(Vec<Tensor>),
}

impl Net {
    fn set_precision(&mut self, p: crate::precision::Precision) {
        match self {
            Net::Lstm(m) => m.set_precision(p),
            Net::Txl(m) => m.set_precision(p),
        }
    }

    fn device(&self) -> Device {
        match self {
            Net::Lstm(m) => m.device(),
            Net::Txl(m) => m.device(),
        }
    }

    fn init_state(&self, bsz: i64, device: Device) -> State {
        match self {
            Net::Lstm(m) => State::Lstm(m.init_hidden(bsz)),
            Net::Txl(m) => State::Txl(m.init_mems(bsz, device)),
        }
    }

    /// Logits flattened to `[len·bsz, V]` and the next state, detached from this window's graph.
    fn forward(&self, x: &Tensor, state: &State, train: bool) -> (Tensor, State) {
        let (logits, next) = match (self, state) {
            (Net::Lstm(m), State::Lstm(h)) => {
                let (l, (h, c)) = m.forward_t(x, h, train);
                (l, State::Lstm((h.detach(), c.detach())))
            }
            (Net::Txl(m), State::Txl(mems)) => {
                let (l, mems) = m.forward_t(x, mems, train);
                (l, State::Txl(mems.iter().map(|t| t.detach()).collect()))
            }
            _ => unreachable!("state kind always matches its net"),
        };
        let v = logits.size()[2];
        (logits.reshape([-1, v]), next)
    }
}

pub struct LmModels {
    pub nets: Vec<Net>,
    pub stores: Vec<nn::VarStore>,
    /// states[model][stream]: 0 = teacher stream, 1 = student stream.
    pub(crate) states: Vec<[State; 2]>,
    bsz: i64,
    /// The teacher's device: batches arrive there, and every model's logits are returned there.
    device: Device,
    /// Each model's device (`run.devices`).
    devices: Vec<Device>,
}

impl LmModels {
    pub fn build(text: &TextConfig, n_token: i64, count: usize, seed: u64, device: Device, bsz: i64) -> Self {
        Self::build_placed(text, n_token, seed, &vec![device; count], bsz)
    }

    /// As [`Self::build`], model k on `devices[k]` (only logits cross devices).
    pub fn build_placed(text: &TextConfig, n_token: i64, seed: u64, devices: &[Device], bsz: i64) -> Self {
        let (m, count) = (&text.model, devices.len());
        let mut nets = Vec::new();
        let mut stores = Vec::new();
        for k in 0..count {
            // The reference seeds model k with seed + k.
            tch::manual_seed((seed + k as u64) as i64);
            let vs = nn::VarStore::new(devices[k]);
            let mut net = match m.arch {
                Arch::Lstm => Net::Lstm(LstmLm::new(
                    &vs.root(),
                    LstmConfig { n_token, emsize: m.emsize, nhid: m.nhid, nlayers: m.nlayers, dropout: m.dropout },
                )),
                Arch::TransformerXl => Net::Txl(TransformerXl::new(
                    &vs.root(),
                    &TxlConfig {
                        n_token,
                        n_layer: m.n_layer,
                        n_head: m.n_head,
                        d_model: m.d_model,
                        d_head: m.d_head,
                        d_inner: m.d_inner,
                        dropout: m.dropout,
                        dropatt: m.dropatt,
                        tgt_len: text.train.bptt as i64,
                        mem_len: m.mem_len,
                        same_length: false,
                        clamp_len: -1,
                        untie_r: false,
                    },
                )),
            };
            net.set_precision(text.train.precision);
            nets.push(net);
            stores.push(vs);
        }
        let states = nets.iter().zip(devices).map(|(n, &d)| [n.init_state(bsz, d), n.init_state(bsz, d)]).collect();
        Self { nets, stores, states, bsz, device: devices[0], devices: devices.to_vec() }
    }

    /// Fresh hidden states / memories on both streams (the reference does this every epoch).
    pub fn reset_states(&mut self) {
        for ((n, s), &d) in self.nets.iter().zip(self.states.iter_mut()).zip(&self.devices) {
            *s = [n.init_state(self.bsz, d), n.init_state(self.bsz, d)];
        }
    }

    /// Model m's logits (on the teacher's device) for the window `x`, on stream `s`, computed on
    /// model m's device.
    fn logits(&mut self, m: usize, x: &Tensor, s: usize) -> Tensor {
        let here = self.devices[m] == self.device;
        let x = if here { x.shallow_clone() } else { x.to_device(self.devices[m]) };
        let (logits, next) = self.nets[m].forward(&x, &self.states[m][s], true);
        self.states[m][s] = next;
        if here {
            logits
        } else {
            logits.to_device(self.device)
        }
    }
}

impl LotModels for LmModels {
    type Batch = (Tensor, Tensor);
    type Stats = ();
    fn forward(&mut self, m: usize, (x, y): &Self::Batch, stream: Stream) -> (Tensor, Tensor, ()) {
        let s = match stream {
            Stream::Teacher => 0,
            Stream::Student => 1,
        };
        let logits = self.logits(m, x, s);
        let ce = logits.cross_entropy_for_logits(y);
        (logits, ce, ())
    }
    fn forward_ce(&mut self, m: usize, (x, y): &Self::Batch, stream: Stream) -> Option<(Tensor, Tensor)> {
        let s = match stream {
            Stream::Teacher => 0,
            Stream::Student => 1,
        };
        Some((self.logits(m, x, s), y.reshape([-1])))
    }
}

/// Token-weighted mean cross-entropy of one model over a batchified split, in eval mode.
/// Transformer-XL carries its memory across windows (eval_tgt_len), the LSTM its hidden state.
pub fn evaluate(net: &mut Net, data: &Tensor, bptt: i64) -> f64 {
    // Transformer-XL evaluates with the reference's evaluation memory, then gets its own back.
    let Net::Txl(m) = net else { return evaluate_windows(net, data, bptt) };
    let (mem_len, tgt_len) = (m.config().mem_len, m.config().tgt_len);
    m.set_mem_len(eval_mem_len(mem_len, tgt_len, bptt));
    let loss = evaluate_windows(net, data, bptt);
    if let Net::Txl(m) = net {
        m.set_mem_len(mem_len);
    }
    loss
}

/// Token-weighted mean cross-entropy over the windows of `data`, the state carried across them.
pub(crate) fn evaluate_windows(net: &Net, data: &Tensor, bptt: i64) -> f64 {
    let _g = tch::no_grad_guard();
    let data = &data.to_device(net.device());
    let bsz = data.size()[1];
    let mut state = net.init_state(bsz, data.device());
    let (mut total, mut count) = (0.0, 0i64);
    for i in epoch_windows(data.size()[0], bptt) {
        let (x, y) = window(data, i, bptt);
        let (logits, next) = net.forward(&x, &state, false);
        state = next;
        let n = y.size()[0];
        total += logits.cross_entropy_for_logits(&y).double_value(&[]) * n as f64;
        count += n;
    }
    total / count.max(1) as f64
}


/// Every rank's recurrent states side by side along the batch dimension (what one process with
/// the global batch holds), gathered exactly: each rank fills its slot of zeros, then a sum.
pub fn gather_states(d: &Dist, states: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
    let _g = tch::no_grad_guard();
    let mut out = Vec::new();
    for (name, t) in states {
        let b = t.size()[1];
        let mut shape = t.size();
        shape[1] = b * d.world as i64;
        let mut all = Tensor::zeros(shape.as_slice(), (t.kind(), t.device()));
        all.narrow(1, d.rank as i64 * b, b).copy_(&t);
        d.pg.all_reduce_sum(&mut all)?;
        out.push((name, all));
    }
    Ok(out)
}

/// Validation/test loss: each rank evaluates its columns and the means are averaged (equal
/// columns, equal token counts) when the eval batch divides among the ranks; otherwise every
/// rank evaluates the whole split.
pub fn evaluate_all(net: &mut Net, data: &Tensor, bptt: i64, d: Option<&Dist>) -> Result<f64> {
    match d {
        Some(d) if d.world > 1 && data.size()[1] % d.world as i64 == 0 => {
            let mine = evaluate(net, &columns(data, Some(d)), bptt);
            Ok(d.sum(&[mine])?[0] / d.world as f64)
        }
        _ => Ok(evaluate(net, data, bptt)),
    }
}

pub fn state_tensors(models: &LmModels) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    for (m, streams) in models.states.iter().enumerate() {
        for (s, st) in streams.iter().enumerate() {
            let parts: Vec<Tensor> = match st {
                State::Lstm((h, c)) => vec![h.shallow_clone(), c.shallow_clone()],
                State::Txl(mems) => mems.iter().map(|t| t.shallow_clone()).collect(),
            };
            for (i, t) in parts.into_iter().enumerate() {
                out.push((format!("state{m}.{s}.{i}"), t));
            }
        }
    }
    out
}

pub fn restore_states(models: &mut LmModels, saved: &checkpoint::Tensors) -> Result<()> {
    for m in 0..models.nets.len() {
        for s in 0..2 {
            let get = |i: usize| {
                saved.get(&format!("state{m}.{s}.{i}")).ok_or_else(|| crate::error::input_err("checkpoint does not match the config: recurrent state missing"))
            };
            let d = models.devices[m];
            let get = |i: usize| get(i).map(|t| t.to_device(d));
            models.states[m][s] = match &models.states[m][s] {
                State::Lstm(_) => State::Lstm((get(0)?, get(1)?)),
                State::Txl(mems) => State::Txl((0..mems.len()).map(get).collect::<Result<_>>()?),
            };
        }
    }
    Ok(())
}
