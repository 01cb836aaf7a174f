//! The normalisation of your own image data (`data.dataset = "image-folder"` or `"numpy"`):
//! per-channel mean and std, from `data.mean`/`data.std` or computed from the training split,
//! and recorded in the run's config so a resumed run and `lot eval` use the same numbers.

use anyhow::Result;

use super::config::DataConfig;
use crate::config::{Config, Domain};
use crate::data::pixels::{channel_stats, resolve};
use crate::data::{ImageDataset, Norm};

/// Give every split the normalisation of `d` (computed from `train` when `d` has none).
pub fn normalise(d: &DataConfig, train: &mut ImageDataset, valid: Option<&mut ImageDataset>, test: &mut ImageDataset) -> Result<()> {
    let norm = resolve(&d.mean, &d.std, train.c, || channel_stats(&train.images, &train.floats, train.c, train.h * train.w))?;
    for ds in [Some(train), valid, Some(test)].into_iter().flatten() {
        ds.norm = norm.clone();
    }
    Ok(())
}

/// `cfg` with `data.mean`/`data.std` set to `norm`'s (unchanged for the built-in normalisation).
pub fn record_norm(cfg: &Config, norm: &Norm) -> Config {
    let mut cfg = cfg.clone();
    if let (Domain::Vision(v), Some((mean, std))) = (&mut cfg.domain, norm.stats()) {
        v.data.mean = mean.to_vec();
        v.data.std = std.to_vec();
    }
    cfg
}
