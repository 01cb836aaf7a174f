//! The bench's synthetic input: CIFAR-shaped random images.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lot::data::ImageDataset;

/// `n` CIFAR-shaped (3×32×32, CHW) random images with random labels.
pub fn synthetic_images(n: usize, classes: usize, seed: u64) -> ImageDataset {
    let (c, h, w) = (3, 32, 32);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut images = vec![0u8; n * c * h * w];
    rng.fill_bytes(&mut images);
    let labels = (0..n).map(|_| rng.gen_range(0..classes as i64)).collect();
    ImageDataset::from_u8(images, labels, [c, h, w], classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_images_are_cifar_shaped_and_deterministic() {
        let a = synthetic_images(10, 100, 1);
        assert_eq!((a.n, a.c, a.h, a.w, a.images.len()), (10, 3, 32, 32, 10 * 3072));
        assert!(a.labels.iter().all(|&l| (0..100).contains(&l)));
        assert_eq!(a.images, synthetic_images(10, 100, 1).images);
    }
}
