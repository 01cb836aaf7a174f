//! The image-classification trainer: LoT (or a baseline) on PreAct ResNets, driven by the engine.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use super::batches::{self, Shard};
use super::resnet::{self, ForwardOptions, PreActResNet};
use super::sync_bn::SyncBn;
use super::config::{Schedule, TrainConfig, VisionConfig};
use crate::config::Config;
use super::own_data;
use crate::data::{load_splits, ImageDataset};
use crate::dist::{self, Dist};
use crate::engine::{Engine, LotLoss, LotModels, Stream};
use crate::optim::{cosine_lr, named_trainable, Optimizer, Sgd, SgdConfig};
use crate::lifecycle::{self, Tracker};
use crate::run::{self, model_name, ModelSummary, Summary, SummaryKind};
use crate::track::{plot, Record, RecordKind};

/// Teacher (index 0) and students, each with its own var store, on its own device (`run.devices`).
pub struct VisionModels {
    /// The teacher's device: batches arrive there, and every model's logits are returned there.
    pub device: Device,
    /// Each model's device.
    pub devices: Vec<Device>,
    pub nets: Vec<PreActResNet>,
    pub stores: Vec<nn::VarStore>,
    pub opts: ForwardOptions,
}

impl VisionModels {
    /// Teacher seeded `seed`, student i seeded `seed + 1 + i` (the reference's seeding). Exact fp32.
    pub fn build(depths: &[usize], in_channels: i64, classes: i64, seed: u64, device: Device) -> Result<Self> {
        Self::build_with(depths, in_channels, classes, seed, device, ForwardOptions::default())
    }

    /// As [`Self::build`], every model running its forward with `opts` (precision, channels-last).
    pub fn build_with(
        depths: &[usize],
        in_channels: i64,
        classes: i64,
        seed: u64,
        device: Device,
        opts: ForwardOptions,
    ) -> Result<Self> {
        Self::build_placed(depths, in_channels, classes, seed, &vec![device; depths.len()], opts)
    }

    /// As [`Self::build_with`], model m on `devices[m]` (the teacher's, `devices[0]`, is where
    /// batches and logits live: only logits cross devices).
    pub fn build_placed(
        depths: &[usize],
        in_channels: i64,
        classes: i64,
        seed: u64,
        devices: &[Device],
        opts: ForwardOptions,
    ) -> Result<Self> {
        let mut nets = Vec::new();
        let mut stores = Vec::new();
        for (m, &d) in depths.iter().enumerate() {
            tch::manual_seed((seed + m as u64) as i64);
            let vs = nn::VarStore::new(devices[m]);
            nets.push(PreActResNet::with_options(&vs.root(), d, in_channels, classes, opts).map_err(crate::error::input_err)?);
            stores.push(vs);
        }
        Ok(Self { device: devices[0], devices: devices.to_vec(), nets, stores, opts })
    }

    /// Model m's logits for `x` (on the teacher's device), computed on model m's device.
    fn logits(&self, m: usize, x: &Tensor, train: bool) -> Tensor {
        if self.devices[m] == self.device {
            return self.nets[m].forward_t(x, train);
        }
        self.nets[m].forward_t(&x.to_device(self.devices[m]), train).to_device(self.device)
    }

    /// A batch's images in the models' compute kind and memory format, converted once for all
    /// models (the forward would do it per model otherwise); exact fp32 leaves them alone.
    pub fn prepare(&self, (x, y): (Tensor, Tensor)) -> (Tensor, Tensor) {
        if self.opts.is_exact_fp32() {
            (x, y)
        } else {
            (self.opts.prepare(&x), y)
        }
    }
}

impl LotModels for VisionModels {
    type Batch = (Tensor, Tensor);
    type Stats = ();
    fn forward(&mut self, m: usize, (x, y): &Self::Batch, _stream: Stream) -> (Tensor, Tensor, ()) {
        let logits = self.logits(m, x, true);
        let ce = logits.cross_entropy_for_logits(y);
        (logits, ce, ())
    }
    fn forward_ce(&mut self, m: usize, (x, y): &Self::Batch, _stream: Stream) -> Option<(Tensor, Tensor)> {
        Some((self.logits(m, x, true), y.shallow_clone()))
    }
}

/// Effective schedule of a mode: (epochs, number of students trained, teacher α).
pub fn mode_plan(cfg: &Config) -> (usize, usize, f64) {
    let p = cfg.lot.mode.plan(&cfg.lot);
    let epochs = cfg.vision().map(|v| v.train.epochs).unwrap_or(1);
    (epochs * p.budget_factor, p.students, p.alpha)
}

fn limit(mut ds: ImageDataset, n: usize) -> ImageDataset {
    if n > 0 {
        ds.truncate(n);
    }
    ds
}

/// Split off the last `n` samples (the validation set), so it does not change with `train_limit`.
fn split_tail(mut ds: ImageDataset, n: usize) -> (ImageDataset, ImageDataset) {
    let tail = ds.split_off(ds.n - n);
    (ds, tail)
}

/// The splits of a run: train, validation (with `data.valid_limit`), test.
pub struct Splits {
    pub train: ImageDataset,
    pub valid: Option<ImageDataset>,
    pub test: ImageDataset,
}

pub fn load_data(cfg: &VisionConfig) -> Result<Splits> {
    let kind = cfg.data.dataset;
    let dir = cfg.data_dir()?;
    let (full, test) = load_splits(kind, &dir, cfg.data.layout)?;
    let d = &cfg.data;
    let (train, valid) = if d.valid_limit > 0 {
        if d.valid_limit >= full.n {
            crate::bail_input!("key 'data.valid_limit': {} leaves no training data ({} training samples)", d.valid_limit, full.n);
        }
        let (train, valid) = split_tail(full, d.valid_limit);
        (train, Some(valid))
    } else {
        (full, None)
    };
    let mut splits = Splits { train: limit(train, d.train_limit), valid, test: limit(test, d.test_limit) };
    if kind.is_own() {
        own_data::normalise(d, &mut splits.train, splits.valid.as_mut(), &mut splits.test)?;
    }
    Ok(splits)
}

/// (mean loss, accuracy %) of model `m` on a data set, in eval mode.
pub fn evaluate(models: &VisionModels, m: usize, ds: &ImageDataset, batch: usize) -> (f64, f64) {
    let (loss, correct, n) = evaluate_sums(models, m, ds, 0..ds.n, batch);
    (loss / n.max(1.0), 100.0 * correct / n.max(1.0))
}

/// (summed loss, correct, samples) of model `m` on the samples `range` of a data set.
fn evaluate_sums(models: &VisionModels, m: usize, ds: &ImageDataset, range: std::ops::Range<usize>, batch: usize) -> (f64, f64, f64) {
    let _g = tch::no_grad_guard();
    let (mut loss, mut correct, n) = (0.0, 0i64, range.len());
    for b in batches::eval_batches_of(ds, range, batch) {
        let (x, y) = b.to_tensors(models.devices[m]);
        let logits = models.nets[m].forward_t(&x, false);
        loss += logits.cross_entropy_for_logits(&y).double_value(&[]) * b.y.len() as f64;
        correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
    }
    (loss, correct as f64, n as f64)
}

/// [`evaluate`] in a data-parallel run: each rank evaluates its contiguous part of the data set
/// with rank 0's BatchNorm statistics (PyTorch DDP broadcasts buffers from rank 0), and the sums
/// are reduced, so every rank gets the whole data set's numbers.
fn evaluate_all(models: &VisionModels, m: usize, ds: &ImageDataset, batch: usize, dist: Option<&Dist>) -> Result<(f64, f64)> {
    let Some(d) = dist else { return Ok(evaluate(models, m, ds, batch)) };
    dist::broadcast_weights(&d.pg, &models.stores[m..m + 1])?;
    let chunk = ds.n.div_ceil(d.world);
    let range = (d.rank * chunk).min(ds.n)..((d.rank + 1) * chunk).min(ds.n);
    let (l, c, n) = evaluate_sums(models, m, ds, range, batch);
    let s = d.sum(&[l, c, n])?;
    Ok((s[0] / s[2].max(1.0), 100.0 * s[1] / s[2].max(1.0)))
}

fn accuracy(logits: &Tensor, y: &Tensor) -> i64 {
    logits.argmax(-1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[])
}

/// Per-model running sums over an epoch's joint steps.
#[derive(Default, Clone, Serialize, Deserialize)]
struct Running {
    loss: f64,
    correct: i64,
    seen: i64,
    steps: u64,
}

/// Everything besides tensors that a resumed run needs to continue exactly.
#[derive(Serialize, Deserialize)]
struct TrainState {
    /// Teacher steps done.
    step: u64,
    /// Student-stream batches consumed.
    student_pos: u64,
    run: Vec<Running>,
    /// (best per-epoch accuracy — validation, or test without a validation set —, its epoch);
    /// accuracy −1 before the first evaluation.
    best: Vec<(f64, u64)>,
    /// (loss, accuracy) of the last per-epoch evaluation.
    #[serde(alias = "last_test")]
    last_eval: Vec<(f64, f64)>,
    opt_steps: Vec<u64>,
    metrics_len: u64,
    elapsed_s: f64,
    /// Processes of the data-parallel run that wrote the checkpoint (1 for a single process).
    #[serde(default = "one")]
    world_size: usize,
    /// Data-parallel runs: every rank's `run` (rank 0 writes the checkpoint for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rank_run: Vec<Vec<Running>>,
}

/// Every rank's running sums, gathered exactly ([`Dist::gather`]).
fn gather_running(d: &Dist, run: &[Running]) -> Result<Vec<Vec<Running>>> {
    let flat: Vec<f64> = run.iter().flat_map(|r| [r.loss, r.correct as f64, r.seen as f64, r.steps as f64]).collect();
    Ok(d.gather(&flat)?
        .iter()
        .map(|rank| rank.chunks(4).map(|v| Running { loss: v[0], correct: v[1] as i64, seen: v[2] as i64, steps: v[3] as u64 }).collect())
        .collect())
}

fn one() -> usize {
    1
}

impl lifecycle::RunState for TrainState {
    fn metrics_len(&self) -> u64 {
        self.metrics_len
    }
}

impl TrainState {
    fn fresh(nm: usize, world: usize) -> Self {
        Self {
            step: 0,
            student_pos: 0,
            run: vec![Running::default(); nm],
            best: vec![(-1.0, 0); nm],
            last_eval: vec![(0.0, 0.0); nm],
            opt_steps: vec![0; nm],
            metrics_len: 0,
            elapsed_s: 0.0,
            world_size: world,
            rank_run: Vec::new(),
        }
    }
}

/// The models (teacher, then the mode's students) and the engine with their SGD optimizers.
fn build(cfg: &Config, train: &ImageDataset) -> Result<(VisionModels, Engine)> {
    let v = cfg.vision()?;
    let (_, k, alpha) = mode_plan(cfg);
    let (t_depth, s_depths) = v.depths(cfg.lot.students)?;
    let mut depths = vec![t_depth];
    depths.extend(s_depths.iter().take(k));
    let devices = lifecycle::model_devices(cfg, depths.len())?;
    let models = VisionModels::build_placed(&depths, train.c as i64, train.num_classes as i64, cfg.run.seed, &devices, v.forward_options())?;
    let t = &v.train;
    let sgd = SgdConfig { lr: t.lr, momentum: t.momentum, nesterov: t.nesterov, weight_decay: t.weight_decay };
    let optims: Vec<Box<dyn Optimizer>> =
        models.stores.iter().map(|vs| Box::new(Sgd::new(named_trainable(vs), sgd)) as Box<dyn Optimizer>).collect();
    let loss = LotLoss { mode: cfg.lot.loss, alpha, temperature: cfg.lot.temperature, detach: cfg.lot.detach };
    Ok((models, Engine::new(loss, cfg.lot.student_steps, optims, None)))
}

/// A vision run in progress: models, engine, the teacher's and students' batch streams, the
/// evaluation splits and the resume state. [`lifecycle::fit`] drives it.
pub struct VisionLearner {
    pub models: VisionModels,
    pub engine: Engine,
    pub teacher_batches: batches::Prefetch,
    student_batches: batches::Prefetch,
    st: TrainState,
    /// Per-epoch evaluations use the validation split when there is one, else the test split.
    valid: Option<ImageDataset>,
    test: ImageDataset,
    train: TrainConfig,
    epochs: u64,
    steps_per_epoch: u64,
    total: u64,
    device: Device,
    dist: Option<Arc<Dist>>,
    sync_bn: Option<Arc<SyncBn>>,
    lr: f64,
    epoch_start: Instant,
    /// Seconds spent evaluating, which training throughput (dist.json) leaves out.
    eval_s: f64,
}

impl VisionLearner {
    /// A fresh single-process learner on `splits` (what `lot bench` drives).
    pub fn fresh(cfg: &Config, splits: Splits, device: Device) -> Result<Self> {
        let (models, engine) = build(cfg, &splits.train)?;
        let st = TrainState::fresh(models.nets.len(), 1);
        Self::new(cfg, models, engine, splits, st, device, None)
    }

    /// The learner at `st` (fresh or resumed): the batch streams start where `st` left them.
    fn new(
        cfg: &Config,
        mut models: VisionModels,
        mut engine: Engine,
        splits: Splits,
        st: TrainState,
        device: Device,
        dist: Option<Arc<Dist>>,
    ) -> Result<Self> {
        let v = cfg.vision()?;
        let t = &v.train;
        let shard = dist.as_ref().map_or(Shard::WHOLE, |d| Shard { rank: d.rank, world: d.world });
        if let Some(d) = &dist {
            engine.sync = Some(d.grad_sync());
        }
        // `run.sync_bn`: every net's training-mode BatchNorm over all ranks' rows.
        let sync_bn = dist.as_ref().filter(|_| cfg.run.sync_bn).map(|d| SyncBn::new(d.pg.clone()));
        for net in &mut models.nets {
            net.set_sync_bn(sync_bn.clone());
        }
        let (epochs, _, _) = mode_plan(cfg);
        // `train.batch_size` is per process: a step of W ranks takes a global batch of W times it.
        let global_batch = t.batch_size * shard.world;
        let spe = batches::steps_per_epoch(t.epoch_style, splits.train.n, global_batch) as u64;
        let total = spe * epochs as u64;
        let train_ds = Arc::new(splits.train);
        let seed = cfg.run.seed;
        let augment = v.data.augment;
        let teacher_batches =
            batches::teacher_stream(train_ds.clone(), t.epoch_style, global_batch, seed, augment, st.step, total - st.step.min(total), shard);
        let student_batches = batches::student_stream(train_ds, global_batch, seed, augment, st.student_pos, shard);
        Ok(Self {
            models,
            engine,
            teacher_batches,
            student_batches,
            st,
            valid: splits.valid,
            test: splits.test,
            train: t.clone(),
            epochs: epochs as u64,
            steps_per_epoch: spe,
            total,
            device,
            dist,
            sync_bn,
            lr: t.lr,
            epoch_start: Instant::now(),
            eval_s: 0.0,
        })
    }

    fn epoch(&self) -> u64 {
        self.st.step / self.steps_per_epoch + 1
    }

    /// The teacher's training accuracy (%) over the steps since the last evaluation.
    pub fn train_accuracy(&self) -> f64 {
        let r = &self.st.run[0];
        100.0 * r.correct as f64 / r.seen.max(1) as f64
    }

    /// Rank 0's BatchNorm statistics, the weights, and every model read on the test set (once,
    /// with the final weights, when per-epoch evaluations used a validation split).
    fn finish(mut self, cfg: &Config, out: &Path, mut track: Tracker, loop_s: f64, first_step: u64) -> Result<Summary> {
        let main = self.dist.as_ref().map_or(true, |d| d.is_main());
        let wall_s = track.finish();
        // The prefetch threads stop before the evaluations.
        self.teacher_batches.stop();
        self.student_batches.stop();
        let t = &self.train;
        if let (Some(d), true) = (&self.dist, main) {
            let world = d.world;
            d.write_report(out, t.batch_size, (t.batch_size * world) as f64, "images", self.st.step - first_step, loop_s - self.eval_s)?;
        }
        let mut summary = Summary::new(cfg, self.epochs, self.st.step, wall_s);
        let dist = self.dist.as_deref();
        for m in 0..self.models.nets.len() {
            if let Some(d) = dist {
                dist::broadcast_weights(&d.pg, &self.models.stores[m..m + 1])?; // rank 0's BatchNorm statistics
            }
            if main {
                lifecycle::save_weights(out, m, &self.models.stores[m], resnet::to_reference_names)?;
            }
            let kind = if self.valid.is_some() {
                // The test set, read once: the final weights.
                let (tl, ta) = evaluate_all(&self.models, m, &self.test, t.eval_batch_size, dist)?;
                track.write(&Record {
                    epoch: self.epochs,
                    step: self.st.step,
                    model: model_name(m),
                    split: "test".into(),
                    loss: tl,
                    kind: RecordKind::Classification { accuracy: ta },
                    wall_s: track.wall_s(),
                    ..Default::default()
                })?;
                SummaryKind::ClassificationWithValid {
                    final_test_loss: tl,
                    final_test_accuracy: ta,
                    final_valid_accuracy: self.st.last_eval[m].1,
                    best_valid_accuracy: self.st.best[m].0,
                }
            } else {
                SummaryKind::Classification {
                    final_test_loss: self.st.last_eval[m].0,
                    final_test_accuracy: self.st.last_eval[m].1,
                    best_test_accuracy: self.st.best[m].0,
                }
            };
            let ms = ModelSummary { best_epoch: self.st.best[m].1, optimizer_steps: self.engine.optims[m].steps(), kind };
            summary.models.insert(model_name(m), ms);
        }
        if main {
            run::write_summary(out, &summary)?;
            plot_run(out)?;
        }
        Ok(summary)
    }
}

impl lifecycle::Learner for VisionLearner {
    fn done(&self) -> u64 {
        self.st.step
    }

    fn total(&self) -> u64 {
        self.total
    }

    fn label(&self, step: u64) -> String {
        format!("epoch {}, teacher step {step}", (step.max(1) - 1) / self.steps_per_epoch + 1)
    }

    fn step(&mut self, track: &mut Tracker) -> Result<()> {
        let epoch = self.epoch();
        let t = &self.train;
        self.lr = match t.schedule {
            Schedule::Cosine => cosine_lr(t.lr, 0.0, epoch - 1, self.epochs),
            Schedule::Constant => t.lr,
        };
        for m in 0..self.models.nets.len() {
            self.engine.set_lr(m, self.lr);
        }
        let b = self.teacher_batches.next()?;
        let batch = self.models.prepare(b.to_tensors(self.device));
        let (opts, device) = (self.models.opts, self.device);
        let (student_batches, student_pos) = (&mut self.student_batches, &mut self.st.student_pos);
        let mut next_student = || -> Result<(Tensor, Tensor)> {
            *student_pos += 1;
            let (x, y) = student_batches.next()?.to_tensors(device);
            Ok(if opts.is_exact_fp32() { (x, y) } else { (opts.prepare(&x), y) })
        };
        let outp = self.engine.lot_step(&mut self.models, &batch, &mut next_student);
        // A synchronized BatchNorm's failed collective is the first cause of whatever followed.
        let outp = match self.sync_bn.as_ref().and_then(|s| s.take_error()) {
            Some(e) => Err(anyhow::anyhow!(e)),
            None => outp,
        }?;
        self.st.step += 1;
        let n = b.y.len() as i64;
        let logits = std::iter::once(&outp.teacher_logits).chain(&outp.student_logits);
        let losses = std::iter::once(outp.teacher_loss).chain(outp.student_losses.iter().copied());
        for ((r, logits), loss) in self.st.run.iter_mut().zip(logits).zip(losses) {
            r.loss += loss;
            r.correct += accuracy(logits, &batch.1);
            r.seen += n;
            r.steps += 1;
        }
        let tl = self.st.run[0].loss / self.st.run[0].steps as f64;
        let (step, epochs) = (self.st.step, self.epochs);
        if step % 10 == 0 || step == self.total {
            track.bar.set_message(format!("ep {epoch}/{epochs} loss {tl:.3}"));
        }
        track.bar.inc(|| format!("epoch {epoch}/{epochs} teacher loss {tl:.3}"));
        Ok(())
    }

    fn eval_due(&self) -> bool {
        self.st.step % self.steps_per_epoch == 0
    }

    fn evaluate(&mut self, track: &mut Tracker) -> Result<()> {
        let eval_start = Instant::now();
        let epoch_s = self.epoch_start.elapsed().as_secs_f64();
        self.epoch_start = Instant::now();
        let (epoch, epochs, nm) = (self.st.step / self.steps_per_epoch, self.epochs, self.models.nets.len());
        // The epoch's training numbers over every rank's rows (each rank's step loss is the
        // mean over its equal-sized shard, so the mean over ranks is the global batch's).
        let mut sums: Vec<f64> = self.st.run.iter().flat_map(|r| [r.loss, r.correct as f64, r.seen as f64, r.steps as f64]).collect();
        if let Some(d) = &self.dist {
            sums = d.sum(&sums)?;
        }
        let rate = sums[2] / epoch_s.max(1e-9);
        let mut line = format!("epoch {epoch}/{epochs} lr {:.4}", self.lr);
        for m in 0..nm {
            let [loss_sum, correct, seen, steps] = [sums[4 * m], sums[4 * m + 1], sums[4 * m + 2], sums[4 * m + 3]];
            track.write(&Record {
                epoch,
                step: self.st.step,
                model: model_name(m),
                split: "train".into(),
                loss: loss_sum / steps.max(1.0),
                kind: RecordKind::Classification { accuracy: 100.0 * correct / seen.max(1.0) },
                lr: Some(self.lr),
                wall_s: track.wall_s(),
                samples_per_s: Some(rate),
                ..Default::default()
            })?;
            // Per epoch: the validation set when there is one (the test set is then read once,
            // after the last epoch), else the test set as the reference does.
            let (split, ds) = match &self.valid {
                Some(v) => ("valid", v),
                None => ("test", &self.test),
            };
            let (el, ea) = evaluate_all(&self.models, m, ds, self.train.eval_batch_size, self.dist.as_deref())?;
            self.st.last_eval[m] = (el, ea);
            if ea > self.st.best[m].0 {
                self.st.best[m] = (ea, epoch);
            }
            track.write(&Record {
                epoch,
                step: self.st.step,
                model: model_name(m),
                split: split.into(),
                loss: el,
                kind: RecordKind::Classification { accuracy: ea },
                wall_s: track.wall_s(),
                ..Default::default()
            })?;
            line.push_str(&format!(" | {} {split} acc {ea:.2}%", model_name(m)));
        }
        track.bar.println(&line);
        self.st.run = vec![Running::default(); nm];
        self.eval_s += eval_start.elapsed().as_secs_f64();
        Ok(())
    }

    fn checkpoint(&mut self, track: &Tracker) -> Result<Option<lifecycle::Saved>> {
        if let Some(d) = &self.dist {
            self.st.rank_run = gather_running(d, &self.st.run)?;
        }
        self.st.opt_steps = self.engine.optims.iter().map(|o| o.steps()).collect();
        self.st.metrics_len = track.metrics_len();
        self.st.elapsed_s = track.wall_s();
        Ok(Some((serde_json::to_value(&self.st)?, lifecycle::model_tensors(&self.models.stores, &self.engine.optims))))
    }
}

/// Train per the config into the run folder `out`; with `resume`, continue from its checkpoint.
pub fn train(cfg: &Config, out: &Path, resume: bool) -> Result<Summary> {
    let device = lifecycle::device(cfg)?;
    let splits = load_data(cfg.vision()?)?;
    let cfg = &own_data::record_norm(cfg, &splits.train.norm); // config.toml keeps the mean/std used
    let (models, mut engine) = build(cfg, &splits.train)?;
    // Data parallelism (RANK/WORLD_SIZE set, e.g. by `lot launch`): join once the inputs are good.
    let dist = Dist::for_run(cfg, device)?.map(Arc::new);
    let (main, shard) = match &dist {
        Some(d) => (d.is_main(), Shard { rank: d.rank, world: d.world }),
        None => (true, Shard::WHOLE),
    };
    let mut st = TrainState::fresh(models.nets.len(), shard.world);
    // The data is good: only now open the run folder, so bad input leaves nothing behind.
    if let Some((saved, tensors)) = lifecycle::open_rank::<TrainState>(cfg, out, resume, device, main)? {
        st = saved;
        if st.world_size != shard.world {
            crate::bail_input!(
                "{}: the run was trained by {} process(es); resume it with the same world size (WORLD_SIZE is {} here)",
                out.display(),
                st.world_size,
                shard.world
            );
        }
        lifecycle::restore_models(&tensors, &models.stores, &mut engine.optims, &st.opt_steps)?;
        if let Some(r) = st.rank_run.get(shard.rank) {
            st.run = r.clone();
        }
        if main {
            eprintln!("resuming {} at teacher step {}", out.display(), st.step);
        }
    }
    if let Some(d) = &dist {
        // Every rank starts from rank 0's weights (they are built from the same seed anyway).
        dist::broadcast_weights(&d.pg, &models.stores)?;
    }
    let mut learner = VisionLearner::new(cfg, models, engine, splits, st, device, dist.clone())?;
    let mut track = Tracker::for_rank(cfg, out, learner.total, learner.st.step, learner.st.elapsed_s, dist)?;
    let (loop_start, first_step) = (Instant::now(), learner.st.step);
    lifecycle::fit(&mut learner, &mut track)?;
    learner.finish(cfg, out, track, loop_start.elapsed().as_secs_f64(), first_step)
}

/// `curves.png`: test accuracy and train loss per model against epochs.
pub fn plot_run(dir: &Path) -> Result<()> {
    let (recs, names) = lifecycle::read_records(dir)?;
    let series = |split: &str, f: &dyn Fn(&Record) -> Option<f64>| lifecycle::curves(&recs, &names, split, |r| r.epoch as f64, f);
    // Per-epoch accuracy is on the validation set when the run has one.
    let per_epoch = if recs.iter().any(|r| r.split == "valid") { "valid" } else { "test" };
    let panels = [
        plot::Panel {
            title: format!("{} accuracy", if per_epoch == "valid" { "validation" } else { "test" }),
            x_label: "epoch".into(),
            y_label: "accuracy %".into(),
            series: series(per_epoch, &|r| r.accuracy()),
        },
        plot::Panel { title: "train loss".into(), x_label: "epoch".into(), y_label: "loss".into(), series: series("train", &|r| Some(r.loss)) },
    ];
    plot::plot_panels(&dir.join("curves.png"), &panels)
}

/// `lot eval RUN_DIR`: reload the saved weights and evaluate every model on the test set.
pub fn evaluate_run(dir: &Path, cfg: &Config) -> Result<Vec<run::EvalRow>> {
    let v = cfg.vision()?;
    let test = load_data(v)?.test;
    let (_, k, _) = mode_plan(cfg);
    let (t_depth, s_depths) = v.depths(cfg.lot.students)?;
    let mut depths = vec![t_depth];
    depths.extend(s_depths.iter().take(k));
    let devices = lifecycle::model_devices(cfg, depths.len())?;
    let models = VisionModels::build_placed(&depths, test.c as i64, test.num_classes as i64, 0, &devices, v.forward_options())?;
    let mut out = Vec::new();
    for m in 0..models.nets.len() {
        lifecycle::load_weights(dir, m, &models.stores[m], resnet::from_reference_names)?;
        let (l, a) = evaluate(&models, m, &test, v.train.eval_batch_size);
        out.push(run::EvalRow { model: model_name(m), values: vec![("test loss".into(), l), ("test accuracy %".into(), a)] });
    }
    Ok(out)
}

