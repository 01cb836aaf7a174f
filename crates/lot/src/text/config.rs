//! The language-modelling sections of a config: `[data]`, `[model]`, `[train]`.
//! Defaults are the reference's LSTM-on-PTB script (docs/algorithm.md, "Language models").

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusKind, VocabRules};
use crate::bail_input;
use crate::config::common::LotConfig;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// `[data]`: the corpus.
    pub data: TextData,
    /// `[model]`: the language model.
    pub model: LmModel,
    /// `[train]`: optimisation and evaluation.
    pub train: LmTrain,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextData {
    /// `ptb` (ptb.*.txt, the default), `wikitext` (wiki.*.tokens) or `text-files`: your own UTF-8
    /// text, `train.txt`, `valid.txt`, `test.txt`, read by WikiText's rules (docs/own-data.md).
    pub corpus: CorpusKind,
    /// Folder with the files; empty = `<data root>/ptb` or `<data root>/wikitext-103`. Required
    /// for `text-files`.
    pub dir: String,
    /// Train on the first n tokens of the training split only (0 = all): a small-data regime.
    /// The vocabulary, validation and test splits stay whole.
    pub train_tokens: usize,
}

impl Default for TextData {
    fn default() -> Self {
        Self { corpus: CorpusKind::Ptb, dir: String::new(), train_tokens: 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// LSTM (`emsize`, `nhid`, `nlayers`, `dropout`); no weight tying, as the reference.
    Lstm,
    /// Transformer-XL (`n_layer` … `mem_len`, `dropout`): relative attention with learned u/v,
    /// tied embeddings, full softmax.
    TransformerXl,
}

/// Model hyperparameters; `emsize`…`nlayers` are the LSTM's, `n_layer`…`mem_len` Transformer-XL's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmModel {
    /// The network.
    pub arch: Arch,
    /// Dropout probability (both architectures).
    pub dropout: f64,
    /// LSTM: embedding size.
    pub emsize: i64,
    /// LSTM: hidden size.
    pub nhid: i64,
    /// LSTM: layers.
    pub nlayers: i64,
    /// Transformer-XL: layers.
    pub n_layer: i64,
    /// Transformer-XL: attention heads.
    pub n_head: i64,
    /// Transformer-XL: model width (embedding size).
    pub d_model: i64,
    /// Transformer-XL: width of each head.
    pub d_head: i64,
    /// Transformer-XL: feed-forward inner width.
    pub d_inner: i64,
    /// Transformer-XL: dropout on the attention probabilities.
    pub dropatt: f64,
    /// Transformer-XL: memory length (tokens of earlier segments attended to).
    pub mem_len: i64,
}

impl Default for LmModel {
    fn default() -> Self {
        Self {
            arch: Arch::Lstm,
            dropout: 0.45,
            emsize: 650,
            nhid: 650,
            nlayers: 2,
            n_layer: 4,
            n_head: 8,
            d_model: 200,
            d_head: 20,
            d_inner: 1000,
            dropatt: 0.0,
            mem_len: 70,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrSchedule {
    /// torch CosineAnnealingLR stepped once per epoch, to 0.
    CosineEpoch,
    /// Cosine per teacher step over the whole run, to 0.
    CosineStep,
    /// `lr` throughout.
    Constant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentSchedule {
    /// Follow the teacher's schedule.
    Same,
    /// The reference LSTM-PTB rule: constant lr, ×plateau_gamma when the summed validation
    /// perplexity got worse than the best and the student's own validation loss got worse.
    Plateau,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with `momentum` (no Nesterov), the LSTM reference's.
    Sgd,
    /// Adam (β 0.9/0.999, ε 1e-8), Transformer-XL's.
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checkpoint {
    /// Each model keeps its own best-validation weights (LSTM trainer).
    PerModel,
    /// All models are saved whenever the teacher's validation loss improves (Transformer-XL trainer).
    Teacher,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LmTrain {
    /// Epochs over the training stream.
    pub epochs: usize,
    /// Stop after this many teacher steps (0 = run all epochs). `cosine_step` then spans the capped
    /// budget; `cosine_epoch` still spans `epochs` (so a capped run stops part-way down it).
    /// A `compute_matched` teacher gets n × (1 + K·N).
    pub max_steps: usize,
    /// Training streams (columns) per batch.
    pub batch_size: usize,
    /// Evaluation streams per batch.
    pub eval_batch_size: usize,
    /// Truncated-BPTT window (Transformer-XL: tgt_len).
    pub bptt: usize,
    /// Evaluation window for Transformer-XL (eval_tgt_len, memory carried); the LSTM uses `bptt`.
    pub eval_bptt: usize,
    /// The optimizer of every model.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum (`sgd` only).
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Per-model gradient-norm clip (0 = none).
    pub clip: f64,
    /// The teacher's learning-rate schedule.
    pub schedule: LrSchedule,
    /// The students' learning-rate schedule.
    pub student_schedule: StudentSchedule,
    /// `plateau`: the factor a student's lr is multiplied by when validation got worse.
    pub plateau_gamma: f64,
    /// Validate every this many teacher steps (0 = at each epoch end).
    pub eval_interval: usize,
    /// Which weights are kept as the best-validation checkpoints (test perplexity is reported from them).
    pub checkpoint: Checkpoint,
    /// `fp32` (exact), `auto` (bf16 where native, else fp32) or `bf16`: embeddings, LSTM gates, attention, feed-forward and
    /// decoder matmuls in bf16 on fp32 master weights; logits, losses, KL, LayerNorm statistics,
    /// memories and perplexity in fp32 (see `lstm.rs`, `txl.rs`; `lot bench perplexity` checks it
    /// against fp32).
    pub precision: crate::precision::Precision,
}

impl Default for LmTrain {
    fn default() -> Self {
        Self {
            epochs: 60,
            max_steps: 0,
            batch_size: 20,
            eval_batch_size: 10,
            bptt: 35,
            eval_bptt: 35,
            optimizer: OptimizerKind::Sgd,
            lr: 30.0,
            momentum: 0.3,
            weight_decay: 0.0,
            clip: 0.2,
            schedule: LrSchedule::CosineEpoch,
            student_schedule: StudentSchedule::Plateau,
            plateau_gamma: 0.25,
            eval_interval: 0,
            checkpoint: Checkpoint::PerModel,
            precision: crate::precision::Precision::Fp32,
        }
    }
}

impl TextConfig {
    pub fn validate(&self, _lot: &LotConfig) -> Result<()> {
        let train = &self.train;
        for (k, v) in [("train.epochs", train.epochs), ("train.batch_size", train.batch_size), ("train.eval_batch_size", train.eval_batch_size), ("train.bptt", train.bptt), ("train.eval_bptt", train.eval_bptt)] {
            if v < 1 {
                bail_input!("key '{k}': must be >= 1");
            }
        }
        if !(train.lr > 0.0 && train.lr.is_finite()) {
            bail_input!("key 'train.lr': must be > 0, got {}", train.lr);
        }
        if !(0.0..1.0).contains(&train.momentum) {
            bail_input!("key 'train.momentum': must be in [0, 1), got {}", train.momentum);
        }
        if train.clip < 0.0 || train.weight_decay < 0.0 {
            bail_input!("key 'train.clip' / 'train.weight_decay': must be >= 0");
        }
        if !(train.plateau_gamma > 0.0 && train.plateau_gamma <= 1.0) {
            bail_input!("key 'train.plateau_gamma': must be in (0, 1], got {}", train.plateau_gamma);
        }
        if self.data.corpus == CorpusKind::TextFiles && self.data.dir.is_empty() {
            bail_input!("key 'data.dir': required for data.corpus = \"text-files\" (the folder holding train.txt, valid.txt and test.txt)");
        }
        let m = &self.model;
        if !(0.0..1.0).contains(&m.dropout) || !(0.0..1.0).contains(&m.dropatt) {
            bail_input!("key 'model.dropout': must be in [0, 1)");
        }
        match m.arch {
            Arch::Lstm => {
                if m.emsize < 1 || m.nhid < 1 || m.nlayers < 1 {
                    bail_input!("key 'model.emsize/nhid/nlayers': must be >= 1");
                }
            }
            Arch::TransformerXl => {
                if m.n_layer < 1 || m.n_head < 1 || m.d_model < 1 || m.d_head < 1 || m.d_inner < 1 {
                    bail_input!("key 'model.n_layer/n_head/d_model/d_head/d_inner': must be >= 1");
                }
                if m.mem_len < 0 {
                    bail_input!("key 'model.mem_len': must be >= 0");
                }
            }
        }
        Ok(())
    }

    pub fn rules(&self) -> VocabRules {
        match self.model.arch {
            Arch::Lstm => VocabRules::Lstm,
            Arch::TransformerXl => VocabRules::Txl,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        if !self.data.dir.is_empty() {
            return PathBuf::from(&self.data.dir);
        }
        let root = crate::data::registry::default_data_dir();
        match self.data.corpus {
            CorpusKind::Ptb => root.join("ptb"),
            CorpusKind::Wikitext => root.join("wikitext-103"),
            CorpusKind::TextFiles => root.join("text-files"), // unused: validate requires data.dir
        }
    }
}
