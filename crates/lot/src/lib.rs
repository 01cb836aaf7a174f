//! lot: Learning-from-Teaching regularization on libtorch.
//!
//! `engine` holds the LoT losses and step schedule shared by every domain; `vision` (and later
//! `text`, `rl`) supply models and data; `track` writes metrics, plots and progress.
pub mod config;
pub mod data;
pub mod engine;
pub mod error;
pub mod optim;
pub mod run;
pub mod track;
pub mod vision;
