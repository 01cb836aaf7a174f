//! [`Classifiers`]: the engine's [`LotModels`] for image classification, a teacher and its
//! students, each any [`ClassifierNet`] (a built-in PreAct ResNet, a TorchScript module, a
//! `tch::nn::ModuleT`) with its own var store on its own device.

use std::path::PathBuf;

use anyhow::Result;
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

use super::net::{ClassifierNet, ModuleNet};
use super::resnet::{ForwardOptions, PreActResNet};
use super::script::ScriptNet;
use crate::engine::{LotModels, Stream};

/// Teacher (index 0) and students, each with its own var store, on its own device (`run.devices`).
pub struct Classifiers {
    /// The teacher's device: batches arrive there, and every model's logits are returned there.
    pub device: Device,
    /// Each model's device.
    pub devices: Vec<Device>,
    pub nets: Vec<Box<dyn ClassifierNet>>,
    pub stores: Vec<nn::VarStore>,
    /// How batches are prepared for the built-in ResNets' fast path (exact fp32 for other nets).
    pub opts: ForwardOptions,
}

impl Classifiers {
    /// Any nets, the teacher first, net m's variables in `stores[m]` (on net m's device; batches
    /// live on the teacher's). The trainer optimizes every trainable variable of the stores.
    pub fn new(nets: Vec<Box<dyn ClassifierNet>>, stores: Vec<nn::VarStore>) -> Result<Self> {
        if nets.len() != stores.len() || nets.is_empty() {
            crate::bail_input!("Classifiers: {} nets and {} var stores; give a teacher (and students), one store each", nets.len(), stores.len());
        }
        let devices: Vec<Device> = stores.iter().map(|vs| vs.device()).collect();
        Ok(Self { device: devices[0], devices, nets, stores, opts: ForwardOptions::default() })
    }

    /// [`Self::new`] for `tch::nn::ModuleT`s: `forward_t(x, train)` gives the logits.
    pub fn from_modules<M: ModuleT + 'static>(nets: Vec<M>, stores: Vec<nn::VarStore>) -> Result<Self> {
        Self::new(nets.into_iter().map(ModuleNet::boxed).collect(), stores)
    }

    /// Teacher seeded `seed`, student i seeded `seed + 1 + i` (the reference's seeding). Exact fp32.
    pub fn build(depths: &[usize], in_channels: i64, classes: i64, seed: u64, device: Device) -> Result<Self> {
        Self::build_with(depths, in_channels, classes, seed, device, ForwardOptions::default())
    }

    /// As [`Self::build`], every model running its forward with `opts` (precision, channels-last).
    pub fn build_with(depths: &[usize], in_channels: i64, classes: i64, seed: u64, device: Device, opts: ForwardOptions) -> Result<Self> {
        Self::build_placed(depths, in_channels, classes, seed, &vec![device; depths.len()], opts)
    }

    /// As [`Self::build_with`], model m on `devices[m]` (the teacher's, `devices[0]`, is where
    /// batches and logits live: only logits cross devices).
    pub fn build_placed(depths: &[usize], in_channels: i64, classes: i64, seed: u64, devices: &[Device], opts: ForwardOptions) -> Result<Self> {
        let mut nets: Vec<Box<dyn ClassifierNet>> = Vec::new();
        let mut stores = Vec::new();
        for (m, &d) in depths.iter().enumerate() {
            tch::manual_seed((seed + m as u64) as i64);
            let vs = nn::VarStore::new(devices[m]);
            nets.push(Box::new(PreActResNet::with_options(&vs.root(), d, in_channels, classes, opts).map_err(crate::error::input_err)?));
            stores.push(vs);
        }
        Ok(Self { device: devices[0], devices: devices.to_vec(), nets, stores, opts })
    }

    /// TorchScript files, the teacher's first, file m loaded onto `devices[m]` (see
    /// [`ScriptNet::load`]: images `[c, h, w]`, `classes` logits). Their weights are the files' own.
    pub fn load_scripted(files: &[(String, PathBuf)], devices: &[Device], image: [i64; 3], classes: i64) -> Result<Self> {
        let mut nets: Vec<Box<dyn ClassifierNet>> = Vec::new();
        let mut stores = Vec::new();
        for ((key, path), &d) in files.iter().zip(devices) {
            let vs = nn::VarStore::new(d);
            nets.push(Box::new(ScriptNet::load(path, key, &vs, image, classes)?));
            stores.push(vs);
        }
        Ok(Self { device: devices[0], devices: devices.to_vec(), nets, stores, opts: ForwardOptions::default() })
    }

    /// Model m's logits for `x` (on the teacher's device), computed on model m's device.
    pub fn logits(&self, m: usize, x: &Tensor, train: bool) -> Tensor {
        if self.devices[m] == self.device {
            return self.nets[m].logits(x, train);
        }
        self.nets[m].logits(&x.to_device(self.devices[m]), train).to_device(self.device)
    }

    /// A batch's images in the models' compute kind and memory format, converted once for all
    /// models (the forward would do it per model otherwise); exact fp32 leaves them alone.
    pub fn prepare(&self, (x, y): (Tensor, Tensor)) -> (Tensor, Tensor) {
        if self.opts.is_exact_fp32() {
            (x, y)
        } else {
            (self.opts.prepare(&x), y)
        }
    }

    /// The first failed forward's error since the last call, over every net.
    pub fn take_error(&self) -> Option<String> {
        self.nets.iter().filter_map(|n| n.take_error()).next()
    }

    /// Whether some net draws random numbers in its forward (the trainer then reseeds per step).
    pub fn is_random(&self) -> bool {
        self.nets.iter().any(|n| n.is_random())
    }
}

impl LotModels for Classifiers {
    type Batch = (Tensor, Tensor);
    type Stats = ();
    fn forward(&mut self, m: usize, (x, y): &Self::Batch, _stream: Stream) -> (Tensor, Tensor, ()) {
        let logits = self.logits(m, x, true);
        let ce = logits.cross_entropy_for_logits(y);
        (logits, ce, ())
    }
    fn forward_ce(&mut self, m: usize, (x, y): &Self::Batch, _stream: Stream) -> Option<(Tensor, Tensor)> {
        Some((self.logits(m, x, true), y.shallow_clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, LossMode, LotLoss};
    use crate::optim::{named_trainable, Optimizer, Sgd, SgdConfig};
    use tch::Kind;

    /// Any `tch::nn::ModuleT` becomes a classifier: a LoT step trains a teacher and a student
    /// built from plain tch layers; mismatched nets and stores are an input error.
    #[test]
    fn any_tch_module_trains_through_classifiers() {
        let net = |vs: &nn::VarStore| nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(vs.root() / "fc", 3 * 4 * 4, 5, Default::default()));
        tch::manual_seed(0);
        let stores: Vec<nn::VarStore> = (0..2).map(|_| nn::VarStore::new(Device::Cpu)).collect();
        let nets: Vec<_> = stores.iter().map(net).collect();
        let before = stores[0].variables()["fc.weight"].copy();
        let mut models = Classifiers::from_modules(nets, stores).unwrap();
        let sgd = SgdConfig { lr: 0.1, momentum: 0.0, nesterov: false, weight_decay: 0.0 };
        let optims: Vec<Box<dyn Optimizer>> = models.stores.iter().map(|vs| Box::new(Sgd::new(named_trainable(vs), sgd)) as Box<dyn Optimizer>).collect();
        let mut engine = Engine::new(LotLoss { mode: LossMode::KlCe, alpha: 0.5, temperature: 1.5, detach: true }, 2, optims, None);
        let batch = (Tensor::randn([6, 3, 4, 4], (Kind::Float, Device::Cpu)), Tensor::from_slice(&[0i64, 1, 2, 3, 4, 0]));
        let out = engine.lot_step(&mut models, &batch, || Ok((batch.0.shallow_clone(), batch.1.shallow_clone()))).unwrap();
        assert_eq!(out.teacher_logits.size(), vec![6, 5]);
        assert!(!models.stores[0].variables()["fc.weight"].equal(&before), "the teacher did not train");
        assert_eq!((models.take_error(), models.is_random()), (None, false));
        let e = Classifiers::new(Vec::new(), vec![nn::VarStore::new(Device::Cpu)]).err().unwrap();
        assert!(crate::testing::input_error_text(e).contains("0 nets and 1 var stores"));
    }
}
