//! The run folder: what it needs to know of a run ([`RunOptions`]), the driver's part of every
//! checkpoint ([`RunProgress`]), and opening it fresh or resumed ([`open_run`]).

use std::path::Path;

use anyhow::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::checkpoint;
use crate::config::Config;
use crate::dist::Dist;
use crate::error::input_err;
use crate::run::{self};

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
    /// Flush denormal floats to zero on libtorch's CPU threads while the run trains (`run.flush_denormal`).
    pub flush_denormal: bool,
}

impl RunOptions {
    /// A run of our TOML config: `<run.name> <mode>`, its resolved config, `run.checkpoint_every`.
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            label: format!("{} {}", cfg.run.name, cfg.lot.mode.name()),
            config_toml: cfg.to_toml(),
            checkpoint_every: cfg.run.checkpoint_every as u64,
            flush_denormal: cfg.run.flush_denormal,
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
