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

use std::time::Instant;

use lot::precision::Precision;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::{fmt, nan_if_null, BenchSpec, BenchTask};

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

/// GFLOP/s of an `n`×`n` by `n`×`n` matmul in `kind` on the CPU with the current thread count:
/// the median of 5 timed products after one untimed.
pub fn matmul_gflops(kind: Kind, n: i64) -> f64 {
    let _g = tch::no_grad_guard();
    tch::manual_seed(0);
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu)).to_kind(kind);
    let _ = a.matmul(&b);
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let c = a.matmul(&b);
            let _ = c.double_value(&[0, 0]);
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    2.0 * (n * n * n) as f64 / times[2] / 1e9
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

/// The report's `roofline` object. Counted steps carry the FLOPs and [`Achieved`] (flattened, as
/// the JSON has always had them); PPO's carry a null FLOP count and a note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    pub flops_per_teacher_step: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(flatten)]
    pub achieved: Option<Achieved>,
}

/// The report's `roofline` object: FLOPs per teacher step, each side's achieved GFLOP/s (from
/// its median seconds per teacher step), the measured peaks, and ours as a fraction of the peak
/// of the precision it ran in. Peaks are measured with the bench's thread count.
pub fn roofline(spec: &BenchSpec, ours_step_s: f64, reference_step_s: f64, peak_fp32: f64, peak_bf16: f64) -> Roofline {
    let Some(flops) = flops_per_teacher_step(spec) else {
        return Roofline { flops_per_teacher_step: None, note: Some("PPO steps are not counted".into()), achieved: None };
    };
    let achieved = |step_s: f64| flops / step_s / 1e9;
    let peak = if spec.precision == Precision::Bf16 { peak_bf16 } else { peak_fp32 };
    Roofline {
        flops_per_teacher_step: Some(flops),
        note: None,
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
    )
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
        assert!(matmul_gflops(Kind::Float, 128) > 0.0);
    }
}
