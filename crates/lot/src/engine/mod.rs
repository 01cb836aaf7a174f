//! The LoT engine shared by every domain.
//!
//! - [`loss`]: the losses as the paper defines them (`kl_div_logits`, the four loss modes, detach).
//! - [`fused`]: the same losses as the engine computes them (shared softmaxes, gradients written out).
//! - [`engine`]: [`Engine`], the step schedule: one joint step, then N−1 extra student steps on the
//!   student's own stream.

#[allow(clippy::module_inception)]
pub mod engine;
pub mod fused;
pub mod loss;

pub use engine::{Engine, GradSync, JointOut, LotModels, Stream};
pub use fused::{JointLosses, Tempered};
pub use loss::{kl_div_logits, LossMode, LotLoss};

#[cfg(test)]
mod tests;
