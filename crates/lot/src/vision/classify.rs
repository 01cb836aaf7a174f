//! The settings of a classification run as plain values, for `lot train`'s ResNets and for a
//! library user's own models alike: no TOML needed. [`ClassifierRun::engine`] makes the LoT
//! engine they describe; [`super::train::train_classifiers`] runs it.

use serde::Serialize;
use tch::nn;

use super::config::TrainConfig;
use crate::config::common::LotConfig;
use crate::config::Config;
use crate::engine::Engine;
use crate::lifecycle::RunOptions;
use crate::optim::{named_trainable, Optimizer, Sgd, SgdConfig};

/// Everything a classification run needs besides its models and data.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierRun {
    /// Names the run in progress bars and summaries.
    pub name: String,
    /// Seeds the batch order and augmentation (the models are seeded by whoever builds them).
    pub seed: u64,
    /// The LoT settings: mode (lot, teacher_only, compute_matched, no_student), α, T, N, K.
    pub lot: LotConfig,
    /// Epochs, batch sizes, SGD, learning-rate schedule, precision (the `[train]` section).
    pub train: TrainConfig,
    /// Random crop (4-pixel padding) and horizontal flip of training images.
    pub augment: bool,
    /// Synchronized BatchNorm in a data-parallel run (nets that support it).
    pub sync_bn: bool,
    /// Checkpoint every this many teacher steps besides every epoch's end (0: only those).
    pub checkpoint_every: u64,
    /// Flush denormal floats to zero on libtorch's CPU threads (`run.flush_denormal`; default on).
    pub flush_denormal: bool,
    /// The run folder's config.toml; `None` writes these settings (see [`Self::to_toml`]).
    pub config_toml: Option<String>,
}

impl ClassifierRun {
    /// Settings with the `[train]` and `[lot]` defaults (the reference's CIFAR recipe: 180
    /// epochs, batch 256, SGD lr 1.0 with Nesterov momentum, cosine), no augmentation.
    pub fn new(name: &str, lot: LotConfig, train: TrainConfig) -> Self {
        Self { name: name.into(), seed: 0, lot, train, augment: false, sync_bn: false, checkpoint_every: 0, flush_denormal: true, config_toml: None }
    }

    /// A vision config's settings (`lot train`).
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        let v = cfg.vision()?;
        Ok(Self {
            name: cfg.run.name.clone(),
            seed: cfg.run.seed,
            lot: cfg.lot.clone(),
            train: v.train.clone(),
            augment: v.data.augment,
            sync_bn: cfg.run.sync_bn,
            checkpoint_every: cfg.run.checkpoint_every as u64,
            flush_denormal: cfg.run.flush_denormal,
            config_toml: Some(cfg.to_toml()),
        })
    }

    /// Epochs of this mode (a compute-matched teacher's budget is 1 + K·N times the plain one).
    pub fn epochs(&self) -> usize {
        self.lot.plan().budget(self.train.epochs)
    }

    /// Models in this mode: the teacher and the students it trains.
    pub fn num_models(&self) -> usize {
        1 + self.lot.plan().students
    }

    /// The engine: SGD per `[train]` for every model in `stores` (teacher first), the mode's α.
    pub fn engine(&self, stores: &[nn::VarStore]) -> Engine {
        let train = &self.train;
        let sgd = SgdConfig { lr: train.lr, momentum: train.momentum, nesterov: train.nesterov, weight_decay: train.weight_decay };
        let optims: Vec<Box<dyn Optimizer>> = stores.iter().map(|vs| Box::new(Sgd::new(named_trainable(vs), sgd)) as Box<dyn Optimizer>).collect();
        let l = &self.lot;
        Engine::new(l.loss(), l.student_steps, optims, None)
    }

    /// These settings as TOML (`[run]`, `[lot]`, `[train]`, `[data] augment`), so `lot compare`
    /// groups library runs by them as it groups `lot train`'s.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct RunSection<'a> {
            name: &'a str,
            seed: u64,
        }
        #[derive(Serialize)]
        struct DataSection {
            augment: bool,
        }
        #[derive(Serialize)]
        struct Doc<'a> {
            task: &'static str,
            run: RunSection<'a>,
            lot: &'a LotConfig,
            train: &'a TrainConfig,
            data: DataSection,
        }
        let doc = Doc { task: "classify", run: RunSection { name: &self.name, seed: self.seed }, lot: &self.lot, train: &self.train, data: DataSection { augment: self.augment } };
        toml::to_string(&doc).expect("plain settings serialize as TOML")
    }

    /// The run folder's options: label, config.toml, checkpoint cadence.
    pub fn run_options(&self) -> RunOptions {
        RunOptions {
            label: format!("{} {}", self.name, self.lot.mode.name()),
            config_toml: self.config_toml.clone().unwrap_or_else(|| self.to_toml()),
            checkpoint_every: self.checkpoint_every,
            flush_denormal: self.flush_denormal,
        }
    }
}
