//! Image classification: PreAct ResNet or TorchScript models (or any `ClassifierNet`), batches with
//! augmentation, and the trainer.

pub mod batches;
pub mod classifiers;
pub mod classify;
pub mod config;
pub mod net;
pub mod own_data;
pub mod resnet;
pub mod script;
pub mod sync_bn;
pub mod train;

pub use classifiers::Classifiers;
pub use classify::ClassifierRun;
pub use net::{ClassifierNet, ModuleNet};
pub use train::{evaluate_run, train, train_classifiers};
