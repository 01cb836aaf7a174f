//! The language-model worker: the LM trainer's own step (LSTM or Transformer-XL) on a
//! synthetic token stream.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Device;

use lot::config::Config;

use crate::worker::{run_lot_sections, timed_steps};
use crate::{BenchSpec, BenchTask, WorkerResult};

/// The language-model config the spec describes: the LSTM recipe (SGD with momentum, clip) or
/// the Transformer-XL recipe (Adam, clip, no attention dropout), the learning rate on a cosine over
/// the bench's steps (warm-up and timed: `train.max_steps`), as the bench always ran it.
fn lm_config(spec: &BenchSpec) -> Result<Config> {
    let model = if spec.task == BenchTask::Txl {
        format!(
            "arch = \"transformer_xl\"\nn_layer = {}\nd_model = {}\nn_head = {}\nd_head = {}\nd_inner = {}\nmem_len = {}\ndropatt = 0.0\n",
            spec.n_layer, spec.d_model, spec.n_head, spec.d_head, spec.d_inner, spec.mem_len
        )
    } else {
        format!("arch = \"lstm\"\nemsize = {}\nnhid = {}\nnlayers = {}\n", spec.emsize, spec.nhid, spec.nlayers)
    };
    let optimizer = if spec.task == BenchTask::Txl { "adam" } else { "sgd" };
    // Enough epochs of the synthetic stream for every step the bench takes.
    let epochs = 1 + (spec.warmup + spec.steps) * spec.bptt * spec.batch_size / spec.tokens.max(1);
    let text = format!(
        "task = \"text\"\n{}[model]\n{model}dropout = {:?}\n[train]\nepochs = {epochs}\nbatch_size = {}\nbptt = {}\n\
         max_steps = {}\noptimizer = \"{optimizer}\"\nlr = {:?}\nmomentum = {:?}\nclip = {:?}\nschedule = \"cosine_step\"\n\
         student_schedule = \"same\"\nprecision = \"{}\"\n",
        run_lot_sections(spec, 1),
        spec.dropout,
        spec.batch_size,
        spec.bptt,
        spec.warmup + spec.steps,
        spec.lr,
        spec.momentum,
        spec.clip,
        spec.precision.name(),
    );
    Config::from_toml(&text, &[], "bench language-model config")
}

/// The language-model trainer's own step (`LmLearner`, what `lot train` runs: LSTM with SGD, or
/// Transformer-XL with Adam) on a synthetic token stream; nothing is evaluated, logged or
/// checkpointed.
pub(crate) fn lm_loop(spec: &BenchSpec, device: Device) -> Result<(f64, WorkerResult)> {
    use lot::text::corpus::{Corpus, Vocab};
    use lot::text::train::LmLearner;
    let cfg = lm_config(spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut ids = |n: usize| -> Vec<u32> { (0..n).map(|_| rng.gen_range(0..spec.vocab as u32)).collect() };
    let corpus = Corpus {
        vocab: Vocab::from_words((0..spec.vocab).map(|i| format!("w{i}")).collect()),
        train: ids(spec.tokens),
        valid: ids(1000),
        test: ids(1000),
    };
    let mut learner = LmLearner::fresh(&cfg, &corpus, device)?;
    let train_s = timed_steps(&mut learner, spec, device)?;
    Ok((
        train_s,
        WorkerResult { tokens_per_s: Some((spec.steps * spec.bptt * spec.batch_size) as f64 / train_s.max(1e-9)), mean_teacher_loss: Some(learner.train_loss()), ..Default::default() },
    ))
}
