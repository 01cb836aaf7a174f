//! The life of a run, the same for every trainer: the device, opening the run folder (fresh, or
//! resumed from its checkpoint with metrics.jsonl cut back to it), metrics and progress, the
//! checkpoint cadence (evaluations, every `run.checkpoint_every` steps, Ctrl-C), the errors that
//! point at the last good checkpoint, the saved weights, and the top of `curves.png`.
//! A trainer keeps only its domain's logic, as a [`Learner`] (models, batches, one teacher update,
//! evaluation, its checkpoint's contents); [`open_run`] and [`run`] do the rest: resume checks,
//! the weight broadcast, the tracker, the loop ([`fit`]) and the data-parallel report.
//! Nothing here needs our TOML [`Config`]: a run is described by [`RunOptions`], so a library
//! user's own learner gets the same run folder.
//! In a data-parallel run only rank 0 writes the folder; every rank stops at the same step.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

use crate::checkpoint;
use crate::config::Config;
use crate::dist::Dist;
use crate::error::input_err;
use crate::optim::Optimizer;
use crate::run::{self, model_name};
use crate::track::{plot, MetricsWriter, Progress, Record};

/// The run's device, after `run.threads` is applied; CUDA must be there if asked for. In a
/// data-parallel run, `run.device = "cuda"` means the rank's own GPU: cuda:LOCAL_RANK (modulo the
/// GPUs there are, so ranks share GPUs when there are fewer).
pub fn device(cfg: &Config) -> Result<Device> {
    if cfg.run.threads > 0 {
        tch::set_num_threads(cfg.run.threads as i32);
    }
    if !cfg.run.devices.is_empty() {
        return Ok(model_devices(cfg, 1)?[0]);
    }
    let mut d = cfg.device()?;
    if cfg.run.device == "cuda" {
        if let Some(local) = std::env::var("LOCAL_RANK").ok().and_then(|v| v.trim().parse::<usize>().ok()) {
            d = Device::Cuda(local % tch::Cuda::device_count().max(1) as usize);
        }
    }
    if let Device::Cuda(_) = d {
        if !tch::Cuda::is_available() {
            crate::bail_input!("key 'run.device': CUDA requested but not available to libtorch on this machine");
        }
    }
    Ok(d)
}

/// Each of `models` models' device (`run.devices`, see [`Config::model_devices`]), every CUDA
/// device checked to exist. The first is [`device`]'s.
pub fn model_devices(cfg: &Config, models: usize) -> Result<Vec<Device>> {
    if cfg.run.devices.is_empty() {
        return Ok(vec![device(cfg)?; models]);
    }
    let gpus = if tch::Cuda::is_available() { tch::Cuda::device_count() as usize } else { 0 };
    // Every listed device, used or not (a list longer than the models is still a claim about this machine).
    for d in cfg.model_devices(cfg.run.devices.len())? {
        if let Device::Cuda(i) = d {
            if i >= gpus {
                crate::bail_input!("key 'run.devices': cuda:{i} is not on this machine (libtorch sees {gpus} CUDA device(s))");
            }
        }
    }
    cfg.model_devices(models)
}

/// What the run folder and its tracker need to know of a run, whoever defined it (our TOML
/// config, or a library user's code).
#[derive(Clone, Debug, PartialEq)]
pub struct RunOptions {
    /// The progress bar's label, e.g. "fm2k lot".
    pub label: String,
    /// Written as the run folder's config.toml (what `lot train --resume` reads back).
    pub config_toml: String,
    /// Checkpoint every this many steps besides after evaluations and on Ctrl-C (0: only those).
    pub checkpoint_every: u64,
}

impl RunOptions {
    /// A run of our TOML config: `<run.name> <mode>`, its resolved config, `run.checkpoint_every`.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            label: format!("{} {}", cfg.run.name, cfg.lot.mode.name()),
            config_toml: cfg.to_toml(),
            checkpoint_every: cfg.run.checkpoint_every as u64,
        }
    }
}

/// The part of every checkpoint's state that the run driver keeps, flattened into the domain's
/// state (so the checkpoint's JSON keys stay `metrics_len`, `elapsed_s`, `world_size`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// Length of metrics.jsonl when the checkpoint was written: a resume cuts the file back to it.
    pub metrics_len: u64,
    /// Wall seconds spent on the run before this process, over every process that worked on it.
    pub elapsed_s: f64,
    /// Processes of the data-parallel run that wrote the checkpoint (1 for a single process).
    #[serde(default = "one")]
    pub world_size: usize,
}

fn one() -> usize {
    1
}

impl RunProgress {
    /// A run not started yet, on `world_size` processes.
    pub fn fresh(world_size: usize) -> Self {
        Self { metrics_len: 0, elapsed_s: 0.0, world_size }
    }
}

/// A trainer's resume state: everything besides tensors it needs to continue exactly, stored as
/// the checkpoint's JSON meta.
pub trait RunState: Serialize + DeserializeOwned {
    /// The driver's part of the state.
    fn progress(&self) -> &RunProgress;
    /// Where the run is, for the "resuming" line, e.g. "teacher step 120".
    fn position(&self) -> String;
}

/// Open the run folder `out`. Fresh (`resume` false): create it (the caller has checked its
/// inputs, so bad input leaves nothing behind) and return `None`. Resumed: the checkpoint's state
/// (refused if another trainer wrote it) and tensors, with metrics.jsonl cut back to the checkpoint.
pub fn open<S: RunState>(opts: &RunOptions, out: &Path, resume: bool, device: Device) -> Result<Option<(S, checkpoint::Tensors)>> {
    open_rank(opts, out, resume, device, true)
}

/// [`open`] for one rank of a data-parallel run: only the main rank (`main`) creates the folder
/// or cuts metrics.jsonl back; every rank reads the checkpoint (the folder is shared: one
/// machine, or a shared filesystem).
pub fn open_rank<S: RunState>(opts: &RunOptions, out: &Path, resume: bool, device: Device, main: bool) -> Result<Option<(S, checkpoint::Tensors)>> {
    if !resume {
        if main {
            run::prepare_run_dir(out, &opts.config_toml)?;
        }
        return Ok(None);
    }
    let (meta, tensors) = checkpoint::load(&checkpoint::path(out), device)?;
    let st: S = serde_json::from_value(meta).map_err(|e| input_err(format!("checkpoint meta does not match this trainer: {e}")))?;
    if main {
        run::truncate_metrics(out, st.progress().metrics_len)?;
    }
    Ok(Some((st, checkpoint::Tensors(tensors))))
}

/// [`open_rank`] for this process of the run (`dist`: a data-parallel run, else one process):
/// a resumed run must have the world size that wrote it, and says where it resumes.
pub fn open_run<S: RunState>(opts: &RunOptions, out: &Path, resume: bool, device: Device, dist: Option<&Dist>) -> Result<Option<(S, checkpoint::Tensors)>> {
    let (main, world) = dist.map_or((true, 1), |d| (d.is_main(), d.world));
    let Some((st, tensors)) = open_rank::<S>(opts, out, resume, device, main)? else { return Ok(None) };
    let saved = st.progress().world_size;
    if saved != world {
        crate::bail_input!(
            "{}: the run was trained by {saved} process(es); resume it with the same world size (WORLD_SIZE is {world} here)",
            out.display()
        );
    }
    if main {
        eprintln!("resuming {} at {}", out.display(), st.position());
    }
    Ok(Some((st, tensors)))
}

/// Metrics, progress and the wall clock of a run in progress, and its checkpoint cadence.
pub struct Tracker {
    out: PathBuf,
    metrics_path: PathBuf,
    /// None on the ranks of a data-parallel run other than 0: they write nothing.
    metrics: Option<MetricsWriter>,
    pub bar: Progress,
    start: Instant,
    every: u64,
    dist: Option<Arc<Dist>>,
    /// The step count `progress.json` was last written at.
    progress_at: Option<u64>,
}

impl Tracker {
    /// `total` steps of which `done` are done (and `elapsed_s` spent) before this process.
    pub fn new(opts: &RunOptions, out: &Path, total: u64, done: u64, elapsed_s: f64) -> Result<Self> {
        Self::for_rank(opts, out, total, done, elapsed_s, None)
    }

    /// [`Self::new`] for one rank of a data-parallel run (`dist`): ranks other than 0 show and
    /// write nothing, and Ctrl-C seen by any rank stops all of them at the same step.
    pub fn for_rank(opts: &RunOptions, out: &Path, total: u64, done: u64, elapsed_s: f64, dist: Option<Arc<Dist>>) -> Result<Self> {
        let main = dist.as_ref().map_or(true, |d| d.is_main());
        let metrics_path = out.join(run::METRICS_FILE);
        let metrics = if main { Some(MetricsWriter::create(&metrics_path)?) } else { None };
        let mut bar = if main { Progress::new(total, &opts.label) } else { Progress::silent(total) };
        bar.set_position(done);
        let start = Instant::now() - Duration::from_secs_f64(elapsed_s);
        Ok(Self { out: out.to_path_buf(), metrics_path, metrics, bar, start, every: opts.checkpoint_every, dist, progress_at: None })
    }

    /// A tracker outside any run folder, which shows and writes nothing: for driving a
    /// [`Learner`]'s steps without a run (`lot bench`).
    pub fn detached(total: u64) -> Self {
        Self {
            out: PathBuf::new(),
            metrics_path: PathBuf::new(),
            metrics: None,
            bar: Progress::silent(total),
            start: Instant::now(),
            every: 0,
            dist: None,
            progress_at: None,
        }
    }

    fn is_main(&self) -> bool {
        self.metrics.is_some()
    }

    /// Seconds since the run started, over every process that worked on it.
    pub fn wall_s(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Append a metrics record, and note the run's progress in `progress.json` (what `lot sweep`
    /// reads to show an ETA for the whole sweep) once per step count: an evaluation or an RL
    /// update writes several records (episodes among them), the file needs only the first.
    pub fn write(&mut self, r: &Record) -> Result<()> {
        let Some(m) = &mut self.metrics else { return Ok(()) };
        m.write(r)?;
        let (done, total) = self.bar.position();
        if self.progress_at == Some(done) {
            return Ok(());
        }
        self.progress_at = Some(done);
        let p = run::Progress { done, total, elapsed_s: self.wall_s() };
        crate::fsio::write_atomic(&self.out.join(run::PROGRESS_FILE), serde_json::to_string(&p)?.as_bytes())
    }

    /// Whether to checkpoint after `step`, and whether Ctrl-C was pressed (on any rank): after
    /// evaluations (`evaluated`), every `run.checkpoint_every` steps, and on Ctrl-C.
    pub fn checkpoint_due(&self, step: u64, evaluated: bool) -> Result<(bool, bool)> {
        let mut interrupted = checkpoint::interrupted();
        if let Some(d) = &self.dist {
            interrupted = d.any(interrupted)?;
        }
        Ok((evaluated || (self.every > 0 && step % self.every == 0) || interrupted, interrupted))
    }

    /// Length of metrics.jsonl now: where a resume from a checkpoint written now cuts it.
    pub fn metrics_len(&self) -> u64 {
        std::fs::metadata(&self.metrics_path).map(|m| m.len()).unwrap_or(0)
    }

    /// The driver's part of a checkpoint written now, by a run of `world_size` processes.
    pub fn progress(&self, world_size: usize) -> RunProgress {
        RunProgress { metrics_len: self.metrics_len(), elapsed_s: self.wall_s(), world_size }
    }

    /// Write the checkpoint (atomically: the previous one survives a crash mid-write); rank 0's
    /// alone in a data-parallel run (the ranks' models are the same).
    pub fn save_checkpoint(&self, state: &impl Serialize, tensors: &[(String, Tensor)]) -> Result<()> {
        if !self.is_main() {
            return Ok(());
        }
        checkpoint::save(&checkpoint::path(&self.out), &serde_json::to_value(state)?, tensors)
    }

    /// A training step failed at `at` (e.g. "epoch 3, teacher step 120"): the error, and where
    /// the run can continue from if a checkpoint exists.
    pub fn step_failed(&self, at: &str, e: anyhow::Error) -> anyhow::Error {
        let ckpt = checkpoint::path(&self.out);
        if ckpt.is_file() {
            anyhow::anyhow!(
                "{at}: {e:#}; the last good checkpoint is {} (resume with `lot train --resume {}`)",
                ckpt.display(),
                self.out.display()
            )
        } else {
            anyhow::anyhow!("{at}: {e:#}; no checkpoint was written yet")
        }
    }

    /// The error to return after Ctrl-C (the CLI exits 130), once the checkpoint is written, or
    /// with `not_saved` saying why there is none.
    pub fn interrupted(&mut self, at: &str, not_saved: Option<&str>) -> anyhow::Error {
        self.bar.finish();
        let what = match not_saved {
            None => format!("checkpoint written; continue with `lot train --resume {}`", self.out.display()),
            Some(why) => format!("no checkpoint written ({why})"),
        };
        anyhow::Error::new(checkpoint::Interrupted(format!("interrupted {at}: {what}")))
    }

    /// Training is over: close the progress bar; the run's wall time.
    pub fn finish(&mut self) -> f64 {
        self.bar.finish();
        self.wall_s()
    }
}

/// What a checkpoint holds: the trainer's resume state as JSON, and its tensors.
pub type Saved = (serde_json::Value, Vec<(String, Tensor)>);

/// A domain's trainer, as [`fit`] drives it: it owns its models, engine, data and resume state,
/// and knows how to take one teacher update (through the engine, its students' steps included),
/// when and how to evaluate, and what its checkpoint holds. [`fit`] owns the rest of the loop:
/// the checkpoint cadence, Ctrl-C, and errors that point at the last good checkpoint.
pub trait Learner {
    /// Teacher steps (PPO updates, for RL) done so far.
    fn done(&self) -> u64;
    /// Teacher steps of the whole run.
    fn total(&self) -> u64;
    /// Where teacher step `step` is, for error messages, e.g. "epoch 3, teacher step 120".
    fn label(&self, step: u64) -> String;
    /// One teacher update, with its running metrics and progress.
    fn step(&mut self, track: &mut Tracker) -> Result<()>;
    /// Whether an evaluation is due after the step just taken (an evaluation forces a checkpoint).
    fn eval_due(&self) -> bool;
    /// Evaluate and write the evaluation's records.
    fn evaluate(&mut self, track: &mut Tracker) -> Result<()>;
    /// The checkpoint to write now, its state carrying `progress` (metrics.jsonl's length, the
    /// wall time); every rank of a data-parallel run calls it (it may gather). None: this run
    /// cannot be saved.
    fn checkpoint(&mut self, progress: RunProgress) -> Result<Option<Saved>>;
    /// Where a run stopped by Ctrl-C stopped, for its message.
    fn stopped_at(&self) -> String {
        format!("at teacher step {}", self.done())
    }
    /// Why a run that cannot be saved has no checkpoint (e.g. Atari's emulator state).
    fn not_saved(&self) -> Option<&'static str> {
        None
    }
    /// The models' var stores: a data-parallel run starts every rank from rank 0's.
    fn stores(&self) -> &[nn::VarStore];
    /// Processes in the run (1, or the data-parallel world size), recorded in checkpoints.
    fn world_size(&self) -> usize {
        1
    }
    /// A line to print when training starts (after the progress bar is up), if any.
    fn intro(&self) -> Option<String> {
        None
    }
    /// For a data-parallel run's dist.json: what one teacher step processes.
    fn throughput(&self) -> Throughput;
    /// Seconds spent evaluating so far in this process, which throughput leaves out.
    fn eval_s(&self) -> f64 {
        0.0
    }
}

/// What one teacher step processes, for a data-parallel run's throughput report (dist.json).
pub struct Throughput {
    /// Each rank's batch (images, columns of token streams, envs).
    pub per_rank_batch: usize,
    /// Samples of one step over all ranks, in `unit`s.
    pub per_step: f64,
    /// "images", "tokens", "env_steps".
    pub unit: &'static str,
}

/// A run trained to its end in this process: its tracker (for the final records), and the
/// wall time of the whole run over every process.
pub struct Trained {
    pub track: Tracker,
    pub wall_s: f64,
}

/// Train `learner` to its end in the run folder `out` (opened with [`open_run`]): every rank
/// from rank 0's weights, progress and metrics, the loop ([`fit`]), and dist.json for a
/// data-parallel run. `elapsed_s`: the wall time spent before this process (from the checkpoint).
pub fn run<L: Learner>(learner: &mut L, opts: &RunOptions, out: &Path, elapsed_s: f64, dist: Option<Arc<Dist>>) -> Result<Trained> {
    if let Some(d) = &dist {
        crate::dist::broadcast_weights(&d.pg, learner.stores())?;
    }
    let mut track = Tracker::for_rank(opts, out, learner.total(), learner.done(), elapsed_s, dist.clone())?;
    if let Some(line) = learner.intro() {
        track.bar.println(&line);
    }
    let (start, first) = (Instant::now(), learner.done());
    fit(learner, &mut track)?;
    let loop_s = start.elapsed().as_secs_f64();
    let wall_s = track.finish();
    if let Some(d) = dist.as_ref().filter(|d| d.is_main()) {
        let t = learner.throughput();
        d.write_report(out, t.per_rank_batch, t.per_step, t.unit, learner.done() - first, loop_s - learner.eval_s())?;
    }
    Ok(Trained { track, wall_s })
}

/// Train `learner` from where it is to its last step: step, evaluate when due, checkpoint after
/// evaluations, every `run.checkpoint_every` steps and on Ctrl-C (then stop with
/// [`checkpoint::Interrupted`]).
pub fn fit(learner: &mut impl Learner, track: &mut Tracker) -> Result<()> {
    while learner.done() < learner.total() {
        // Labels are formatted only when an error needs one, not on every step.
        let next = learner.done() + 1;
        learner.step(track).map_err(|e| track.step_failed(&learner.label(next), e))?;
        let done = learner.done();
        let evaluated = learner.eval_due();
        if evaluated {
            learner.evaluate(track).map_err(|e| track.step_failed(&format!("evaluation after {}", learner.label(done)), e))?;
        }
        let (save, interrupted) = track.checkpoint_due(done, evaluated).map_err(|e| track.step_failed(&learner.label(done), e))?;
        if save {
            let progress = track.progress(learner.world_size());
            let saved = learner.checkpoint(progress).map_err(|e| track.step_failed(&format!("checkpoint after {}", learner.label(done)), e))?;
            if let Some((state, tensors)) = saved {
                track.save_checkpoint(&state, &tensors)?;
            }
        }
        if interrupted {
            return Err(track.interrupted(&learner.stopped_at(), learner.not_saved()));
        }
    }
    Ok(())
}

/// Every model's weights and optimizer state, named `model<m>.*` and `optim<m>.*`.
pub fn model_tensors(stores: &[nn::VarStore], optims: &[Box<dyn Optimizer>]) -> Vec<(String, Tensor)> {
    let mut tensors = Vec::new();
    for (m, (vs, opt)) in stores.iter().zip(optims).enumerate() {
        tensors.extend(checkpoint::prefixed(&format!("model{m}."), checkpoint::store_tensors(vs)));
        tensors.extend(checkpoint::prefixed(&format!("optim{m}."), opt.state()));
    }
    tensors
}

/// Restore what [`model_tensors`] saved; `opt_steps[m]` is model m's optimizer step count.
pub fn restore_models(tensors: &checkpoint::Tensors, stores: &[nn::VarStore], optims: &mut [Box<dyn Optimizer>], opt_steps: &[u64]) -> Result<()> {
    for (m, (vs, opt)) in stores.iter().zip(optims.iter_mut()).enumerate() {
        checkpoint::restore_store(vs, &tensors.with_prefix(&format!("model{m}.")), &model_name(m))?;
        opt.load_state(&tensors.with_prefix(&format!("optim{m}.")), opt_steps.get(m).copied().unwrap_or(0));
    }
    Ok(())
}

fn weights_path(dir: &Path, m: usize) -> PathBuf {
    dir.join(format!("{}.safetensors", model_name(m)))
}

/// Renames a model's variables between our names and the names a saved file uses (the PyTorch
/// reference model's state_dict names, where they differ).
pub type Rename = fn(Vec<(String, Tensor)>) -> Vec<(String, Tensor)>;

/// For models whose variable names already are the reference's.
pub fn same_names(v: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    v
}

/// Model m's final weights, `<run>/teacher.safetensors`, `student0.safetensors`, …, under the
/// names `rename` gives them; written to a temporary file and renamed into place.
pub fn save_weights(dir: &Path, m: usize, vs: &nn::VarStore, rename: Rename) -> Result<()> {
    let path = weights_path(dir, m);
    let tmp = path.with_extension("tmp.safetensors");
    let named = rename(checkpoint::store_tensors(vs));
    Tensor::write_safetensors(&named, &tmp).map_err(|e| anyhow::anyhow!("saving {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(())
}

/// `lot eval`: load model m's saved weights into `vs`; `rename` maps the file's names back to ours.
pub fn load_weights(dir: &Path, m: usize, vs: &nn::VarStore, rename: Rename) -> Result<()> {
    let p = weights_path(dir, m);
    if !p.exists() {
        crate::bail_input!("{}: missing; the run did not finish", p.display());
    }
    let saved = Tensor::read_safetensors(&p).map_err(|e| input_err(format!("{}: cannot load weights: {e}", p.display())))?;
    checkpoint::restore_store(vs, &rename(saved), &p.display().to_string())
}

/// A finished run's metric records, and its model names with the teacher first.
pub fn read_records(dir: &Path) -> Result<(Vec<Record>, Vec<String>)> {
    let recs = crate::track::read_metrics(&dir.join(run::METRICS_FILE))?;
    let mut names: Vec<String> = recs.iter().map(|r| r.model.clone()).collect();
    names.sort();
    names.dedup();
    names.sort_by_key(|n| n != "teacher");
    Ok((recs, names))
}

/// One curve per model of `split`: `y` against `x` over the records that have a `y`.
pub fn curves(
    recs: &[Record],
    names: &[String],
    split: &str,
    x: impl Fn(&Record) -> f64,
    y: impl Fn(&Record) -> Option<f64>,
) -> Vec<plot::Series> {
    names
        .iter()
        .map(|n| plot::Series {
            label: format!("{n} {split}"),
            points: recs.iter().filter(|r| &r.model == n && r.split == split).filter_map(|r| y(r).map(|v| (x(r), v))).collect(),
            band: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
    struct St {
        step: u64,
        #[serde(flatten)]
        run: RunProgress,
    }
    impl RunState for St {
        fn progress(&self) -> &RunProgress {
            &self.run
        }
        fn position(&self) -> String {
            format!("step {}", self.step)
        }
    }
    fn st(step: u64, metrics_len: u64) -> St {
        St { step, run: RunProgress { metrics_len, elapsed_s: 0.0, world_size: 1 } }
    }

    fn config() -> RunOptions {
        let cfg = Config::from_toml("task = \"vision\"\n[data]\ndataset = \"fashion-mnist\"\n", &[], "t.toml").unwrap();
        RunOptions::from_config(&cfg)
    }

    /// Fresh: the folder is created. Resumed: the state comes back and metrics.jsonl is cut to the
    /// checkpoint's length; a checkpoint of another trainer is refused with one clear error.
    #[test]
    fn open_creates_or_resumes_and_cuts_metrics_back() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("run");
        let cfg = config();
        assert!(open::<St>(&cfg, &out, false, Device::Cpu).unwrap().is_none());
        assert!(out.join(run::CONFIG_FILE).is_file());
        let mut t = Tracker::new(&cfg, &out, 10, 0, 0.0).unwrap();
        t.write(&Record { step: 1, model: "teacher".into(), split: "train".into(), ..Default::default() }).unwrap();
        let len = t.metrics_len();
        t.save_checkpoint(&st(1, len), &[("x".into(), Tensor::from_slice(&[1.0f32, 2.0]))]).unwrap();
        t.write(&Record { step: 2, model: "teacher".into(), split: "train".into(), ..Default::default() }).unwrap();
        assert!(t.metrics_len() > len);
        let (saved, tensors) = open::<St>(&cfg, &out, true, Device::Cpu).unwrap().unwrap();
        assert_eq!(saved, st(1, len));
        assert!(tensors.get("x").unwrap().equal(&Tensor::from_slice(&[1.0f32, 2.0])));
        assert_eq!(std::fs::metadata(out.join(run::METRICS_FILE)).unwrap().len(), len);

        #[derive(Serialize, serde::Deserialize)]
        struct Other {
            update: u64,
            #[serde(flatten)]
            run: RunProgress,
        }
        impl RunState for Other {
            fn progress(&self) -> &RunProgress {
                &self.run
            }
            fn position(&self) -> String {
                format!("update {}", self.update)
            }
        }
        let e = open::<Other>(&cfg, &out, true, Device::Cpu).err().unwrap();
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("does not match this trainer"), "{e}");
    }

    #[test]
    fn step_errors_name_the_checkpoint_only_when_there_is_one() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("run");
        let cfg = config();
        open::<St>(&cfg, &out, false, Device::Cpu).unwrap();
        let mut t = Tracker::new(&cfg, &out, 10, 0, 0.0).unwrap();
        let e = t.step_failed("epoch 1, teacher step 3", anyhow::anyhow!("loss is NaN")).to_string();
        assert!(e.starts_with("epoch 1, teacher step 3: loss is NaN") && e.contains("no checkpoint"), "{e}");
        t.save_checkpoint(&st(1, 0), &[]).unwrap();
        let e = t.step_failed("epoch 1, teacher step 3", anyhow::anyhow!("loss is NaN")).to_string();
        assert!(e.contains("last good checkpoint") && e.contains("--resume"), "{e}");
        let e = t.interrupted("at teacher step 3", None);
        assert!(e.downcast_ref::<checkpoint::Interrupted>().is_some());
        assert!(e.to_string().starts_with("interrupted at teacher step 3: checkpoint written"), "{e}");
        let e = t.interrupted("after update 2", Some("Atari runs cannot be resumed"));
        assert!(e.to_string().contains("no checkpoint written (Atari"), "{e}");
    }

    /// A learner that records what `fit` asks of it: evaluations every 3 steps, optionally a
    /// failing step.
    struct Counting {
        step: u64,
        total: u64,
        fail_at: Option<u64>,
        evaluated: Vec<u64>,
        saved: Vec<u64>,
    }
    impl Learner for Counting {
        fn done(&self) -> u64 {
            self.step
        }
        fn total(&self) -> u64 {
            self.total
        }
        fn label(&self, step: u64) -> String {
            format!("step {step}")
        }
        fn step(&mut self, _track: &mut Tracker) -> Result<()> {
            if self.fail_at == Some(self.step + 1) {
                anyhow::bail!("loss is NaN");
            }
            self.step += 1;
            Ok(())
        }
        fn eval_due(&self) -> bool {
            self.step % 3 == 0
        }
        fn evaluate(&mut self, _track: &mut Tracker) -> Result<()> {
            self.evaluated.push(self.step);
            Ok(())
        }
        fn checkpoint(&mut self, progress: RunProgress) -> Result<Option<Saved>> {
            self.saved.push(self.step);
            let st = St { step: self.step, run: progress };
            Ok(Some((serde_json::to_value(st)?, Vec::new())))
        }
        fn stores(&self) -> &[nn::VarStore] {
            &[]
        }
        fn throughput(&self) -> Throughput {
            Throughput { per_rank_batch: 1, per_step: 1.0, unit: "steps" }
        }
    }

    /// `fit` steps to the end, evaluates when due, checkpoints after evaluations and every
    /// `run.checkpoint_every` steps; a failing step is named and points at the last checkpoint.
    #[test]
    fn fit_steps_evaluates_and_checkpoints_on_its_cadence() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("run");
        let mut cfg = config();
        cfg.checkpoint_every = 4;
        open::<St>(&cfg, &out, false, Device::Cpu).unwrap();
        let mut t = Tracker::new(&cfg, &out, 7, 0, 0.0).unwrap();
        let mut l = Counting { step: 0, total: 7, fail_at: None, evaluated: vec![], saved: vec![] };
        fit(&mut l, &mut t).unwrap();
        assert_eq!((l.step, l.evaluated.clone(), l.saved.clone()), (7, vec![3, 6], vec![3, 4, 6]));
        let (st, _) = open::<St>(&cfg, &out, true, Device::Cpu).unwrap().unwrap();
        assert_eq!(st.step, 6, "the last checkpoint is the one after step 6");

        let mut t = Tracker::new(&cfg, &out, 7, 0, 0.0).unwrap();
        let mut l = Counting { step: 0, total: 7, fail_at: Some(5), evaluated: vec![], saved: vec![] };
        let e = fit(&mut l, &mut t).unwrap_err().to_string();
        assert!(e.starts_with("step 5: loss is NaN") && e.contains("last good checkpoint"), "{e}");
        assert_eq!((l.step, l.saved), (4, vec![3, 4]));
    }

    #[test]
    fn weights_round_trip_and_missing_weights_are_an_input_error() {
        let d = tempfile::tempdir().unwrap();
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[3], nn::Init::Const(2.5));
        save_weights(d.path(), 1, &vs, same_names).unwrap();
        assert!(d.path().join("student0.safetensors").is_file());
        let other = nn::VarStore::new(Device::Cpu);
        let w2 = other.root().var("w", &[3], nn::Init::Const(0.0));
        load_weights(d.path(), 1, &other, same_names).unwrap();
        assert!(w2.equal(&w));
        let e = load_weights(d.path(), 0, &other, same_names).unwrap_err();
        assert!(crate::error::is_input_error(&e) && e.to_string().contains("teacher.safetensors: missing"), "{e}");
    }
}
