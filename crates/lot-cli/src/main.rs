//! `lot`: train, evaluate and compare Learning-from-Teaching runs.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use lot::config::Config;
use lot::error::is_input_error;
use lot::run::{self, Summary};

use args::{Cli, Cmd, DataCmd, Launcher};

mod args;
mod bench_cmd;
mod demo;
mod eta;
mod launch;
mod slurm;
mod sweep;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Launch { nproc_per_node, nnodes, node_rank, master_addr, master_port, command } = cli.cmd {
        let a = launch::LaunchArgs { nproc_per_node, nnodes, node_rank, master_addr, master_port, command };
        return match std::env::current_exe().map_err(anyhow::Error::from).and_then(|exe| launch::launch(&exe, &a)) {
            Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
            }
        };
    }
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<lot::checkpoint::Interrupted>().is_some() => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Train { config, resume, sets, out } => {
            // Processes that train keep freed tensor memory for reuse (see lot_bench::tune_malloc).
            lot_bench::tune_malloc();
            lot::checkpoint::install_interrupt_handler();
            // A data-parallel rank (RANK/WORLD_SIZE set): only rank 0 reports, and every rank
            // must agree on the default folder, so it is not numbered away from an existing one.
            let rank = lot::dist::LaunchEnv::from_env()?.map(|e| e.rank);
            if let Some(dir) = resume {
                let s = lot::resume(&dir)?;
                if rank.unwrap_or(0) == 0 {
                    print_summary(&s, &dir);
                }
                return Ok(());
            }
            let cfg = Config::load(config.as_deref().expect("clap requires CONFIG"), &sets)?;
            let out = out.unwrap_or_else(|| if rank.is_some() { run::base_run_dir(&cfg) } else { run::default_run_dir(&cfg) });
            let s = train(&cfg, &out)?;
            if rank.unwrap_or(0) == 0 {
                print_summary(&s, &out);
            }
        }
        Cmd::Eval { run_dir } => {
            let rows = lot::evaluate(&run_dir)?;
            if let Some(first) = rows.first() {
                let names: Vec<&str> = first.values.iter().map(|(n, _)| n.as_str()).collect();
                println!("| model | {} |\n|---|{}", names.join(" | "), "---|".repeat(names.len()));
            }
            for r in rows {
                let vals: Vec<String> = r.values.iter().map(|(_, v)| format!("{v:.4}")).collect();
                println!("| {} | {} |", r.model, vals.join(" | "));
            }
        }
        Cmd::Demo { out, seeds, jobs, sets } => demo::demo(&out, &seeds, jobs, &sets)?,
        Cmd::Compare { run_dirs, out, baseline } => print_compare(&lot::track::compare::compare(&run_dirs, &out, &baseline)?),
        Cmd::PlotEvidence { rows, out } => {
            let out = out.unwrap_or_else(|| rows.with_file_name("summary.png"));
            let (n, warnings) = lot::track::forest::plot_evidence(&lot::track::forest::read_rows(&rows)?, &out)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            println!("plot: {} ({n} setting{})", out.display(), if n == 1 { "" } else { "s" });
        }
        Cmd::Sweep { config, seeds, modes, sets, jobs, out, baseline, launcher, submit, sbatch, nproc_per_task } => {
            if launcher == Launcher::Local && (submit || !sbatch.is_empty() || nproc_per_task != 1) {
                lot::bail_input!("--submit, --sbatch and --nproc-per-task go with --launcher slurm");
            }
            let slurm = (launcher == Launcher::Slurm).then_some(sweep::SlurmArgs { submit, sbatch, nproc_per_task });
            sweep::sweep(&sweep::SweepArgs { config, seeds, modes, sets, jobs, out, baselines: baseline, slurm })?;
        }
        Cmd::Bench { cmd } => bench_cmd::bench(cmd)?,
        Cmd::BenchWorker { spec } => {
            lot_bench::tune_malloc();
            let spec = lot_bench::parse_spec(&spec)?;
            println!("{}", lot_bench::result_line(&lot_bench::run_worker(&spec)?)?);
        }
        Cmd::Launch { .. } => unreachable!("handled in main"),
        Cmd::Config { task, update_readme } => config_reference(task.as_deref(), update_readme.as_deref())?,
        Cmd::Data { cmd, root } => {
            let root = root.unwrap_or_else(lot::data::fetch::default_data_dir);
            match cmd {
                DataCmd::Fetch { name } => lot::data::fetch::fetch(&name, &root)?,
                DataCmd::List => {
                    println!("data root: {}", root.display());
                    for s in lot::data::fetch::list(&root) {
                        let state = if s.present { "present" } else { "missing" };
                        println!("{:<14} {:<8} {}  {}", s.name, state, s.path.display(), s.note);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `lot config`: the reference tables (the keys every task shares, then the task's), or the
/// README's tables rewritten.
fn config_reference(task: Option<&str>, readme: Option<&Path>) -> Result<()> {
    use lot::config::reference::{self, Part};
    if let Some(path) = readme {
        let text = std::fs::read_to_string(path).map_err(|e| lot::error::input_err(format!("{}: cannot read: {e}", path.display())))?;
        let fresh = reference::render_readme(&text).map_err(|e| lot::error::input_err(format!("{}: {e}", path.display())))?;
        if fresh == text {
            println!("{}: config tables up to date", path.display());
        } else {
            std::fs::write(path, fresh)?;
            println!("{}: config tables rewritten", path.display());
        }
        return Ok(());
    }
    let parts: Vec<Part> = match task {
        Some(t) => vec![Part::Shared, Part::from_name(t).expect("clap checks the task")],
        None => Part::ALL.iter().map(|(_, p)| *p).collect(),
    };
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("## {}\n", p.title());
        print!("{}", reference::markdown(*p)?);
    }
    Ok(())
}

fn train(cfg: &Config, out: &Path) -> Result<Summary> {
    lot::train(cfg, out)
}

/// `lot compare`'s output: warnings on stderr, the table and where the files went on stdout.
fn print_compare(rep: &lot::track::compare::Report) {
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", rep.table);
    if !rep.differences.is_empty() {
        println!("{}", rep.differences_table);
    }
    let plot = rep.plot_path.as_ref().map_or("(no curves)".to_string(), |p| p.display().to_string());
    println!("table: {}  json: {}  plot: {plot}", rep.markdown_path.display(), rep.json_path.display());
}

fn print_summary(s: &Summary, out: &Path) {
    println!("run {} ({}), {} teacher steps, {:.1} s", s.name, s.mode, s.teacher_steps, s.wall_s);
    let any = |f: &dyn Fn(&lot::run::ModelSummary) -> bool| s.models.values().any(f);
    // Columns by task: perplexity (language models), return (RL), accuracy (vision).
    type Col = fn(&lot::run::ModelSummary) -> Option<f64>;
    let cols: [(&str, Col); 2] = if any(&|m| m.best_valid_accuracy().is_some()) {
        [("test acc % (final)", |m| m.final_test_accuracy()), ("best valid acc %", |m| m.best_valid_accuracy())]
    } else if any(&|m| m.final_test_perplexity().is_some()) {
        [("test perplexity", |m| m.final_test_perplexity()), ("best valid perplexity", |m| m.best_valid_perplexity())]
    } else if any(&|m| m.eval_return().is_some() || m.final_return().is_some()) {
        [("final return (last 20 episodes)", |m| m.final_return()), ("eval return", |m| m.eval_return())]
    } else {
        [("final test acc %", |m| m.final_test_accuracy()), ("best test acc %", |m| m.best_test_accuracy())]
    };
    println!("| model | {} | {} | optimizer steps |\n|---|---|---|---|", cols[0].0, cols[1].0);
    for (m, ms) in &s.models {
        let cell = |c: Col| c(ms).map_or("—".to_string(), |v| format!("{v:.2}"));
        println!("| {m} | {} | {} | {} |", cell(cols[0].1), cell(cols[1].1), ms.optimizer_steps);
    }
    println!("metrics: {}  plot: {}", out.join(run::METRICS_FILE).display(), out.join("curves.png").display());
}
