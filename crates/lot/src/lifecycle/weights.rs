//! Models in checkpoints (`model<m>.*`, `optim<m>.*`) and the final weights files.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tch::{nn, Tensor};

use crate::checkpoint;
use crate::error::input_err;
use crate::optim::Optimizer;
use crate::run::model_name;

/// Every model's weights and optimizer state, named `model<m>.*` and `optim<m>.*`.
pub fn model_tensors(stores: &[nn::VarStore], optims: &[Box<dyn Optimizer>]) -> Vec<(String, Tensor)> {
    let mut tensors = Vec::new();
    for (m, (vs, opt)) in stores.iter().zip(optims).enumerate() {
        tensors.extend(checkpoint::prefixed(&format!("model{m}."), checkpoint::store_tensors(vs)));
        tensors.extend(checkpoint::prefixed(&format!("optim{m}."), opt.state()));
    }
    tensors
}

/// Restore what [`model_tensors`] saved; `opt_steps[m]` is model m's optimizer step count.
pub fn restore_models(tensors: &checkpoint::Tensors, stores: &[nn::VarStore], optims: &mut [Box<dyn Optimizer>], opt_steps: &[u64]) -> Result<()> {
    for (m, (vs, opt)) in stores.iter().zip(optims.iter_mut()).enumerate() {
        checkpoint::restore_store(vs, &tensors.with_prefix(&format!("model{m}.")), &model_name(m))?;
        opt.load_state(&tensors.with_prefix(&format!("optim{m}.")), opt_steps.get(m).copied().unwrap_or(0));
    }
    Ok(())
}

fn weights_path(dir: &Path, m: usize) -> PathBuf {
    dir.join(format!("{}.safetensors", model_name(m)))
}

/// Renames a model's variables between our names and the names a saved file uses (the PyTorch
/// reference model's state_dict names, where they differ).
pub type Rename = fn(Vec<(String, Tensor)>) -> Vec<(String, Tensor)>;

/// For models whose variable names already are the reference's.
pub fn same_names(v: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    v
}

/// Model m's final weights, `<run>/teacher.safetensors`, `student0.safetensors`, …, under the
/// names `rename` gives them; written to a temporary file and renamed into place.
pub fn save_weights(dir: &Path, m: usize, vs: &nn::VarStore, rename: Rename) -> Result<()> {
    let path = weights_path(dir, m);
    let tmp = path.with_extension("tmp.safetensors");
    let named = rename(checkpoint::store_tensors(vs));
    Tensor::write_safetensors(&named, &tmp).map_err(|e| anyhow::anyhow!("saving {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("cannot rename {} to {}: {e}", tmp.display(), path.display()))?;
    Ok(())
}

/// `lot eval`: load model m's saved weights into `vs`; `rename` maps the file's names back to ours.
pub fn load_weights(dir: &Path, m: usize, vs: &nn::VarStore, rename: Rename) -> Result<()> {
    let p = weights_path(dir, m);
    if !p.exists() {
        crate::bail_input!("{}: missing; the run did not finish", p.display());
    }
    let saved = Tensor::read_safetensors(&p).map_err(|e| input_err(format!("{}: cannot load weights: {e}", p.display())))?;
    checkpoint::restore_store(vs, &rename(saved), &p.display().to_string())
}
