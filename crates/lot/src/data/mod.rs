//! Data sets: readers for the official file formats and the registry fetchers.
pub mod atari_roms;
pub mod fetch;
pub mod image;
pub mod mnist;
pub mod ptb;
pub mod registry;
pub use image::{load_dataset, DatasetKind, ImageDataset, Split};
