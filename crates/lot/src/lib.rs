//! lot: Learning-from-Teaching regularization on libtorch.
//!
//! `engine` holds the LoT losses and step schedule shared by every domain; `vision`, `text` and `rl`
//! supply models, data and trainers; `track` writes metrics, plots and progress and compares runs.
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod dist;
pub mod dropout;
pub mod engine;
pub mod error;
pub mod fsio;
pub mod lifecycle;
pub mod optim;
pub mod precision;
pub mod rl;
pub mod run;
pub mod testing;
pub mod text;
pub mod track;
pub mod vision;

use std::path::Path;

/// Print the config's precision note on stderr, once per run (rank 0 of a data-parallel run).
pub fn print_precision_note(cfg: &config::Config) {
    let rank0 = dist::LaunchEnv::from_env().ok().flatten().map_or(true, |e| e.rank == 0);
    if let (Some(note), true) = (&cfg.precision_note, rank0) {
        eprintln!("{note}");
    }
}

/// Train a run of any task into the run folder `out` (created once the inputs are checked).
pub fn train(cfg: &config::Config, out: &Path) -> anyhow::Result<run::Summary> {
    print_precision_note(cfg);
    match &cfg.domain {
        config::Domain::Vision(_) => vision::train(cfg, out, false),
        config::Domain::Text(_) => text::train::train(cfg, out, false),
        config::Domain::Rl(_) => rl::train(cfg, out, false),
    }
}

/// `lot train --resume RUN_DIR`: continue a run from its last checkpoint with its saved config.
pub fn resume(dir: &Path) -> anyhow::Result<run::Summary> {
    let path = dir.join(run::CONFIG_FILE);
    // Keys added since the run started keep the value it was trained with.
    let sets = std::fs::read_to_string(&path).map(|t| rl::config::saved_config_sets(&t)).unwrap_or_default();
    let cfg = config::Config::load(&path, &sets)?;
    if let config::Domain::Rl(r) = &cfg.domain {
        if rl::is_atari_name(&r.env.name) {
            bail_input!("{}", rl::train::ATARI_RESUME);
        }
    }
    if !checkpoint::path(dir).exists() {
        bail_input!("{}: no checkpoint to resume from", checkpoint::path(dir).display());
    }
    print_precision_note(&cfg);
    match &cfg.domain {
        config::Domain::Vision(_) => vision::train(&cfg, dir, true),
        config::Domain::Text(_) => text::train::train(&cfg, dir, true),
        config::Domain::Rl(_) => rl::train(&cfg, dir, true),
    }
}

/// `lot eval RUN_DIR`: reload a finished run's saved models and evaluate them.
pub fn evaluate(dir: &Path) -> anyhow::Result<Vec<run::EvalRow>> {
    let cfg = config::Config::load(&dir.join(run::CONFIG_FILE), &[])?;
    match &cfg.domain {
        config::Domain::Vision(_) => vision::evaluate_run(dir, &cfg),
        config::Domain::Text(_) => text::train::evaluate_run(dir, &cfg),
        config::Domain::Rl(_) => rl::evaluate_run(dir, &cfg),
    }
}
