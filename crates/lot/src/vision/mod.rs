//! Image classification: PreAct ResNet, batches with augmentation, and the trainer.

pub mod batches;
pub mod config;
pub mod own_data;
pub mod resnet;
pub mod sync_bn;
pub mod train;

pub use train::{evaluate_run, train};
