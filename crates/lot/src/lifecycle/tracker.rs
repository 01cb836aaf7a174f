//! [`Tracker`]: metrics, progress and the wall clock of a run in progress, and its checkpoint cadence.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use tch::Tensor;

use super::*;
use crate::checkpoint;
use crate::dist::Dist;
use crate::run::{self};
use crate::track::{MetricsWriter, Progress, Record};

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
