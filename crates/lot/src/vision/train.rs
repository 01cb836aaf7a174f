//! The image-classification trainer: LoT (or a baseline) on any classifiers (PreAct ResNets,
//! TorchScript modules, a library user's tch modules), driven by the engine and the run driver.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind, Tensor};

use super::batches::{self, Shard};
pub use super::classifiers::Classifiers;
use super::sync_bn::SyncBn;
use super::classify::ClassifierRun;
use super::config::{LrSchedule, TrainConfig, VisionConfig};
use crate::config::Config;
use super::own_data;
use crate::data::{load_splits, ImageDataset};
use crate::dist::{self, Dist};
use crate::engine::Engine;
use crate::optim::cosine_lr;
use crate::lifecycle::{self, Tracker};
use crate::run::{self, model_name, ModelSummary, Summary, SummaryKind};
use crate::track::{plot, Record, RecordKind};

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
pub fn evaluate(models: &Classifiers, m: usize, ds: &ImageDataset, batch: usize) -> (f64, f64) {
    let (loss, correct, n) = evaluate_sums(models, m, ds, 0..ds.n, batch);
    (loss / n.max(1.0), 100.0 * correct / n.max(1.0))
}

/// (summed loss, correct, samples) of model `m` on the samples `range` of a data set.
fn evaluate_sums(models: &Classifiers, m: usize, ds: &ImageDataset, range: std::ops::Range<usize>, batch: usize) -> (f64, f64, f64) {
    let _g = tch::no_grad_guard();
    let (mut loss, mut correct, n) = (0.0, 0i64, range.len());
    for b in batches::eval_batches_of(ds, range, batch) {
        let (x, y) = b.to_tensors(models.devices[m]);
        let logits = models.nets[m].logits(&x, false);
        loss += logits.cross_entropy_for_logits(&y).double_value(&[]) * b.y.len() as f64;
        correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
    }
    (loss, correct as f64, n as f64)
}

/// [`evaluate`] in a data-parallel run: each rank evaluates its contiguous part of the data set
/// with rank 0's BatchNorm statistics (PyTorch DDP broadcasts buffers from rank 0), and the sums
/// are reduced, so every rank gets the whole data set's numbers.
fn evaluate_all(models: &Classifiers, m: usize, ds: &ImageDataset, batch: usize, dist: Option<&Dist>) -> Result<(f64, f64)> {
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
    #[serde(flatten)]
    progress: lifecycle::RunProgress,
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

impl lifecycle::RunState for TrainState {
    fn progress(&self) -> &lifecycle::RunProgress {
        &self.progress
    }
    fn position(&self) -> String {
        format!("teacher step {}", self.step)
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
            progress: lifecycle::RunProgress::fresh(world),
            rank_run: Vec::new(),
        }
    }
}

/// [c, h, w] of a data set's images.
fn image_shape(ds: &ImageDataset) -> [i64; 3] {
    [ds.c as i64, ds.h as i64, ds.w as i64]
}

/// The config's models: the teacher, then the mode's students: built-in ResNets seeded from
/// `run.seed`, or the TorchScript files of `model.teacher`/`model.students` with their own weights.
fn build_models(cfg: &Config, train: &ImageDataset) -> Result<Classifiers> {
    let v = cfg.vision()?;
    let k = cfg.lot.plan().students;
    if v.scripted() {
        if cfg.run.sync_bn {
            crate::bail_input!("key 'run.sync_bn': synchronized BatchNorm is for the built-in ResNet; TorchScript models keep per-rank statistics");
        }
        let (teacher, students) = v.script_paths(cfg.lot.students)?;
        let mut files = vec![("key 'model.teacher'".to_string(), teacher)];
        files.extend(students.into_iter().take(k).map(|p| ("key 'model.students'".to_string(), p)));
        let devices = lifecycle::model_devices(cfg, files.len())?;
        return Classifiers::load_scripted(&files, &devices, image_shape(train), train.num_classes as i64);
    }
    let (t_depth, s_depths) = v.depths(cfg.lot.students)?;
    let mut depths = vec![t_depth];
    depths.extend(s_depths.iter().take(k));
    let devices = lifecycle::model_devices(cfg, depths.len())?;
    Classifiers::build_placed(&depths, train.c as i64, train.num_classes as i64, cfg.run.seed, &devices, v.forward_options())
}

/// A vision run in progress: models, engine, the teacher's and students' batch streams, the
/// evaluation splits and the resume state. [`lifecycle::fit`] drives it.
pub struct VisionLearner {
    pub models: Classifiers,
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
    /// `run.seed`: models with random forwards reseed torch's generator from it every step.
    seed: u64,
    lr: f64,
    epoch_start: Instant,
    /// Seconds spent evaluating, which training throughput (dist.json) leaves out.
    eval_s: f64,
}

impl VisionLearner {
    /// A fresh single-process learner on `splits` (what `lot bench` drives).
    pub fn fresh(cfg: &Config, splits: Splits, device: Device) -> Result<Self> {
        let spec = ClassifierRun::from_config(cfg)?;
        let models = build_models(cfg, &splits.train)?;
        let engine = spec.engine(&models.stores);
        let st = TrainState::fresh(models.nets.len(), 1);
        Self::new(&spec, models, engine, splits, st, device, None)
    }

    /// The learner at `st` (fresh or resumed): the batch streams start where `st` left them.
    fn new(
        spec: &ClassifierRun,
        mut models: Classifiers,
        mut engine: Engine,
        splits: Splits,
        st: TrainState,
        device: Device,
        dist: Option<Arc<Dist>>,
    ) -> Result<Self> {
        let train = &spec.train;
        let shard = dist.as_ref().map_or(Shard::WHOLE, |d| Shard { rank: d.rank, world: d.world });
        if let Some(d) = &dist {
            engine.sync = Some(d.grad_sync());
        }
        // `run.sync_bn`: every net's training-mode BatchNorm over all ranks' rows.
        let sync_bn = dist.as_ref().filter(|_| spec.sync_bn).map(|d| SyncBn::new(d.pg.clone()));
        for net in &mut models.nets {
            net.set_sync_bn(sync_bn.clone())?;
        }
        let epochs = spec.epochs();
        // `train.batch_size` is per process: a step of W ranks takes a global batch of W times it.
        let global_batch = train.batch_size * shard.world;
        let spe = batches::steps_per_epoch(train.epoch_style, splits.train.n, global_batch) as u64;
        let total = spe * epochs as u64;
        let train_ds = Arc::new(splits.train);
        let (seed, augment) = (spec.seed, spec.augment);
        let teacher_batches =
            batches::teacher_stream(train_ds.clone(), train.epoch_style, global_batch, seed, augment, st.step, total - st.step.min(total), shard);
        let student_batches = batches::student_stream(train_ds, global_batch, seed, augment, st.student_pos, shard);
        Ok(Self {
            models,
            engine,
            teacher_batches,
            student_batches,
            st,
            valid: splits.valid,
            test: splits.test,
            train: train.clone(),
            epochs: epochs as u64,
            steps_per_epoch: spe,
            total,
            device,
            dist,
            sync_bn,
            seed,
            lr: train.lr,
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
    fn finish(mut self, spec: &ClassifierRun, out: &Path, trained: lifecycle::Trained) -> Result<Summary> {
        let lifecycle::Trained { mut track, wall_s } = trained;
        let main = self.dist.as_ref().map_or(true, |d| d.is_main());
        // The prefetch threads stop before the evaluations.
        self.teacher_batches.stop();
        self.student_batches.stop();
        let train = &self.train;
        let mut summary = Summary::of_run(&spec.name, spec.lot.mode, spec.seed, train.precision, self.epochs, self.st.step, wall_s);
        let dist = self.dist.as_deref();
        for m in 0..self.models.nets.len() {
            if let Some(d) = dist {
                dist::broadcast_weights(&d.pg, &self.models.stores[m..m + 1])?; // rank 0's BatchNorm statistics
            }
            if main {
                let net = &self.models.nets[m];
                lifecycle::save_weights(out, m, &self.models.stores[m], net.saved_names().0)?;
                net.save_module(out, m)?;
            }
            let kind = if self.valid.is_some() {
                // The test set, read once: the final weights.
                let (tl, ta) = evaluate_all(&self.models, m, &self.test, train.eval_batch_size, dist)?;
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
        let train = &self.train;
        self.lr = match train.schedule {
            LrSchedule::Cosine => cosine_lr(train.lr, 0.0, epoch - 1, self.epochs),
            LrSchedule::Constant => train.lr,
        };
        self.engine.set_lr_all(self.lr);
        let b = self.teacher_batches.next()?;
        let batch = self.models.prepare(b.to_tensors(self.device));
        let (opts, device) = (self.models.opts, self.device);
        let (student_batches, student_pos) = (&mut self.student_batches, &mut self.st.student_pos);
        let mut next_student = || -> Result<(Tensor, Tensor)> {
            *student_pos += 1;
            let (x, y) = student_batches.next()?.to_tensors(device);
            Ok(if opts.is_exact_fp32() { (x, y) } else { (opts.prepare(&x), y) })
        };
        if self.models.is_random() {
            // Dropout in a model's forward: the step's masks are a function of the step alone.
            crate::checkpoint::reseed_torch(self.seed, self.st.step);
        }
        let outp = self.engine.lot_step(&mut self.models, &batch, &mut next_student);
        // A synchronized BatchNorm's failed collective, or a model's failed forward, is the first
        // cause of whatever followed.
        let outp = match self.sync_bn.as_ref().and_then(|s| s.take_error()).or_else(|| self.models.take_error()) {
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

    fn checkpoint(&mut self, progress: lifecycle::RunProgress) -> Result<Option<lifecycle::Saved>> {
        if let Some(d) = &self.dist {
            self.st.rank_run = gather_running(d, &self.st.run)?;
        }
        self.st.opt_steps = self.engine.optims.iter().map(|o| o.steps()).collect();
        self.st.progress = progress;
        Ok(Some((serde_json::to_value(&self.st)?, lifecycle::model_tensors(&self.models.stores, &self.engine.optims))))
    }

    fn stores(&self) -> &[nn::VarStore] {
        &self.models.stores
    }

    fn world_size(&self) -> usize {
        self.dist.as_ref().map_or(1, |d| d.world)
    }

    fn throughput(&self) -> lifecycle::Throughput {
        let b = self.train.batch_size;
        lifecycle::Throughput { per_rank_batch: b, per_step: (b * self.world_size()) as f64, unit: "images" }
    }

    fn eval_s(&self) -> f64 {
        self.eval_s
    }
}

/// Train per the config into the run folder `out`; with `resume`, continue from its checkpoint.
pub fn train(cfg: &Config, out: &Path, resume: bool) -> Result<Summary> {
    let device = lifecycle::device(cfg)?;
    let splits = load_data(cfg.vision()?)?;
    let cfg = &own_data::record_norm(cfg, &splits.train.norm); // config.toml keeps the mean/std used
    let models = build_models(cfg, &splits.train)?;
    // Data parallelism (RANK/WORLD_SIZE set, e.g. by `lot launch`): join once the inputs are good.
    let dist = Dist::for_run(cfg, device)?.map(Arc::new);
    let spec = ClassifierRun::from_config(cfg)?;
    let engine = spec.engine(&models.stores);
    train_classifiers(&spec, models, engine, splits, out, resume, dist)
}

/// Train `models` (teacher first, then the mode's students) with `engine` on `splits` per
/// `spec` into the run folder `out`, or continue it from its checkpoint (`resume`): per-epoch
/// evaluation, checkpoints, metrics.jsonl, TensorBoard events, curves.png, summary.json and the
/// final weights. `lot train` runs its ResNets through this; a library user, any classifiers.
/// `dist`: this process's part of a data-parallel run.
pub fn train_classifiers(
    spec: &ClassifierRun,
    models: Classifiers,
    mut engine: Engine,
    splits: Splits,
    out: &Path,
    resume: bool,
    dist: Option<Arc<Dist>>,
) -> Result<Summary> {
    let device = models.device;
    let rank = dist.as_ref().map_or(0, |d| d.rank);
    let world = dist.as_ref().map_or(1, |d| d.world);
    let mut st = TrainState::fresh(models.nets.len(), world);
    let opts = spec.run_options();
    // The data is good: only now open the run folder, so bad input leaves nothing behind.
    if let Some((saved, tensors)) = lifecycle::open_run::<TrainState>(&opts, out, resume, device, dist.as_deref())? {
        st = saved;
        lifecycle::restore_models(&tensors, &models.stores, &mut engine.optims, &st.opt_steps)?;
        if let Some(r) = st.rank_run.get(rank) {
            st.run = r.clone();
        }
    }
    let elapsed_s = st.progress.elapsed_s;
    let mut learner = VisionLearner::new(spec, models, engine, splits, st, device, dist.clone())?;
    let trained = lifecycle::run(&mut learner, &opts, out, elapsed_s, dist)?;
    learner.finish(spec, out, trained)
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
    let k = cfg.lot.plan().students;
    let models = if v.scripted() {
        // The run's own modules (`<run>/teacher.pt`, …): the config's files may have moved since.
        let files: Vec<(String, PathBuf)> = (0..=k).map(|m| ("the run's module".to_string(), dir.join(format!("{}.pt", model_name(m))))).collect();
        let devices = lifecycle::model_devices(cfg, files.len())?;
        Classifiers::load_scripted(&files, &devices, image_shape(&test), test.num_classes as i64)?
    } else {
        let (t_depth, s_depths) = v.depths(cfg.lot.students)?;
        let mut depths = vec![t_depth];
        depths.extend(s_depths.iter().take(k));
        let devices = lifecycle::model_devices(cfg, depths.len())?;
        Classifiers::build_placed(&depths, test.c as i64, test.num_classes as i64, 0, &devices, v.forward_options())?
    };
    let mut out = Vec::new();
    for m in 0..models.nets.len() {
        lifecycle::load_weights(dir, m, &models.stores[m], models.nets[m].saved_names().1)?;
        let (l, a) = evaluate(&models, m, &test, v.train.eval_batch_size);
        out.push(run::EvalRow { model: model_name(m), values: vec![("test loss".into(), l), ("test accuracy %".into(), a)] });
    }
    Ok(out)
}

