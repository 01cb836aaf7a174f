//! Data sets: readers for the official file formats and the registry fetchers.
pub mod arrays;
pub mod atari_roms;
pub mod fetch;
pub mod folder;
pub mod image;
pub mod mnist;
pub mod npy;
pub mod own;
pub mod pixels;
pub mod ptb;
pub mod registry;
pub use arrays::Layout;
pub use image::{load_dataset, DatasetKind, ImageDataset, Split};
pub use own::load_splits;
pub use pixels::Norm;
