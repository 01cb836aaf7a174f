//! The numeric precision of a model's forward pass, shared by every domain's fast path.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Numeric precision of the forward pass. Master weights and optimizer state are fp32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Exact fp32 everywhere (the default, the reference's numerics).
    #[default]
    Fp32,
    /// bf16 convolutions and activations, fp32 weights, classifier, logits and losses.
    Bf16,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(format!("unknown precision '{s}' (expected fp32 or bf16)")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        }
    }
    /// The kind activations and conv weights are computed in.
    pub fn kind(self) -> Kind {
        match self {
            Self::Fp32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
        }
    }
}

/// How a convolutional model (the vision ResNet, the Atari CNN) runs its forward pass; chosen at construction (`train.precision`,
/// `train.channels_last` in a config). `Default` = exact fp32, contiguous (NCHW).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardOptions {
    pub precision: Precision,
    /// Channels-last (NHWC strides) activations and conv weights. With bf16 this is what makes the
    /// CPU's oneDNN kernels fast; bf16 without it falls into a much slower path.
    pub channels_last: bool,
}

impl ForwardOptions {
    pub fn new(precision: Precision, channels_last: bool) -> Self {
        Self { precision, channels_last }
    }

    /// True for the original fp32 NCHW path.
    pub fn is_exact_fp32(&self) -> bool {
        self.precision == Precision::Fp32 && !self.channels_last
    }

    /// A conv input or weight in the compute kind and memory format (a no-op where it already is).
    pub fn prepare(&self, x: &Tensor) -> Tensor {
        let x = if x.kind() == self.precision.kind() { x.shallow_clone() } else { x.to_kind(self.precision.kind()) };
        if self.channels_last {
            to_channels_last(&x)
        } else {
            x
        }
    }
}

/// The same 4-d tensor with NHWC strides (PyTorch's `channels_last` memory format): permute to
/// NHWC, make that contiguous, permute the view back. Differentiable; a no-op view when `x`
/// already has that layout.
pub fn to_channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// Whether a 4-d tensor is laid out channels-last (stride 1 on C, then W, H, N), size-1 dims aside.
pub fn is_channels_last(x: &Tensor) -> bool {
    let (size, stride) = (x.size(), x.stride());
    if size.len() != 4 {
        return false;
    }
    let mut expect = 1i64;
    for d in [1usize, 3, 2, 0] {
        if size[d] != 1 && stride[d] != expect {
            return false;
        }
        expect *= size[d];
    }
    true
}
