//! Data sets: readers for the official file formats and the registry fetchers.
pub mod image;
pub mod fetch;
pub mod ptb;
pub use image::{load_dataset, DatasetKind, ImageDataset, Split};
