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

mod curves;
mod device;
mod driver;
mod folder;
mod tracker;
mod weights;

pub use c10d_sys::flush_denormal;
pub use curves::{curves, read_records};
pub use device::{device, model_devices};
pub use driver::{fit, run, Learner, Saved, Throughput, Trained};
pub use folder::{open, open_rank, open_run, RunOptions, RunProgress, RunState};
pub use tracker::Tracker;
pub use weights::{load_weights, model_tensors, restore_models, same_names, save_weights, Rename};

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Result;
    use serde::Serialize;
    use tch::{nn, Device, Tensor};

    use crate::checkpoint;
    use crate::config::Config;
    use crate::run;
    use crate::track::Record;

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

    /// With flush-to-zero on, a denormal (1e-39 in fp32) reads as 0 in libtorch's arithmetic; off,
    /// it survives (PyTorch's default). The mode is left as the trainers leave it: on.
    #[test]
    fn flush_denormal_turns_denormals_into_zeros() {
        let tiny = || Tensor::from_slice(&[1e-39f32, 1.0]) * 1.0;
        if !flush_denormal(false) {
            return; // no such mode on this CPU
        }
        assert_eq!(Vec::<f32>::try_from(tiny()).unwrap(), [1e-39, 1.0]);
        assert!(flush_denormal(true));
        assert_eq!(Vec::<f32>::try_from(tiny()).unwrap(), [0.0, 1.0]);
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
