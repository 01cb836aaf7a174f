//! Both splits of any image data set, built-in or your own ([`super::folder`], [`super::arrays`]).
//!
//! Your own training split is put in a fixed pseudo-random order (the same on every run and for
//! every `run.seed`): the validation split (`data.valid_limit`) is the tail of the training split
//! and the students' stream reads it in order, and both would otherwise be one or two classes of a
//! folder- or class-sorted training set. The test split keeps its order.

use std::path::Path;

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::arrays::Layout;
use super::image::{load_dataset, DatasetKind, ImageDataset, Split};

/// The seed of the training split's fixed order.
const ORDER_SEED: u64 = 1_070_770;

/// (train, test) of `kind` from `dir`; `layout` is `data.layout` (NumPy arrays only).
pub fn load_splits(kind: DatasetKind, dir: &Path, layout: Layout) -> Result<(ImageDataset, ImageDataset)> {
    let (train, test) = match kind {
        DatasetKind::ImageFolder => super::folder::load(dir)?,
        DatasetKind::Numpy => super::arrays::load(dir, layout)?,
        _ => return Ok((load_dataset(kind, dir, Split::Train)?, load_dataset(kind, dir, Split::Test)?)),
    };
    Ok((shuffled(train), test))
}

/// The data set in the fixed order of [`ORDER_SEED`].
pub fn shuffled(ds: ImageDataset) -> ImageDataset {
    let mut order: Vec<usize> = (0..ds.n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(ORDER_SEED));
    let per = ds.image_size();
    let pick = |v: &[u8]| -> Vec<u8> { if v.is_empty() { Vec::new() } else { order.iter().flat_map(|&i| &v[i * per..(i + 1) * per]).copied().collect() } };
    let pick_f = |v: &[f32]| -> Vec<f32> { if v.is_empty() { Vec::new() } else { order.iter().flat_map(|&i| &v[i * per..(i + 1) * per]).copied().collect() } };
    ImageDataset {
        images: pick(&ds.images),
        floats: pick_f(&ds.floats),
        labels: order.iter().map(|&i| ds.labels[i]).collect(),
        ..ds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_order_is_a_fixed_shuffle_of_whole_images() {
        let n = 50;
        let ds = ImageDataset::from_u8((0..n * 2).map(|i| (i / 2) as u8).collect(), (0..n as i64).collect(), [1, 1, 2], n);
        let a = shuffled(ds.clone());
        assert_eq!(a.images, shuffled(ds.clone()).images, "the same order every time");
        assert_ne!(a.labels, ds.labels);
        for (k, &l) in a.labels.iter().enumerate() {
            assert_eq!(&a.images[2 * k..2 * k + 2], &[l as u8, l as u8], "pixels move with their label");
        }
        let mut sorted = a.labels.clone();
        sorted.sort();
        assert_eq!(sorted, ds.labels);
    }
}
