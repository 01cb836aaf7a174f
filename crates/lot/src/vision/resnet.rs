//! Pre-activation ResNet for CIFAR-sized images, as the reference's model/preresnet.py (bearpaw):
//! widths 16/32/64, BasicBlock with n = (d−2)/6 for depth < 44, Bottleneck (×4) with n = (d−2)/9
//! for depth ≥ 44, shortcut = 1×1 conv on the block input. Any channel count and image size
//! (global average pooling instead of the fixed 8×8 pool).

use tch::nn::{self, ConvConfig, Module, ModuleT};
use tch::Tensor;

/// Check a depth is valid and return (bottleneck?, blocks per stage).
pub fn check_depth(depth: usize) -> Result<(bool, usize), String> {
    if depth < 44 {
        if depth < 8 || (depth - 2) % 6 != 0 {
            return Err(format!("depth {depth} is not of the form 6n+2 with n >= 1 (BasicBlock, depth < 44), e.g. 20, 32"));
        }
        Ok((false, (depth - 2) / 6))
    } else {
        if (depth - 2) % 9 != 0 {
            return Err(format!("depth {depth} is not of the form 9n+2 (Bottleneck, depth >= 44), e.g. 56, 110"));
        }
        Ok((true, (depth - 2) / 9))
    }
}

fn conv(vs: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    // The reference's init: normal(0, sqrt(2 / (k·k·out_channels))), no bias.
    let std = (2.0 / (k * k * cout) as f64).sqrt();
    let cfg = ConvConfig {
        stride,
        padding: k / 2,
        bias: false,
        ws_init: nn::Init::Randn { mean: 0.0, stdev: std },
        ..Default::default()
    };
    nn::conv2d(vs, cin, cout, k, cfg)
}

fn bn(vs: nn::Path, c: i64) -> nn::BatchNorm {
    // torch's BatchNorm2d init (weight 1, bias 0); tch's default weight init is uniform.
    let cfg = nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), bs_init: nn::Init::Const(0.0), ..Default::default() };
    nn::batch_norm2d(vs, c, cfg)
}

#[derive(Debug)]
struct Block {
    bns: Vec<nn::BatchNorm>,
    convs: Vec<nn::Conv2D>,
    shortcut: Option<nn::Conv2D>,
}

impl Block {
    fn basic(vs: nn::Path, cin: i64, planes: i64, stride: i64) -> Self {
        let shortcut = (stride != 1 || cin != planes).then(|| conv(&vs / "downsample", cin, planes, 1, stride));
        Block {
            bns: vec![bn(&vs / "bn1", cin), bn(&vs / "bn2", planes)],
            convs: vec![conv(&vs / "conv1", cin, planes, 3, stride), conv(&vs / "conv2", planes, planes, 3, 1)],
            shortcut,
        }
    }

    fn bottleneck(vs: nn::Path, cin: i64, planes: i64, stride: i64) -> Self {
        let out = planes * 4;
        let shortcut = (stride != 1 || cin != out).then(|| conv(&vs / "downsample", cin, out, 1, stride));
        Block {
            bns: vec![bn(&vs / "bn1", cin), bn(&vs / "bn2", planes), bn(&vs / "bn3", planes)],
            convs: vec![
                conv(&vs / "conv1", cin, planes, 1, 1),
                conv(&vs / "conv2", planes, planes, 3, stride),
                conv(&vs / "conv3", planes, out, 1, 1),
            ],
            shortcut,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        // bn → relu → conv, repeated; the shortcut taps the raw block input.
        let mut out = x.shallow_clone();
        for (b, c) in self.bns.iter().zip(&self.convs) {
            out = c.forward(&b.forward_t(&out, train).relu());
        }
        let residual = match &self.shortcut {
            Some(s) => s.forward(x),
            None => x.shallow_clone(),
        };
        out + residual
    }
}

#[derive(Debug)]
pub struct PreActResNet {
    conv1: nn::Conv2D,
    blocks: Vec<Block>,
    bn: nn::BatchNorm,
    fc: nn::Linear,
}

impl PreActResNet {
    pub fn new(vs: &nn::Path, depth: usize, in_channels: i64, num_classes: i64) -> Result<Self, String> {
        let (bottleneck, n) = check_depth(depth)?;
        let expansion = if bottleneck { 4 } else { 1 };
        let conv1 = conv(vs / "conv1", in_channels, 16, 3, 1);
        let mut blocks = Vec::new();
        let mut cin = 16;
        for (stage, (planes, stride)) in [(16i64, 1i64), (32, 2), (64, 2)].into_iter().enumerate() {
            for i in 0..n {
                let p = vs / format!("layer{}", stage + 1) / i;
                let s = if i == 0 { stride } else { 1 };
                blocks.push(if bottleneck { Block::bottleneck(p, cin, planes, s) } else { Block::basic(p, cin, planes, s) });
                cin = planes * expansion;
            }
        }
        let bn = bn(vs / "bn", cin);
        // torch.nn.Linear's default init: U(−1/√fan_in, 1/√fan_in) for weight and bias.
        let bound = 1.0 / (cin as f64).sqrt();
        let lin = nn::LinearConfig {
            ws_init: nn::Init::Uniform { lo: -bound, up: bound },
            bs_init: Some(nn::Init::Uniform { lo: -bound, up: bound }),
            bias: true,
        };
        let fc = nn::linear(vs / "fc", cin, num_classes, lin);
        Ok(Self { conv1, blocks, bn, fc })
    }
}

impl ModuleT for PreActResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.conv1.forward(x);
        for b in &self.blocks {
            h = b.forward_t(&h, train);
        }
        let h = self.bn.forward_t(&h, train).relu();
        let h = h.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        self.fc.forward(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn depth_rules() {
        assert_eq!(check_depth(20), Ok((false, 3)));
        assert_eq!(check_depth(32), Ok((false, 5)));
        assert_eq!(check_depth(56), Ok((true, 6)));
        assert_eq!(check_depth(110), Ok((true, 12)));
        assert!(check_depth(21).unwrap_err().contains("6n+2"));
        assert!(check_depth(2).is_err());
        assert!(check_depth(44).unwrap_err().contains("9n+2"));
    }

    fn param_count(vs: &nn::VarStore) -> i64 {
        vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    #[test]
    fn parameter_counts_match_the_reference_architecture() {
        // ResNet-20 (BasicBlock, 3×3 stages): conv1 432 + blocks + bn 128 + fc 650 for 10 classes.
        // Counted independently: stage1 3 blocks × (2 bn·16·2 + 2·3·3·16·16) = 3×(64+4608) = 14016;
        // stage2: first block bn(16)+bn(32)=96, conv 16→32 4608, conv 32→32 9216, shortcut 512;
        // then 2 × (128 + 2·9216) = 37120; stage3: bn(32)+bn(64)=192, 18432 + 36864 + 2048, then 2×(256+2·36864)=147968.
        let expected = 432 + 14016 + (96 + 4608 + 9216 + 512) + 37120 + (192 + 18432 + 36864 + 2048) + 147968 + 128 + 650;
        let vs = nn::VarStore::new(Device::Cpu);
        let _m = PreActResNet::new(&vs.root(), 20, 3, 10).unwrap();
        assert_eq!(param_count(&vs), expected);
    }

    #[test]
    fn forward_shapes_for_any_size_and_bottleneck() {
        let vs = nn::VarStore::new(Device::Cpu);
        let m = PreActResNet::new(&vs.root(), 20, 1, 10).unwrap();
        let y = m.forward_t(&Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu)), true);
        assert_eq!(y.size(), vec![2, 10]);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = PreActResNet::new(&vs.root(), 56, 3, 100).unwrap();
        let y = m.forward_t(&Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu)), false);
        assert_eq!(y.size(), vec![2, 100]);
        // Bottleneck output width is 64·4 = 256 into the classifier.
        let fc = vs.variables().into_iter().find(|(n, _)| n == "fc.weight").unwrap().1;
        assert_eq!(fc.size(), vec![100, 256]);
    }
}
