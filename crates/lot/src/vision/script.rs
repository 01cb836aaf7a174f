//! TorchScript classifiers (`model.teacher = "teacher.pt"`): a module scripted in Python
//! (`torch.jit.script`, then `torch.jit.save`), trained here like the built-in ResNet. Its
//! parameters and buffers (BatchNorm running statistics) are added to the model's var store under
//! their PyTorch names, sharing storage with the module, so the optimizer, checkpoints, resume,
//! data-parallel broadcasts and the saved `.safetensors` see them as any model's variables. See
//! docs/torchscript.md.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use c10d_sys::jit::JitModule;
use tch::{nn, Device, Kind, Tensor};

use super::net::ClassifierNet;
use crate::error::input_err;
use crate::run::model_name;

/// A TorchScript module and the mode it is in. `forward` takes `&self`, and libtorch's module
/// ignores any train flag passed to a call: the mode is switched explicitly (`module.train(b)`)
/// whenever a call asks for the other one.
#[derive(Debug)]
struct Module {
    jit: JitModule,
    training: Option<bool>,
    /// The first failed call's error (the forward then returns zeros); the trainer reads it with
    /// [`ClassifierNet::take_error`] after each step and stops there.
    error: Option<String>,
}

#[derive(Debug)]
pub struct ScriptNet {
    module: Mutex<Module>,
    path: PathBuf,
    /// Where the file came from, for errors.
    shown: String,
    classes: i64,
}

impl ScriptNet {
    /// Load `path` onto `vs`'s device and add its parameters (trainable) and buffers to `vs` under
    /// their PyTorch names. Refused, with one input error: a file that does not load, a parameter
    /// that does not require grad (lot trains every parameter), a tensor kind a checkpoint cannot
    /// hold, or a forward of an `[2, c, h, w]` batch that does not give `[2, classes]` logits.
    /// The weights are the file's own: the run's seed does not re-initialise them.
    /// `key` names where the file came from in errors ("key 'model.teacher'").
    pub fn load(path: &Path, key: &str, vs: &nn::VarStore, image: [i64; 3], classes: i64) -> Result<Self> {
        let shown = format!("{key}: {}", path.display());
        if !path.is_file() {
            crate::bail_input!("{shown}: no such file");
        }
        let jit = JitModule::load(path, vs.device()).map_err(|e| input_err(format!("{shown}: not a TorchScript module torch.jit.save wrote: {e}")))?;
        let params = jit.named_parameters().map_err(|e| input_err(format!("{shown}: {e}")))?;
        let buffers = jit.named_buffers().map_err(|e| input_err(format!("{shown}: {e}")))?;
        let frozen: Vec<&str> = params.iter().filter(|(_, t)| !t.requires_grad()).map(|(n, _)| n.as_str()).collect();
        if !frozen.is_empty() {
            crate::bail_input!(
                "{shown}: parameter(s) {} do not require grad; lot trains every parameter: set requires_grad=True before scripting, or make frozen tensors buffers (register_buffer)",
                frozen.join(", ")
            );
        }
        for (n, t) in &params {
            if !matches!(t.kind(), Kind::Float | Kind::Double) {
                crate::bail_input!("{shown}: parameter '{n}' is {:?}; lot trains float32 (or float64) parameters", t.kind());
            }
        }
        for (n, t) in &buffers {
            if !matches!(t.kind(), Kind::Float | Kind::Double | Kind::Int64) {
                crate::bail_input!("{shown}: buffer '{n}' is {:?}; checkpoints hold float32, float64 and int64 tensors", t.kind());
            }
        }
        if params.is_empty() {
            crate::bail_input!("{shown}: the module has no parameters to train");
        }
        for (name, t) in params.into_iter() {
            add(vs, &name, t, true);
        }
        for (name, t) in buffers.into_iter() {
            add(vs, &name, t, false);
        }
        let net = Self { module: Mutex::new(Module { jit, training: None, error: None }), path: path.to_path_buf(), shown, classes };
        net.check_output(vs.device(), image)?;
        Ok(net)
    }

    /// One evaluation-mode forward of a batch of 2 zero images: it must give `[2, classes]`.
    fn check_output(&self, device: Device, [c, h, w]: [i64; 3]) -> Result<()> {
        let x = Tensor::zeros([2, c, h, w], (Kind::Float, device));
        let out = {
            let mut m = self.module.lock().unwrap_or_else(|p| p.into_inner());
            let _g = tch::no_grad_guard();
            m.set_mode(false).and_then(|_| m.jit.forward(&x))
        };
        let shown = &self.shown;
        let y = out.map_err(|e| input_err(format!("{shown}: forward of a [2, {c}, {h}, {w}] batch of images failed: {e}")))?;
        if y.size() != [2, self.classes] || y.kind() != Kind::Float {
            crate::bail_input!(
                "{shown}: forward of a [2, {c}, {h}, {w}] batch gave a {:?} tensor of shape {:?}; expected float32 logits of shape [2, {}] (the data set's classes)",
                y.kind(),
                y.size(),
                self.classes
            );
        }
        Ok(())
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `name` ("layer1.0.bn1.weight") as the var store path layer1 / 0 / bn1, variable "weight": the
/// store's names are then PyTorch's (tch refuses dots inside one name).
fn add(vs: &nn::VarStore, name: &str, t: Tensor, trainable: bool) {
    let mut parts: Vec<&str> = name.split('.').collect();
    let leaf = parts.pop().unwrap_or(name);
    let path = parts.iter().fold(vs.root(), |p, c| p / *c);
    let _ = path.add(leaf, t, trainable);
}

impl Module {
    fn set_mode(&mut self, train: bool) -> Result<(), c10d_sys::jit::JitError> {
        if self.training != Some(train) {
            self.jit.set_train(train)?;
            self.training = Some(train);
        }
        Ok(())
    }
}

impl ClassifierNet for ScriptNet {
    fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        let mut m = self.module.lock().unwrap_or_else(|p| p.into_inner());
        match m.set_mode(train).and_then(|_| m.jit.forward(x)) {
            Ok(y) => y,
            Err(e) => {
                m.error.get_or_insert_with(|| format!("{}: forward failed: {e}", self.path.display()));
                // Zeros that autograd accepts, so the step finishes and the trainer reports the error.
                Tensor::zeros([x.size()[0], self.classes], (Kind::Float, x.device())).set_requires_grad(true)
            }
        }
    }

    fn take_error(&self) -> Option<String> {
        self.module.lock().unwrap_or_else(|p| p.into_inner()).error.take()
    }

    /// `<run>/teacher.pt`, `student0.pt`, …, in evaluation mode, with the final weights: Python's
    /// `torch.jit.load` reads it.
    fn save_module(&self, dir: &Path, m: usize) -> Result<()> {
        let path = dir.join(format!("{}.pt", model_name(m)));
        let tmp = dir.join(format!("{}.tmp.pt", model_name(m)));
        let mut module = self.module.lock().unwrap_or_else(|p| p.into_inner());
        module.set_mode(false).and_then(|_| module.jit.save(&tmp)).map_err(|e| anyhow::anyhow!("saving {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
        Ok(())
    }

    /// A scripted forward may hold dropout: the trainer reseeds torch's generator every step.
    fn is_random(&self) -> bool {
        true
    }
}
