//! The LoT engine shared by every domain: losses, and the step schedule
//! (one joint step, then N−1 extra student steps on the student's own stream).

pub mod loss;
pub mod schedule;

pub use loss::{kl_div_logits, LossMode, LotLoss};
pub use schedule::{Engine, GradSync, JointOut, LotModels, Stream};

#[cfg(test)]
mod tests;
