//! `lot bench`: the speed benches against the reference programs, and the bf16 guards.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::args::{BenchCmd, BenchCommon, VisionBenchArgs};
use crate::sweep;

/// The accuracy guard's default config.
const FM_RESNET20_CONFIG: &str = include_str!("../../../configs/fashion_mnist_resnet20_lot.toml");
const LSTM_PTB_SMALL_CONFIG: &str = include_str!("../../../configs/lstm_ptb_small_lot.toml");

impl VisionBenchArgs {
    fn apply(self, spec: &mut lot_bench::BenchSpec) {
        spec.precision = self.precision;
        spec.channels_last = self.channels_last;
        spec.depth = self.depth;
    }
}

pub fn bench(cmd: BenchCmd) -> Result<()> {
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
