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
    /// bf16 where the device computes it natively, fp32 elsewhere. A config may say it; the
    /// config loader resolves it ([`Precision::resolve`]), so no model ever runs in "auto" and a
    /// run's config.toml records what it ran in.
    Auto,
}

impl Precision {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "fp32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            "auto" => Ok(Self::Auto),
            _ => Err(format!("unknown precision '{s}' (expected fp32, bf16 or auto)")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Auto => "auto",
        }
    }
    /// The kind activations and conv weights are computed in. `Auto` must be resolved first.
    pub fn kind(self) -> Kind {
        match self {
            Self::Fp32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
            Self::Auto => panic!("precision 'auto' reached a model unresolved (Precision::resolve)"),
        }
    }

    /// What to run on `device`: `Auto` becomes bf16 where bf16 is native and fp32 elsewhere.
    /// The note says why (for `Auto`), or warns that an explicit bf16 is emulated here.
    pub fn resolve(self, device: tch::Device) -> (Precision, Option<String>) {
        // fp32 needs no detection (nor an nvidia-smi call).
        if self == Self::Fp32 {
            return (self, None);
        }
        let support = match device {
            tch::Device::Cpu => cpu_bf16(),
            _ => cuda_bf16(device),
        };
        self.resolve_with(support)
    }

    /// [`Precision::resolve`] given the device's bf16 support.
    pub fn resolve_with(self, support: Bf16Support) -> (Precision, Option<String>) {
        match (self, support) {
            (Self::Fp32, _) => (Self::Fp32, None),
            (Self::Bf16, Bf16Support::Native(_)) => (Self::Bf16, None),
            (Self::Bf16, Bf16Support::Emulated(why)) => (
                Self::Bf16,
                Some(format!(
                    "warning: precision bf16 on a device without native bf16 ({why}): it runs, emulated, several \
                     times slower than fp32; precision = \"auto\" would pick fp32 here"
                )),
            ),
            (Self::Auto, Bf16Support::Native(why)) => (Self::Bf16, Some(format!("precision auto → bf16: {why}"))),
            (Self::Auto, Bf16Support::Emulated(why)) => (Self::Fp32, Some(format!("precision auto → fp32: {why}"))),
        }
    }
}

/// Whether a device computes bf16 natively, and the evidence, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bf16Support {
    Native(String),
    Emulated(String),
}

/// The environment variable that overrides the CPU's bf16 detection: `native` or `none` (tests,
/// CI's AVX2-restricted pass, or a CPU whose flags mislead).
pub const CPU_BF16_ENV: &str = "LOT_CPU_BF16";

/// bf16 support of this machine's CPU: [`CPU_BF16_ENV`] if set, else the flags of
/// /proc/cpuinfo ([`bf16_from_cpu_flags`]); a CPU whose flags cannot be read counts as emulated.
pub fn cpu_bf16() -> Bf16Support {
    match std::env::var(CPU_BF16_ENV).ok().as_deref() {
        Some("native") => return Bf16Support::Native(format!("bf16 detection overridden by {CPU_BF16_ENV}=native")),
        Some("none") => return Bf16Support::Emulated(format!("bf16 detection overridden by {CPU_BF16_ENV}=none")),
        _ => {}
    }
    match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(info) => {
            let flags = info.lines().find(|l| l.starts_with("flags")).and_then(|l| l.split_once(':')).map_or("", |(_, f)| f);
            bf16_from_cpu_flags(flags)
        }
        Err(_) => Bf16Support::Emulated("this CPU's feature flags are unreadable (no /proc/cpuinfo)".into()),
    }
}

/// bf16 support from a CPU's feature flags (the `flags` line of /proc/cpuinfo): native with
/// AVX512-BF16 (AMD Zen 4+, Intel Cooper Lake+) or AMX-BF16 (Intel Sapphire Rapids+), where
/// oneDNN has bf16 convolution and matmul kernels; emulated elsewhere (AVX2-only CPUs such as
/// AMD Zen 1-3, where a bf16 step measured 6.7× slower than fp32).
pub fn bf16_from_cpu_flags(flags: &str) -> Bf16Support {
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    match ["amx_bf16", "avx512_bf16"].into_iter().find(|f| has(f)) {
        Some(f) => Bf16Support::Native(format!("this CPU computes bf16 natively ({f})")),
        None => Bf16Support::Emulated("this CPU has no native bf16 (no avx512_bf16 or amx_bf16)".into()),
    }
}

/// bf16 on a CUDA device: native from compute capability 8.0 (Ampere) on.
fn cuda_bf16(device: tch::Device) -> Bf16Support {
    match cuda_capability(device) {
        Some((major, minor)) if major >= 8 => Bf16Support::Native(format!("this GPU computes bf16 natively (compute capability {major}.{minor})")),
        Some((major, minor)) => Bf16Support::Emulated(format!("this GPU has no native bf16 (compute capability {major}.{minor} < 8.0)")),
        None => Bf16Support::Emulated("the GPU's compute capability is unknown (nvidia-smi gave none); set bf16 explicitly on Ampere or newer".into()),
    }
}

/// (major, minor) compute capability of a CUDA device, from `nvidia-smi` (tch binds no device
/// properties); `None` where it cannot tell.
fn cuda_capability(device: tch::Device) -> Option<(u32, u32)> {
    let tch::Device::Cuda(i) = device else { return None };
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=compute_cap", "--format=csv,noheader", &format!("--id={i}")])
        .output()
        .ok()?;
    parse_capability(&String::from_utf8_lossy(&out.stdout))
}

fn parse_capability(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.trim().split_once('.')?;
    Some((major.trim().parse().ok()?, minor.trim().parse().ok()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    // Flags lines as /proc/cpuinfo prints them, shortened, for the three CPU classes we run on.
    const ZEN2: &str = "fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni";
    const ZEN4: &str = "fpu sse2 avx2 avx512f avx512dq avx512_bf16 avx512_vnni avx512_bitalg";
    const SAPPHIRE: &str = "fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8";

    #[test]
    fn bf16_is_native_with_avx512_bf16_or_amx_and_emulated_on_avx2_only_cpus() {
        assert!(matches!(bf16_from_cpu_flags(ZEN4), Bf16Support::Native(w) if w.contains("avx512_bf16")));
        assert!(matches!(bf16_from_cpu_flags(SAPPHIRE), Bf16Support::Native(w) if w.contains("amx_bf16")));
        assert!(matches!(bf16_from_cpu_flags(ZEN2), Bf16Support::Emulated(_)));
        assert!(matches!(bf16_from_cpu_flags(""), Bf16Support::Emulated(_)));
        // Whole words only: a flag that merely contains the name is not it.
        assert!(matches!(bf16_from_cpu_flags("avx512_bf16x"), Bf16Support::Emulated(_)));
    }

    #[test]
    fn auto_resolves_to_bf16_only_where_native_and_explicit_bf16_on_avx2_warns() {
        let (native, emulated) = (bf16_from_cpu_flags(ZEN4), bf16_from_cpu_flags(ZEN2));
        let (p, note) = Precision::Auto.resolve_with(native.clone());
        assert_eq!(p, Precision::Bf16);
        assert!(note.unwrap().starts_with("precision auto → bf16: this CPU computes bf16 natively"));
        let (p, note) = Precision::Auto.resolve_with(emulated.clone());
        assert_eq!(p, Precision::Fp32);
        assert_eq!(note.unwrap(), "precision auto → fp32: this CPU has no native bf16 (no avx512_bf16 or amx_bf16)");
        // An explicit choice is kept; bf16 without native support runs, with a warning.
        assert_eq!(Precision::Bf16.resolve_with(native.clone()), (Precision::Bf16, None));
        let (p, note) = Precision::Bf16.resolve_with(emulated.clone());
        assert_eq!(p, Precision::Bf16);
        let note = note.unwrap();
        assert!(note.starts_with("warning: precision bf16 on a device without native bf16") && note.contains("several times slower"), "{note}");
        assert_eq!(Precision::Fp32.resolve_with(native), (Precision::Fp32, None));
        assert_eq!(Precision::Fp32.resolve_with(emulated), (Precision::Fp32, None));
    }

    #[test]
    fn parse_accepts_auto_and_names_the_choices() {
        assert_eq!(Precision::parse("auto"), Ok(Precision::Auto));
        assert_eq!(Precision::Auto.name(), "auto");
        assert!(Precision::parse("fp16").unwrap_err().contains("fp32, bf16 or auto"));
    }

    #[test]
    fn compute_capability_parses_nvidia_smi_output() {
        assert_eq!(parse_capability("9.0\n"), Some((9, 0)));
        assert_eq!(parse_capability(" 7.5 "), Some((7, 5)));
        assert_eq!(parse_capability(""), None);
        assert_eq!(parse_capability("N/A"), None);
    }
}
