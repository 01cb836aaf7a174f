//! Image classification: PreAct ResNet, batches with augmentation, and the trainer.

pub mod batches;
pub mod classify;
pub mod config;
pub mod resnet;
pub mod sync_bn;
pub mod train;

pub use classify::ClassifierRun;
pub use train::{evaluate_run, train, train_classifiers};
