//! Saved weights load into the PyTorch reference models with `load_state_dict(strict=True)` and
//! give the same outputs: the vision PreResNet (BasicBlock and Bottleneck), the LSTM LM and the
//! Transformer-XL, using the model classes of `benches/reference/`. The Python side reads the safetensors files with the
//! standard library and torch only (the format is an 8-byte header length, a JSON header, the bytes).

use std::path::{Path, PathBuf};
use std::process::Command;

use lot::lifecycle;
use lot::text::lstm::{LstmConfig, LstmLm};
use lot::text::txl::{self, TransformerXl, TxlConfig};
use lot::vision::resnet::{self, PreActResNet};
use tch::nn::{self, ModuleT};
use tch::{Device, Tensor};

const LOAD: &str = r#"
import json, struct, sys, torch
def load(p):
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h, base = json.loads(b[8:8 + n]), 8 + n
    kinds = {'F32': torch.float32, 'I64': torch.int64}
    out = {}
    for k, v in h.items():
        if k != '__metadata__':
            s, e = v['data_offsets']
            out[k] = torch.frombuffer(bytearray(b[base + s:base + e]), dtype=kinds[v['dtype']]).reshape(v['shape'])
    return out
"#;

fn python_with_torch() -> Option<PathBuf> {
    let py = lot_bench::default_python();
    let ok = Command::new(&py).args(["-c", "import torch"]).output().map(|o| o.status.success()).unwrap_or(false);
    ok.then_some(py)
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/reference")
}

/// Run `body` (after LOAD) with sys.argv = [weights, io]; it prints the max |difference|.
fn python_max_diff(py: &Path, body: &str, weights: &Path, io: &Path) -> f64 {
    let script = format!("{LOAD}\nsys.path.insert(0, {:?})\n{body}", reference_dir().display().to_string());
    let o = Command::new(py).arg("-c").arg(&script).arg(weights).arg(io).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "python failed: {}{}", out, String::from_utf8_lossy(&o.stderr));
    out.trim().lines().last().unwrap().parse().unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn resnet_weights_load_into_the_reference_preresnet() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("resnet_weights_load_into_the_reference_preresnet", "no python with torch (run scripts/setup.sh)");
        return;
    };
    for depth in [8, 47] {
        let d = tempfile::tempdir().unwrap();
        tch::manual_seed(depth as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = PreActResNet::new(&vs.root(), depth, 3, 10).unwrap();
        // A few training-mode forwards give the BatchNorms non-trivial running statistics.
        for _ in 0..3 {
            let _ = net.forward_t(&Tensor::randn([4, 3, 32, 32], (tch::Kind::Float, Device::Cpu)), true);
        }
        let x = Tensor::randn([2, 3, 32, 32], (tch::Kind::Float, Device::Cpu));
        let logits = tch::no_grad(|| net.forward_t(&x, false));
        lifecycle::save_weights(d.path(), 0, &vs, resnet::to_reference_names).unwrap();
        let io = d.path().join("io.safetensors");
        Tensor::write_safetensors(&[("x", &x), ("logits", &logits)], &io).unwrap();
        let body = format!(
            "from vision_lot import PreResNet\nm = PreResNet({depth}, num_classes=10, in_channels=3, input_size=32)\n\
             m.load_state_dict(load(sys.argv[1]), strict=True)\nm.eval()\nio = load(sys.argv[2])\n\
             with torch.no_grad():\n    y = m(io['x'])\nprint((y - io['logits']).abs().max().item())"
        );
        let diff = python_max_diff(&py, &body, &d.path().join("teacher.safetensors"), &io);
        assert!(diff < 1e-4, "ResNet-{depth}: PyTorch's logits differ from ours by {diff}");
        // And lot reads its own file back.
        let again = nn::VarStore::new(Device::Cpu);
        let net2 = PreActResNet::new(&again.root(), depth, 3, 10).unwrap();
        lifecycle::load_weights(d.path(), 0, &again, resnet::from_reference_names).unwrap();
        assert!(tch::no_grad(|| net2.forward_t(&x, false)).equal(&logits));
    }
}

#[test]
fn lstm_weights_load_into_the_reference_rnn_model() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("lstm_weights_load_into_the_reference_rnn_model", "no python with torch (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = LstmConfig { n_token: 50, emsize: 12, nhid: 16, nlayers: 2, dropout: 0.2 };
    let lm = LstmLm::new(&vs.root(), cfg);
    let tokens = Tensor::randint(50, [7, 3], (tch::Kind::Int64, Device::Cpu));
    let (logits, _) = tch::no_grad(|| lm.forward_t(&tokens, &lm.init_hidden(3), false));
    lifecycle::save_weights(d.path(), 0, &vs, resnet::to_reference_names).unwrap();
    let io = d.path().join("io.safetensors");
    Tensor::write_safetensors(&[("tokens", &tokens), ("logits", &logits)], &io).unwrap();
    let body = "from lstm_lot import RNNModel\nm = RNNModel(50, 12, 16, 2, dropout=0.2)\n\
                m.load_state_dict(load(sys.argv[1]), strict=True)\nm.eval()\nio = load(sys.argv[2])\n\
                with torch.no_grad():\n    y, _ = m(io['tokens'], m.init_hidden(3))\n\
                print((y - io['logits'].reshape(-1, 50)).abs().max().item())";
    let diff = python_max_diff(&py, body, &d.path().join("teacher.safetensors"), &io);
    assert!(diff < 1e-4, "LSTM: PyTorch's logits differ from ours by {diff}");
}

#[test]
fn txl_weights_load_into_the_reference_transformer() {
    let Some(py) = python_with_torch() else {
        lot::testing::skip("txl_weights_load_into_the_reference_transformer", "no python with torch (run scripts/setup.sh)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = TxlConfig {
        n_token: 50,
        n_layer: 2,
        n_head: 2,
        d_model: 16,
        d_head: 8,
        d_inner: 32,
        dropout: 0.1,
        dropatt: 0.0,
        tgt_len: 5,
        mem_len: 6,
        same_length: false,
        clamp_len: -1,
        untie_r: false,
    };
    let m = TransformerXl::new(&vs.root(), &cfg);
    // At init (std 0.02) attention is nearly uniform and the position term tiny; spread the
    // weights so that a wrong bias, position or memory would show in the logits.
    tch::no_grad(|| {
        for (_, mut t) in vs.variables() {
            let _ = t.g_add_(&(Tensor::randn_like(&t) * 0.3));
        }
    });
    // Segment 1 from empty memories, then segment 2 through the memories it left (eval mode).
    let t1 = Tensor::randint(50, [5, 3], (tch::Kind::Int64, Device::Cpu));
    let t2 = Tensor::randint(50, [5, 3], (tch::Kind::Int64, Device::Cpu));
    let (l1, mems) = tch::no_grad(|| m.forward_t(&t1, &m.init_mems(3, Device::Cpu), false));
    let (l2, _) = tch::no_grad(|| m.forward_t(&t2, &mems, false));
    lifecycle::save_weights(d.path(), 0, &vs, txl::to_reference_names).unwrap();
    let io = d.path().join("io.safetensors");
    Tensor::write_safetensors(&[("t1", &t1), ("t2", &t2), ("l1", &l1), ("l2", &l2)], &io).unwrap();
    let body = "from txl_lot import MemTransformerLM\n\
                m = MemTransformerLM(50, 2, 2, 16, 8, 32, 0.1, 0.0, 6)\n\
                m.load_state_dict(load(sys.argv[1]), strict=True)\nm.eval()\nio = load(sys.argv[2])\n\
                with torch.no_grad():\n    y1, mems = m(io['t1'], m.init_mems(3, 'cpu'))\n    y2, _ = m(io['t2'], mems)\n\
                print(max((y1 - io['l1'].reshape(-1, 50)).abs().max().item(), (y2 - io['l2'].reshape(-1, 50)).abs().max().item()))";
    let diff = python_max_diff(&py, body, &d.path().join("teacher.safetensors"), &io);
    assert!(diff < 1e-4, "Transformer-XL: PyTorch's logits differ from ours by {diff}");
    // And lot reads its own file back.
    let again = nn::VarStore::new(Device::Cpu);
    let m2 = TransformerXl::new(&again.root(), &cfg);
    lifecycle::load_weights(d.path(), 0, &again, txl::from_reference_names).unwrap();
    assert!(tch::no_grad(|| m2.forward_t(&t1, &m2.init_mems(3, Device::Cpu), false).0).equal(&l1));
}
