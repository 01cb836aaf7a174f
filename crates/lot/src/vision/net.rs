//! What the vision trainer needs of a classifier: logits for a batch of images, in training or
//! evaluation mode. The built-in PreAct ResNet, TorchScript models ([`super::script`]) and any
//! `tch::nn::ModuleT` ([`ModuleNet`]) are all one `Box<dyn ClassifierNet>` to [`super::Classifiers`].

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use tch::nn::ModuleT;
use tch::Tensor;

use super::resnet::{self, PreActResNet};
use super::sync_bn::SyncBn;
use crate::lifecycle::{self, Rename};

/// A classifier of images `[batch, channels, height, width]` into logits `[batch, classes]`,
/// its variables in one `nn::VarStore` (which the trainer checkpoints and optimizes).
pub trait ClassifierNet: Send + std::fmt::Debug {
    /// The logits for `x`, in training mode (`train`: BatchNorm on batch statistics, dropout on)
    /// or evaluation mode.
    fn logits(&self, x: &Tensor, train: bool) -> Tensor;

    /// Synchronized BatchNorm (`run.sync_bn`): `Some` asks for training-mode statistics over every
    /// rank's batch. An error for nets that cannot (the trainer refuses such runs first).
    fn set_sync_bn(&mut self, sync: Option<Arc<SyncBn>>) -> Result<()> {
        if sync.is_some() {
            crate::bail_input!("key 'run.sync_bn': this model has no synchronized BatchNorm (only the built-in ResNet does)");
        }
        Ok(())
    }

    /// Our variable names → the names of the saved weights (`<run>/teacher.safetensors`), and back.
    fn saved_names(&self) -> (Rename, Rename) {
        (lifecycle::same_names, lifecycle::same_names)
    }

    /// Write what a finished run keeps of the net besides its weights (TorchScript: the module,
    /// `<run>/teacher.pt`), model `m` of the run folder `dir`.
    fn save_module(&self, _dir: &Path, _m: usize) -> Result<()> {
        Ok(())
    }

    /// The first error of a forward since the last call (a net whose forward can fail returns
    /// stand-in logits and keeps the error); the trainer stops with it after the step.
    fn take_error(&self) -> Option<String> {
        None
    }

    /// Whether a forward draws random numbers (dropout): the trainer then reseeds torch's
    /// generator every step, so that a resumed run draws what an uninterrupted one does.
    fn is_random(&self) -> bool {
        false
    }
}

impl ClassifierNet for PreActResNet {
    fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_t(x, train)
    }

    fn set_sync_bn(&mut self, sync: Option<Arc<SyncBn>>) -> Result<()> {
        PreActResNet::set_sync_bn(self, sync);
        Ok(())
    }

    fn saved_names(&self) -> (Rename, Rename) {
        (resnet::to_reference_names, resnet::from_reference_names)
    }
}

/// Any `tch::nn::ModuleT` as a classifier (its `forward_t(x, train)` gives the logits). Its saved
/// weights keep the var store's names; a module drawing random numbers in its forward should say
/// so with [`ModuleNet::random`], for exact resumes.
#[derive(Debug)]
pub struct ModuleNet<M> {
    pub module: M,
    random: bool,
}

impl<M: ModuleT + 'static> ModuleNet<M> {
    /// A deterministic module (no dropout).
    pub fn new(module: M) -> Self {
        Self { module, random: false }
    }

    /// A module whose training-mode forward draws random numbers (dropout).
    pub fn random(module: M) -> Self {
        Self { module, random: true }
    }

    /// Boxed, as [`super::Classifiers::new`] takes it.
    pub fn boxed(module: M) -> Box<dyn ClassifierNet> {
        Box::new(Self::new(module))
    }
}

impl<M: ModuleT + 'static> ClassifierNet for ModuleNet<M> {
    fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        self.module.forward_t(x, train)
    }

    fn is_random(&self) -> bool {
        self.random
    }
}
