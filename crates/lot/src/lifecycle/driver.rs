//! The loop: [`Learner`] (a domain's trainer), [`fit`] (step, evaluate, checkpoint, Ctrl-C) and
//! [`run`] (the weight broadcast, the tracker, the loop and dist.json around it).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tch::{nn, Tensor};

use super::*;
use crate::dist::Dist;

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
    // Before the first step, on this thread and libtorch's workers (their count is set by now).
    c10d_sys::flush_denormal(opts.flush_denormal);
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
