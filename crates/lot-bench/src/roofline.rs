//! The roofline column of a `lot bench` report: floating-point operations per teacher step,
//! counted analytically for the benchmarked models, the GFLOP/s each side achieves, and the
//! fraction of this machine's peak, measured here as a large matmul in fp32 and bf16.
//!
//! Counting: a multiply-add is 2 FLOPs; convolutions, LSTM gates, linear layers and the decoder
//! are counted, element-wise work (BatchNorm, activations, softmax, losses, the optimizer) is not.
//! A training pass (forward + backward) is 3 forwards; a no-grad forward is 1. One LoT teacher
//! step is the joint step (teacher and K students train on the teacher's batch) plus N − 1
//! student steps (the teacher's no-grad forward for the targets, each student trains):
//! `B · [3·(F_t + K·F_s) + (N − 1)·(F_t + 3·K·F_s)]`, with F the forward FLOPs per sample
//! (image or token) and B the samples per step. PPO steps are not counted (null in the report).
//!
//! The peaks: fp32 always; bf16 only where this CPU computes it natively or the bench ran in bf16
//! (an emulated bf16 matmul on an AVX2-only CPU runs at ~0.2 GFLOP/s: a 2048² product took 88 s).
//! Each probe is sized from a small first matmul so that it takes about [`PROBE_BUDGET_S`].

use std::time::Instant;

use lot::precision::{Bf16Support, Precision};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::report::fmt;
use crate::{nan_if_null, BenchSpec, BenchTask};

fn conv(cin: i64, cout: i64, k: i64, hw_out: i64) -> f64 {
    2.0 * (cin * cout * k * k * hw_out * hw_out) as f64
}

/// Forward FLOPs of one image through the PreAct ResNet of `depth` (the reference's
/// preresnet.py: BasicBlock below depth 44, Bottleneck ×4 from 44) at `hw`×`hw` input.
pub fn resnet_forward_flops(depth: usize, in_channels: i64, hw: i64, classes: i64) -> f64 {
    let bottleneck = depth >= 44;
    let n = if bottleneck { (depth - 2) / 9 } else { (depth - 2) / 6 };
    let expansion = if bottleneck { 4 } else { 1 };
    let mut f = conv(in_channels, 16, 3, hw);
    let (mut cin, mut size) = (16i64, hw);
    for (stage, planes) in [16i64, 32, 64].into_iter().enumerate() {
        for b in 0..n {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let out = size / stride;
            if bottleneck {
                f += conv(cin, planes, 1, size) + conv(planes, planes, 3, out) + conv(planes, planes * 4, 1, out);
            } else {
                f += conv(cin, planes, 3, out) + conv(planes, planes, 3, out);
            }
            if stride != 1 || cin != planes * expansion {
                f += conv(cin, planes * expansion, 1, out);
            }
            cin = planes * expansion;
            size = out;
        }
    }
    f + 2.0 * (cin * classes) as f64
}

/// Forward FLOPs per token of the LSTM LM: the gates of every layer and the decoder.
pub fn lstm_forward_flops(emsize: i64, nhid: i64, nlayers: i64, vocab: i64) -> f64 {
    let gates: i64 = (0..nlayers).map(|l| 2 * 4 * nhid * (if l == 0 { emsize } else { nhid } + nhid)).sum();
    (gates + 2 * nhid * vocab) as f64
}

/// Forward FLOPs of one Transformer-XL step over a whole `[bptt, batch]` window with a full
/// memory (klen = bptt + mem_len): per layer the q/k/v projection of all klen positions, the
/// position projection, the content and position scores and the attention-weighted values, the
/// output projection and the feed-forward; then the tied decoder.
pub fn txl_forward_flops(spec: &BenchSpec) -> f64 {
    let (b, q) = (spec.batch_size as f64, spec.bptt as f64);
    let k = q + spec.mem_len as f64;
    let (d, h, di, v) = (spec.d_model as f64, (spec.n_head * spec.d_head) as f64, spec.d_inner as f64, spec.vocab as f64);
    let layer = 2.0 * b * k * d * 3.0 * h + 2.0 * k * d * h + 3.0 * 2.0 * b * q * k * h + 2.0 * b * q * h * d + 2.0 * 2.0 * b * q * d * di;
    spec.n_layer as f64 * layer + 2.0 * b * q * d * v
}

/// FLOPs of one LoT teacher step of `spec` (see the module comment); `None` for PPO.
pub fn flops_per_teacher_step(spec: &BenchSpec) -> Option<f64> {
    let (ft, fs, samples) = match spec.task {
        BenchTask::Vision => {
            let mut d = spec.depth.split('_').map(|s| s.parse::<usize>().ok());
            let t = d.next()??;
            let s = d.next().flatten().unwrap_or(t);
            let f = |depth| resnet_forward_flops(depth, 3, 32, spec.classes as i64);
            (f(t), f(s), spec.batch_size as f64)
        }
        BenchTask::Lstm => {
            let f = lstm_forward_flops(spec.emsize, spec.nhid, spec.nlayers, spec.vocab as i64);
            (f, f, (spec.batch_size * spec.bptt) as f64)
        }
        BenchTask::Txl => {
            let f = txl_forward_flops(spec);
            (f, f, 1.0)
        }
        BenchTask::Ppo => return None,
    };
    let (k, n) = (spec.students as f64, spec.student_steps as f64);
    if spec.students == 0 {
        return Some(samples * 3.0 * ft);
    }
    Some(samples * (3.0 * (ft + k * fs) + (n - 1.0) * (ft + 3.0 * k * fs)))
}

/// Seconds of each of `timed` `n`×`n` by `n`×`n` matmuls in `kind` on `device` (the CPU with the
/// current thread count), after one untimed. Reading one element back waits for a GPU.
fn matmul_seconds(kind: Kind, n: i64, timed: usize, device: Device) -> Vec<f64> {
    let _g = tch::no_grad_guard();
    tch::manual_seed(0);
    let a = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let _ = a.matmul(&b).double_value(&[0, 0]);
    (0..timed)
        .map(|_| {
            let t = Instant::now();
            let c = a.matmul(&b);
            let _ = c.double_value(&[0, 0]);
            t.elapsed().as_secs_f64()
        })
        .collect()
}

/// GFLOP/s of an `n`×`n` by `n`×`n` matmul in `kind` on `device` (the CPU with the current thread
/// count): the median of 5 timed products after one untimed.
pub fn matmul_gflops(kind: Kind, n: i64, device: Device) -> f64 {
    let mut times = matmul_seconds(kind, n, 5, device);
    times.sort_by(f64::total_cmp);
    2.0 * (n * n * n) as f64 / times[2] / 1e9
}

/// About how long one peak probe (one untimed and 5 timed matmuls) may take, seconds.
pub const PROBE_BUDGET_S: f64 = 5.0;
/// The size of the small matmul that sizes each probe.
pub const SIZING_N: i64 = 256;
/// The largest probe: a 2048² product is large enough to reach the peak on a CPU.
pub const MAX_PROBE_N: i64 = 2048;
/// The largest probe on a GPU: a 2048² product (17 GFLOP) takes well under a millisecond on an
/// H200, too short to reach its peak.
pub const MAX_PROBE_N_CUDA: i64 = 8192;
/// Matmuls in a probe: one untimed, 5 timed.
const PROBE_MATMULS: f64 = 6.0;

/// Estimated seconds of a probe of size `n` (6 matmuls), from one `small_n` matmul's seconds
/// (time grows as n³).
pub fn probe_seconds(small_s: f64, small_n: i64, n: i64) -> f64 {
    PROBE_MATMULS * small_s * (n as f64 / small_n as f64).powi(3)
}

/// The probe's size from one `small_n`×`small_n` matmul that took `small_s` seconds: the largest
/// multiple of 256 whose probe fits [`PROBE_BUDGET_S`], within [256, [`MAX_PROBE_N`]]. A product
/// too fast to time gets the largest; an unusable time (NaN, negative) the smallest.
pub fn probe_n(small_s: f64, small_n: i64) -> i64 {
    probe_n_upto(small_s, small_n, MAX_PROBE_N)
}

/// [`probe_n`] with the largest size `max` instead of [`MAX_PROBE_N`].
pub fn probe_n_upto(small_s: f64, small_n: i64, max: i64) -> i64 {
    if small_s.is_nan() || small_s < 0.0 {
        return 256;
    }
    if small_s == 0.0 {
        return max;
    }
    let fit = small_n as f64 * (PROBE_BUDGET_S / (PROBE_MATMULS * small_s)).cbrt();
    let n = (fit / 256.0).floor() as i64 * 256;
    n.clamp(256, max)
}

/// The `kind` matmul peak of `device` (the bench's: the CPU, or its GPU), GFLOP/s, in a probe
/// bounded in time: one small matmul (the larger of 2 timed, after one untimed) sizes it
/// ([`probe_n_upto`]); `log` gets a line before the probe and one with its result.
pub fn measure_peak(kind: Kind, device: Device, log: &mut dyn FnMut(&str)) -> f64 {
    let name = if kind == Kind::BFloat16 { "bf16" } else { "fp32" };
    let start = Instant::now();
    let small_s = matmul_seconds(kind, SIZING_N, 2, device).into_iter().fold(0.0, f64::max);
    let max = if device.is_cuda() { MAX_PROBE_N_CUDA } else { MAX_PROBE_N };
    let n = probe_n_upto(small_s, SIZING_N, max);
    let on = if device.is_cuda() { format!(" on {device:?}") } else { String::new() };
    log(&format!("bench: measuring the {name} matmul peak{on} (n={n}, ~{:.0} s)…", probe_seconds(small_s, SIZING_N, n).max(1.0)));
    let gflops = matmul_gflops(kind, n, device);
    log(&format!("bench: {name} matmul peak {gflops:.1} GFLOP/s (n={n}, {:.1} s with the sizing)", start.elapsed().as_secs_f64()));
    gflops
}

/// The precision ours ran in: the spec's, `auto` resolved on the bench's device.
pub fn ran_in(spec: &BenchSpec) -> Precision {
    match spec.precision {
        Precision::Auto => spec.device().map_or(Precision::Fp32, |d| Precision::Auto.resolve(d).0),
        p => p,
    }
}

/// Why the bf16 peak is not measured, or `None` to measure it: it is measured where this CPU has
/// native bf16 (`cpu`) or the bench ran in bf16 (`ran_in`) — never for an fp32 bench on a CPU
/// that emulates bf16, where the probe would be slow and its number unused.
pub fn bf16_peak_skipped(ran_in: Precision, cpu: &Bf16Support) -> Option<String> {
    match (ran_in, cpu) {
        (Precision::Bf16, _) | (_, Bf16Support::Native(_)) => None,
        (_, Bf16Support::Emulated(why)) => Some(format!("{why}, and the bench ran in {}", ran_in.name())),
    }
}

/// The roofline of a finished bench: the peaks measured here (fp32 always, bf16 where
/// [`bf16_peak_skipped`] allows), each probe bounded ([`measure_peak`]), with the bench's thread
/// count. PPO (uncounted) measures nothing.
pub fn measure_roofline(spec: &BenchSpec, ours_step_s: f64, reference_step_s: f64, log: &mut dyn FnMut(&str)) -> Roofline {
    if flops_per_teacher_step(spec).is_none() {
        return roofline(spec, ours_step_s, reference_step_s, f64::NAN, f64::NAN);
    }
    if spec.threads > 0 {
        tch::set_num_threads(spec.threads as i32);
    }
    // The peaks of the device the bench ran on (a GPU's, not its host's), bf16 always on a GPU.
    let device = spec.device().unwrap_or(Device::Cpu);
    let p32 = measure_peak(Kind::Float, device, log);
    let skipped = if device.is_cuda() { None } else { bf16_peak_skipped(ran_in(spec), &lot::precision::cpu_bf16()) };
    let p16 = match &skipped {
        None => measure_peak(Kind::BFloat16, device, log),
        Some(why) => {
            log(&format!("bench: bf16 peak not measured ({why})"));
            f64::NAN
        }
    };
    let mut r = roofline(spec, ours_step_s, reference_step_s, p32, p16);
    r.bf16_peak_not_measured = skipped;
    r
}

/// Each side's achieved GFLOP/s and the measured peaks: present when the steps are counted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Achieved {
    /// From ours' median seconds per teacher step.
    #[serde(deserialize_with = "nan_if_null")]
    pub ours_gflops: f64,
    /// NaN (null) without reference runs.
    #[serde(deserialize_with = "nan_if_null")]
    pub reference_gflops: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_gflops_fp32: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub peak_gflops_bf16: f64,
    /// Ours over the peak of the precision it ran in.
    #[serde(deserialize_with = "nan_if_null")]
    pub ours_fraction_of_peak: f64,
}

/// The report's `roofline` object. Counted steps carry the FLOPs and [`Achieved`] (flattened, so
/// the committed reports in benches/results/ read back); PPO's carry a null FLOP count and a note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    pub flops_per_teacher_step: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Why `peak_gflops_bf16` is null, when it was not measured ([`bf16_peak_skipped`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bf16_peak_not_measured: Option<String>,
    #[serde(flatten)]
    pub achieved: Option<Achieved>,
}

/// The report's `roofline` object: FLOPs per teacher step, each side's achieved GFLOP/s (from
/// its median seconds per teacher step), the measured peaks, and ours as a fraction of the peak
/// of the precision it ran in ([`ran_in`]; NaN where that peak is NaN).
pub fn roofline(spec: &BenchSpec, ours_step_s: f64, reference_step_s: f64, peak_fp32: f64, peak_bf16: f64) -> Roofline {
    let Some(flops) = flops_per_teacher_step(spec) else {
        return Roofline { flops_per_teacher_step: None, note: Some("PPO steps are not counted".into()), bf16_peak_not_measured: None, achieved: None };
    };
    let achieved = |step_s: f64| flops / step_s / 1e9;
    let peak = if ran_in(spec) == Precision::Bf16 { peak_bf16 } else { peak_fp32 };
    Roofline {
        flops_per_teacher_step: Some(flops),
        note: None,
        bf16_peak_not_measured: None,
        achieved: Some(Achieved {
            ours_gflops: achieved(ours_step_s),
            reference_gflops: achieved(reference_step_s),
            peak_gflops_fp32: peak_fp32,
            peak_gflops_bf16: peak_bf16,
            ours_fraction_of_peak: achieved(ours_step_s) / peak,
        }),
    }
}

/// One line for the report table (empty for uncounted steps); `precision` is what ours ran in.
pub fn roofline_line(r: &Roofline, precision: Precision) -> String {
    let (Some(flops), Some(a)) = (r.flops_per_teacher_step, &r.achieved) else {
        return String::new();
    };
    format!(
        "roofline: {} GFLOP per teacher step; ours {} GFLOP/s = {} % of the measured {} matmul peak ({} GFLOP/s fp32, {} bf16); reference {} GFLOP/s\n",
        fmt(flops / 1e9, 2),
        fmt(a.ours_gflops, 1),
        fmt(100.0 * a.ours_fraction_of_peak, 1),
        precision.name(),
        fmt(a.peak_gflops_fp32, 0),
        fmt(a.peak_gflops_bf16, 0),
        fmt(a.reference_gflops, 1),
    ) + &r.bf16_peak_not_measured.as_ref().map_or(String::new(), |why| format!("bf16 peak: not measured ({why})\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ResNet-8 (one BasicBlock per stage), 3×32×32, 10 classes, by hand:
    /// conv1 2·3·16·9·32² = 884,736; stage 1: 2 × 2·16·16·9·32² = 9,437,184;
    /// stage 2: 2·16·32·9·16² + 2·32·32·9·16² + shortcut 2·16·32·16² = 7,340,032;
    /// stage 3: 2·32·64·9·8² + 2·64·64·9·8² + 2·32·64·8² = 7,340,032; fc 2·64·10 = 1,280.
    #[test]
    fn resnet_flops_by_hand_and_the_published_resnet20_count() {
        assert_eq!(resnet_forward_flops(8, 3, 32, 10), 884_736.0 + 9_437_184.0 + 7_340_032.0 + 7_340_032.0 + 1_280.0);
        // ResNet-20 on CIFAR: the commonly quoted ≈ 40.8 M multiply-adds → ≈ 81.6 MFLOP.
        let r20 = resnet_forward_flops(20, 3, 32, 10);
        assert!((r20 / 2.0 / 1e6 - 40.8).abs() < 0.2, "{r20}");
        // Bottleneck (depth 47: 5 blocks per stage, expansion 4) has the 1×1 convs.
        let b47 = resnet_forward_flops(47, 3, 32, 10);
        let first = conv(16, 16, 1, 32) + conv(16, 16, 3, 32) + conv(16, 64, 1, 32) + conv(16, 64, 1, 32);
        assert!(b47 > first && b47 > r20);
    }

    #[test]
    fn lstm_flops_and_the_lot_step_formula() {
        // 2×200 LSTM, vocab 10k: each layer 2·4·200·(200+200) = 640,000, decoder 2·200·10,000.
        assert_eq!(lstm_forward_flops(200, 200, 2, 10_000), 2.0 * 640_000.0 + 4_000_000.0);
        let spec = BenchSpec::lstm();
        let f = lstm_forward_flops(200, 200, 2, 10_000);
        // K = 1, N = 5: 3·2F + 4·(F + 3F) = 22 F per token, 700 tokens.
        assert_eq!(flops_per_teacher_step(&spec), Some(700.0 * 22.0 * f));
        let mut ns = BenchSpec::vision();
        ns.students = 0;
        let ft = resnet_forward_flops(20, 3, 32, 100);
        assert_eq!(flops_per_teacher_step(&ns), Some(256.0 * 3.0 * ft));
        assert_eq!(flops_per_teacher_step(&BenchSpec::ppo()), None);
        // Transformer-XL, 1 layer, d 2, 1 head of 2, d_inner 4, vocab 3, batch 1, bptt 1, mem 1
        // (klen 2): qkv 2·2·2·6 = 48, r 2·2·2·2 = 16, scores+values 3·2·1·2·2 = 24, o 2·2·2 = 8,
        // FF 2·2·2·4 = 32; decoder 2·2·3 = 12.
        let mut t = BenchSpec::txl();
        (t.n_layer, t.d_model, t.n_head, t.d_head, t.d_inner, t.vocab, t.batch_size, t.bptt, t.mem_len) = (1, 2, 1, 2, 4, 3, 1, 1, 1);
        assert_eq!(txl_forward_flops(&t), 48.0 + 16.0 + 24.0 + 8.0 + 32.0 + 12.0);
    }

    #[test]
    fn roofline_divides_by_the_median_step_and_the_right_peak() {
        let mut spec = BenchSpec::lstm();
        let flops = flops_per_teacher_step(&spec).unwrap();
        let r = roofline(&spec, 2.0, 4.0, 100.0, 400.0);
        let a = r.achieved.clone().unwrap();
        assert_eq!(r.flops_per_teacher_step, Some(flops));
        assert!((a.ours_gflops - flops / 2.0 / 1e9).abs() < 1e-9);
        assert!((a.reference_gflops - flops / 4.0 / 1e9).abs() < 1e-9);
        assert!((a.ours_fraction_of_peak - flops / 2.0 / 1e9 / 100.0).abs() < 1e-12);
        spec.precision = Precision::Bf16;
        let r = roofline(&spec, 2.0, 4.0, 100.0, 400.0);
        assert!((r.achieved.as_ref().unwrap().ours_fraction_of_peak - flops / 2.0 / 1e9 / 400.0).abs() < 1e-12);
        assert!(roofline_line(&r, Precision::Bf16).contains("bf16 matmul peak"), "{}", roofline_line(&r, Precision::Bf16));
        // The JSON keeps its flat shape: achieved numbers beside the FLOPs, no note; and reads back.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ours_gflops"].as_f64(), Some(r.achieved.as_ref().unwrap().ours_gflops));
        assert!(v.get("note").is_none() && v.get("achieved").is_none(), "{v}");
        assert_eq!(serde_json::from_value::<Roofline>(v).unwrap(), r);
        // PPO: a null FLOP count and a note, nothing else; no table line.
        let p = roofline(&BenchSpec::ppo(), 1.0, 1.0, 100.0, 400.0);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v, serde_json::json!({"flops_per_teacher_step": null, "note": "PPO steps are not counted"}));
        assert_eq!(serde_json::from_value::<Roofline>(v).unwrap(), p);
        assert_eq!(roofline_line(&p, Precision::Fp32), "");
        // No reference runs: the reference's GFLOP/s is null in the JSON and NaN read back.
        let r = roofline(&BenchSpec::lstm(), 2.0, f64::NAN, 100.0, 400.0);
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["reference_gflops"].is_null(), "{v}");
        assert!(serde_json::from_value::<Roofline>(v).unwrap().achieved.unwrap().reference_gflops.is_nan());
        assert!(matmul_gflops(Kind::Float, 128, Device::Cpu) > 0.0);
    }

    #[test]
    fn probe_size_fits_the_budget() {
        // A 256² product is 2·256³ = 33.6 MFLOP. fp32 on a Zen 2 core (~35 GFLOP/s): ~1 ms, so the
        // full 2048²; emulated bf16 there (~0.2 GFLOP/s): 0.17 s, so the smallest (a ~1 s probe),
        // where 2048² would have taken 6 × 88 s.
        let at = |gflops: f64| 2.0 * 256f64.powi(3) / (gflops * 1e9);
        assert_eq!(probe_n(at(35.0), 256), 2048);
        assert_eq!(probe_n(at(0.2), 256), 256);
        assert!(probe_seconds(at(0.2), 256, 256) < 1.1);
        // 2 GFLOP/s: 16.8 ms; 256·(5 / 0.1)^(1/3) = 943 → 768 (a 2.9 s probe).
        assert_eq!(probe_n(at(2.0), 256), 768);
        // Every answer is a multiple of 256 in [256, 2048] whose probe fits the budget (unless
        // even the smallest cannot), and it never grows as the small product slows down.
        let mut last = i64::MAX;
        for i in 0..200 {
            let s = 1e-5 * 1.08f64.powi(i);
            let n = probe_n(s, 256);
            assert!(n % 256 == 0 && (256..=2048).contains(&n), "{s} → {n}");
            assert!(n == 256 || probe_seconds(s, 256, n) <= PROBE_BUDGET_S, "{s} → {n}");
            assert!(n <= last, "{s} → {n} after {last}");
            last = n;
        }
        // Sized from a different small product: the same rule.
        assert_eq!(probe_n(at(2.0) / 8.0, 128), 768);
        assert_eq!((probe_n(0.0, 256), probe_n(f64::NAN, 256), probe_n(-1.0, 256), probe_n(f64::INFINITY, 256)), (2048, 256, 256, 256));
        // A GPU's cap: at 50 TFLOP/s the 256² product takes 0.7 µs and the probe takes the largest.
        assert_eq!(probe_n_upto(at(50_000.0), 256, MAX_PROBE_N_CUDA), 8192);
        assert_eq!(probe_n_upto(at(2.0), 256, MAX_PROBE_N_CUDA), 768);
    }

    #[test]
    fn bf16_peak_only_where_native_or_the_bench_ran_in_bf16() {
        let native = Bf16Support::Native("avx512_bf16".into());
        let emulated = Bf16Support::Emulated("this CPU has no native bf16".into());
        assert_eq!(bf16_peak_skipped(Precision::Fp32, &native), None);
        assert_eq!(bf16_peak_skipped(Precision::Bf16, &native), None);
        assert_eq!(bf16_peak_skipped(Precision::Bf16, &emulated), None);
        let why = bf16_peak_skipped(Precision::Fp32, &emulated).unwrap();
        assert_eq!(why, "this CPU has no native bf16, and the bench ran in fp32");
        // Skipped: a null bf16 peak in the JSON, the reason beside it and in the table; an fp32
        // bench's fraction of peak is unaffected.
        let spec = BenchSpec::lstm();
        let mut r = roofline(&spec, 2.0, 4.0, 100.0, f64::NAN);
        r.bf16_peak_not_measured = Some(why.clone());
        let flops = flops_per_teacher_step(&spec).unwrap();
        assert!((r.achieved.as_ref().unwrap().ours_fraction_of_peak - flops / 2.0 / 1e9 / 100.0).abs() < 1e-12);
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["peak_gflops_bf16"].is_null() && v["peak_gflops_fp32"] == 100.0, "{v}");
        assert_eq!(v["bf16_peak_not_measured"], why.as_str());
        let back: Roofline = serde_json::from_value(v).unwrap();
        assert!(back.achieved.as_ref().unwrap().peak_gflops_bf16.is_nan() && back.bf16_peak_not_measured == r.bf16_peak_not_measured);
        let line = roofline_line(&r, Precision::Fp32);
        assert!(line.contains("GFLOP/s fp32, — bf16") && line.ends_with(&format!("bf16 peak: not measured ({why})\n")), "{line}");
        // Measured: no such key, so reports with a measured peak keep their shape.
        let v = serde_json::to_value(roofline(&spec, 2.0, 4.0, 100.0, 400.0)).unwrap();
        assert!(v.get("bf16_peak_not_measured").is_none(), "{v}");
    }

    #[test]
    fn a_measured_peak_is_bounded_and_logged() {
        let mut lines = Vec::new();
        let t = Instant::now();
        let g = measure_peak(Kind::Float, Device::Cpu, &mut |l: &str| lines.push(l.to_string()));
        assert!(g > 0.0 && t.elapsed().as_secs_f64() < 4.0 * PROBE_BUDGET_S, "{g} GFLOP/s in {:?}", t.elapsed());
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("bench: measuring the fp32 matmul peak (n="), "{lines:?}");
        // PPO is not counted: no probe, no line.
        let mut n = 0;
        let r = measure_roofline(&BenchSpec::ppo(), 1.0, 1.0, &mut |_: &str| n += 1);
        assert!(r.achieved.is_none() && n == 0);
    }
}
